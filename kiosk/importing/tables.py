"""Table files of an import: a CSV file or a sheet of an Excel workbook, told apart by content."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from kiosk.importing.files import (
    CsvTable,
    UnreadableFile,
    decode_text,
    map_header,
    normalize_header,
    read_csv,
)

_ZIP = b"PK\x03\x04"
# Excel 97-2003 (.xls) and other OLE2 compound documents.
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# How far down a sheet the header row is looked for: exports often start with a title
# row ("2026级学生名单", merged across the columns) and a blank row or two.
_HEADER_SEARCH_ROWS = 20
# Cell values that are numbers (bool is an int subclass, but a TRUE cell is no number).
_NUMBERS = (int, float)


def is_workbook(data: bytes) -> bool:
    """Whether `data` is an Excel workbook, new (.xlsx) or old (.xls)."""
    return data.startswith((_ZIP, _OLE2))


def read_table(
    data: bytes,
    name: str,
    aliases: Mapping[str, str],
    required: tuple[str, ...],
    describe: Mapping[str, str],
    *,
    sheet: str | None = None,
) -> CsvTable:
    """Read a CSV file or one sheet of an .xlsx workbook (the first unless `sheet` names one).

    See `read_csv` for `aliases`, `required` and `describe`. Raises UnreadableFile with the
    reason when the file or the sheet cannot be read.
    """
    if data.startswith(_OLE2):
        raise UnreadableFile(
            f"{name}: is an old Excel 97-2003 workbook (.xls); open it in Excel or WPS and "
            "save it as .xlsx (Excel Workbook) or CSV, then import that"
        )
    if data.startswith(_ZIP):
        return read_xlsx(data, name, aliases, required, describe, sheet=sheet)
    if sheet is not None:
        raise UnreadableFile(f"{name}: is a text (CSV) file; --sheet is for Excel workbooks")
    text, _encoding = decode_text(data, name)
    return read_csv(text, name, aliases, required, describe)


def read_xlsx(
    data: bytes,
    name: str,
    aliases: Mapping[str, str],
    required: tuple[str, ...],
    describe: Mapping[str, str],
    *,
    sheet: str | None = None,
) -> CsvTable:
    """Read one sheet of an .xlsx workbook, streaming it (openpyxl's read-only mode).

    Line numbers are the sheet's row numbers, as Excel shows them. The header is the first
    of the first rows that names every required column, so a title row above it is skipped;
    a header cell left blank takes the cell above it when that names a column (a header
    merged over two rows keeps its text in the top cell). Whole numbers Excel stored as
    numbers come back without ".0" (a card number 20260001.0 is "20260001"), dates as
    ISO dates; `CsvTable.numbers` says which cells were numbers.
    """
    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=True, keep_links=False
        )
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise UnreadableFile(
            f"{name}: is a zip file but not an Excel .xlsx workbook (or a damaged one)"
        ) from None
    try:
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            names = "、".join(workbook.sheetnames)
            raise UnreadableFile(f"{name}: has no sheet named {sheet!r} (its sheets: {names})")
        # The <dimension> an exporting program writes is often wrong; read what is there.
        worksheet.reset_dimensions()
        return _read_sheet(worksheet.iter_rows(values_only=True), name, aliases, required, describe)
    finally:
        workbook.close()


def _read_sheet(
    raw_rows: Iterator[tuple[Any, ...]],
    name: str,
    aliases: Mapping[str, str],
    required: tuple[str, ...],
    describe: Mapping[str, str],
) -> CsvTable:
    header: list[str] | None = None
    above: list[str] = []
    candidates: list[list[str]] = []
    rows: list[tuple[int, list[str]]] = []
    numbers: set[tuple[int, int]] = set()
    for line, raw in enumerate(raw_rows, start=1):
        # Most cells are text or empty; only the others go through _text.
        cells = [
            value.strip() if type(value) is str else "" if value is None else _text(value)
            for value in raw
        ]
        if not any(cells):
            continue
        if header is None:
            if len(candidates) < _HEADER_SEARCH_ROWS and not _names_all(cells, aliases, required):
                candidates.append(cells)
                above = cells
                continue
            header = _fill_from_above(cells, above, aliases)
            continue
        rows.append((line, cells))
        numbers.update((line, i) for i, value in enumerate(raw) if type(value) in _NUMBERS)
    if header is None:
        if not candidates:
            raise UnreadableFile(f"{name}: the sheet is empty")
        # No row names every required column: let the first say what is missing.
        map_header(candidates[0], name, aliases, required, describe)
        raise AssertionError("map_header accepted a header without a required column")
    columns = map_header(header, name, aliases, required, describe)
    return CsvTable(columns, rows, "", numbers)


def _names_all(cells: list[str], aliases: Mapping[str, str], required: tuple[str, ...]) -> bool:
    named = {aliases.get(normalize_header(cell)) for cell in cells}
    return all(f in named for f in required)


def _fill_from_above(cells: list[str], above: list[str], aliases: Mapping[str, str]) -> list[str]:
    filled = list(cells)
    for index, cell in enumerate(above):
        if index < len(filled) and not filled[index] and normalize_header(cell) in aliases:
            filled[index] = cell
        elif index >= len(filled) and normalize_header(cell) in aliases:
            filled += [""] * (index - len(filled)) + [cell]
    return filled


def _text(value: Any) -> str:
    """A cell's value as the text a CSV export of it would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # Excel keeps every number as a double: 20260001 comes back as 20260001.0.
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()
