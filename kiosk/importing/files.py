"""Reading import files: their bytes, their text encoding, and CSV tables by their headers."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

_DELIMITERS = ",;\t"


class UnreadableFile(Exception):
    """The file as a whole cannot be imported; nothing was written. The message says why."""


def read_bytes(path: Path) -> bytes:
    """The whole file, or UnreadableFile naming it when it is missing or not a file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UnreadableFile(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot be read ({exc.strerror})") from None


def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """Decode a text file exported by Excel or a school system; return (text, encoding).

    UTF-8 (with or without the BOM Excel writes) is tried strictly first, because GB18030
    would also accept most UTF-8 bytes and turn them into the wrong characters. Excel's
    "Unicode text" is UTF-16 with a BOM.
    """
    if data.startswith(b"PK\x03\x04"):
        raise UnreadableFile(
            f"{name}: is an Excel workbook (or another zip file); save it as CSV first"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            raise UnreadableFile(f"{name}: starts like UTF-16 text but is not") from None
    if b"\x00" in data:
        raise UnreadableFile(f"{name}: is a binary file, not text")
    for encoding, label in (("utf-8-sig", "UTF-8"), ("gb18030", "GB18030")):
        try:
            return data.decode(encoding), label
        except UnicodeDecodeError:
            continue
    raise UnreadableFile(f"{name}: is neither UTF-8 nor GB18030 text")


def normalize_header(text: str) -> str:
    """Compare headers case-, width- and space-insensitively: "Student Number" = "student_number"."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s_\-]+", "", text)


@dataclass(frozen=True)
class Column:
    """Where a field is in the file and what the file calls it."""

    index: int
    header: str
    field: str

    @property
    def label(self) -> str:
        """How messages name it: "卡号 (card)", or just "Card" when the file calls it that."""
        if normalize_header(self.header) == normalize_header(self.field):
            return self.header
        return f"{self.header} ({self.field})"


@dataclass
class CsvTable:
    """A table's header mapped to fields, and its data rows with their line numbers.

    A CSV file's or an Excel sheet's (its `delimiter` is then ""). `numbers` holds the
    (line, column index) of every cell Excel stored as a number rather than as text.
    """

    columns: dict[str, Column]
    rows: list[tuple[int, list[str]]]
    delimiter: str
    numbers: set[tuple[int, int]] = field(default_factory=set)

    def value(self, row: list[str], name: str) -> str | None:
        """The stripped cell of field `name`; None when the file has no such column."""
        column = self.columns.get(name)
        if column is None:
            return None
        return row[column.index].strip() if column.index < len(row) else ""

    @overload
    def values(self, row: list[str], names: Iterable[str]) -> dict[str, str | None]: ...

    @overload
    def values(self, row: list[str], names: Iterable[str], missing: str) -> dict[str, str]: ...

    def values(
        self, row: list[str], names: Iterable[str], missing: str | None = None
    ) -> dict[str, str | None] | dict[str, str]:
        """`value` of every field in `names`, `missing` for those the file has no column of.

        One pass over the file's columns, not one look-up per field: imports call this for
        every row.
        """
        found: dict[str, str | None] = dict.fromkeys(names, missing)
        width = len(row)
        for name, column in self.columns.items():
            if name in found:
                found[name] = row[column.index].strip() if column.index < width else ""
        return found

    def is_number(self, line: int, name: str) -> bool:
        """Whether field `name` on `line` was a number in the workbook (never in a CSV file)."""
        column = self.columns.get(name)
        return column is not None and (line, column.index) in self.numbers

    def label(self, name: str) -> str:
        column = self.columns.get(name)
        return column.label if column is not None else name


def read_csv(
    text: str,
    name: str,
    aliases: Mapping[str, str],
    required: tuple[str, ...],
    describe: Mapping[str, str],
) -> CsvTable:
    """Find the header (the first non-empty line), map it through `aliases`, read the rows.

    `aliases` maps normalized header text to a field; `describe` gives each required
    field's name for messages. Raises UnreadableFile when required columns are missing or
    two columns mean the same field.
    """
    header_line = next((line for line in io.StringIO(text, newline="") if line.strip()), None)
    if header_line is None:
        raise UnreadableFile(f"{name}: the file is empty")
    delimiter = sniff_delimiter(header_line)
    # newline="" keeps line breaks inside quoted cells for the csv module to handle.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    last_line = 0
    try:
        for row in reader:
            first_line = last_line + 1
            last_line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = row
            else:
                rows.append((first_line, row))
    except csv.Error as exc:
        raise UnreadableFile(f"{name} line {reader.line_num}: not valid CSV ({exc})") from None
    if header is None:
        # Lines of nothing but separators and quotes: as good as empty.
        raise UnreadableFile(f"{name}: the file has no header row and no data")
    columns = map_header(header, name, aliases, required, describe)
    return CsvTable(columns, rows, delimiter)


def map_header(
    header: list[str],
    name: str,
    aliases: Mapping[str, str],
    required: tuple[str, ...],
    describe: Mapping[str, str],
) -> dict[str, Column]:
    """Map a header row's cells to fields; UnreadableFile when one is missing or doubled."""
    columns: dict[str, Column] = {}
    for index, cell in enumerate(header):
        field_name = aliases.get(normalize_header(cell))
        if field_name is None:
            continue
        if field_name in columns:
            raise UnreadableFile(
                f"{name}: columns {columns[field_name].header!r} and {cell.strip()!r} "
                f"both mean {field_name}; keep one"
            )
        columns[field_name] = Column(index, cell.strip(), field_name)
    missing = [f for f in required if f not in columns]
    if missing:
        wanted = ", ".join(describe[f] for f in missing)
        if not columns:
            # Never echo the first line: without a header it is a student's data.
            raise UnreadableFile(
                f"{name}: the first line is not a header row; it needs the columns {wanted}"
            )
        raise UnreadableFile(f"{name}: required column(s) missing: {wanted}")
    return columns


def sniff_delimiter(header_line: str) -> str:
    """Comma, semicolon (European Excel) or tab, as the header line shows."""
    try:
        return csv.Sniffer().sniff(header_line, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: header_line.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","
