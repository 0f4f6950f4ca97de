"""The class teacher's 催还单: one printable A4 PDF per class listing its overdue books, in Chinese."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from fpdf import FPDF

from central.chase import ClassGroup, OverdueRow, zh_date
from central.pdf import CJK_FAMILY, cjk_document

# Column widths in mm across the A4 page's 180 mm between margins.
_COLUMNS = (
    ("学生", 28),
    ("学号", 26),
    ("书名", 64),
    ("图书条码", 26),
    ("应还日期", 22),
    ("超期", 14),
)


def class_slip_pdf(
    groups: Sequence[ClassGroup], *, school: str, today: dt.date, threshold_days: int
) -> bytes:
    """The 催还单 of each class in `groups`, one class per page (a class that runs over a page
    continues on the next). Raises central.pdf.MissingCJKFont when no Chinese font is found."""
    pdf = cjk_document()
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(15, 15, 15)
    pdf.set_title("催还单")
    pdf.set_creator("Shuxiang 书香")
    for group in groups:
        _class_page(pdf, group, school=school, today=today, threshold_days=threshold_days)
    return bytes(pdf.output())


def _class_page(
    pdf: FPDF, group: ClassGroup, *, school: str, today: dt.date, threshold_days: int
) -> None:
    pdf.add_page()
    pdf.set_font(CJK_FAMILY, "B", 18)
    pdf.cell(0, 10, f"{school}图书馆 催还单", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(CJK_FAMILY, "", 12)
    pdf.cell(
        0,
        8,
        f"班级：{group.label('zh')}    日期：{zh_date(today)}    共 {len(group.rows)} 本",
        align="C",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    pdf.set_font(CJK_FAMILY, "", 10.5)
    pdf.multi_cell(
        0,
        6,
        f"班主任老师您好：以下同学借阅的图书已超期{threshold_days}天以上，请提醒他们尽快"
        "还到图书馆（自助借还机或图书管理员处）。如书已遗失或损坏，请让学生联系图书管理员。",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    with pdf.table(
        col_widths=tuple(width for _, width in _COLUMNS),
        text_align=("LEFT", "LEFT", "LEFT", "LEFT", "CENTER", "RIGHT"),
        line_height=7,
        first_row_as_headings=True,
    ) as table:
        table.row([name for name, _ in _COLUMNS])
        for row in group.rows:
            table.row(_cells(row))
    pdf.ln(6)
    pdf.set_font(CJK_FAMILY, "", 10)
    pdf.cell(
        0, 6, "班主任签字：______________    日期：______________", new_x="LMARGIN", new_y="NEXT"
    )


def _cells(row: OverdueRow) -> list[str]:
    return [
        row.student_name,
        row.student_number,
        row.title,
        row.item_barcode,
        row.due_date.strftime("%m-%d"),
        f"{row.days_overdue}天",
    ]
