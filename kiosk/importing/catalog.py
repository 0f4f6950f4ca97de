"""import-catalog: read books from CSV, MARCXML or ISO 2709 (MARC21, UNIMARC, CNMARC) files."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

import pymarc
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from stdnum import isbn as stdnum_isbn
from stdnum.exceptions import InvalidChecksum, ValidationError

from kiosk.circulation.barcodes import to_isbn13
from kiosk.config import Settings
from kiosk.importing.files import CsvTable, UnreadableFile, normalize_header, read_bytes
from kiosk.importing.report import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    Progress,
    Summary,
    database_problem,
    outcome_table,
    progress_bar,
)
from kiosk.importing.tables import is_workbook, read_table
from kiosk.services import catalog
from kiosk.services.catalog import CatalogEntry, CatalogTitle, Holding

log = logging.getLogger(__name__)

# Records per transaction. A big catalog must not hold the database's write lock for a
# minute (a checkout at the kiosk waits at most busy_timeout, 10 s); every chunk holds whole
# records (a title with its copies), and importing the same file again is idempotent, so
# after a crash re-running the import finishes the job.
CHUNK_RECORDS = 500

MARC_SLIM_NS = b"http://www.loc.gov/MARC21/slim"
_END_OF_RECORD = b"\x1d"
_END_OF_FIELD = 0x1E
_LEADER_LEN = 24
_ENTRY_LEN = 12

# Only these fields are handed to pymarc. Decoding the rest (notes, subjects, 880 scripts)
# would double the time spent per record and could only add reasons to refuse it.
_MARC21_TAGS = frozenset(b"008 020 050 082 100 110 111 245 260 264 852 952".split())
# CNMARC keeps the 统一书号 in 091.
_UNIMARC_TAGS = frozenset(b"010 091 200 210 214 676 690 700 701 710 711 905".split())

# pymarc decodes MARC-8 when file_encoding is exactly "iso8859-1", its default; any other
# value is handed to bytes.decode. (UTF-8 goes by force_utf8.)
_PYMARC_ENCODING = {"UTF-8": "iso8859-1", "MARC-8": "iso8859-1", "GB18030": "gb18030"}
# Directory entries: a tag, then the field's length (4 digits) and offset (5 digits).
_DIRECTORY = re.compile(rb"(?:[0-9A-Za-z]{3}[0-9]{9})+")
# A 统一书号: a category and publisher number, a middle dot, the publisher's serial number
# ("10019·3152", "R10186·123"); exports write the dot in several ways, or as a plain period.
_UNIFIED_NUMBER = re.compile(
    r"\s*(?:统一书号\s*[:：]?\s*)?([A-Z]?\d{3,6})\s*[·・．•‧.]\s*(\d{1,6})(?![\d.·])"
)
# An ISBN column Excel turned into a number and shows in its scientific format.
_EXCEL_NUMBER = re.compile(r"\d+(\.\d+)?[eE]\+\d+")
_ISBN_TOKEN = re.compile(r"[0-9][0-9Xx\- ]*[0-9Xx]|[0-9]")
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")
# UNIMARC marks the part of a title that sorting skips ("The ", "Le ") with these controls.
_NON_SORT = str.maketrans("", "", "\x88\x89\x98\x9c")
_TRAILING = " /:;,.=+"

_HEADERS: dict[str, list[str]] = {
    "isbn": ["isbn", "isbn13", "isbn_13", "isbn10", "国际标准书号", "书号"],
    "title": ["title", "题名", "书名", "正题名"],
    "author": ["author", "作者", "责任者", "著者"],
    "publisher": ["publisher", "出版社", "出版者"],
    "year": ["year", "出版年", "出版年份", "出版时间", "出版日期"],
    "call_number": ["call_number", "索书号"],
    "classification": ["classification", "分类法"],
    "barcode": ["barcode", "条码", "条形码", "登录号", "accession_number"],
    "location": ["location", "馆藏地", "馆藏地点"],
    "copies": ["copies", "复本数", "册数"],
    "unified_number": ["unified_number", "统一书号"],
}
_ALIASES = {normalize_header(a): f for f, aliases in _HEADERS.items() for a in aliases}
_CLASSIFICATIONS = {
    "clc": "clc",
    "中图法": "clc",
    "中图": "clc",
    "dewey": "dewey",
    "ddc": "dewey",
    "杜威": "dewey",
}
_MAX_COPIES = 99
_MAX_BARCODE = 64
_MAX_LOCATION = 100


@dataclass
class _Source:
    """One record of the file, mapped: an entry to import, or the reason it cannot be."""

    where: str
    entry: CatalogEntry | None = None
    reason: str | None = None
    # Parts of the record left out (a bad copy barcode), each with where it is in the file,
    # and things worth knowing.
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Every valid ISBN of the record, first choice first.
    isbns: list[str] = field(default_factory=list)
    # The 统一书号 of a book printed before ISBNs, when the record gives one.
    unified_number: str | None = None


@dataclass
class _Reading:
    """A file being read: its kind, how many records to expect, the records as they come."""

    kind: str
    total: int
    sources: Iterator[_Source]
    formats: Counter[str]
    # CSV rows read (a title may take several); None: one record is one source.
    rows: int | None = None


@dataclass
class CatalogImport:
    """What an import of a catalog file did, or (dry run) would do."""

    summary: Summary
    kind: str
    formats: Counter[str]
    dry_run: bool
    items_added: int = 0
    # Copies given a made-up accession barcode: (barcode, title, where in the file).
    labels: list[tuple[str, str, str]] = field(default_factory=list)
    # Set when the database refused a chunk: the chunks before it stay imported.
    failure: str | None = None

    @property
    def importable(self) -> int:
        """How many records or title groups were (or would be) taken."""
        return self.summary.added + self.summary.updated + self.summary.unchanged

    def table(self) -> list[str]:
        s = self.summary
        return outcome_table(
            {
                "titles": {
                    "added": s.added,
                    "updated": s.updated,
                    "unchanged": s.unchanged,
                    "rejected": s.rejected,
                },
                "copies": {"added": self.items_added},
            }
        )


def import_catalog(
    settings: Settings,
    data: bytes,
    name: str,
    *,
    session_factory: sessionmaker[Session],
    dry_run: bool = False,
    sheet: str | None = None,
    err: TextIO = sys.stderr,
    progress: bool = False,
) -> CatalogImport:
    """Import the catalog file `data` (named `name`); raise UnreadableFile when it can't be read.

    The format is told from the content: MARCXML, ISO 2709 (MARC21 or UNIMARC/CNMARC, text
    in UTF-8, GB18030 or MARC-8), an Excel .xlsx workbook (`sheet`, or the first) or CSV.
    Every chunk of CHUNK_RECORDS records is its own transaction; with `dry_run` each is
    rolled back instead of committed, so nothing is written and the kiosk's scans wait no
    longer than in a real import. (A dry run's chunks do not see each other's new titles, so
    a book without ISBN described twice, far apart in one file, counts as added twice.)
    """
    item_pattern = re.compile(settings.barcodes.item_pattern, re.ASCII)
    reading = _open(data, name, sheet)
    summary = Summary(name, "records" if reading.rows is None else "rows")
    result = CatalogImport(summary, reading.kind, reading.formats, dry_run)
    now = dt.datetime.now(dt.UTC)
    bar = progress_bar(reading.total, err, progress, "record")
    failed_at = ""
    try:
        for chunk in _chunks(reading.sources, summary, bar):
            failed_at = chunk[0][0].where
            with session_factory() as session, session.begin():
                results = catalog.upsert_entries(session, [entry for _, entry in chunk], now)
                if dry_run:
                    session.rollback()
            _report(chunk, results, result, item_pattern)
    except SQLAlchemyError as exc:
        log.error("catalog import of %s failed at %s: %s", name, failed_at, type(exc).__name__)
        result.failure = (
            f"{name}: {database_problem(exc)} in the chunk starting at {failed_at}; "
            "everything before it was imported — fix the problem and import the file again."
        )
        return result
    finally:
        bar.close()
    if reading.rows is not None:
        summary.read = reading.rows
    log.info(
        "catalog import%s of %s: %d read, %d added, %d updated, %d unchanged, %d items, "
        "%d rejected",
        " (dry run)" if dry_run else "",
        name,
        summary.read,
        summary.added,
        summary.updated,
        summary.unchanged,
        result.items_added,
        summary.rejected,
    )
    return result


def cli_import_catalog(
    settings: Settings,
    path: Path,
    *,
    session_factory: sessionmaker[Session],
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    progress: bool = True,
    dry_run: bool = False,
    sheet: str | None = None,
) -> int:
    """Import the catalog file at `path` (see `import_catalog`); print the table; exit code.

    0: the file was read; records that could not be imported are listed. 2: the file
    cannot be read at all, or (dry run) no record of it could be imported; nothing is
    written. 1: the database refused a chunk; the chunks before it stay imported.
    """
    name = path.name
    try:
        result = import_catalog(
            settings,
            read_bytes(path),
            name,
            session_factory=session_factory,
            dry_run=dry_run,
            sheet=sheet,
            err=err,
            progress=progress,
        )
    except UnreadableFile as exc:
        print(f"{exc} — nothing imported.", file=err)
        return EXIT_BAD_INPUT
    if result.failure is not None:
        print(result.failure, file=err)
        return EXIT_FAILED
    summary = result.summary
    formats = ", ".join(f"{k} ×{v}" for k, v in sorted(result.formats.items()))
    would = "would be " if dry_run else ""
    if dry_run:
        print("Dry run: nothing was written. This is what the import would do.", file=out)
    print(
        f"{name} ({result.kind}{': ' + formats if formats else ''}): "
        f"{summary.read} {summary.unit} read — titles: {summary.added} {would}added, "
        f"{summary.updated} {would}updated, {summary.unchanged} unchanged; "
        f"{result.items_added} items {would}added; {summary.rejected} rejected.",
        file=out,
    )
    for line in result.table():
        print(line, file=out)
    for line in summary.listing():
        print(line, file=out)
    if result.labels and dry_run:
        print(f"{len(result.labels)} copies would get a made-up accession barcode.", file=out)
    elif result.labels:
        print(
            f"Copies that need labels ({len(result.labels)}): print these accession barcodes "
            "and stick them in the books.",
            file=out,
        )
        for barcode, title, where in result.labels:
            print(f"  {barcode}  {title}  ({where})", file=out)
    if dry_run and result.importable == 0:
        return EXIT_BAD_INPUT
    return EXIT_OK


def _chunks(
    sources: Iterator[_Source], summary: Summary, bar: Progress
) -> Iterator[list[tuple[_Source, CatalogEntry]]]:
    """Report what cannot be imported as it is read; hand on the rest CHUNK_RECORDS at a time."""
    chunk: list[tuple[_Source, CatalogEntry]] = []
    for source in sources:
        summary.read += 1
        bar.update()
        for where, problem in source.problems:
            summary.problem(where, problem)
        for warning in source.warnings:
            summary.warn(source.where, warning)
        if source.entry is None:
            summary.reject(source.where, f"{source.reason} — record skipped")
            continue
        chunk.append((source, source.entry))
        if len(chunk) == CHUNK_RECORDS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _report(
    chunk: list[tuple[_Source, CatalogEntry]],
    results: list[catalog.EntryResult],
    into: CatalogImport,
    item_pattern: re.Pattern[str],
) -> None:
    """Count a written (or rolled back) chunk's outcomes into `into`."""
    summary = into.summary
    for (source, entry), result in zip(chunk, results, strict=True):
        summary.count(result.outcome)
        into.items_added += result.items.added
        for holding in result.items.conflicts:
            summary.problem(
                source.where,
                f"copy {holding.barcode} already belongs to a different title — copy skipped",
            )
        into.labels += [(b, entry.record.title, source.where) for b in result.items.generated]
        new_barcodes = [h.barcode for h in entry.holdings] + list(result.items.generated)
        for barcode in new_barcodes:
            if not item_pattern.fullmatch(barcode):
                summary.warn(
                    source.where,
                    f"copy {barcode} does not match barcodes.item_pattern; "
                    "the kiosk will not recognise it",
                )


def _open(data: bytes, name: str, sheet: str | None) -> _Reading:
    """Tell the format from the content (not the file name) and start reading it."""
    if is_workbook(data) or sheet is not None:
        return _read_table(data, name, sheet)
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise UnreadableFile(f"{name}: the file is empty")
    if head.startswith(b"<"):
        return _read_marcxml(data, name)
    if head[:5].isdigit() and _END_OF_RECORD in data and b"\x1e" in data:
        return _read_iso2709(data)
    if _looks_like_marc_leader(head):
        raise UnreadableFile(
            f"{name}: a truncated MARC record — its leader says {int(head[:5])} bytes, but the "
            f"file ends after {len(data)} with no end-of-record mark"
        )
    return _read_table(data, name, None)


def _looks_like_marc_leader(head: bytes) -> bool:
    """A record length, indicator and subfield-code counts, and a base address: ISO 2709."""
    return head[:5].isdigit() and head[10:12] == b"22" and head[12:17].isdigit()


# --- ISO 2709 ------------------------------------------------------------------------------


def _read_iso2709(data: bytes) -> _Reading:
    formats: Counter[str] = Counter()
    sources = _iso2709_sources(_split_records(data), formats)
    return _Reading("ISO 2709", data.count(_END_OF_RECORD), sources, formats)


def _split_records(data: bytes) -> Iterator[bytes]:
    """Cut the file at record terminators; a record cut short is split from the next one.

    pymarc's MARCReader trusts the length in each leader, and a record cut short is a
    "fatal" error to it: it yields None once and then stops, dropping every record after
    it. Here each record ends at its terminator, and a chunk whose leader length does not
    fit is searched for the leader of the complete record hiding in its tail.
    """
    for piece in data.split(_END_OF_RECORD):
        piece = piece.lstrip(b"\r\n")
        if not piece.strip():
            continue
        chunk = piece + _END_OF_RECORD
        if chunk[:5].isdigit() and int(chunk[:5]) == len(chunk):
            yield chunk
            continue
        start = _inner_record_start(chunk)
        if start is None:
            yield chunk
        else:
            yield chunk[:start]
            yield chunk[start:]


def _inner_record_start(chunk: bytes) -> int | None:
    for match in re.finditer(rb"(?=(\d{5}))", chunk):
        start = match.start()
        if (
            start > 0
            and int(match.group(1)) == len(chunk) - start
            and chunk[start + 12 : start + 17].isdigit()
        ):
            return start
    return None


def _iso2709_sources(chunks: Iterator[bytes], formats: Counter[str]) -> Iterator[_Source]:
    claimed: dict[str, str] = {}
    for number, chunk in enumerate(chunks, start=1):
        where = f"record {number}"
        try:
            record, kind, encoding = _parse_iso2709(chunk)
        except _Damaged as exc:
            yield _Source(where, reason=str(exc))
            continue
        formats[f"{kind}/{encoding}"] += 1
        yield _map(record, kind, where, claimed)


class _Damaged(Exception):
    """This record cannot be parsed; the message says what is wrong with it."""


def _parse_iso2709(chunk: bytes) -> tuple[pymarc.Record, str, str]:
    """Parse one record with pymarc; return it, "MARC21" or "UNIMARC", and its text encoding.

    Leader position 9 "a" means UTF-8. CNMARC leaves it blank whatever the encoding, so the
    bytes of the fields used are tried as strict UTF-8 first (GB18030 would accept most UTF-8
    and produce the wrong characters), then as GB18030 for UNIMARC and MARC-8 for MARC21.
    """
    if len(chunk) < _LEADER_LEN + 2 or not chunk[:5].isdigit():
        raise _Damaged("damaged record: no record length at its start")
    if int(chunk[:5]) != len(chunk):
        raise _Damaged(
            f"damaged record: the leader says {int(chunk[:5])} bytes but the record has "
            f"{len(chunk)} (cut short or overwritten)"
        )
    base_text = chunk[12:17]
    base = int(base_text) if base_text.isdigit() else 0
    if not _LEADER_LEN < base < len(chunk) or chunk[base - 1] != _END_OF_FIELD:
        raise _Damaged("damaged record: the leader's base address is wrong")
    directory = chunk[_LEADER_LEN : base - 1]
    if not _DIRECTORY.fullmatch(directory):
        raise _Damaged("damaged record: the directory is damaged")
    body = chunk[base:]
    entries = [directory[i : i + _ENTRY_LEN] for i in range(0, len(directory), _ENTRY_LEN)]
    tags = {entry[:3] for entry in entries}
    unimarc = b"245" not in tags and (b"200" in tags or (b"020" not in tags and b"010" in tags))
    wanted = _UNIMARC_TAGS if unimarc else _MARC21_TAGS
    kept = [e for e in entries if e[:3] in wanted]
    for entry in kept:
        if int(entry[7:12]) + int(entry[3:7]) > len(body):
            raise _Damaged("damaged record: the directory is damaged")
    encoding = _sniff_encoding(chunk, body, kept, unimarc)
    new_base = _LEADER_LEN + len(kept) * _ENTRY_LEN + 1
    slim = b"".join(
        (
            b"%05d" % (new_base + len(body)),
            chunk[5:12],
            b"%05d" % new_base,
            chunk[17:_LEADER_LEN],
            *kept,
            b"\x1e",
            body,
        )
    )
    try:
        record = pymarc.Record(
            slim,
            to_unicode=True,
            force_utf8=encoding == "UTF-8",
            hide_utf8_warnings=True,
            file_encoding=_PYMARC_ENCODING[encoding],
        )
    except UnicodeDecodeError:
        tried = "UTF-8 (as its leader says)" if chunk[9:10] == b"a" else f"UTF-8 or {encoding}"
        raise _Damaged(f"the text is not valid {tried}") from None
    except pymarc.NoFieldsFound:
        record = pymarc.Record(leader=chunk[:_LEADER_LEN].decode("ascii", "replace"))
    except Exception as exc:
        # pymarc raises bare ValueError/IndexError as well as its own exceptions.
        raise _Damaged(f"damaged record ({type(exc).__name__})") from None
    return record, "UNIMARC" if unimarc else "MARC21", encoding


def _sniff_encoding(chunk: bytes, body: bytes, kept: list[bytes], unimarc: bool) -> str:
    """ "UTF-8", "GB18030" or "MARC-8": how the text of the fields in `kept` is encoded."""
    if chunk[9:10] == b"a":
        return "UTF-8"
    text = b"".join(body[int(e[7:12]) : int(e[7:12]) + int(e[3:7])] for e in kept)
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return "GB18030" if unimarc else "MARC-8"
    # MARC-8 escape sequences (to EACC for CJK) are plain ASCII bytes, so valid UTF-8 too.
    if not unimarc and b"\x1b" in text:
        return "MARC-8"
    return "UTF-8"


# --- MARCXML -------------------------------------------------------------------------------


def _read_marcxml(data: bytes, name: str) -> _Reading:
    head = data[:4096]
    if not re.search(rb"<(\w+:)?(record|collection)[\s>/]", head):
        raise UnreadableFile(f"{name}: is XML but not MARCXML (no <record> or <collection>)")
    if MARC_SLIM_NS not in head and b"<leader" not in data[:65536]:
        raise UnreadableFile(f"{name}: is XML but not MARCXML")
    try:
        # pymarc leaves this function unannotated; it returns list[Record].
        records: list[pymarc.Record] = pymarc.parse_xml_to_array(  # type: ignore[no-untyped-call]
            io.BytesIO(data)
        )
    except Exception as exc:
        # The SAX parser raises SAXParseException; pymarc's handler KeyError and friends.
        raise UnreadableFile(f"{name}: is not well-formed MARCXML ({exc})") from None
    formats: Counter[str] = Counter()
    return _Reading("MARCXML", len(records), _xml_sources(records, formats), formats)


def _xml_sources(records: list[pymarc.Record], formats: Counter[str]) -> Iterator[_Source]:
    claimed: dict[str, str] = {}
    for number, record in enumerate(records, start=1):
        tags = {f.tag for f in record.fields}
        unimarc = "245" not in tags and ("200" in tags or ("020" not in tags and "010" in tags))
        kind = "UNIMARC" if unimarc else "MARC21"
        formats[kind] += 1
        yield _map(record, kind, f"record {number}", claimed)


# --- mapping MARC ----------------------------------------------------------------------------


def _map(record: pymarc.Record, kind: str, where: str, claimed: dict[str, str]) -> _Source:
    """Map one record; `claimed` holds the ISBNs earlier records of the file took, and where."""
    fields: dict[str, list[pymarc.Field]] = {}
    for f in record.fields:
        fields.setdefault(f.tag, []).append(f)
    source = _map_unimarc(fields, where) if kind == "UNIMARC" else _map_marc21(fields, where)
    return _claim_isbn(source, claimed)


def _claim_isbn(source: _Source, claimed: dict[str, str]) -> _Source:
    """Give the record the first of its ISBNs no earlier record of the file has taken.

    Catalogs do have two records with one ISBN (a set and its first volume both carry the
    ISBN of volume 1). Taking the next free ISBN keeps both titles; when there is none, the
    later record's copies join the earlier title and its description is not used, so the
    two records do not overwrite each other on every import.
    """
    entry = source.entry
    if entry is None:
        return source
    if not source.isbns:
        return _claim_unified_number(source, entry, claimed)
    free = next((isbn for isbn in source.isbns if isbn not in claimed), None)
    if free is None:
        first = source.isbns[0]
        source.warnings.append(
            f"ISBN {first} is also on {claimed[first]}; this record's copies are added to "
            "that title and its description is not used"
        )
        source.entry = replace(entry, update=False)
        return source
    claimed[free] = source.where
    if free != entry.record.isbn13:
        source.entry = replace(entry, record=replace(entry.record, isbn13=free))
    return source


def _claim_unified_number(source: _Source, entry: CatalogEntry, claimed: dict[str, str]) -> _Source:
    """Like `_claim_isbn` for a book without an ISBN: the first record with a 统一书号 owns it.

    The volumes of a set often share one; the later records' copies join that title.
    """
    number = entry.record.unified_number
    if number is None:
        return source
    if number in claimed:
        source.warnings.append(
            f"统一书号 {number} is also on {claimed[number]}; this record's copies are added "
            "to that title and its description is not used"
        )
        source.entry = replace(entry, update=False)
    else:
        claimed[number] = source.where
    return source


def unified_number(value: str) -> str | None:
    """The 统一书号 in `value` written the one way ("10019·3152"), or None when there is none."""
    match = _UNIFIED_NUMBER.match(value)
    return f"{match.group(1)}·{match.group(2)}" if match else None


def _split_unified(values: Sequence[str]) -> tuple[list[str], str | None]:
    """Take the 统一书号 out of an ISBN field's values: (the other values, the first found)."""
    others: list[str] = []
    found: str | None = None
    for value in values:
        number = unified_number(value)
        if number is None:
            others.append(value)
        elif found is None:
            found = number
    return others, found


def _values(fields: dict[str, list[pymarc.Field]], tag: str, code: str) -> list[str]:
    return [sf.value for f in fields.get(tag, ()) for sf in f.subfields if sf.code == code]


def _first(fields: dict[str, list[pymarc.Field]], tag: str, *codes: str) -> str:
    """The first non-empty value of any of `codes` in the first `tag` that has one."""
    for f in fields.get(tag, ()):
        for code in codes:
            for sf in f.subfields:
                if sf.code == code and sf.value.strip():
                    return sf.value.strip()
    return ""


def _map_marc21(fields: dict[str, list[pymarc.Field]], where: str) -> _Source:
    source = _Source(where)
    values, source.unified_number = _split_unified(_values(fields, "020", "a"))
    source.isbns, problem = _pick_isbns(values, "020$a ISBN")
    if problem is not None and source.unified_number is None:
        source.reason = problem
        return source
    isbn13 = source.isbns[0] if source.isbns else None
    title = ""
    for f in fields.get("245", ())[:1]:
        title = " ".join(
            sf.value.strip() for sf in f.subfields if sf.code in "abnp" and sf.value.strip()
        )
    title = _trim(title)
    if not title:
        source.reason = "245$a (title) is missing"
        return source
    author = _trim_name(
        _first(fields, "100", "a") or _first(fields, "110", "a") or _first(fields, "111", "a")
    ) or _trim(_first(fields, "245", "c"))
    publication = fields.get("260", []) + sorted(
        fields.get("264", []), key=lambda f: (f.indicators or "  ")[1] != "1"
    )
    publisher = ""
    year = None
    for f in publication:
        publisher = publisher or _trim(next(iter(f.get_subfields("b")), ""))
        year = year or _year(" ".join(f.get_subfields("c")))
    if year is None:
        control = fields.get("008", [])
        year = _year((control[0].data or "")[7:11]) if control else None
    call_number, classification = "", ""
    dewey = _first(fields, "082", "a")
    if dewey:
        # "/" marks where an abridged number may be cut; it is not part of the number.
        call_number, classification = dewey.replace("/", ""), "dewey"
    else:
        lc = " ".join(v for v in (_first(fields, "050", "a"), _first(fields, "050", "b")) if v)
        call_number = lc
    holdings: list[Holding] = []
    for tag, barcode_codes, location_codes in (("852", "p", "bc"), ("952", "pi", "ca")):
        for f in fields.get(tag, ()):
            barcode = next((v for c in barcode_codes for v in f.get_subfields(c)), "")
            location = next((v.strip() for c in location_codes for v in f.get_subfields(c)), "")
            _add_holding(source, holdings, barcode, location, f"{tag}${barcode_codes[0]}")
    return _entry(
        source,
        CatalogTitle(title, isbn13, author, publisher, year, call_number, classification),
        holdings,
    )


def _map_unimarc(fields: dict[str, list[pymarc.Field]], where: str) -> _Source:
    source = _Source(where)
    values, source.unified_number = _split_unified(
        _values(fields, "091", "a") + _values(fields, "010", "a")
    )
    source.isbns, problem = _pick_isbns(values, "010$a ISBN")
    if problem is not None and source.unified_number is None:
        source.reason = problem
        return source
    isbn13 = source.isbns[0] if source.isbns else None
    title = _trim(_first(fields, "200", "a").translate(_NON_SORT))
    if not title:
        source.reason = "200$a (title) is missing"
        return source
    subtitle = _trim(_first(fields, "200", "e").translate(_NON_SORT))
    if subtitle:
        title = f"{title} : {subtitle}"
    author = ""
    for tag in ("700", "701", "710", "711"):
        surname = _first(fields, tag, "a")
        if surname:
            forename = _first(fields, tag, "b").lstrip(", ")
            author = _trim_name(f"{surname}, {forename}" if forename else surname)
            break
    author = author or _trim(_first(fields, "200", "f"))
    publisher = _trim(_first(fields, "210", "c") or _first(fields, "214", "c"))
    year = _year(_first(fields, "210", "d") or _first(fields, "214", "d"))
    clc = _first(fields, "690", "a")
    class_number = _first(fields, "905", "d")
    book_number = _first(fields, "905", "e")
    call_number, classification = "", ""
    if class_number:
        call_number = f"{class_number}/{book_number}" if book_number else class_number
        classification = "clc"
    elif clc:
        call_number, classification = clc, "clc"
    elif _first(fields, "676", "a"):
        call_number, classification = _first(fields, "676", "a"), "dewey"
    holdings: list[Holding] = []
    for f in fields.get("905", ()):
        location = next((v.strip() for c in "ca" for v in f.get_subfields(c) if v.strip()), "")
        for barcode in f.get_subfields("b"):
            _add_holding(source, holdings, barcode, location, "905$b")
    return _entry(
        source,
        CatalogTitle(title, isbn13, author, publisher, year, call_number, classification),
        holdings,
    )


def _entry(source: _Source, record: CatalogTitle, holdings: list[Holding]) -> _Source:
    """The record's entry; a book without an ISBN keeps its 统一书号 (see `upsert_entries`)."""
    if record.isbn13 is None and source.unified_number is not None:
        record = replace(record, unified_number=source.unified_number)
    source.entry = CatalogEntry(record, tuple(holdings))
    return source


def _add_holding(
    source: _Source, holdings: list[Holding], barcode: str, location: str, field_name: str
) -> None:
    barcode = barcode.strip()
    if not barcode:
        return
    if any(ch.isspace() or not ch.isprintable() for ch in barcode):
        reason = f"{field_name} {barcode!r} contains spaces — copy skipped"
        source.problems.append((source.where, reason))
    elif len(barcode) > _MAX_BARCODE:
        source.problems.append((source.where, f"{field_name} is too long — copy skipped"))
    elif all(h.barcode != barcode for h in holdings):
        holdings.append(Holding(barcode, location[:_MAX_LOCATION]))


def _pick_isbns(values: Sequence[str], field_name: str) -> tuple[list[str], str | None]:
    """The valid ISBNs among `values` as ISBN-13s, in order; or the reason to refuse the record.

    Qualifiers such as "(pbk.)" are dropped. A value that is no ISBN refuses the record only
    when no other value is valid: a wrong ISBN would make the book impossible to find by the
    EAN-13 on its cover.
    """
    found: list[str] = []
    problem = None
    for value in values:
        match = _ISBN_TOKEN.search(value)
        if match is None:
            continue
        token = match.group(0)
        # "0306406152 2 v." — a number after the ISBN is not part of it.
        isbn13 = to_isbn13(token) or to_isbn13(token.split()[0])
        if isbn13 is not None:
            if isbn13 not in found:
                found.append(isbn13)
        elif problem is None:
            problem = f"{field_name} {token.strip()!r} {_isbn_fault(token)}"
    return found, None if found else problem


def _isbn_fault(value: str) -> str:
    try:
        stdnum_isbn.validate(value)
    except InvalidChecksum:
        return "has a bad check digit"
    except ValidationError:
        return "is not a valid ISBN"
    return "is not a book's ISBN (979-0 is sheet music)"


def _trim(text: str) -> str:
    """Drop the ISBD punctuation MARC leaves at the end of a subfield: "Title /" → "Title"."""
    return " ".join(text.split()).rstrip(_TRAILING).strip()


def _trim_name(text: str) -> str:
    """Like _trim, but keep the period of a closing initial: "Smith, J." stays as it is."""
    text = " ".join(text.split()).rstrip(" ,;:/")
    if text.endswith(".") and not re.search(r"(^|[\s.])\w\.$", text):
        text = text[:-1]
    return text.strip()


def _year(text: str) -> int | None:
    match = _YEAR.search(text)
    return int(match.group(1)) if match else None


# --- CSV -----------------------------------------------------------------------------------


@dataclass
class _Group:
    """The rows of one title in a CSV file: one row per copy."""

    where: str
    isbn13: str | None
    unified_number: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    holdings: list[Holding] = field(default_factory=list)
    copies: int = 1
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _read_table(data: bytes, name: str, sheet: str | None) -> _Reading:
    """A CSV file or an Excel sheet: one row per copy, or per title with a 复本数 column."""
    table = read_table(data, name, _ALIASES, ("title",), {"title": "题名 (title)"}, sheet=sheet)
    read = _group_rows(table)
    kind = "CSV" if table.delimiter else "Excel"
    return _Reading(kind, len(read), _csv_sources(table, read), Counter(), rows=len(table.rows))


def _group_rows(table: CsvTable) -> list[_Group | _Source]:
    """Gather the copy rows of each title: by ISBN, or by identical description without one.

    Returns the groups and the rejected rows in the order of their (first) line.
    """
    groups: dict[tuple[str, ...], _Group] = {}
    found: list[_Group | _Source] = []
    for line, cells in table.rows:
        where = f"line {line}"
        value = {f: table.value(cells, f) or "" for f in _HEADERS}
        isbn13 = None
        # Old catalogs put the 统一书号 of pre-1987 books in their 书号 (ISBN) column.
        number = unified_number(value["unified_number"] or value["isbn"])
        if value["isbn"] and unified_number(value["isbn"]) is None:
            isbn13, problem = _table_isbn(table, line, value["isbn"])
            if problem is not None:
                found.append(_Source(where, reason=problem))
                continue
        if value["unified_number"] and number is None:
            found.append(
                _Source(where, reason=f"{table.label('unified_number')} is not a 统一书号")
            )
            continue
        copies = 1
        if value["copies"]:
            if not value["copies"].isdigit() or not 1 <= int(value["copies"]) <= _MAX_COPIES:
                found.append(
                    _Source(
                        where,
                        reason=f"{table.label('copies')} must be a number from 1 to {_MAX_COPIES}",
                    )
                )
                continue
            copies = int(value["copies"])
        if isbn13 is not None:
            key: tuple[str, ...] = ("isbn", isbn13)
        elif number is not None:
            key = ("unified", number)
        else:
            key = (
                "row",
                " ".join(value["title"].split()).casefold(),
                value["author"],
                value["publisher"],
                value["year"],
            )
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(where, isbn13, None if isbn13 else number)
            found.append(group)
        for f in ("title", "author", "publisher", "year", "call_number", "classification"):
            if value[f] and not group.values.get(f):
                group.values[f] = value[f]
        row = _Source(where)
        _add_holding(
            row, group.holdings, value["barcode"], value["location"], table.label("barcode")
        )
        group.problems += row.problems
        if value["barcode"] and value["copies"] and copies != 1:
            group.warnings.append(
                f"{table.label('copies')} ignored on {where}: the row has a barcode"
            )
        group.copies = max(group.copies, copies)
    return found


def _table_isbn(table: CsvTable, line: int, value: str) -> tuple[str | None, str | None]:
    """The ISBN-13 of an ISBN cell, or why the row is refused.

    Excel keeps a number to 15 significant digits and shows a long one as 9.78753E+12; a
    CSV saved from that view has lost the digits for good. A whole ISBN-13 stored as a
    number is exact and accepted; an ISBN-10 stored as a number has lost its leading zero.
    """
    label = table.label("isbn")
    retype = (
        f"{label} was turned into a number by Excel and lost digits (format the column "
        "as Text, enter the ISBNs again and import again)"
    )
    if _EXCEL_NUMBER.fullmatch(value):
        return None, retype
    if table.is_number(line, "isbn"):
        if not value.isdigit():
            return None, retype
        isbns, _problem = _pick_isbns([value.zfill(10) if len(value) < 10 else value], label)
        return (isbns[0], None) if isbns else (None, retype)
    isbns, problem = _pick_isbns([value], label)
    return (isbns[0] if isbns else None), problem


def _csv_sources(table: CsvTable, read: list[_Group | _Source]) -> Iterator[_Source]:
    for group in read:
        if isinstance(group, _Source):
            yield group
            continue
        source = _Source(group.where, problems=group.problems, warnings=list(group.warnings))
        title = " ".join(group.values.get("title", "").split())
        if not title:
            source.reason = f"{table.label('title')} is empty"
            yield source
            continue
        year = None
        if group.values.get("year"):
            year = _year(group.values["year"])
            if year is None:
                source.warnings.append(f"{table.label('year')} is not a year; left empty")
        classification = ""
        if group.values.get("classification"):
            classification = _CLASSIFICATIONS.get(group.values["classification"].casefold(), "")
            if not classification:
                source.warnings.append(
                    f"{table.label('classification')} must be clc/中图法 or dewey/杜威; left empty"
                )
        record = CatalogTitle(
            title,
            group.isbn13,
            group.values.get("author", ""),
            group.values.get("publisher", ""),
            year,
            group.values.get("call_number", ""),
            classification,
            group.unified_number,
        )
        source.entry = CatalogEntry(record, tuple(group.holdings), group.copies)
        yield source
