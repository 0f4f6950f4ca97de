"""Label and card sheets as print-ready PDF: A4 layouts as data, Code 128 drawn as vector bars."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from barcode import Code128
from fpdf import FPDF

from central.pdf import CJK_FAMILY, cjk_document

MM_PER_PT = 25.4 / 72
A4_WIDTH_MM = 210.0
A4_HEIGHT_MM = 297.0
# Code 128 wants a quiet zone of ten modules on each side of the bars.
QUIET_MODULES = 10
# Narrower bars than this smudge on a school's laser printer and fail a cheap wedge scanner;
# a barcode that would need them does not fit its label (see `fit_problems`).
MIN_MODULE_MM = 0.17
# Wider bars gain nothing and make a short barcode look odd on a card.
MAX_MODULE_MM = 0.4


class LabelKind(StrEnum):
    """What a sheet holds."""

    ACCESSION = "accession"  # barcode, its digits, call number, school name: stuck in the book
    SPINE = "spine"  # the call number in large type, split where it is shelved (书标)
    CARD = "card"  # a student's library card, CR80 size


@dataclass(frozen=True)
class Box:
    """A rectangle on the page in millimetres from the top-left corner."""

    x_mm: float
    y_mm: float
    width_mm: float
    height_mm: float

    @property
    def right_mm(self) -> float:
        return self.x_mm + self.width_mm

    @property
    def bottom_mm(self) -> float:
        return self.y_mm + self.height_mm

    def inset(self, margin_mm: float) -> Box:
        return Box(
            self.x_mm + margin_mm,
            self.y_mm + margin_mm,
            self.width_mm - 2 * margin_mm,
            self.height_mm - 2 * margin_mm,
        )

    def contains(self, other: Box) -> bool:
        eps = 1e-6
        return (
            other.x_mm >= self.x_mm - eps
            and other.y_mm >= self.y_mm - eps
            and other.right_mm <= self.right_mm + eps
            and other.bottom_mm <= self.bottom_mm + eps
        )

    def overlaps(self, other: Box) -> bool:
        eps = 1e-6
        return (
            self.x_mm < other.right_mm - eps
            and other.x_mm < self.right_mm - eps
            and self.y_mm < other.bottom_mm - eps
            and other.y_mm < self.bottom_mm - eps
        )


@dataclass(frozen=True)
class SheetLayout:
    """A sheet of die-cut labels (or cards): its grid, label size, margins and pitch.

    Pitch is from one label's left (top) edge to the next one's; a pitch larger than the label
    is the gap between labels. Labels are numbered row by row from 1 at the top left, the
    way a librarian counts the used ones on a half-used sheet.
    """

    name: str
    description: str
    columns: int
    rows: int
    label_width_mm: float
    label_height_mm: float
    left_mm: float
    top_mm: float
    pitch_x_mm: float
    pitch_y_mm: float
    kinds: frozenset[LabelKind]
    page_width_mm: float = A4_WIDTH_MM
    page_height_mm: float = A4_HEIGHT_MM

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows

    def cell(self, position: int) -> Box:
        """The label at `position` (1-based, row by row) on a sheet."""
        row, column = divmod(position - 1, self.columns)
        return Box(
            self.left_mm + column * self.pitch_x_mm,
            self.top_mm + row * self.pitch_y_mm,
            self.label_width_mm,
            self.label_height_mm,
        )

    def position_of(self, row: int, column: int) -> int:
        """The 1-based position of the label in `row` and `column` (both 1-based)."""
        return (row - 1) * self.columns + column


_LABELS = frozenset({LabelKind.ACCESSION, LabelKind.SPINE})

LAYOUTS: dict[str, SheetLayout] = {
    layout.name: layout
    for layout in (
        # 30 per sheet, edge to edge: Avery Zweckform 3489 and the common 国产 "A4 30格".
        SheetLayout(
            "a4-3x10", "A4 3×10 · 70×29.7 mm", 3, 10, 70.0, 29.7, 0.0, 0.0, 70.0, 29.7, _LABELS
        ),
        # 40 per sheet, edge to edge: Avery Zweckform 3651 / 国产 "A4 40格".
        SheetLayout(
            "a4-4x10", "A4 4×10 · 52.5×29.7 mm", 4, 10, 52.5, 29.7, 0.0, 0.0, 52.5, 29.7, _LABELS
        ),
        # 65 per sheet with gaps between columns: Avery L7651 / J8651, the usual small label.
        SheetLayout(
            "a4-65", "A4 5×13 · 38.1×21.2 mm", 5, 13, 38.1, 21.2, 4.65, 10.7, 40.64, 21.2, _LABELS
        ),
        # 24 per sheet, edge to edge: Avery Zweckform 3474 / 国产 "A4 24格", for larger spine labels.
        SheetLayout("a4-3x8", "A4 3×8 · 70×37 mm", 3, 8, 70.0, 37.0, 0.0, 0.5, 70.0, 37.0, _LABELS),
        # 21 per sheet with gaps: Avery L7160, the common address label.
        SheetLayout(
            "a4-21", "A4 3×7 · 63.5×38.1 mm", 3, 7, 63.5, 38.1, 7.21, 15.15, 66.04, 38.1, _LABELS
        ),
        # Ten CR80 cards (85.6 x 53.98 mm, a bank card's size) on plain A4, cut apart along
        # the cut marks: they abut so that one cut separates two cards.
        SheetLayout(
            "cards-cr80",
            "A4 2×5 · CR80 85.6×54 mm",
            2,
            5,
            85.6,
            53.98,
            19.4,
            13.55,
            85.6,
            53.98,
            frozenset({LabelKind.CARD}),
        ),
    )
}
DEFAULT_LAYOUT = {
    LabelKind.ACCESSION: "a4-3x10",
    LabelKind.SPINE: "a4-65",
    LabelKind.CARD: "cards-cr80",
}


def layouts_for(kind: LabelKind) -> list[SheetLayout]:
    """The layouts a sheet of `kind` can be printed on, in the order a form lists them."""
    return [layout for layout in LAYOUTS.values() if kind in layout.kinds]


@dataclass(frozen=True)
class Placement:
    """Where one label goes: the sheet (0-based), its position on it (1-based) and its box."""

    sheet: int
    position: int
    box: Box


def start_problem(layout: SheetLayout, start: int) -> str | None:
    """Why `start` can't be the first position used on `layout`'s first sheet, or None."""
    if not 1 <= start <= layout.per_sheet:
        return f"start position must be from 1 to {layout.per_sheet} on {layout.description}, not {start}"
    return None


def sheets_needed(layout: SheetLayout, count: int, start: int = 1) -> int:
    """Sheets for `count` labels when the first sheet's positions before `start` are used."""
    if count <= 0:
        return 0
    return math.ceil((start - 1 + count) / layout.per_sheet)


def place(layout: SheetLayout, count: int, start: int = 1) -> list[Placement]:
    """Where each of `count` labels goes, filling positions from `start` on the first sheet
    (the ones before it are already used) and from 1 on every later sheet.

    `start` must be valid (`start_problem`); a bad one is a bug in the caller.
    """
    problem = start_problem(layout, start)
    if problem:
        raise ValueError(problem)
    placements = []
    for offset in range(start - 1, start - 1 + count):
        sheet, index = divmod(offset, layout.per_sheet)
        placements.append(Placement(sheet, index + 1, layout.cell(index + 1)))
    return placements


# --- what goes on a label -----------------------------------------------------------------------


@dataclass(frozen=True)
class AccessionLabel:
    """A copy's label: its barcode, call number and the school's short name."""

    barcode: str
    call_number: str
    school: str


@dataclass(frozen=True)
class SpineLabel:
    call_number: str
    school: str = ""


@dataclass(frozen=True)
class StudentCard:
    name: str
    class_label: str
    card_barcode: str
    school: str


Label = AccessionLabel | SpineLabel | StudentCard


def spine_lines(call_number: str) -> list[str]:
    """A 中图法 call number in the lines a spine label shows: class number, then book number.

    "I287.5/123" → ["I287.5", "123"]; the shelf reads the classification first and the
    author/accession number below it, so every '/' starts a line.
    """
    return [part.strip() for part in call_number.split("/") if part.strip()]


def code128_modules(code: str) -> str:
    """The bars and spaces of `code` in Code 128 as '1'/'0' modules, by python-barcode."""
    modules: str = Code128(code).build()[0]
    return modules


def module_width_mm(code: str, width_mm: float) -> float:
    """The bar module width that fits `code` and its quiet zones into `width_mm`, capped."""
    total = len(code128_modules(code)) + 2 * QUIET_MODULES
    return min(MAX_MODULE_MM, width_mm / total)


# Each label kind's parts as fractions of its inner box (padding taken off): (name, top,
# height). Bars get most of the height; text lines share the rest.
_ACCESSION_ROWS = (
    ("school", 0.0, 0.17),
    ("bars", 0.19, 0.46),
    ("digits", 0.65, 0.15),
    ("call", 0.81, 0.19),
)
_CARD_ROWS = (
    ("school", 0.0, 0.13),
    ("heading", 0.14, 0.09),
    ("name", 0.27, 0.2),
    ("class", 0.49, 0.11),
    ("bars", 0.64, 0.25),
    ("digits", 0.9, 0.1),
)


def padding_mm(box: Box) -> float:
    """The margin kept clear inside a label: printers drift about a millimetre on a sheet."""
    return max(1.2, min(3.0, box.height_mm * 0.08))


def label_parts(kind: LabelKind, cell: Box, lines: int = 1) -> dict[str, Box]:
    """The boxes of a label's parts inside `cell`; for a spine label, `lines` lines of call
    number ("line0", "line1", …) under a small school line."""
    inner = cell.inset(padding_mm(cell))
    rows: Sequence[tuple[str, float, float]]
    if kind is LabelKind.SPINE:
        share = 0.82 / max(1, lines)
        rows = [
            ("school", 0.0, 0.16),
            *((f"line{n}", 0.18 + n * share, share) for n in range(lines)),
        ]
    elif kind is LabelKind.CARD:
        rows = _CARD_ROWS
    else:
        rows = _ACCESSION_ROWS
    return {
        name: Box(
            inner.x_mm, inner.y_mm + top * inner.height_mm, inner.width_mm, height * inner.height_mm
        )
        for name, top, height in rows
    }


def too_long_barcodes(kind: LabelKind, layout: SheetLayout, labels: Sequence[Label]) -> list[str]:
    """The barcodes that would need bars narrower than MIN_MODULE_MM on `layout`'s labels."""
    if kind is LabelKind.SPINE:
        return []
    bars = label_parts(kind, layout.cell(1))["bars"]
    codes = [
        label.card_barcode if isinstance(label, StudentCard) else getattr(label, "barcode", "")
        for label in labels
    ]
    return [code for code in codes if code and module_width_mm(code, bars.width_mm) < MIN_MODULE_MM]


def fit_problems(kind: LabelKind, layout: SheetLayout, labels: Sequence[Label]) -> list[str]:
    """Barcodes too long to print readably on `layout`'s labels, one sentence each."""
    return [
        f"barcode {code} is too long for {layout.description}: choose a larger label"
        for code in too_long_barcodes(kind, layout, labels)
    ]


# --- the PDF ------------------------------------------------------------------------------------


def render_sheets(
    kind: LabelKind,
    labels: Sequence[Label],
    layout: SheetLayout,
    *,
    start: int = 1,
    title: str = "",
) -> bytes:
    """The PDF of `labels` on `layout`, from position `start` of the first sheet.

    Labels must match `kind` and `layout` must offer `kind`; `start` must be valid. Card sheets
    carry cut marks in the page margins; label sheets print nothing outside the labels, so a
    shifted sheet shows as text off its label rather than marks on the next one. Raises
    central.pdf.MissingCJKFont when the system has no Chinese font.
    """
    if kind not in layout.kinds:
        raise ValueError(f"{layout.name} is not a layout for {kind} sheets")
    pdf = cjk_document(page_format=(layout.page_width_mm, layout.page_height_mm))
    pdf.set_margin(0)
    pdf.set_auto_page_break(False)
    pdf.set_creator("Shuxiang 书香")
    pdf.set_title(title or f"{kind} labels")
    pdf.set_text_color(0, 0, 0)
    pdf.set_fill_color(0, 0, 0)
    sheet = -1
    for placement, label in zip(place(layout, len(labels), start), labels, strict=True):
        while sheet < placement.sheet:
            pdf.add_page()
            sheet += 1
            if kind is LabelKind.CARD:
                _cut_marks(pdf, layout)
        if isinstance(label, AccessionLabel):
            _accession(pdf, placement.box, label)
        elif isinstance(label, SpineLabel):
            _spine(pdf, placement.box, label)
        else:
            _card(pdf, placement.box, label)
    return bytes(pdf.output())


def _accession(pdf: FPDF, cell: Box, label: AccessionLabel) -> None:
    parts = label_parts(LabelKind.ACCESSION, cell)
    _text(pdf, parts["school"], label.school)
    _bars(pdf, parts["bars"], label.barcode)
    _text(pdf, parts["digits"], label.barcode)
    _text(pdf, parts["call"], label.call_number, bold=True)


def _spine(pdf: FPDF, cell: Box, label: SpineLabel) -> None:
    lines = spine_lines(label.call_number)
    parts = label_parts(LabelKind.SPINE, cell, len(lines))
    _text(pdf, parts["school"], label.school)
    for n, line in enumerate(lines):
        box = parts[f"line{n}"]
        _text(pdf, box, line, bold=True)
        if n:
            # A thin rule between class number and book number, as printed 书标 have.
            pdf.set_line_width(0.2)
            pdf.line(
                box.x_mm + box.width_mm * 0.15,
                box.y_mm,
                box.right_mm - box.width_mm * 0.15,
                box.y_mm,
            )


def _card(pdf: FPDF, cell: Box, card: StudentCard) -> None:
    parts = label_parts(LabelKind.CARD, cell)
    _text(pdf, parts["school"], card.school)
    _text(pdf, parts["heading"], "借书证 Library card")
    _text(pdf, parts["name"], card.name, bold=True)
    _text(pdf, parts["class"], card.class_label)
    _bars(pdf, parts["bars"], card.card_barcode)
    _text(pdf, parts["digits"], card.card_barcode)


def _text(pdf: FPDF, box: Box, text: str, *, bold: bool = False) -> None:
    """`text` centred in `box`, as large as the box's height allows and shrunk to its width."""
    if not text:
        return
    size_pt = box.height_mm * 0.8 / MM_PER_PT
    style = "B" if bold else ""
    pdf.set_font(CJK_FAMILY, style, size_pt)
    width = pdf.get_string_width(text)
    if width > box.width_mm:
        size_pt *= box.width_mm / width
        pdf.set_font(CJK_FAMILY, style, size_pt)
    pdf.set_xy(box.x_mm, box.y_mm)
    pdf.cell(box.width_mm, box.height_mm, text, align="C")


def _bars(pdf: FPDF, box: Box, code: str) -> None:
    """`code` in Code 128 centred in `box`: one filled rectangle per bar, so the PDF stays
    sharp at any printer resolution."""
    modules = code128_modules(code)
    module = module_width_mm(code, box.width_mm)
    x = box.x_mm + (box.width_mm - len(modules) * module) / 2
    run_start = None
    for index, bit in enumerate(modules + "0"):
        if bit == "1" and run_start is None:
            run_start = index
        elif bit == "0" and run_start is not None:
            pdf.rect(
                x + run_start * module,
                box.y_mm,
                (index - run_start) * module,
                box.height_mm,
                style="F",
            )
            run_start = None


def _cut_marks(pdf: FPDF, layout: SheetLayout) -> None:
    """Short lines in the margins along every cut between cards (and the block's edges)."""
    gap_mm, length_mm = 2.0, 6.0
    left, top = layout.left_mm, layout.top_mm
    right = left + (layout.columns - 1) * layout.pitch_x_mm + layout.label_width_mm
    bottom = top + (layout.rows - 1) * layout.pitch_y_mm + layout.label_height_mm
    pdf.set_line_width(0.15)
    xs = sorted(
        {left + c * layout.pitch_x_mm for c in range(layout.columns)}
        | {left + c * layout.pitch_x_mm + layout.label_width_mm for c in range(layout.columns)}
    )
    ys = sorted(
        {top + r * layout.pitch_y_mm for r in range(layout.rows)}
        | {top + r * layout.pitch_y_mm + layout.label_height_mm for r in range(layout.rows)}
    )
    for x in xs:
        pdf.line(x, top - gap_mm - length_mm, x, top - gap_mm)
        pdf.line(x, bottom + gap_mm, x, bottom + gap_mm + length_mm)
    for y in ys:
        pdf.line(left - gap_mm - length_mm, y, left - gap_mm, y)
        pdf.line(right + gap_mm, y, right + gap_mm + length_mm, y)


__all__ = [
    "DEFAULT_LAYOUT",
    "LAYOUTS",
    "AccessionLabel",
    "Box",
    "LabelKind",
    "Placement",
    "SheetLayout",
    "SpineLabel",
    "StudentCard",
    "fit_problems",
    "label_parts",
    "layouts_for",
    "place",
    "render_sheets",
    "sheets_needed",
    "spine_lines",
    "start_problem",
    "too_long_barcodes",
]
