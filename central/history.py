"""`import-loans`: past loans from the old system into the central database, so year-on-year reports work from the first day."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from db.engine import SessionFactory
from db.models import Item, Loan, Patron, Title
from kiosk.circulation.barcodes import to_isbn13
from kiosk.circulation.states import CopyEvent, ItemStatus, copy_status_after
from kiosk.clock import utc_now
from kiosk.config import Settings
from kiosk.exitcodes import EXIT_BAD_INPUT
from kiosk.importing.files import CsvTable, UnreadableFile, normalize_header
from kiosk.importing.report import (
    FileImport,
    Summary,
    database_problem,
    dry_run_banner,
    exit_code,
    import_file,
    outcome_table,
    print_outcome,
)
from kiosk.importing.tables import read_table

# Imported loans carry this source (Loan.kiosk_id): reports show them as imported history.
IMPORT_SOURCE = "import"
# The same row always gets the same loan id: that is what makes a second run change nothing.
LOAN_NAMESPACE = uuid.UUID("6f1d1c3e-5b8e-4d8a-9a51-3a2f0c8e7d10")
# A date without a time of day: noon in the library's zone, safely inside that day.
NOON = dt.time(12, 0)

_ALIASES_RAW = {
    "card": ["card", "card number", "card barcode", "卡号", "借书证号", "借阅证号", "读者证号"],
    "student_number": ["student number", "student no", "student id", "学号", "学籍号"],
    "barcode": [
        "barcode",
        "copy barcode",
        "item barcode",
        "条码",
        "条码号",
        "图书条码",
        "登录号",
        "财产号",
    ],
    "isbn": ["isbn", "isbn13", "书号"],
    "checked_out": [
        "checked out",
        "checked out at",
        "checkout date",
        "loan date",
        "借出日期",
        "借书日期",
        "借阅日期",
        "借出时间",
    ],
    "due": ["due", "due at", "due date", "应还日期", "应还时间"],
    "returned": ["returned", "returned at", "return date", "归还日期", "还书日期", "归还时间"],
}
ALIASES = {normalize_header(text): name for name, texts in _ALIASES_RAW.items() for text in texts}
DESCRIBE = {
    "card": "卡号 (card) or 学号 (student number)",
    "barcode": "条码号 (barcode) or ISBN",
    "checked_out": "借出日期 (checked out)",
}
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)


def parse_when(text: str, zone: ZoneInfo) -> dt.datetime | None:
    """A date or date and time as old systems export them ("2025-09-03", "2025/9/3 14:05",
    "2025年9月3日", "2025-09-03T14:05:00"), in the library's zone, as UTC; None if it is none."""
    cleaned = text.strip().replace("/", "-").replace(".", "-").replace("T", " ")
    cleaned = re.sub(r"(\d{4})年(\d{1,2})月(\d{1,2})日?", r"\1-\2-\3", cleaned).strip()
    cleaned = re.sub(
        r"^(\d{4})-(\d{1,2})-(\d{1,2})",
        lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}",
        cleaned,
    )
    for pattern in _DATE_FORMATS:
        try:
            parsed = dt.datetime.strptime(cleaned, pattern)
        except ValueError:
            continue
        if pattern == "%Y-%m-%d":
            parsed = dt.datetime.combine(parsed.date(), NOON)
        return parsed.replace(tzinfo=zone).astimezone(dt.UTC)
    return None


@dataclass
class LoanImport(FileImport):
    """What an import-loans run did (or, dry run, would do)."""

    added_open: int = 0
    added_returned: int = 0

    def table(self) -> list[str]:
        counts = self.summary.outcomes()
        # The loans added, and of them those still open and those already returned.
        added = {"added": counts.pop("added")}
        split = {"  still open": self.added_open, "  returned": self.added_returned}
        return outcome_table({"loans": added | split | counts})


class _Library:
    """The roster's and catalogue's identifiers, read once for the whole file."""

    def __init__(self, session: Session) -> None:
        self.by_card: dict[str, int] = {}
        self.by_number: dict[str, int] = {}
        for pid, card, number in session.execute(
            select(Patron.id, Patron.card_barcode, Patron.student_number)
        ):
            self.by_card[card] = pid
            self.by_number[number] = pid
        self.items: dict[str, tuple[int, int]] = {
            barcode: (iid, tid)
            for iid, barcode, tid in session.execute(select(Item.id, Item.barcode, Item.title_id))
        }
        self.titles: dict[str, int] = {
            isbn: tid for tid, isbn in session.execute(select(Title.id, Title.isbn13)) if isbn
        }
        self.copies: dict[int, list[int]] = {}
        for iid, tid in session.execute(select(Item.id, Item.title_id).order_by(Item.id)):
            self.copies.setdefault(tid, []).append(iid)


def import_loans(
    session: Session,
    data: bytes,
    name: str,
    *,
    zone: ZoneInfo,
    loan_days: int,
    now: dt.datetime,
    sheet: str | None = None,
) -> LoanImport:
    """Add the file's loans: returned ones as history, open ones as open loans with the copy on
    loan (kiosks pull both through the central's change log). Rows naming no known student or
    copy, or with dates that make no sense, are reported by line and skipped. A row already
    imported is left as it is, unless the file now gives it a return date. Caller commits.

    Raises UnreadableFile when the file or its header cannot be read.
    """
    table = read_table(data, name, ALIASES, (), DESCRIBE, sheet=sheet)
    _check_columns(table, name)
    result = LoanImport(Summary(name, "row"))
    library = _Library(session)
    existing = {
        loan.uuid: loan
        for loan in session.scalars(select(Loan).where(Loan.kiosk_id == IMPORT_SOURCE))
    }
    open_items = set(session.scalars(select(Loan.item_id).where(Loan.returned_at.is_(None))))
    for line, row in table.rows:
        result.summary.read += 1
        where = f"line {line}"
        patron_id = _patron(table, row, library)
        if patron_id is None:
            result.summary.reject(where, "no student has this card or student number")
            continue
        checked_out = parse_when(table.value(row, "checked_out") or "", zone)
        if checked_out is None:
            result.summary.reject(
                where, f"{table.label('checked_out')} is not a date like 2025-09-03"
            )
            continue
        returned_text = table.value(row, "returned") or ""
        returned = parse_when(returned_text, zone) if returned_text else None
        if returned_text and returned is None:
            result.summary.reject(
                where,
                f"{table.label('returned')} is not a date like 2025-09-17 (leave it empty for a book not returned)",
            )
            continue
        due_text = table.value(row, "due") or ""
        due = parse_when(due_text, zone) if due_text else checked_out + dt.timedelta(days=loan_days)
        if due is None:
            result.summary.reject(where, f"{table.label('due')} is not a date like 2025-09-17")
            continue
        if checked_out > now:
            result.summary.reject(where, "the loan starts in the future")
            continue
        if due < checked_out or (returned is not None and returned < checked_out):
            result.summary.reject(where, "a loan cannot end or fall due before it starts")
            continue
        if returned is not None and returned > now:
            result.summary.reject(where, "the book comes back in the future")
            continue
        copy = _copy(table, row, library, checked_out, open_items if returned is None else set())
        if isinstance(copy, str):
            result.summary.reject(where, copy)
            continue
        item_id, _title_id, identity = copy
        loan_uuid = str(
            uuid.uuid5(LOAN_NAMESPACE, f"{patron_id}|{identity}|{checked_out.isoformat()}")
        )
        loan = existing.get(loan_uuid)
        if loan is not None:
            if loan.returned_at is None and returned is not None:
                loan.returned_at = returned
                loan.returned_kiosk_id = IMPORT_SOURCE
                item = session.get(Item, loan.item_id)
                if item is not None and item.status == ItemStatus.ON_LOAN:
                    item.status = copy_status_after(item.status, CopyEvent.RETURNED_TO_SHELF)
                open_items.discard(loan.item_id)
                result.summary.count("updated")
            else:
                result.summary.count("unchanged")
            continue
        if returned is None:
            item = session.get(Item, item_id)
            assert item is not None
            if item.status != ItemStatus.AVAILABLE:
                result.summary.reject(
                    where,
                    f"the copy is {item.status.replace('_', ' ')} in the catalogue, so it cannot be on loan",
                )
                continue
            item.status = copy_status_after(item.status, CopyEvent.LENT)
            open_items.add(item_id)
            result.added_open += 1
        else:
            result.added_returned += 1
        loan = Loan(
            uuid=loan_uuid,
            item_id=item_id,
            patron_id=patron_id,
            checked_out_at=checked_out,
            due_at=due,
            returned_at=returned,
            kiosk_id=IMPORT_SOURCE,
            returned_kiosk_id=IMPORT_SOURCE if returned is not None else None,
        )
        session.add(loan)
        existing[loan_uuid] = loan
        result.summary.count("added")
    session.flush()
    return result


def _check_columns(table: CsvTable, name: str) -> None:
    missing = []
    if "card" not in table.columns and "student_number" not in table.columns:
        missing.append(DESCRIBE["card"])
    if "barcode" not in table.columns and "isbn" not in table.columns:
        missing.append(DESCRIBE["barcode"])
    if "checked_out" not in table.columns:
        missing.append(DESCRIBE["checked_out"])
    if missing:
        raise UnreadableFile(f"{name}: required column(s) missing: {', '.join(missing)}")


def _patron(table: CsvTable, row: list[str], library: _Library) -> int | None:
    card = table.value(row, "card")
    if card and card in library.by_card:
        return library.by_card[card]
    number = table.value(row, "student_number")
    if number and number in library.by_number:
        return library.by_number[number]
    return None


def _copy(
    table: CsvTable, row: list[str], library: _Library, at: dt.datetime, on_loan: set[int]
) -> tuple[int, int, str] | str:
    """(item id, title id, what identifies the row's copy) or why there is none."""
    barcode = table.value(row, "barcode")
    if barcode:
        found = library.items.get(barcode)
        if found is None:
            return "no copy has this barcode"
        if found[0] in on_loan:
            return "this copy is on loan already"
        return found[0], found[1], f"item:{found[0]}"
    isbn_text = table.value(row, "isbn") or ""
    isbn = to_isbn13(isbn_text)
    title_id = library.titles.get(isbn) if isbn else None
    if title_id is None:
        return (
            "no copy has this barcode, and no title this ISBN"
            if isbn_text
            else "the row names no copy (barcode or ISBN)"
        )
    # The old system kept only the ISBN: the loan goes to a copy of that title, the first free.
    for item_id in library.copies.get(title_id, []):
        if item_id not in on_loan:
            return item_id, title_id, f"title:{title_id}"
    return "every copy of this title is on loan already"


def cli_import_loans(
    settings: Settings,
    path: Path,
    session_factory: SessionFactory,
    *,
    dry_run: bool,
    sheet: str | None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    zone = ZoneInfo(settings.circulation.timezone)
    now = utc_now()
    with session_factory() as session:

        def load(data: bytes, name: str) -> LoanImport:
            try:
                result = import_loans(
                    session,
                    data,
                    name,
                    zone=zone,
                    loan_days=settings.circulation.loan_days,
                    now=now,
                    sheet=sheet,
                )
            except SQLAlchemyError as exc:
                session.rollback()
                return LoanImport(Summary(name, "row"), failure=database_problem(exc))
            return result

        outcome = import_file(path, load, err)
        if isinstance(outcome, int):
            return outcome
        if dry_run:
            session.rollback()
        else:
            try:
                session.commit()
            except SQLAlchemyError as exc:
                print(database_problem(exc), file=err)
                return 1
    dry_run_banner(dry_run, out)
    print_outcome(outcome, out)
    return exit_code(outcome, dry_run)


def register_commands(sub: Any, common: argparse.ArgumentParser, commands: dict[str, Any]) -> None:
    parser = sub.add_parser(
        "import-loans",
        parents=[common],
        help="import past loans from the old system (CSV or .xlsx) into the central database",
    )
    parser.add_argument("file")
    parser.add_argument(
        "--central", action="store_true", help="write to the central database (required)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what the import would do; write nothing"
    )
    parser.add_argument("--sheet", metavar="NAME", help="the sheet of an Excel workbook to read")
    commands["import-loans"] = cmd_import_loans


def cmd_import_loans(settings: Settings, args: argparse.Namespace) -> int:
    if not args.central:
        print(
            "import-loans writes to the central database, which owns the loans; add --central",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    from central.db import make_central_session_factory, open_central_engine

    # The central's sessions record every change for kiosks to pull: open loans reach them.
    engine = open_central_engine(settings.central.database_url)
    try:
        return cli_import_loans(
            settings,
            Path(args.file),
            make_central_session_factory(engine),
            dry_run=args.dry_run,
            sheet=args.sheet,
        )
    finally:
        engine.dispose()
