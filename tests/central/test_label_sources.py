"""What a label sheet is printed for (copies, a class's students) and the `labels` command."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select, update

import run_kiosk
from central.label_sources import (
    CopySelection,
    SheetRequest,
    class_cards,
    class_choices,
    plan_sheets,
    select_copies,
    split_barcodes,
)
from central.labels import LAYOUTS, LabelKind, place
from db.models import Item, Patron, PatronStatus, Title
from kiosk.circulation.states import ItemStatus
from tests.central.conftest import CentralDB
from tests.central.label_support import seed_label_library
from tests.central.test_labels import decoded_positions, rasterise
from tests.conftest import FakeClock

TZ = "Asia/Shanghai"


@pytest.fixture
def library(central_db: CentralDB, clock: FakeClock, tmp_path: Path) -> CentralDB:
    return seed_label_library(central_db, clock, tmp_path)


def barcodes(copies) -> list[str]:
    return [copy.barcode for copy in copies]


def test_copies_needing_labels_are_the_ones_the_import_made_up_barcodes_for(library):
    with library.factory() as session:
        copies = select_copies(session, CopySelection(needing_labels=True), TZ)
    # In shelf order: call number, then barcode.
    assert barcodes(copies) == ["G8753669293", "GB8753669293", "GEN0000001"]
    assert [copy.call_number for copy in copies] == ["I247.55/L71", "I247.55/L71", "K29/X1"]


def test_withdrawn_copies_get_no_label(library):
    with library.factory.begin() as session:
        session.execute(
            update(Item).where(Item.barcode == "GEN0000001").values(status=ItemStatus.WITHDRAWN)
        )
    with library.factory() as session:
        copies = select_copies(session, CopySelection(needing_labels=True), TZ)
    assert barcodes(copies) == ["G8753669293", "GB8753669293"]


def test_copies_added_since_a_day_count_from_midnight_in_the_librarys_time_zone(library):
    with library.factory.begin() as session:
        # 26 Nov 17:30 UTC is 27 Nov 01:30 in Shanghai; 16:30 UTC is still the 26th there.
        session.execute(
            update(Item)
            .where(Item.barcode == "SX00001")
            .values(created_at=dt.datetime(2026, 11, 26, 17, 30, tzinfo=dt.UTC))
        )
        session.execute(
            update(Item)
            .where(Item.barcode == "SX00002")
            .values(created_at=dt.datetime(2026, 11, 26, 15, 30, tzinfo=dt.UTC))
        )
    with library.factory() as session:
        copies = select_copies(session, CopySelection(added_since=dt.date(2026, 11, 27)), TZ)
    assert sorted(barcodes(copies)) == sorted(
        ["A100001", "GEN0000001", "G8753669293", "GB8753669293", "SX00001"]
    )


def test_a_titles_copies_and_copies_by_id(library):
    with library.factory() as session:
        title_id = session.scalar(select(Title.id).where(Title.title == "三体"))
        ids = list(session.scalars(select(Item.id).where(Item.barcode.in_(["A100001", "SX00003"]))))
        by_title = select_copies(session, CopySelection(title_id=title_id), TZ)
        by_ids = select_copies(session, CopySelection(item_ids=tuple(ids)), TZ)
    assert barcodes(by_title) == ["G8753669293", "GB8753669293"]
    assert sorted(barcodes(by_ids)) == ["A100001", "SX00003"]


def test_a_class_is_found_however_it_is_written_and_left_students_get_no_card(library):
    with library.factory.begin() as session:
        session.execute(update(Patron).where(Patron.name == "李华").values(class_name="3-2"))
        session.execute(
            update(Patron).where(Patron.name == "陈思远").values(status=PatronStatus.LEFT)
        )
    with library.factory() as session:
        for text in ("3-2", "三年级2班", "三年级二班"):
            cards = class_cards(session, text, "书香小学")
            # One class, one spelling on the cards, whatever each roster row wrote.
            assert [(c.name, c.class_label, c.card_barcode) for c in cards] == [
                ("张小明", "三年级2班", "20260001"),
                ("李华", "三年级2班", "20260002"),
            ], text
        # Blocked students keep their card; the one who left gets none. "Grade 5 Class 3" is
        # the same class as 五年级三班.
        for text in ("五年级三班", "Grade 5 Class 3", "5-3"):
            assert [c.name for c in class_cards(session, text, "")] == [
                "Emily Chen",
                "Tom Li",
                "刘洋",
                "赵磊",
            ], text
    with library.factory.begin() as session:
        session.execute(update(Patron).where(Patron.name == "王芳").values(class_name="书法兴趣班"))
    with library.factory() as session:
        # A class name that is no class is matched as written.
        assert [c.name for c in class_cards(session, "书法兴趣班", "")] == ["王芳"]
        choices = [(c.key, c.label) for c in class_choices(session)]
    assert choices == [
        ("3-2", "三年级2班"),
        ("4-1", "四年级1班"),
        ("5-3", "五年级3班"),
        ("书法兴趣班", "书法兴趣班"),
    ]


def test_a_plan_says_why_it_cannot_be_printed(library):
    def problems(**fields):
        request = SheetRequest(**fields)
        with library.factory() as session:
            plan = plan_sheets(session, request, timezone=TZ, school="书香小学")
        assert not plan.printable
        return plan.problems

    needing = CopySelection(needing_labels=True)
    assert problems(kind=LabelKind.ACCESSION, layout="a4-99", copies=needing) == (
        "unknown layout 'a4-99' (known: a4-3x10, a4-4x10, a4-65, a4-3x8, a4-21)",
    )
    assert problems(kind=LabelKind.CARD, layout="a4-3x10", class_text="3-2") == (
        "a4-3x10 is not a layout for card sheets (use one of: cards-cr80)",
    )
    assert problems(kind=LabelKind.ACCESSION, layout="a4-65", start=66, copies=needing) == (
        "start position must be from 1 to 65 on A4 5×13 · 38.1×21.2 mm, not 66",
    )
    assert problems(kind=LabelKind.CARD, layout="cards-cr80", class_text="9-9") == (
        "no students still at school in class '9-9'",
    )
    assert problems(
        kind=LabelKind.ACCESSION, layout="a4-3x10", copies=CopySelection(title_id=-1)
    ) == ("no copies match",)


def test_a_plan_counts_the_sheets_from_the_start_position(library):
    request = SheetRequest(
        kind=LabelKind.SPINE, layout="a4-3x10", start=29, copies=CopySelection(needing_labels=True)
    )
    with library.factory() as session:
        plan = plan_sheets(session, request, timezone=TZ, school="书香小学")
    assert plan.printable and plan.sheets == 2
    assert [label.call_number for label in plan.labels] == ["I247.55/L71", "I247.55/L71", "K29/X1"]


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path, library: CentralDB) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\npath = "{tmp_path / "kiosk.sqlite3"}"\n'
        f'[central]\ndatabase_url = "{library.url}"\n'
        '[school]\nname = "书香市第一实验小学"\nshort_name = "书香一小"\n'
    )
    return path


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is missing: run scripts/system-deps.sh pdf")
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True)
    return done.stdout.decode()


def labels(config: Path, *args: str) -> int:
    return run_kiosk.main(["labels", *args, "--config", str(config)])


def test_the_command_prints_the_copies_needing_labels_from_position_7_and_they_scan_back(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    output = tmp_path / "needing.pdf"
    code = labels(config, "--needing", "--layout", "a4-65", "--start", "7", "--output", str(output))
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert (
        f"3 accession labels on 1 sheet(s) of A4 5×13 · 38.1×21.2 mm, from position 7: {output}"
        in out
    )
    layout = LAYOUTS["a4-65"]
    pages = rasterise(output.read_bytes(), tmp_path)
    wanted = ["G8753669293", "GB8753669293", "GEN0000001"]
    expected = {(p.sheet, p.position): b for p, b in zip(place(layout, 3, 7), wanted, strict=True)}
    assert decoded_positions(pages, layout) == expected
    assert min(expected) == (0, 7)
    # Book labels carry the school's short name.
    assert "书香一小" in pdf_text(output) and "书香市第一实验小学" not in pdf_text(output)


def test_the_command_prints_a_classs_cards(config: Path, tmp_path: Path, capsys):
    output = tmp_path / "cards.pdf"
    assert labels(config, "--class", "三年级2班", "--output", str(output)) == 0
    assert "2 cards on 1 sheet(s) of A4 2×5 · CR80 85.6×54 mm" in capsys.readouterr().out
    found = decoded_positions(rasterise(output.read_bytes(), tmp_path), LAYOUTS["cards-cr80"])
    assert found == {(0, 1): "20260001", (0, 2): "20260002"}
    # A card has room for the school's full name.
    assert {"书香市第一实验小学", "张小明", "李华"} <= set(pdf_text(output).split())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--needing", "--start", "31"], "start position must be from 1 to 30"),
        (["--class", "3-2", "--layout", "a4-65"], "a4-65 is not a layout for card sheets"),
        (["--class", "9-9"], "no students still at school in class '9-9'"),
        (["--title", "999999"], "no copies match"),
        (["--class", "3-2", "--spine"], "--spine is for copies' labels"),
        (["--since", "2026-13-01"], "not a date like 2026-09-01: '2026-13-01'"),
        (["--items", "1,x"], "not a list of copy ids like 12,15,16"),
        (["--needing", "--layout", "a4-99"], "invalid choice: 'a4-99'"),
        (["--needing", "--class", "3-2"], "not allowed with argument"),
    ],
)
def test_the_command_refuses_bad_input_with_exit_2_and_writes_nothing(
    config: Path, tmp_path: Path, capsys, args, message
):
    output = tmp_path / "out.pdf"
    try:
        code = labels(config, *args, "--output", str(output))
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_the_command_refuses_an_output_folder_that_does_not_exist(config: Path, tmp_path, capsys):
    output = tmp_path / "missing" / "out.pdf"
    assert labels(config, "--needing", "--output", str(output)) == 2
    assert f"--output: the folder {output.parent} does not exist." in capsys.readouterr().err


def test_copies_without_a_call_number_get_no_spine_label_and_are_named(
    library, config: Path, tmp_path: Path, capsys
):
    with library.factory.begin() as session:
        session.execute(update(Title).where(Title.title == "乡土旧书").values(call_number=""))
    request = SheetRequest(
        kind=LabelKind.SPINE, layout="a4-65", copies=CopySelection(needing_labels=True)
    )
    with library.factory() as session:
        plan = plan_sheets(session, request, timezone=TZ, school="")
    assert plan.printable
    assert [label.call_number for label in plan.labels] == ["I247.55/L71", "I247.55/L71"]
    assert plan.no_call_number == ("GEN0000001",)
    output = tmp_path / "spine.pdf"
    assert labels(config, "--needing", "--spine", "--output", str(output)) == 0
    out, err = capsys.readouterr()
    assert "1 copies have no call number and get no spine label: GEN0000001" in err
    assert "2 spine labels on 1 sheet(s) of A4 5×13" in out
    assert pdf_text(output).split() == ["书香一小", "I247.55", "L71"] * 2


def test_copies_by_barcode_come_in_the_order_scanned_and_unknown_ones_are_named(library):
    assert split_barcodes("SX00003, GEN0000001\nSX00001、SX00003 ") == [
        "SX00003",
        "GEN0000001",
        "SX00001",
        "SX00003",
    ]
    with library.factory() as session:
        wanted = ("SX00003", "GEN0000001", "SX00001")
        copies = select_copies(session, CopySelection(barcodes=wanted), TZ)
        assert barcodes(copies) == list(wanted)
        request = SheetRequest(
            kind=LabelKind.ACCESSION,
            layout="a4-3x10",
            copies=CopySelection(barcodes=("SX00001", "NOPE1", "NOPE1", "SX99999")),
        )
        plan = plan_sheets(session, request, timezone=TZ, school="")
    assert not plan.printable
    assert plan.unknown == ("NOPE1", "SX99999")
    assert plan.problems == ("no copy (or only a withdrawn one) has the barcode(s) NOPE1, SX99999",)


def test_the_command_prints_scanned_barcodes_in_order(config: Path, tmp_path: Path, capsys):
    output = tmp_path / "scanned.pdf"
    assert labels(config, "--barcodes", "SX00002,G8753669293", "--output", str(output)) == 0
    found = decoded_positions(rasterise(output.read_bytes(), tmp_path), LAYOUTS["a4-3x10"])
    assert found == {(0, 1): "SX00002", (0, 2): "G8753669293"}
    assert labels(config, "--barcodes", "SX00002,NOPE1", "--output", str(output) + "x") == 2
    assert "NOPE1" in capsys.readouterr().err
