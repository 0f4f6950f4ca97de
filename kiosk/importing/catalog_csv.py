"""Reading catalog spreadsheets (CSV or an Excel sheet): one row per copy or per title, grouped."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from kiosk.circulation.barcodes import to_unified_number
from kiosk.circulation.compensation import parse_price_fen
from kiosk.importing.catalog_records import (
    Reading,
    Source,
    add_holding,
    pick_isbns,
    year_in,
)
from kiosk.importing.files import CsvTable, normalize_header
from kiosk.importing.tables import read_table
from kiosk.services.catalog import CatalogEntry, CatalogTitle, Holding

# An ISBN column Excel turned into a number and shows in its scientific format.
_EXCEL_NUMBER = re.compile(r"\d+(\.\d+)?[eE]\+\d+")

_HEADERS: dict[str, list[str]] = {
    "isbn": ["isbn", "isbn13", "isbn_13", "isbn10", "国际标准书号", "书号"],
    "title": ["title", "题名", "书名", "正题名"],
    "author": ["author", "作者", "责任者", "著者"],
    "publisher": ["publisher", "出版社", "出版者"],
    "year": ["year", "出版年", "出版年份", "出版时间", "出版日期"],
    "call_number": ["call_number", "索书号"],
    "classification": ["classification", "分类法"],
    "barcode": ["barcode", "条码", "条形码", "登录号", "accession_number"],
    "location": ["location", "馆藏地", "馆藏地点"],
    "copies": ["copies", "复本数", "册数"],
    "series": ["series", "丛书", "丛书名", "丛编"],
    "subjects": ["subject", "subjects", "主题", "主题词"],
    "unified_number": ["unified_number", "统一书号"],
    "price": ["price", "定价", "价格", "单价"],
}
_ALIASES = {normalize_header(a): f for f, aliases in _HEADERS.items() for a in aliases}
_CLASSIFICATIONS = {
    "clc": "clc",
    "中图法": "clc",
    "中图": "clc",
    "dewey": "dewey",
    "ddc": "dewey",
    "杜威": "dewey",
}
_MAX_COPIES = 99


@dataclass
class _Group:
    """The rows of one title in a CSV file: one row per copy."""

    where: str
    isbn13: str | None
    unified_number: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    holdings: list[Holding] = field(default_factory=list)
    copies: int = 1
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # A copy of its rows was left out because an earlier row of another title lists it.
    copies_refused: bool = False


def read_catalog_table(data: bytes, name: str, sheet: str | None) -> Reading:
    """A CSV file or an Excel sheet: one row per copy, or per title with a 复本数 column."""
    table = read_table(data, name, _ALIASES, ("title",), {"title": "题名 (title)"}, sheet=sheet)
    read = _group_rows(table)
    kind = "CSV" if table.delimiter else "Excel"
    return Reading(kind, len(read), _csv_sources(table, read), Counter(), rows=len(table.rows))


def _group_rows(table: CsvTable) -> list[_Group | Source]:
    """Gather the copy rows of each title: by ISBN, or by identical description without one.

    Returns the groups and the rejected rows in the order of their (first) line.
    """
    groups: dict[tuple[str, ...], _Group] = {}
    found: list[_Group | Source] = []
    # Each copy barcode, with the title group and line that listed it first: the first row
    # wins, on every import alike, so a barcode on two titles' rows never moves between them.
    listed: dict[str, tuple[_Group, str]] = {}
    # Messages name the columns as the file does; worked out once, not for every row.
    isbn_label, barcode_label = table.label("isbn"), table.label("barcode")
    for line, cells in table.rows:
        where = f"line {line}"
        value = table.values(cells, _HEADERS, missing="")
        isbn13 = None
        # Old catalogs put the 统一书号 of pre-1987 books in their 书号 (ISBN) column.
        number = to_unified_number(value["unified_number"] or value["isbn"])
        if value["isbn"] and to_unified_number(value["isbn"]) is None:
            isbn13, problem = _table_isbn(table, line, value["isbn"], isbn_label)
            if problem is not None:
                found.append(Source(where, reason=problem))
                continue
        if value["unified_number"] and number is None:
            found.append(Source(where, reason=f"{table.label('unified_number')} is not a 统一书号"))
            continue
        copies = 1
        if value["copies"]:
            if not value["copies"].isdigit() or not 1 <= int(value["copies"]) <= _MAX_COPIES:
                found.append(
                    Source(
                        where,
                        reason=f"{table.label('copies')} must be a number from 1 to {_MAX_COPIES}",
                    )
                )
                continue
            copies = int(value["copies"])
        if isbn13 is not None:
            key: tuple[str, ...] = ("isbn", isbn13)
        elif number is not None:
            key = ("unified", number)
        else:
            key = (
                "row",
                " ".join(value["title"].split()).casefold(),
                value["author"],
                value["publisher"],
                value["year"],
            )
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(where, isbn13, None if isbn13 else number)
            found.append(group)
        for f in (
            "title",
            "author",
            "publisher",
            "year",
            "call_number",
            "classification",
            "series",
            "subjects",
            "price",
        ):
            if value[f] and not group.values.get(f):
                group.values[f] = value[f]
        barcode = value["barcode"].strip()
        first = listed.setdefault(barcode, (group, where)) if barcode else None
        if first is not None and first[0] is not group:
            group.problems.append(
                (where, f"copy {barcode} is already listed on {first[1]} — copy skipped")
            )
            group.copies_refused = True
            continue
        row = Source(where)
        add_holding(row, group.holdings, barcode, value["location"], barcode_label)
        group.problems += row.problems
        if value["barcode"] and value["copies"] and copies != 1:
            group.warnings.append(
                f"{table.label('copies')} ignored on {where}: the row has a barcode"
            )
        group.copies = max(group.copies, copies)
    return found


def _table_isbn(
    table: CsvTable, line: int, value: str, label: str
) -> tuple[str | None, str | None]:
    """The ISBN-13 of an ISBN cell (its column called `label`), or why the row is refused.

    Excel keeps a number to 15 significant digits and shows a long one as 9.78753E+12; a
    CSV saved from that view has lost the digits for good. A whole ISBN-13 stored as a
    number is exact and accepted; an ISBN-10 stored as a number has lost its leading zero.
    """
    retype = (
        f"{label} was turned into a number by Excel and lost digits (format the column "
        "as Text, enter the ISBNs again and import again)"
    )
    if _EXCEL_NUMBER.fullmatch(value):
        return None, retype
    if table.is_number(line, "isbn"):
        if not value.isdigit():
            return None, retype
        isbns, _problem = pick_isbns([value.zfill(10) if len(value) < 10 else value], label)
        return (isbns[0], None) if isbns else (None, retype)
    isbns, problem = pick_isbns([value], label)
    return (isbns[0] if isbns else None), problem


def _csv_sources(table: CsvTable, read: list[_Group | Source]) -> Iterator[Source]:
    for group in read:
        if isinstance(group, Source):
            yield group
            continue
        source = Source(group.where, problems=group.problems, warnings=list(group.warnings))
        title = " ".join(group.values.get("title", "").split())
        if not title:
            source.reason = f"{table.label('title')} is empty"
            yield source
            continue
        year = None
        if group.values.get("year"):
            year = year_in(group.values["year"])
            if year is None:
                source.warnings.append(f"{table.label('year')} is not a year; left empty")
        classification = ""
        if group.values.get("classification"):
            classification = _CLASSIFICATIONS.get(group.values["classification"].casefold(), "")
            if not classification:
                source.warnings.append(
                    f"{table.label('classification')} must be clc/中图法 or dewey/杜威; left empty"
                )
        price_fen = parse_price_fen(group.values.get("price", ""))
        if group.values.get("price") and price_fen is None:
            source.warnings.append(
                f"{table.label('price')} is not a price in yuan (like 25.00); left empty"
            )
        record = CatalogTitle(
            title,
            group.isbn13,
            group.values.get("author", ""),
            group.values.get("publisher", ""),
            year,
            group.values.get("call_number", ""),
            classification,
            group.unified_number,
            series=group.values.get("series", ""),
            subjects=group.values.get("subjects", ""),
            price_fen=price_fen,
        )
        # Rows whose copies all belong to other titles describe no copy to invent one for.
        copies = 0 if group.copies_refused and not group.holdings else group.copies
        source.entry = CatalogEntry(record, tuple(group.holdings), copies)
        yield source
