"""import-students end to end: real CSV files in every encoding, a real SQLite file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from db.models import Patron, PatronStatus
from kiosk.importing.catalog import cli_import_catalog
from kiosk.importing.roster import cli_import_roster

HEADER_ZH = "学号,卡号,姓名,班级,年级,家长姓名,家长电话,家长邮箱\n"
ROWS_ZH = [
    "S2026001,20260001,张小明,三年级二班,3,张伟,13800000001,zhang@example.cn",
    "S2026002,20260002,欧阳娜娜,四年级一班,4,欧阳峰,13800000002,",
    "S2026003,20260003,王䶮,五年级三班,5,,,",
]


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(settings, session_factory, path: Path, *, mark_missing_left: bool = False):
    out, err = io.StringIO(), io.StringIO()
    code = cli_import_roster(
        settings,
        path,
        mark_missing_left=mark_missing_left,
        session_factory=session_factory,
        out=out,
        err=err,
        progress=False,
    )
    return code, out.getvalue(), err.getvalue()


def patrons(session_factory) -> dict[str, tuple[str, ...]]:
    with session_factory() as s:
        return {
            p.student_number: (
                p.card_barcode,
                p.name,
                p.class_name,
                p.grade,
                p.status,
                p.parent_name,
                p.parent_phone,
                p.parent_email,
            )
            for p in s.scalars(select(Patron))
        }


def test_utf8_with_bom_and_chinese_headers(settings, session_factory, tmp_path):
    path = write(tmp_path, "students.csv", HEADER_ZH + "\n".join(ROWS_ZH) + "\n", "utf-8-sig")
    code, out, err = run(settings, session_factory, path)
    assert (code, err) == (0, "")
    assert "3 rows read — 3 added, 0 updated, 0 unchanged, 0 rejected" in out
    got = patrons(session_factory)
    assert got["S2026001"] == (
        "20260001",
        "张小明",
        "三年级二班",
        "3",
        "active",
        "张伟",
        "13800000001",
        "zhang@example.cn",
    )
    assert got["S2026003"][1] == "王䶮"


def test_gb18030_names_round_trip(settings, session_factory, tmp_path):
    # 䶮 lies outside GBK: only GB18030's four-byte sequences carry it.
    path = write(tmp_path, "students-gb.csv", HEADER_ZH + "\r\n".join(ROWS_ZH) + "\r\n", "gb18030")
    code, out, _ = run(settings, session_factory, path)
    assert code == 0
    assert "3 rows read — 3 added" in out
    got = patrons(session_factory)
    assert [got[n][1] for n in ("S2026001", "S2026002", "S2026003")] == [
        "张小明",
        "欧阳娜娜",
        "王䶮",
    ]
    assert got["S2026002"][2] == "四年级一班"


def test_english_headers_any_case_and_spacing(settings, session_factory, tmp_path):
    text = (
        "Student Number,CARD,Name,Class Name,grade,Parent_Email,status\n"
        "S1,A1234567,Emily Chen,Grade 5 Class 3,5,emily.parent@example.com,active\n"
        "S2,A1234568,Tom Li,Grade 5 Class 3,5,,blocked\n"
    )
    code, out, _ = run(settings, session_factory, write(tmp_path, "roster.csv", text))
    assert code == 0, out
    got = patrons(session_factory)
    assert got["S1"][:5] == ("A1234567", "Emily Chen", "Grade 5 Class 3", "5", "active")
    assert got["S2"][4] == "blocked"


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_delimiters(settings, session_factory, tmp_path, delimiter):
    text = "\n".join(
        delimiter.join(cells)
        for cells in (
            ("学号", "卡号", "姓名", "班级"),
            ("S1", "20260001", "李华", "三年级二班, 实验班"),
            ("S2", "20260002", "刘洋", "五年级三班"),
        )
    )
    code, out, _ = run(settings, session_factory, write(tmp_path, "export.csv", text))
    assert code == 0, out
    got = patrons(session_factory)
    assert got["S1"][1:3] == ("李华", "三年级二班, 实验班")
    assert got["S2"][1] == "刘洋"


def test_bad_rows_are_reported_by_line_and_skipped(settings, session_factory, tmp_path):
    run(
        settings,
        session_factory,
        write(tmp_path, "old.csv", "学号,卡号,姓名\nS9000,20269999,赵老生\n"),
    )
    text = (
        HEADER_ZH
        + "S1,20260001,甲,一班,1,,,\n"  # line 2: fine
        + "S2,,乙,一班,1,,,\n"  # line 3: no card
        + "S3,20260001,丙,一班,1,,,\n"  # line 4: same card as line 2
        + "S4,20269999,丁,一班,1,,,\n"  # line 5: S9000 holds that card
        + "S5,20260005,戊,一班,1,,,not-an-address\n"  # line 6: bad e-mail
        + "S1,20260006,己,一班,1,,,\n"  # line 7: student number of line 2 again
        + "S7,2.026E+07,庚,一班,1,,,\n"  # line 8: Excel ate the card number
        + "S8,2026 0008,辛,一班,1,,,\n"  # line 9: a space inside the card
        + "S9,20260009,,一班,1,,,\n"  # line 10: no name
        + "S10,20260010,壬,一班,1,,,\n"  # line 11: fine
    )
    code, out, err = run(settings, session_factory, write(tmp_path, "students.csv", text))
    assert (code, err) == (0, "")
    assert "10 rows read — 2 added, 0 updated, 0 unchanged, 8 rejected" in out
    expected = [
        "students.csv line 3: 卡号 (card) is empty — row skipped",
        "students.csv line 4: 卡号 (card) is the same as on line 2 — row skipped",
        "students.csv line 5: 卡号 (card) already belongs to another student — row skipped",
        "students.csv line 6: 家长邮箱 (parent_email) is not an e-mail address — row skipped",
        "students.csv line 7: 学号 (student_number) repeats line 2 — row skipped",
        "students.csv line 8: 卡号 (card) was turned into a number by Excel",
        "students.csv line 9: 卡号 (card) contains spaces — row skipped",
        "students.csv line 10: 姓名 (name) is empty — row skipped",
    ]
    for message in expected:
        assert message in out
    got = patrons(session_factory)
    assert set(got) == {"S9000", "S1", "S10"}
    assert got["S9000"][:2] == ("20269999", "赵老生")
    # Messages name lines and columns, never a student's card number or name.
    for secret in ("20269999", "赵老生", "丁", "20260005"):
        assert secret not in out


def test_reimport_changes_nothing_and_a_new_class_updates(settings, session_factory, tmp_path):
    text = HEADER_ZH + "\n".join(ROWS_ZH) + "\n"
    path = write(tmp_path, "students.csv", text)
    run(settings, session_factory, path)
    before = patrons(session_factory)
    code, out, _ = run(settings, session_factory, path)
    assert code == 0
    assert "3 rows read — 0 added, 0 updated, 3 unchanged, 0 rejected" in out
    assert patrons(session_factory) == before

    moved = text.replace(
        "S2026002,20260002,欧阳娜娜,四年级一班", "S2026002,20260002,欧阳娜娜,五年级一班"
    )
    code, out, _ = run(settings, session_factory, write(tmp_path, "students2.csv", moved))
    assert "0 added, 1 updated, 2 unchanged" in out
    assert patrons(session_factory)["S2026002"][2] == "五年级一班"


def test_mark_missing_left_marks_only_the_missing(settings, session_factory, tmp_path):
    run(settings, session_factory, write(tmp_path, "all.csv", HEADER_ZH + "\n".join(ROWS_ZH)))
    with session_factory.begin() as s:
        # A blocked student keeps the block even when leaving.
        s.add(Patron(student_number="S0", card_barcode="20250000", name="X", status="blocked"))
    # S2026002's row is rejected (bad e-mail) but the student is still in the list.
    text = HEADER_ZH + ROWS_ZH[0] + "\nS2026002,20260002,欧阳娜娜,四年级一班,4,,,bad-address\n"
    code, out, _ = run(
        settings, session_factory, write(tmp_path, "some.csv", text), mark_missing_left=True
    )
    assert code == 0
    assert "1 active students not in the file marked as left." in out
    statuses = {n: v[4] for n, v in patrons(session_factory).items()}
    assert statuses == {
        "S0": "blocked",
        "S2026001": "active",
        "S2026002": "active",
        "S2026003": "left",
    }


def test_left_student_listed_again_is_active(settings, session_factory, tmp_path):
    path = write(tmp_path, "students.csv", HEADER_ZH + "\n".join(ROWS_ZH))
    run(settings, session_factory, path)
    with session_factory.begin() as s:
        for p in s.scalars(select(Patron)):
            p.status = PatronStatus.LEFT
    code, out, _ = run(settings, session_factory, path)
    assert code == 0
    assert "0 added, 3 updated" in out
    assert {v[4] for v in patrons(session_factory).values()} == {"active"}


def test_status_column_in_chinese(settings, session_factory, tmp_path):
    text = "学号,卡号,姓名,状态\nS1,20260001,甲,离校\nS2,20260002,乙,在读\nS3,20260003,丙,休学\n"
    code, out, _ = run(settings, session_factory, write(tmp_path, "s.csv", text))
    assert code == 0
    assert "s.csv line 4: 状态 (status) must be" in out
    got = patrons(session_factory)
    assert (got["S1"][4], got["S2"][4]) == ("left", "active")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00\xd8\x00", "students.csv: starts like UTF-16 text but is not"),
        (b"\x80\xff\xff,\x81\xff\n\xfe\xfe", "students.csv: is neither UTF-8 nor GB18030 text"),
        (b"", "students.csv: the file is empty"),
        (b"\r\n\r\n", "students.csv: the file is empty"),
        (
            "S2026001,20260001,张小明\n".encode(),
            "students.csv: the first line is not a header row",
        ),
        ("学号,姓名\nS1,甲\n".encode(), "students.csv: required column(s) missing: 卡号 (card)"),
        (b"PK\x03\x04rest-of-a-zip", "students.csv: is a zip file but not an Excel .xlsx"),
        (b"\x00\x01\x02binary", "students.csv: is a binary file"),
    ],
)
def test_unreadable_file_exits_2_and_leaves_the_database_alone(
    settings, session_factory, tmp_path, content, message
):
    run(settings, session_factory, write(tmp_path, "good.csv", HEADER_ZH + "\n".join(ROWS_ZH)))
    before = patrons(session_factory)
    path = tmp_path / "students.csv"
    path.write_bytes(content)
    code, out, err = run(settings, session_factory, path, mark_missing_left=True)
    assert code == 2
    assert message in err
    assert "nothing imported" in err
    assert out == ""
    assert "张小明" not in err
    assert patrons(session_factory) == before


def test_missing_file_exits_2(settings, session_factory, tmp_path):
    code, _, err = run(settings, session_factory, tmp_path / "nope.csv")
    assert code == 2
    assert "nope.csv: no such file" in err


def test_opac_pin_and_birth_date_columns(settings, session_factory, tmp_path):
    from kiosk.services.opac_pin import verify_pin

    text = (
        "学号,卡号,姓名,密码,出生日期\n"
        "S2026001,20260001,张小明,482913,2016-09-01\n"
        "S2026002,20260002,欧阳娜娜,,2015/3/7\n"
        "S2026003,20260003,王芳,12ab,2015-02-30\n"
        "S2026004,20260004,李华,7777,20150607\n"
    )
    path = write(tmp_path, "students.csv", text)
    code, out, _ = run(settings, session_factory, path)
    assert code == 0
    assert "3 added, 0 updated, 0 unchanged, 1 rejected" in out
    assert "line 4: 密码 (pin) must be 4 to 12 digits" in out
    with session_factory() as s:
        found = {p.student_number: p for p in s.scalars(select(Patron))}
    assert verify_pin("482913", found["S2026001"].opac_pin_hash)
    assert not verify_pin("482914", found["S2026001"].opac_pin_hash)
    assert "482913" not in found["S2026001"].opac_pin_hash  # only the salted hash is stored
    assert found["S2026002"].opac_pin_hash == ""
    assert [str(found[n].birth_date) for n in ("S2026001", "S2026002", "S2026004")] == [
        "2016-09-01",
        "2015-03-07",
        "2015-06-07",
    ]
    # The same file again changes nothing, though every hash has its own salt.
    code, out, _ = run(settings, session_factory, path)
    assert "0 added, 0 updated, 3 unchanged, 1 rejected" in out
    bad_date = text.replace("2016-09-01", "2016-13-01")
    code, out, _ = run(settings, session_factory, write(tmp_path, "s2.csv", bad_date))
    assert "line 2: 出生日期 (birth_date) is not a date like 2015-09-01" in out


@pytest.mark.parametrize("command", ["import-students", "import-catalog"])
def test_a_database_that_refuses_the_write_exits_1_and_says_so(command, settings, engine, tmp_path):
    read_only = create_engine(f"sqlite:///file:{settings.database.path}?mode=ro&uri=true")
    factory = sessionmaker(read_only)
    out, err = io.StringIO(), io.StringIO()
    if command == "import-students":
        path = write(tmp_path, "students.csv", HEADER_ZH + ROWS_ZH[0] + "\n")
        code = cli_import_roster(
            settings,
            path,
            mark_missing_left=False,
            session_factory=factory,
            out=out,
            err=err,
            progress=False,
        )
    else:
        path = write(tmp_path, "books.csv", "isbn,title\n9787020002207,红楼梦\n")
        code = cli_import_catalog(
            settings, path, session_factory=factory, out=out, err=err, progress=False
        )
    read_only.dispose()
    assert code == 1
    assert out.getvalue() == ""
    assert err.getvalue().startswith(
        f"{path.name}: the database refused the import (attempt to write a readonly database)"
    )
    with engine.connect() as db:
        assert db.exec_driver_sql("SELECT count(*) FROM patrons").scalar() == 0
        assert db.exec_driver_sql("SELECT count(*) FROM titles").scalar() == 0


def test_a_card_the_file_moves_is_free_for_an_earlier_row(settings, session_factory, tmp_path):
    # The fuzz test's one database across examples found this: a card another student held
    # before the file moved them to a new one was refused on the first import and taken on
    # the second, so importing the same file again changed the library.
    run(settings, session_factory, write(tmp_path, "old.csv", "学号,卡号,姓名\nS1,20260002,甲\n"))
    text = "学号,卡号,姓名\nS2,20260002,乙\nS1,20260001,甲\n"
    code, out, _ = run(settings, session_factory, write(tmp_path, "students.csv", text))
    assert code == 0
    assert "2 rows read — 1 added, 1 updated, 0 unchanged, 0 rejected" in out
    after_first = patrons(session_factory)
    assert {n: p[0] for n, p in after_first.items()} == {"S1": "20260001", "S2": "20260002"}
    code, out, _ = run(settings, session_factory, write(tmp_path, "students.csv", text))
    assert "0 added, 0 updated, 2 unchanged, 0 rejected" in out
    assert patrons(session_factory) == after_first


def test_two_students_swapping_cards_are_both_refused_every_time(
    settings, session_factory, tmp_path
):
    old = "学号,卡号,姓名\nS1,20260001,甲\nS2,20260002,乙\n"
    run(settings, session_factory, write(tmp_path, "old.csv", old))
    before = patrons(session_factory)
    swapped = write(tmp_path, "swapped.csv", "学号,卡号,姓名\nS1,20260002,甲\nS2,20260001,乙\n")
    for _ in range(2):
        code, out, _ = run(settings, session_factory, swapped)
        assert code == 0
        assert "0 added, 0 updated, 0 unchanged, 2 rejected" in out
        assert "line 2: 卡号 (card) already belongs to another student" in out
        assert "line 3: 卡号 (card) already belongs to another student" in out
        assert patrons(session_factory) == before
