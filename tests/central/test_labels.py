"""Label and card sheets: the layouts' geometry, and printed barcodes read back by a real decoder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from central.labels import (
    LAYOUTS,
    MIN_MODULE_MM,
    AccessionLabel,
    LabelKind,
    SpineLabel,
    StudentCard,
    code128_modules,
    fit_problems,
    label_parts,
    layouts_for,
    module_width_mm,
    place,
    render_sheets,
    sheets_needed,
    spine_lines,
    start_problem,
)

pyzbar = pytest.importorskip("pyzbar.pyzbar")

DPI = 300
MM_PER_PX = 25.4 / DPI


# --- geometry ------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=lambda layout: layout.name)
def test_every_label_is_on_the_page_and_none_overlaps_another(layout):
    cells = [layout.cell(p) for p in range(1, layout.per_sheet + 1)]
    for n, cell in enumerate(cells):
        assert cell.x_mm >= 0 and cell.y_mm >= 0, (layout.name, n + 1)
        assert cell.right_mm <= layout.page_width_mm + 1e-6, (layout.name, n + 1)
        assert cell.bottom_mm <= layout.page_height_mm + 1e-6, (layout.name, n + 1)
        for other in cells[n + 1 :]:
            assert not cell.overlaps(other), (layout.name, cell, other)
    # The grid is the layout's: the last label sits in the last row and column.
    last = cells[-1]
    assert last.x_mm == pytest.approx(layout.left_mm + (layout.columns - 1) * layout.pitch_x_mm)
    assert last.y_mm == pytest.approx(layout.top_mm + (layout.rows - 1) * layout.pitch_y_mm)


@pytest.mark.parametrize(
    "layout_name, kind",
    [(layout.name, kind) for kind in LabelKind for layout in layouts_for(kind)],
)
def test_every_part_of_a_label_is_inside_its_label_and_the_parts_do_not_overlap(layout_name, kind):
    layout = LAYOUTS[layout_name]
    for position in (1, layout.per_sheet):
        cell = layout.cell(position)
        for lines in (1, 2, 3) if kind is LabelKind.SPINE else (1,):
            parts = list(label_parts(kind, cell, lines).values())
            for n, part in enumerate(parts):
                assert cell.contains(part), (layout_name, kind, part)
                assert part.width_mm > 0 and part.height_mm > 0
                for other in parts[n + 1 :]:
                    assert not part.overlaps(other), (layout_name, kind, part, other)


def test_layout_sizes_are_the_sheets_sold_as_such():
    assert (LAYOUTS["a4-3x10"].per_sheet, LAYOUTS["a4-3x10"].label_width_mm) == (30, 70.0)
    assert (LAYOUTS["a4-4x10"].per_sheet, LAYOUTS["a4-4x10"].label_height_mm) == (40, 29.7)
    assert LAYOUTS["a4-65"].per_sheet == 65
    cards = LAYOUTS["cards-cr80"]
    assert (cards.label_width_mm, cards.label_height_mm) == (85.6, 53.98)
    assert [layout.name for layout in layouts_for(LabelKind.CARD)] == ["cards-cr80"]
    assert "cards-cr80" not in [layout.name for layout in layouts_for(LabelKind.ACCESSION)]


@pytest.mark.parametrize(
    "name, count, start, sheets",
    [
        ("a4-3x10", 0, 1, 0),
        ("a4-3x10", 1, 1, 1),
        ("a4-3x10", 30, 1, 1),
        ("a4-3x10", 31, 1, 2),
        ("a4-3x10", 24, 7, 1),
        ("a4-3x10", 25, 7, 2),
        ("a4-65", 65, 65, 2),
        ("a4-4x10", 81, 1, 3),
    ],
)
def test_sheet_count_counts_the_used_positions_of_the_first_sheet(name, count, start, sheets):
    layout = LAYOUTS[name]
    assert sheets_needed(layout, count, start) == sheets
    placed = place(layout, count, start)
    assert len(placed) == count
    assert (placed[-1].sheet + 1 if placed else 0) == sheets


def test_a_half_used_sheet_is_filled_from_the_start_position_then_new_sheets_from_the_first():
    layout = LAYOUTS["a4-3x10"]
    placed = place(layout, 26, start=7)
    assert [(p.sheet, p.position) for p in placed[:2]] == [(0, 7), (0, 8)]
    assert [(p.sheet, p.position) for p in placed[23:]] == [(0, 30), (1, 1), (1, 2)]
    assert placed[0].box == layout.cell(7)
    # Position 7 on a 3-column sheet is the first label of the third row.
    assert layout.position_of(row=3, column=1) == 7
    assert placed[0].box.x_mm == 0 and placed[0].box.y_mm == pytest.approx(2 * 29.7)


@pytest.mark.parametrize("start", [0, 31, -1])
def test_a_start_position_off_the_sheet_is_refused_in_words(start):
    layout = LAYOUTS["a4-3x10"]
    assert start_problem(layout, start) == (
        f"start position must be from 1 to 30 on A4 3×10 · 70×29.7 mm, not {start}"
    )
    with pytest.raises(ValueError):
        place(layout, 1, start)


@pytest.mark.parametrize(
    "call_number, lines",
    [
        ("I287.5/123", ["I287.5", "123"]),
        ("TP311.1/W45:2", ["TP311.1", "W45:2"]),
        ("I247.57/Y77/2", ["I247.57", "Y77", "2"]),
        ("K825.6", ["K825.6"]),
        (" I287 / 12 ", ["I287", "12"]),
        ("", []),
    ],
)
def test_spine_lines_split_a_call_number_where_it_is_shelved(call_number, lines):
    assert spine_lines(call_number) == lines


def test_bars_are_python_barcodes_code128_and_too_long_a_barcode_is_reported():
    # Start code B (11010010000), stop pattern (1100011101011) around the data.
    modules = code128_modules("GEN0000001")
    assert modules.startswith("11010010000") and modules.endswith("1100011101011")
    small = LAYOUTS["a4-65"]
    fits = [AccessionLabel("GEN0000001", "I287/1", "书香小学")]
    assert fit_problems(LabelKind.ACCESSION, small, fits) == []
    long_code = "X" * 40
    assert module_width_mm(long_code, 35.0) < MIN_MODULE_MM
    assert fit_problems(LabelKind.ACCESSION, small, [AccessionLabel(long_code, "", "")]) == [
        f"barcode {long_code} is too long for A4 5×13 · 38.1×21.2 mm: choose a larger label"
    ]


# --- the labels scan back -------------------------------------------------------------------------


def rasterise(pdf: bytes, tmp_path: Path) -> list[Image.Image]:
    """Every page of `pdf` as a grey image at DPI, by poppler's pdftoppm."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm is missing: run scripts/system-deps.sh pdf")
    source = tmp_path / "sheet.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", str(DPI), "-gray", "-png", str(source), str(tmp_path / "page")],
        check=True,
    )
    return [Image.open(path).convert("L") for path in sorted(tmp_path.glob("page-*.png"))]


def decoded_positions(pages: list[Image.Image], layout) -> dict[tuple[int, int], str]:
    """{(sheet, position): text} for every Code 128 barcode zbar finds, placed by its centre."""
    found: dict[tuple[int, int], str] = {}
    for sheet, image in enumerate(pages):
        for symbol in pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.CODE128]):
            left, top, width, height = symbol.rect
            x_mm, y_mm = (left + width / 2) * MM_PER_PX, (top + height / 2) * MM_PER_PX
            cells = [
                p
                for p in range(1, layout.per_sheet + 1)
                if layout.cell(p).x_mm <= x_mm <= layout.cell(p).right_mm
                and layout.cell(p).y_mm <= y_mm <= layout.cell(p).bottom_mm
            ]
            assert len(cells) == 1, (symbol, x_mm, y_mm)
            assert (sheet, cells[0]) not in found
            found[(sheet, cells[0])] = symbol.data.decode("ascii")
    return found


def test_accession_labels_on_65_per_sheet_scan_back_from_position_7(tmp_path):
    layout = LAYOUTS["a4-65"]
    barcodes = ["GEN0000001", "G7536042291", "GB7536042291", "GZ7536042291", "SX00001"]
    barcodes += [f"A{n:06d}" for n in range(100, 165)]
    labels = [AccessionLabel(code, "I287.5/123", "书香小学") for code in barcodes]
    pdf = render_sheets(LabelKind.ACCESSION, labels, layout, start=7)
    pages = rasterise(pdf, tmp_path)
    assert len(pages) == sheets_needed(layout, len(labels), 7) == 2
    expected = {
        (p.sheet, p.position): code for p, code in zip(place(layout, 70, 7), barcodes, strict=True)
    }
    assert decoded_positions(pages, layout) == expected


def test_student_cards_scan_back_and_carry_cut_marks_outside_the_cards(tmp_path):
    layout = LAYOUTS["cards-cr80"]
    cards = [StudentCard(f"学生{n}", "三年级2班", f"2026{n:04d}", "书香小学") for n in range(1, 13)]
    pdf = render_sheets(LabelKind.CARD, cards, layout, start=3)
    pages = rasterise(pdf, tmp_path)
    expected = {
        (p.sheet, p.position): c.card_barcode
        for p, c in zip(place(layout, 12, 3), cards, strict=True)
    }
    assert decoded_positions(pages, layout) == expected
    # Cut marks: ink in the top margin above every vertical cut line, none between them.
    first = pages[0]
    mark_y = round((layout.top_mm - 4) / MM_PER_PX)
    for x_mm in (layout.left_mm, layout.left_mm + 85.6, layout.left_mm + 2 * 85.6):
        assert (
            min(first.getpixel((round(x_mm / MM_PER_PX) + dx, mark_y)) for dx in (-1, 0, 1)) < 128
        )
    assert first.getpixel((round((layout.left_mm + 40) / MM_PER_PX), mark_y)) > 200


def test_spine_labels_print_no_barcode_and_stay_inside_their_labels(tmp_path):
    layout = LAYOUTS["a4-65"]
    labels = [SpineLabel("I287.5/123", "书香小学"), SpineLabel("TP311.1/W45:2", "")]
    pages = rasterise(render_sheets(LabelKind.SPINE, labels, layout), tmp_path)
    assert decoded_positions(pages, layout) == {}
    # Ink only inside the two labels used (positions 1 and 2): the inverted page's bounding box.
    inverted = pages[0].point(lambda v: 255 - v).point(lambda v: 255 if v > 127 else 0)
    left, top, right, bottom = inverted.getbbox()
    assert left * MM_PER_PX >= layout.cell(1).x_mm
    assert top * MM_PER_PX >= layout.cell(1).y_mm
    assert right * MM_PER_PX <= layout.cell(2).right_mm + MM_PER_PX
    assert bottom * MM_PER_PX <= layout.cell(1).bottom_mm + MM_PER_PX
