"""import-loans: the old system's loans into the central (GB18030 or UTF-8, Chinese or English headers), idempotent, open loans stay open."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

import run_kiosk
from central.history import IMPORT_SOURCE, import_loans
from central.reports.base import LibraryCalendar
from central.reports.classes import class_ranking
from db.central_models import ChangeLogEntry
from db.models import Item, Loan, Patron, Title
from kiosk.circulation.schoolyear import SchoolCalendar, parse_period
from tests.central.conftest import CentralDB

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)

GB_FILE = """学号,卡号,条码号,ISBN,借出日期,应还日期,归还日期
,20260001,SX00001,,2025-09-03,2025-09-17,2025-09-10
S2,,,978-7-5007-7369-6,2025/10/8 14:05,,
,20260001,SX00002,,2025年11月2日,,2025年11月9日
,99999999,SX00001,,2025-12-01,,2025-12-05
,20260002,SX09999,,2025-12-01,,2025-12-05
,20260002,SX00003,,yesterday,,
,20260002,SX00003,,2025-12-10,,2025-12-01
,20260002,SX00003,,2027-01-10,,
"""

EN_FILE = """Card,Copy barcode,Checked out,Due date,Returned
20260002,SX00003,2025-09-20,2025-10-04,2025-10-01
"""


@pytest.fixture
def shelf(central_db: CentralDB) -> dict[str, int]:
    with central_db.factory.begin() as s:
        s.add_all(
            [
                Patron(
                    student_number="S1",
                    card_barcode="20260001",
                    name="张小明",
                    class_name="三年级2班",
                ),
                Patron(student_number="S2", card_barcode="20260002", name="李华", class_name="3-2"),
            ]
        )
        prince = Title(isbn13="9787500773696", title="小王子")
        other = Title(isbn13="9787020024759", title="西游记")
        s.add_all([prince, other])
        s.flush()
        s.add_all(
            [
                Item(barcode="SX00001", title_id=prince.id),
                Item(barcode="SX00002", title_id=prince.id),
                Item(barcode="SX00003", title_id=other.id),
            ]
        )
    return {}


def _import(central_db: CentralDB, data: bytes, name: str = "借阅.csv"):
    with central_db.factory.begin() as s:
        return import_loans(s, data, name, zone=SHANGHAI, loan_days=14, now=NOW)


def _state(central_db: CentralDB) -> tuple[list[tuple], int]:
    with central_db.factory() as s:
        loans = s.execute(
            select(
                Loan.uuid,
                Loan.item_id,
                Loan.patron_id,
                Loan.checked_out_at,
                Loan.due_at,
                Loan.returned_at,
            ).order_by(Loan.uuid)
        ).all()
        changes = s.scalar(select(func.count(ChangeLogEntry.id)))
    return [tuple(r) for r in loans], changes or 0


def test_gb18030_chinese_headers_rows_reported_by_line_and_idempotent(central_db, shelf):
    result = _import(central_db, GB_FILE.encode("gb18030"))
    assert (result.summary.added, result.added_open, result.added_returned) == (3, 1, 2)
    problems = "\n".join(result.summary.problems)
    assert "line 5: no student has this card" in problems
    assert "line 6: no copy has this barcode" in problems
    assert "line 7: 借出日期 (checked_out) is not a date" in problems
    assert "line 8: a loan cannot end or fall due before it starts" in problems
    assert "line 9: the loan starts in the future" in problems
    assert result.summary.rejected == 5
    with central_db.factory() as s:
        loans = s.scalars(select(Loan).order_by(Loan.checked_out_at)).all()
        assert all(loan.kiosk_id == IMPORT_SOURCE for loan in loans)
        first = loans[0]
        # A date alone is noon in the library's zone; a missing due date is the loan period.
        assert first.checked_out_at == dt.datetime(2025, 9, 3, 4, 0, tzinfo=dt.UTC)
        assert first.returned_at == dt.datetime(2025, 9, 10, 4, 0, tzinfo=dt.UTC)
        open_loan = loans[1]
        assert open_loan.returned_at is None
        assert open_loan.checked_out_at == dt.datetime(2025, 10, 8, 6, 5, tzinfo=dt.UTC)
        assert open_loan.due_at == open_loan.checked_out_at + dt.timedelta(days=14)
        # The ISBN-only row went to the first free copy of the title, now on loan.
        item = s.get(Item, open_loan.item_id)
        assert item is not None and item.barcode == "SX00001" and item.status == "on_loan"
        # Kiosks learn the open loan and the copy's state through the change log.
        keys = set(s.scalars(select(ChangeLogEntry.key).where(ChangeLogEntry.entity == "loan")))
        assert open_loan.uuid in keys
    before = _state(central_db)
    again = _import(central_db, GB_FILE.encode("gb18030"))
    assert (again.summary.added, again.summary.unchanged, again.summary.rejected) == (0, 3, 5)
    assert _state(central_db) == before


def test_a_later_file_returns_an_open_loan(central_db, shelf):
    _import(central_db, GB_FILE.encode("gb18030"))
    returned = GB_FILE.replace("2025/10/8 14:05,,", "2025/10/8 14:05,,2025-10-20")
    result = _import(central_db, returned.encode("utf-8"))
    assert result.summary.updated == 1
    with central_db.factory() as s:
        assert s.scalar(select(func.count(Loan.id)).where(Loan.returned_at.is_(None))) == 0
        assert s.scalar(select(Item.status).where(Item.barcode == "SX00001")) == "available"


def test_english_headers_utf8_and_the_reports_count_the_history(central_db, shelf):
    result = _import(central_db, EN_FILE.encode("utf-8-sig"), "loans.csv")
    assert result.summary.added == 1
    _import(central_db, GB_FILE.encode("gb18030"))
    calendar = LibraryCalendar(SchoolCalendar(), SHANGHAI)
    period = parse_period("2025-2026", calendar.school)
    assert period is not None
    with central_db.factory() as s:
        ranking = class_ranking(s, period, calendar)
    (row,) = [r for r in ranking.rows if r["class_key"] == "3-2"]
    assert (row["loans"], row["borrowers"], row["students"]) == (4, 2, 2)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "卡号,借出日期\n20260001,2025-09-03\n",
            "required column(s) missing: 条码号 (barcode) or ISBN",
        ),
        ("姓名,班级\n张三,三年级2班\n", "required column(s) missing"),
        ("", "the file is empty"),
    ],
)
def test_unreadable_files_exit_2_and_write_nothing(central_db, shelf, tmp_path, capsys, text, said):
    config = tmp_path / "config.toml"
    config.write_text(f'[central]\ndatabase_url = "{central_db.url}"\n')
    path = tmp_path / "loans.csv"
    path.write_text(text, encoding="utf-8")
    assert run_kiosk.main(["import-loans", str(path), "--central", "--config", str(config)]) == 2
    assert said in capsys.readouterr().err
    assert _state(central_db)[0] == []


def test_the_command(central_db, shelf, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text(f'[central]\ndatabase_url = "{central_db.url}"\n')
    path = tmp_path / "借阅记录.csv"
    path.write_bytes(GB_FILE.encode("gb18030"))
    assert run_kiosk.main(["import-loans", str(path), "--config", str(config)]) == 2
    assert "add --central" in capsys.readouterr().err
    assert (
        run_kiosk.main(
            ["import-loans", str(path), "--central", "--dry-run", "--config", str(config)]
        )
        == 0
    )
    assert "Dry run" in capsys.readouterr().out
    assert _state(central_db)[0] == []
    assert run_kiosk.main(["import-loans", str(path), "--central", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "line 5: no student has this card" in out
    assert len(_state(central_db)[0]) == 3
