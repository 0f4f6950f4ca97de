"""Reading MARC catalog files (ISO 2709 as MARC21 or UNIMARC, and MARCXML); mapping their fields."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pymarc

from kiosk.circulation.compensation import parse_price_fen
from kiosk.importing.catalog_records import (
    NON_SORT,
    Reading,
    Source,
    add_holding,
    make_entry,
    pick_isbns,
    split_unified,
    trim,
    trim_name,
    year_in,
)
from kiosk.importing.files import UnreadableFile
from kiosk.services.catalog import CatalogEntry, CatalogTitle, Holding

MARC_SLIM_NS = b"http://www.loc.gov/MARC21/slim"
END_OF_RECORD = b"\x1d"
_END_OF_FIELD = 0x1E
_LEADER_LEN = 24
_ENTRY_LEN = 12

# Only these fields are handed to pymarc. Decoding the rest (notes, subjects, 880 scripts)
# would double the time spent per record and could only add reasons to refuse it.
# Series (490, 830; UNIMARC 225) and topical subjects (650; 606) are read for the search.
_MARC21_TAGS = frozenset(b"008 020 050 082 100 110 111 245 260 264 490 650 830 852 952".split())
# CNMARC keeps the 统一书号 in 091.
_UNIMARC_TAGS = frozenset(b"010 091 200 210 214 225 606 676 690 700 701 710 711 905".split())

# pymarc decodes MARC-8 when file_encoding is exactly "iso8859-1", its default; any other
# value is handed to bytes.decode. (UTF-8 goes by force_utf8.)
_PYMARC_ENCODING = {"UTF-8": "iso8859-1", "MARC-8": "iso8859-1", "GB18030": "gb18030"}
# Directory entries: a tag, then the field's length (4 digits) and offset (5 digits).
_DIRECTORY = re.compile(rb"(?:[0-9A-Za-z]{3}[0-9]{9})+")


def looks_like_marc_leader(head: bytes) -> bool:
    """A record length, indicator and subfield-code counts, and a base address: ISO 2709."""
    return head[:5].isdigit() and head[10:12] == b"22" and head[12:17].isdigit()


# --- ISO 2709 ------------------------------------------------------------------------------


def read_iso2709(data: bytes) -> Reading:
    formats: Counter[str] = Counter()
    sources = _iso2709_sources(_split_records(data), formats)
    return Reading("ISO 2709", data.count(END_OF_RECORD), sources, formats)


def _split_records(data: bytes) -> Iterator[bytes]:
    """Cut the file at record terminators; a record cut short is split from the next one.

    pymarc's MARCReader trusts the length in each leader, and a record cut short is a
    "fatal" error to it: it yields None once and then stops, dropping every record after
    it. Here each record ends at its terminator, and a chunk whose leader length does not
    fit is searched for the leader of the complete record hiding in its tail.
    """
    for piece in data.split(END_OF_RECORD):
        piece = piece.lstrip(b"\r\n")
        if not piece.strip():
            continue
        chunk = piece + END_OF_RECORD
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


def _iso2709_sources(chunks: Iterator[bytes], formats: Counter[str]) -> Iterator[Source]:
    claimed: dict[str, str] = {}
    for number, chunk in enumerate(chunks, start=1):
        where = f"record {number}"
        try:
            record, kind, encoding = _parse_iso2709(chunk)
        except _Damaged as exc:
            yield Source(where, reason=str(exc))
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


def read_marcxml(data: bytes, name: str) -> Reading:
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
    return Reading("MARCXML", len(records), _xml_sources(records, formats), formats)


def _xml_sources(records: list[pymarc.Record], formats: Counter[str]) -> Iterator[Source]:
    claimed: dict[str, str] = {}
    for number, record in enumerate(records, start=1):
        tags = {f.tag for f in record.fields}
        unimarc = "245" not in tags and ("200" in tags or ("020" not in tags and "010" in tags))
        kind = "UNIMARC" if unimarc else "MARC21"
        formats[kind] += 1
        yield _map(record, kind, f"record {number}", claimed)


# --- mapping MARC ----------------------------------------------------------------------------


def _map(record: pymarc.Record, kind: str, where: str, claimed: dict[str, str]) -> Source:
    """Map one record; `claimed` holds the ISBNs earlier records of the file took, and where."""
    fields: dict[str, list[pymarc.Field]] = {}
    for f in record.fields:
        fields.setdefault(f.tag, []).append(f)
    source = _map_unimarc(fields, where) if kind == "UNIMARC" else _map_marc21(fields, where)
    return _claim_isbn(source, claimed)


def _claim_isbn(source: Source, claimed: dict[str, str]) -> Source:
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


def _claim_unified_number(source: Source, entry: CatalogEntry, claimed: dict[str, str]) -> Source:
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


def _map_marc21(fields: dict[str, list[pymarc.Field]], where: str) -> Source:
    source = Source(where)
    values, source.unified_number = split_unified(_values(fields, "020", "a"))
    source.isbns, problem = pick_isbns(values, "020$a ISBN")
    if problem is not None and source.unified_number is None:
        source.reason = problem
        return source
    isbn13 = source.isbns[0] if source.isbns else None
    title = ""
    for f in fields.get("245", ())[:1]:
        title = " ".join(
            sf.value.strip() for sf in f.subfields if sf.code in "abnp" and sf.value.strip()
        )
    title = trim(title)
    if not title:
        source.reason = "245$a (title) is missing"
        return source
    author = trim_name(
        _first(fields, "100", "a") or _first(fields, "110", "a") or _first(fields, "111", "a")
    ) or trim(_first(fields, "245", "c"))
    publication = fields.get("260", []) + sorted(
        fields.get("264", []), key=lambda f: (f.indicators or "  ")[1] != "1"
    )
    publisher = ""
    year = None
    for f in publication:
        publisher = publisher or trim(next(iter(f.get_subfields("b")), ""))
        year = year or year_in(" ".join(f.get_subfields("c")))
    if year is None:
        control = fields.get("008", [])
        year = year_in((control[0].data or "")[7:11]) if control else None
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
            add_holding(source, holdings, barcode, location, f"{tag}${barcode_codes[0]}")
    return make_entry(
        source,
        CatalogTitle(
            title,
            isbn13,
            author,
            publisher,
            year,
            call_number,
            classification,
            series=trim(_first(fields, "490", "a") or _first(fields, "830", "a")),
            subjects=_subjects(_values(fields, "650", "a")),
            price_fen=parse_price_fen(_first(fields, "020", "c")),
        ),
        holdings,
    )


def _map_unimarc(fields: dict[str, list[pymarc.Field]], where: str) -> Source:
    source = Source(where)
    values, source.unified_number = split_unified(
        _values(fields, "091", "a") + _values(fields, "010", "a")
    )
    source.isbns, problem = pick_isbns(values, "010$a ISBN")
    if problem is not None and source.unified_number is None:
        source.reason = problem
        return source
    isbn13 = source.isbns[0] if source.isbns else None
    title = trim(_first(fields, "200", "a").translate(NON_SORT))
    if not title:
        source.reason = "200$a (title) is missing"
        return source
    subtitle = trim(_first(fields, "200", "e").translate(NON_SORT))
    if subtitle:
        title = f"{title} : {subtitle}"
    author = ""
    for tag in ("700", "701", "710", "711"):
        surname = _first(fields, tag, "a")
        if surname:
            forename = _first(fields, tag, "b").lstrip(", ")
            author = trim_name(f"{surname}, {forename}" if forename else surname)
            break
    author = author or trim(_first(fields, "200", "f"))
    publisher = trim(_first(fields, "210", "c") or _first(fields, "214", "c"))
    year = year_in(_first(fields, "210", "d") or _first(fields, "214", "d"))
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
            add_holding(source, holdings, barcode, location, "905$b")
    return make_entry(
        source,
        CatalogTitle(
            title,
            isbn13,
            author,
            publisher,
            year,
            call_number,
            classification,
            series=trim(_first(fields, "225", "a")),
            subjects=_subjects(_values(fields, "606", "a")),
            price_fen=parse_price_fen(_first(fields, "010", "d")),
        ),
        holdings,
    )


def _subjects(headings: list[str]) -> str:
    """Subject headings as one text, "; " between them, each once."""
    return "; ".join(dict.fromkeys(h for h in (trim(v) for v in headings) if h))
