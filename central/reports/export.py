"""A report as a file: CSV (UTF-8 with BOM, so Excel and WPS read Chinese) or XLSX, with no cell that a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from central.pdf import CJK_FAMILY, cjk_document
from central.reports.base import Report, report_title

FORMATS = ("csv", "xlsx", "json", "pdf")
# A cell starting with one of these is read as a formula (or DDE) by Excel, WPS and LibreOffice.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
    "pdf": "application/pdf",
}


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, led by an apostrophe (OWASP's advice);
    numbers stay numbers, so a negative change stays a number."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _cell(value: Any, kind: str) -> Any:
    if value is None:
        return ""
    if kind == "percent" and isinstance(value, int | float):
        return round(value * 100, 1)
    if isinstance(value, int | float):
        return value
    return neutralise(str(value))


def table(report: Report, lang: str) -> tuple[list[str], list[list[Any]]]:
    """The report's headings (with the unit of a share: %) and its rows as cells."""
    headings = [c.heading(lang) + (" %" if c.kind == "percent" else "") for c in report.columns]
    rows = [[_cell(row.get(c.key), c.kind) for c in report.columns] for row in report.rows]
    return headings, rows


def to_csv(report: Report, lang: str = "zh") -> bytes:
    headings, rows = table(report, lang)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in headings])
    writer.writerows(rows)
    # The BOM tells Excel the file is UTF-8; without it Chinese opens as mojibake.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(report: Report, lang: str = "zh") -> bytes:
    headings, rows = table(report, lang)
    book = Workbook()
    sheet = book.active
    sheet.title = report.name[:31]
    sheet.append([str(report.period.get("label", ""))])
    sheet.append([neutralise(h) for h in headings])
    for row in rows:
        sheet.append(row)
    for index, heading in enumerate(headings, start=1):
        width = max([len(heading) * 2, *(len(str(r[index - 1])) for r in rows)], default=8)
        sheet.column_dimensions[get_column_letter(index)].width = min(max(width, 8), 60)
    # Cells are written as values: openpyxl would store a text starting "=" as a formula.
    for row_cells in sheet.iter_rows():
        for cell in row_cells:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_json(report: Report) -> bytes:
    return json.dumps(report.as_json(), ensure_ascii=False, indent=1).encode("utf-8")


def to_pdf(report: Report, lang: str = "zh", school: str = "") -> bytes:
    """The report as an A4 paper: the school, the report's name and period, then its table."""
    headings, rows = table(report, lang)
    wide = len(headings) > 6
    pdf = cjk_document(orientation="landscape" if wide else "portrait")
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    pdf.set_font(CJK_FAMILY, "B", 15)
    pdf.cell(
        0, 9, f"{school} {report_title(report.name, lang)}".strip(), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font(CJK_FAMILY, "", 10)
    pdf.cell(0, 7, str(report.period.get("label", "")), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(CJK_FAMILY, "", 9)
    with pdf.table(first_row_as_headings=True, line_height=6) as paper:
        for cells in [headings, *rows]:
            line = paper.row()
            for value in cells:
                # The apostrophe that guards a spreadsheet is not needed on paper.
                text = str(value)
                line.cell(text[1:] if text.startswith("'") and text[1:2] in "=+-@" else text)
    return bytes(pdf.output())


def render(report: Report, fmt: str, lang: str = "zh", school: str = "") -> bytes:
    if fmt == "csv":
        return to_csv(report, lang)
    if fmt == "xlsx":
        return to_xlsx(report, lang)
    if fmt == "json":
        return to_json(report)
    if fmt == "pdf":
        return to_pdf(report, lang, school)
    raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
