"""Moving in: Excel rosters and catalogues, books without ISBN, dry runs — real files, real SQLite."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from pathlib import Path

import openpyxl
import pymarc
import pytest
from sqlalchemy import func, select

from db.models import Item, Patron, Title
from kiosk.app import create_app
from kiosk.importing.catalog import cli_import_catalog
from kiosk.importing.roster import cli_import_roster
from tests.conftest import make_settings

PYMARC_DATA = Path(__file__).resolve().parents[1] / "data" / "pymarc"


def import_roster(settings, session_factory, path, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    code = cli_import_roster(
        settings,
        path,
        mark_missing_left=kwargs.pop("mark_missing_left", False),
        session_factory=session_factory,
        out=out,
        err=err,
        progress=False,
        **kwargs,
    )
    return code, out.getvalue(), err.getvalue()


def import_catalog(settings, session_factory, path, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    code = cli_import_catalog(
        settings, path, session_factory=session_factory, out=out, err=err, progress=False, **kwargs
    )
    return code, out.getvalue(), err.getvalue()


def database_state(settings, session_factory) -> tuple[str, list[tuple], list[tuple], list[tuple]]:
    """The database files' bytes (with the write-ahead log) and every patron, title and item."""
    with session_factory() as s:
        patrons = [
            (p.student_number, p.card_barcode, p.name, p.class_name, p.status, p.updated_at)
            for p in s.scalars(select(Patron).order_by(Patron.id))
        ]
        titles = [
            (t.id, t.isbn13, t.unified_number, t.title, t.author, t.year, t.updated_at)
            for t in s.scalars(select(Title).order_by(Title.id))
        ]
        items = [(i.barcode, i.title_id) for i in s.scalars(select(Item).order_by(Item.id))]
    digest = hashlib.sha256()
    for path in (settings.database.path, Path(f"{settings.database.path}-wal")):
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest(), patrons, titles, items


def save(workbook: openpyxl.Workbook, path: Path) -> Path:
    workbook.save(path)
    return path


def roster_workbook(tmp_path: Path) -> Path:
    """A roster as a student-records system exports it: a merged title row, numbers as numbers."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "2026级"
    ws.append(["书香小学 2026 学年学生名单"])
    ws.merge_cells("A1:E1")
    ws.append(["学号", "卡号", "姓名", "班级", "入学日期"])
    # A card number typed into a General cell is a double: 20260001.0.
    ws.append([2026001, 20260001.0, "张小明", "三年级二班", dt.datetime(2023, 9, 1)])
    ws.append(["S2026002", 20260002, "欧阳娜娜", "四年级一班", dt.datetime(2022, 9, 1)])
    ws.append(["S2026003", "20260003", "王䶮", "五年级三班", None])
    ws.append(["S2026004", "2026 0004", "李华", "五年级三班", None])
    ws.append([None, None, None, None, None])
    ws.append([None, None, None, None, None])
    other = wb.create_sheet("教师")
    other.append(["学号", "卡号", "姓名"])
    other.append(["T001", "30000001", "刘老师"])
    return save(wb, tmp_path / "roster.xlsx")


def test_xlsx_roster_with_chinese_headers_and_numeric_card_numbers(
    settings, session_factory, tmp_path
):
    path = roster_workbook(tmp_path)
    code, out, err = import_roster(settings, session_factory, path)
    assert (code, err) == (0, "")
    assert "roster.xlsx: 4 rows read — 3 added, 0 updated, 0 unchanged, 1 rejected." in out
    assert "roster.xlsx line 6: 卡号 (card) contains spaces — row skipped" in out
    with session_factory() as s:
        found = {p.student_number: (p.card_barcode, p.name) for p in s.scalars(select(Patron))}
    assert found == {
        "2026001": ("20260001", "张小明"),
        "S2026002": ("20260002", "欧阳娜娜"),
        "S2026003": ("20260003", "王䶮"),
    }
    before = database_state(settings, session_factory)
    code, out, _ = import_roster(settings, session_factory, path)
    assert code == 0
    assert "0 added, 0 updated, 3 unchanged, 1 rejected." in out
    assert database_state(settings, session_factory) == before


def test_sheet_is_chosen_by_name_and_a_missing_one_is_named(settings, session_factory, tmp_path):
    path = roster_workbook(tmp_path)
    code, out, _ = import_roster(settings, session_factory, path, sheet="教师")
    assert code == 0 and "1 rows read — 1 added" in out
    code, out, err = import_roster(settings, session_factory, path, sheet="Sheet9")
    assert code == 2 and out == ""
    assert "roster.xlsx: has no sheet named 'Sheet9' (its sheets: 2026级、教师)" in err


def catalog_workbook(tmp_path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ISBN", "题名", "作者", "出版社", "出版日期", "条码", "统一书号"])
    ws.append(["978-7-02-100000-4", "活着", "余华", "作家出版社", 2012, "SX10001", None])
    # The same ISBN stored as a number: exact in a double, so accepted.
    ws.append([9787021000004, "活着", "余华", "作家出版社", 2012, "SX10002", None])
    ws.append([9787530000000, "会说话的数字", "", "", None, "SX10003", None])
    ws.append(["9.78753E+12", "另一个数字", "", "", None, "SX10004", None])
    ws.append(
        [None, "林海雪原", "曲波", "人民文学出版社", dt.datetime(1957, 9, 1), None, "10019·3152"]
    )
    ws.append([None, "校园诗选", "五年级", "书香小学", 2019, None, None])
    ws.append([None, None, None, None, None, None, None])
    return save(wb, tmp_path / "catalogue.xlsx")


def test_xlsx_catalogue_with_isbns_as_text_and_as_numbers(settings, session_factory, tmp_path):
    path = catalog_workbook(tmp_path)
    code, out, err = import_catalog(settings, session_factory, path)
    assert (code, err) == (0, "")
    assert (
        "catalogue.xlsx (Excel): 6 rows read — titles: 3 added, 0 updated, 0 unchanged; 4 items added; 2 rejected."
        in out
    )
    message = "ISBN was turned into a number by Excel and lost digits (format the column as Text"
    assert f"catalogue.xlsx line 4: {message}" in out
    assert f"catalogue.xlsx line 5: {message}" in out
    with session_factory() as s:
        titles = {t.title: t for t in s.scalars(select(Title))}
        assert sorted(i.barcode for i in titles["活着"].items) == ["SX10001", "SX10002"]
        assert titles["活着"].isbn13 == "9787021000004"
        old = titles["林海雪原"]
        assert (old.isbn13, old.unified_number, old.year) == (None, "10019·3152", 1957)
        assert titles["校园诗选"].isbn13 is None
        made_up = {t: [i.barcode for i in titles[t].items] for t in ("林海雪原", "校园诗选")}
    assert made_up == {"林海雪原": ["GEN0000001"], "校园诗选": ["GEN0000002"]}
    assert "Copies that need labels (2)" in out
    assert "  GEN0000001  林海雪原  (line 6)" in out
    before = database_state(settings, session_factory)
    code, out, _ = import_catalog(settings, session_factory, path)
    assert code == 0
    assert "titles: 0 added, 0 updated, 3 unchanged; 0 items added" in out
    assert "Copies that need labels" not in out
    assert database_state(settings, session_factory) == before


def marc_field(tag: str, *pairs: str) -> pymarc.Field:
    subfields = [pymarc.Subfield(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(" ", " "), subfields=subfields)


def marc(*fields: pymarc.Field) -> bytes:
    record = pymarc.Record(force_utf8=True)
    for f in fields:
        record.add_field(f)
    return record.as_marc()


def test_marc_records_with_a_unified_number_and_with_nothing(settings, session_factory, tmp_path):
    path = tmp_path / "old.mrc"
    path.write_bytes(
        marc(
            marc_field("020", "a", "10019·3152"),
            marc_field("245", "a", "林海雪原 /", "c", "曲波著"),
            marc_field("260", "b", "人民文学出版社,", "c", "1957"),
        )
        # CNMARC: the 统一书号 in 091, written with a plain period.
        + marc(
            marc_field("091", "a", "10019.1234"),
            marc_field("200", "a", "红岩"),
            marc_field("210", "c", "中国青年出版社", "d", "1961"),
        )
        + marc(marc_field("245", "a", "班级作文集"), marc_field("260", "c", "2020"))
        + marc(marc_field("245", "a", "班级作文集"), marc_field("260", "c", "2021"))
    )
    code, out, err = import_catalog(settings, session_factory, path)
    assert (code, err) == (0, "")
    assert "4 records read — titles: 4 added, 0 updated, 0 unchanged; 4 items added" in out
    assert "Copies that need labels (4)" in out
    with session_factory() as s:
        rows = {
            (t.title, t.year): (t.unified_number, [i.barcode for i in t.items])
            for t in s.scalars(select(Title))
        }
    assert rows == {
        ("林海雪原", 1957): ("10019·3152", ["GEN0000001"]),
        ("红岩", 1961): ("10019·1234", ["GEN0000002"]),
        ("班级作文集", 2020): (None, ["GEN0000003"]),
        ("班级作文集", 2021): (None, ["GEN0000004"]),
    }
    before = database_state(settings, session_factory)
    code, out, _ = import_catalog(settings, session_factory, path)
    assert "titles: 0 added, 0 updated, 4 unchanged; 0 items added" in out
    assert database_state(settings, session_factory) == before


@pytest.mark.parametrize(
    ("name", "records"),
    [("one.dat", 1), ("test.dat", 10), ("marc8.dat", 1), ("testunimarc.dat", 1)],
)
def test_pymarcs_own_test_records_import_twice(settings, session_factory, name, records):
    path = PYMARC_DATA / name
    code, out, err = import_catalog(settings, session_factory, path)
    assert (code, err) == (0, "")
    with session_factory() as s:
        titles = s.scalar(select(func.count()).select_from(Title))
        no_isbn = s.scalar(select(func.count()).select_from(Title).where(Title.isbn13.is_(None)))
        items = s.scalar(select(func.count()).select_from(Item))
    assert titles == records and items >= titles
    assert f"{records} records read — titles: {records} added" in out
    if no_isbn:
        assert "Copies that need labels" in out
    before = database_state(settings, session_factory)
    code, out, _ = import_catalog(settings, session_factory, path)
    assert f"titles: 0 added, 0 updated, {records} unchanged; 0 items added" in out
    assert database_state(settings, session_factory) == before


def test_dry_run_writes_nothing_and_prints_the_table(settings, session_factory, tmp_path):
    roster = roster_workbook(tmp_path)
    catalogue = catalog_workbook(tmp_path)
    before = database_state(settings, session_factory)
    code, out, err = import_roster(
        settings, session_factory, roster, dry_run=True, mark_missing_left=True
    )
    assert (code, err) == (0, "")
    assert "Dry run: nothing was written." in out
    assert "3 would be added" in out
    table = out.split("\n")
    assert "students" in table[3] and table[4].split() == ["added", "3"]
    assert table[7].split() == ["rejected", "1"]
    code, out, err = import_catalog(settings, session_factory, catalogue, dry_run=True)
    assert (code, err) == (0, "")
    assert "titles: 3 would be added" in out
    assert "2 copies would get a made-up accession barcode." in out
    assert "GEN0000001" not in out
    assert database_state(settings, session_factory) == before
    # The real import ends with the same table the dry run showed.
    code, real, _ = import_catalog(settings, session_factory, catalogue)
    table_of = [line for line in out.split("\n") if line.split()[:1] in (["added"], ["updated"])]
    assert all(line in real for line in table_of)
    assert database_state(settings, session_factory) != before


def test_dry_run_exits_2_when_nothing_would_import(settings, session_factory, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("学号,卡号,姓名\nS1,2026 0001,甲\nS2,,乙\n", encoding="utf-8")
    before = database_state(settings, session_factory)
    code, out, _ = import_roster(settings, session_factory, path, dry_run=True)
    assert code == 2
    assert "0 would be added" in out and "2 rejected" in out
    assert database_state(settings, session_factory) == before


def test_a_made_up_label_is_lent_through_the_kiosks_scan_path(
    tmp_path, engine, session_factory, demo_library, clock
):
    settings = make_settings(tmp_path, kiosk={"language": "zh"})
    path = tmp_path / "old.mrc"
    path.write_bytes(marc(marc_field("020", "a", "10019·3152"), marc_field("245", "a", "林海雪原")))
    code, out, _ = import_catalog(settings, session_factory, path)
    assert code == 0
    label = re.search(r"^  (\S+)  林海雪原  \(record 1\)$", out, re.MULTILINE).group(1)
    assert label.startswith("GEN")
    client = create_app(settings, engine=engine, clock=clock).test_client()
    reply = client.post("/api/scan", json={"code": "20260001"}).get_json()
    assert reply["action"] == "signed_in"
    reply = client.post("/api/scan", json={"code": label}).get_json()
    assert reply["action"] == "checked_out" and reply["title"] == "林海雪原"
    with session_factory() as s:
        assert s.scalar(select(Item.status).where(Item.barcode == label)) == "on_loan"
