"""import-catalog: read a catalog file (MARC, CSV or .xlsx), write it in chunks, report."""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from kiosk.config import Settings
from kiosk.importing.bulk import collector_paused
from kiosk.importing.catalog_csv import read_catalog_table
from kiosk.importing.catalog_records import Reading, Source
from kiosk.importing.files import UnreadableFile
from kiosk.importing.marc import END_OF_RECORD, looks_like_marc_leader, read_iso2709, read_marcxml
from kiosk.importing.report import (
    FileImport,
    Progress,
    Summary,
    database_problem,
    dry_run_banner,
    exit_code,
    import_file,
    outcome_table,
    print_outcome,
    progress_bar,
)
from kiosk.importing.tables import is_workbook
from kiosk.services import catalog
from kiosk.services.catalog import CatalogEntry

log = logging.getLogger(__name__)

# Records per transaction. A big catalog must not hold the database's write lock for a
# minute (a checkout at the kiosk waits at most busy_timeout, 10 s); every chunk holds whole
# records (a title with its copies), and importing the same file again is idempotent, so
# after a crash re-running the import finishes the job.
CHUNK_RECORDS = 500


@dataclass
class CatalogImport(FileImport):
    """What an import of a catalog file did, or (dry run) would do."""

    kind: str
    formats: Counter[str]
    dry_run: bool
    items_added: int = 0
    # Copies given a made-up accession barcode: (barcode, title, where in the file).
    labels: list[tuple[str, str, str]] = field(default_factory=list)

    def table(self) -> list[str]:
        return outcome_table(
            {"titles": self.summary.outcomes(), "copies": {"added": self.items_added}}
        )


@collector_paused()
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
        # The chunks before this one stay imported.
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
    result = import_file(
        path,
        lambda data, file_name: import_catalog(
            settings,
            data,
            file_name,
            session_factory=session_factory,
            dry_run=dry_run,
            sheet=sheet,
            err=err,
            progress=progress,
        ),
        err,
    )
    if isinstance(result, int):
        return result
    summary = result.summary
    formats = ", ".join(f"{k} ×{v}" for k, v in sorted(result.formats.items()))
    would = dry_run_banner(dry_run, out)
    print(
        f"{name} ({result.kind}{': ' + formats if formats else ''}): "
        f"{summary.read} {summary.unit} read — titles: {summary.added} {would}added, "
        f"{summary.updated} {would}updated, {summary.unchanged} unchanged; "
        f"{result.items_added} items {would}added; {summary.rejected} rejected.",
        file=out,
    )
    print_outcome(result, out)
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
    return exit_code(result, dry_run)


def _chunks(
    sources: Iterator[Source], summary: Summary, bar: Progress
) -> Iterator[list[tuple[Source, CatalogEntry]]]:
    """Report what cannot be imported as it is read; hand on the rest CHUNK_RECORDS at a time.

    A copy barcode an earlier record of the file lists stays with that record: the later
    one's copy is reported and left out, so no import moves a copy (or, through it, a book
    without an ISBN) from one record's title to another's.
    """
    chunk: list[tuple[Source, CatalogEntry]] = []
    listed: dict[str, str] = {}
    for source in sources:
        summary.read += 1
        bar.update()
        if source.entry is not None:
            source.entry = _without_listed_copies(source, source.entry, listed)
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


def _without_listed_copies(
    source: Source, entry: CatalogEntry, listed: dict[str, str]
) -> CatalogEntry:
    """`entry` without the copies an earlier record listed (each reported); records the rest."""
    kept = []
    for holding in entry.holdings:
        first = listed.setdefault(holding.barcode, source.where)
        if first == source.where:
            kept.append(holding)
        else:
            source.problems.append(
                (
                    source.where,
                    f"copy {holding.barcode} is already listed on {first} — copy skipped",
                )
            )
    if len(kept) == len(entry.holdings):
        return entry
    # Copies that all belong to other records describe no copy to invent one for.
    return replace(entry, holdings=tuple(kept), copies=entry.copies if kept else 0)


def _report(
    chunk: list[tuple[Source, CatalogEntry]],
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


def _open(data: bytes, name: str, sheet: str | None) -> Reading:
    """Tell the format from the content (not the file name) and start reading it."""
    if is_workbook(data) or sheet is not None:
        return read_catalog_table(data, name, sheet)
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise UnreadableFile(f"{name}: the file is empty")
    if head.startswith(b"<"):
        return read_marcxml(data, name)
    if head[:5].isdigit() and END_OF_RECORD in data and b"\x1e" in data:
        return read_iso2709(data)
    if looks_like_marc_leader(head):
        raise UnreadableFile(
            f"{name}: a truncated MARC record — its leader says {int(head[:5])} bytes, but the "
            f"file ends after {len(data)} with no end-of-record mark"
        )
    return read_catalog_table(data, name, None)
