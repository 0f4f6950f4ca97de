"""import-students: read the school's roster (CSV or .xlsx) and bring the patron table up to date."""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from db.models import Patron, PatronStatus, width_of
from kiosk.config import Settings
from kiosk.importing.bulk import collector_paused
from kiosk.importing.files import CsvTable, normalize_header
from kiosk.importing.report import (
    FileImport,
    Summary,
    database_problem,
    dry_run_banner,
    exit_code,
    import_file,
    outcome_table,
    print_outcome,
    progress_bar,
)
from kiosk.importing.tables import read_table
from kiosk.services import roster
from kiosk.services.opac_pin import PIN_PATTERN
from kiosk.services.roster import RosterRow

log = logging.getLogger(__name__)

# Header text (any case, spaces and underscores ignored) → field.
_HEADERS: dict[str, list[str]] = {
    "student_number": ["student_number", "student_no", "student_id", "学号", "学籍号"],
    "card": ["card", "card_barcode", "card_number", "卡号", "借书证号", "读者证号"],
    "name": ["name", "student_name", "姓名"],
    "class": ["class", "class_name", "班级"],
    "grade": ["grade", "年级"],
    "parent_name": ["parent_name", "家长姓名", "家长"],
    "parent_phone": ["parent_phone", "家长电话", "联系电话"],
    "parent_email": ["parent_email", "家长邮箱", "电子邮箱", "email"],
    "status": ["status", "状态"],
    "pin": ["pin", "opac_pin", "密码", "查询密码"],
    "birth_date": ["birth_date", "birthday", "date_of_birth", "出生日期", "生日"],
}
_ALIASES = {normalize_header(a): f for f, aliases in _HEADERS.items() for a in aliases}
_REQUIRED = ("student_number", "card", "name")
_DESCRIBE = {
    "student_number": "学号 (student_number)",
    "card": "卡号 (card)",
    "name": "姓名 (name)",
}

_STATUSES = {
    "active": PatronStatus.ACTIVE,
    "在读": PatronStatus.ACTIVE,
    "在校": PatronStatus.ACTIVE,
    "blocked": PatronStatus.BLOCKED,
    "停用": PatronStatus.BLOCKED,
    "left": PatronStatus.LEFT,
    "离校": PatronStatus.LEFT,
    "毕业": PatronStatus.LEFT,
}

# Column widths of the patrons table: an identifier that does not fit is refused, not cut.
_COLUMN_OF = {
    "student_number": "student_number",
    "card": "card_barcode",
    "name": "name",
    "class": "class_name",
    "grade": "grade",
    "parent_name": "parent_name",
    "parent_phone": "parent_phone",
    "parent_email": "parent_email",
}
_WIDTHS = {field: width_of(Patron.__table__.c[column]) for field, column in _COLUMN_OF.items()}
_CARD = re.compile(r"[0-9A-Za-z]+", re.ASCII)
# What Excel shows for a long number in a General-formatted cell: 2.0260001E+07.
_EXCEL_NUMBER = re.compile(r"\d+(\.\d+)?[eE]\+\d+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?|(\d{4})(\d{2})(\d{2})")


@dataclass(frozen=True)
class _Row:
    line: int
    student: RosterRow


@dataclass
class RosterImport(FileImport):
    """What an import of a student list did, or (dry run) would do.

    The list is one transaction: when the database refuses it (`failure`), nothing is written.
    """

    dry_run: bool
    mark_missing_left: bool
    marked_left: int = 0

    def table(self) -> list[str]:
        counts = self.summary.outcomes()
        if self.mark_missing_left:
            counts["marked as left"] = self.marked_left
        return outcome_table({"students": counts})


@collector_paused()
def import_roster(
    settings: Settings,
    data: bytes,
    name: str,
    *,
    mark_missing_left: bool,
    session_factory: sessionmaker[Session],
    dry_run: bool = False,
    sheet: str | None = None,
    err: TextIO = sys.stderr,
    progress: bool = False,
) -> RosterImport:
    """Import the student list `data` (CSV, or an .xlsx `sheet`) named `name`.

    Raises UnreadableFile when the file cannot be read at all (not a table, no header with
    学号/卡号/姓名). The whole list is one transaction, rolled back with `dry_run`: a
    school's roster is a few thousand rows (a second or two of writing), and all-or-nothing
    means a power cut can never leave half the school updated, nor mark students as left
    against a list that was only half applied.
    """
    summary = Summary(name, "rows")
    result = RosterImport(summary, dry_run, mark_missing_left)
    table = read_table(data, name, _ALIASES, _REQUIRED, _DESCRIBE, sheet=sheet)
    rows, seen = _validate(table, summary, settings.barcodes.patron_pattern)
    summary.read = len(table.rows)
    now = dt.datetime.now(dt.UTC)
    bar = progress_bar(len(rows), err, progress, "row")
    try:
        with session_factory() as session, session.begin():
            for row in _apply(session, rows, now, summary, bar.update):
                summary.reject(
                    f"line {row.line}",
                    f"{table.label('card')} already belongs to another student — row skipped",
                )
            if mark_missing_left:
                result.marked_left = roster.mark_missing_left(session, seen, now)
            if dry_run:
                session.rollback()
    except SQLAlchemyError as exc:
        log.error("student import of %s failed: %s", name, type(exc).__name__)
        result.failure = f"{name}: {database_problem(exc)} — nothing imported."
        return result
    finally:
        bar.close()
    log.info(
        "student import%s of %s: %d read, %d added, %d updated, %d unchanged, %d rejected, %d left",
        " (dry run)" if dry_run else "",
        name,
        summary.read,
        summary.added,
        summary.updated,
        summary.unchanged,
        summary.rejected,
        result.marked_left,
    )
    return result


def cli_import_roster(
    settings: Settings,
    path: Path,
    *,
    mark_missing_left: bool,
    session_factory: sessionmaker[Session],
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    progress: bool = True,
    dry_run: bool = False,
    sheet: str | None = None,
) -> int:
    """Import the student list at `path` (see `import_roster`); print the table; exit code.

    0: the file was read, every good row imported and every bad row listed. 2: the file
    cannot be read at all (missing, not a table, no header with 学号/卡号/姓名), or (dry
    run) no row of it could be imported; nothing is written. 1: the database refused the
    import; nothing is written either.
    """
    name = path.name
    result = import_file(
        path,
        lambda data, file_name: import_roster(
            settings,
            data,
            file_name,
            mark_missing_left=mark_missing_left,
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
    would = dry_run_banner(dry_run, out)
    print(
        f"{name}: {summary.read} rows read — {summary.added} {would}added, "
        f"{summary.updated} {would}updated, {summary.unchanged} unchanged, "
        f"{summary.rejected} rejected.",
        file=out,
    )
    if mark_missing_left:
        print(
            f"{result.marked_left} active students not in the file {would}marked as left.",
            file=out,
        )
    print_outcome(result, out)
    return exit_code(result, dry_run)


def _apply(
    session: Session,
    rows: list[_Row],
    now: dt.datetime,
    summary: Summary,
    advance: Callable[[], object],
) -> list[_Row]:
    """Upsert every row; return the rows whose card still belongs to another student.

    A row refused because another patron holds its card is tried again once the rest of the
    file is applied, for as long as that frees cards: a later row may give that patron a new
    card. Without this, a card the file moves is refused on the first import and taken on
    the second: importing the same file again would change the library. Cards swapped
    between two students stay refused on every import.
    """
    pending = rows
    while True:
        refused = []
        for row in pending:
            outcome = roster.upsert_patron(session, row.student, now)
            if outcome == "card_in_use":
                refused.append(row)
                continue
            summary.count(outcome)
            advance()
        if not refused or len(refused) == len(pending):
            for _ in refused:
                advance()
            return refused
        pending = refused


def _validate(
    table: CsvTable, summary: Summary, patron_pattern: str
) -> tuple[list[_Row], set[str]]:
    """Check every row; return the good ones and every student number the file names.

    The student numbers of rejected rows count as seen, so a typo in a parent's e-mail
    address never gets a student marked as left.
    """
    good: list[_Row] = []
    seen: set[str] = set()
    numbers: dict[str, int] = {}
    cards: dict[str, int] = {}
    card_pattern = re.compile(patron_pattern, re.ASCII)
    for line, cells in table.rows:
        where = f"line {line}"
        values = table.values(cells, _HEADERS)
        number = values["student_number"] or ""
        card = values["card"] or ""
        problem = _first_problem(table, values)
        if number:
            seen.add(number)
            if problem is None and number in numbers:
                problem = f"{table.label('student_number')} repeats line {numbers[number]}"
            numbers.setdefault(number, line)
        if card and _CARD.fullmatch(card):
            if problem is None and card in cards:
                problem = f"{table.label('card')} is the same as on line {cards[card]}"
            cards.setdefault(card, line)
        if problem is not None:
            summary.reject(where, f"{problem} — row skipped")
            continue
        if not card_pattern.fullmatch(card):
            summary.warn(
                where,
                f"{table.label('card')} does not match barcodes.patron_pattern; "
                "the kiosk will not recognise this card",
            )
        status = values["status"]
        good.append(
            _Row(
                line,
                RosterRow(
                    student_number=number,
                    card_barcode=card,
                    name=values["name"] or "",
                    class_name=values["class"],
                    grade=values["grade"],
                    parent_name=values["parent_name"],
                    parent_phone=values["parent_phone"],
                    parent_email=values["parent_email"],
                    status=_STATUSES[status.casefold()] if status else None,
                    opac_pin=values["pin"],
                    birth_date=_birth_date(values["birth_date"]) if values["birth_date"] else None,
                ),
            )
        )
    return good, seen


def _first_problem(table: CsvTable, values: dict[str, str | None]) -> str | None:
    """Why this row cannot be imported, naming the column as the file names it; or None."""
    for field in _REQUIRED:
        if not values[field]:
            return f"{table.label(field)} is empty"
    for field, width in _WIDTHS.items():
        value = values[field]
        if value is not None and len(value) > width:
            return f"{table.label(field)} is longer than {width} characters"
    card = values["card"] or ""
    if not _CARD.fullmatch(card):
        if _EXCEL_NUMBER.fullmatch(card):
            return (
                f"{table.label('card')} was turned into a number by Excel "
                "(format the column as Text and export again)"
            )
        if any(ch.isspace() for ch in card):
            return f"{table.label('card')} contains spaces"
        return f"{table.label('card')} may only contain digits and letters"
    email = values["parent_email"]
    if email and not _EMAIL.fullmatch(email):
        return f"{table.label('parent_email')} is not an e-mail address"
    status = values["status"]
    if status and status.casefold() not in _STATUSES:
        return f"{table.label('status')} must be active/blocked/left or 在读/停用/离校"
    pin = values["pin"]
    if pin and not PIN_PATTERN.fullmatch(pin):
        return f"{table.label('pin')} must be 4 to 12 digits"
    birth = values["birth_date"]
    if birth and _birth_date(birth) is None:
        return f"{table.label('birth_date')} is not a date like 2015-09-01"
    return None


def _birth_date(text: str) -> dt.date | None:
    """A birth date as schools write it: 2015-09-01, 2015/9/1, 2015.9.1 or 20150901."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day_of_month = (int(part) for part in match.groups() if part is not None)
    try:
        day = dt.date(year, month, day_of_month)
    except ValueError:
        return None
    # A birth date in the future or more than a century ago is a typing mistake.
    return day if dt.date(1900, 1, 1) <= day <= dt.date.today() else None
