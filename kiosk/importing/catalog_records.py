"""What the catalog readers share: one record of a file mapped to an entry, and its fields cleaned."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from stdnum import isbn as stdnum_isbn
from stdnum.exceptions import InvalidChecksum, ValidationError

from db.models import Item, width_of
from kiosk.circulation.barcodes import to_isbn13, to_unified_number
from kiosk.services.catalog import CatalogEntry, CatalogTitle, Holding

# A 统一书号: a category and publisher number, a middle dot, the publisher's serial number
# ("10019·3152", "R10186·123"); exports write the dot in several ways, or as a plain period.
_ISBN_TOKEN = re.compile(r"[0-9][0-9Xx\- ]*[0-9Xx]|[0-9]")
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")
# UNIMARC marks the part of a title that sorting skips ("The ", "Le ") with these controls.
NON_SORT = str.maketrans("", "", "\x88\x89\x98\x9c")
_TRAILING = " /:;,.=+"

# What fits in the items table: a longer copy barcode or shelf location leaves the copy out.
_MAX_BARCODE = width_of(Item.__table__.c.barcode)
_MAX_LOCATION = width_of(Item.__table__.c.location)


@dataclass
class Source:
    """One record of the file, mapped: an entry to import, or the reason it cannot be."""

    where: str
    entry: CatalogEntry | None = None
    reason: str | None = None
    # Parts of the record left out (a bad copy barcode), each with where it is in the file,
    # and things worth knowing.
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Every valid ISBN of the record, first choice first.
    isbns: list[str] = field(default_factory=list)
    # The 统一书号 of a book printed before ISBNs, when the record gives one.
    unified_number: str | None = None


@dataclass
class Reading:
    """A file being read: its kind, how many records to expect, the records as they come."""

    kind: str
    total: int
    sources: Iterator[Source]
    formats: Counter[str]
    # CSV rows read (a title may take several); None: one record is one source.
    rows: int | None = None


def make_entry(source: Source, record: CatalogTitle, holdings: list[Holding]) -> Source:
    """The record's entry; a book without an ISBN keeps its 统一书号 (see `upsert_entries`)."""
    if record.isbn13 is None and source.unified_number is not None:
        record = replace(record, unified_number=source.unified_number)
    source.entry = CatalogEntry(record, tuple(holdings))
    return source


def add_holding(
    source: Source, holdings: list[Holding], barcode: str, location: str, field_name: str
) -> None:
    barcode = barcode.strip()
    if not barcode:
        return
    if any(ch.isspace() or not ch.isprintable() for ch in barcode):
        reason = f"{field_name} {barcode!r} contains spaces — copy skipped"
        source.problems.append((source.where, reason))
    elif len(barcode) > _MAX_BARCODE:
        source.problems.append((source.where, f"{field_name} is too long — copy skipped"))
    elif all(h.barcode != barcode for h in holdings):
        holdings.append(Holding(barcode, location[:_MAX_LOCATION]))


def pick_isbns(values: Sequence[str], field_name: str) -> tuple[list[str], str | None]:
    """The valid ISBNs among `values` as ISBN-13s, in order; or the reason to refuse the record.

    Qualifiers such as "(pbk.)" are dropped. A value that is no ISBN refuses the record only
    when no other value is valid: a wrong ISBN would make the book impossible to find by the
    EAN-13 on its cover.
    """
    found: list[str] = []
    problem = None
    for value in values:
        match = _ISBN_TOKEN.search(value)
        if match is None:
            continue
        token = match.group(0)
        # "0306406152 2 v." — a number after the ISBN is not part of it.
        isbn13 = to_isbn13(token) or to_isbn13(token.split()[0])
        if isbn13 is not None:
            if isbn13 not in found:
                found.append(isbn13)
        elif problem is None:
            problem = f"{field_name} {token.strip()!r} {_isbn_fault(token)}"
    return found, None if found else problem


def _isbn_fault(value: str) -> str:
    try:
        stdnum_isbn.validate(value)
    except InvalidChecksum:
        return "has a bad check digit"
    except ValidationError:
        return "is not a valid ISBN"
    return "is not a book's ISBN (979-0 is sheet music)"


def trim(text: str) -> str:
    """Drop the ISBD punctuation MARC leaves at the end of a subfield: "Title /" → "Title"."""
    return " ".join(text.split()).rstrip(_TRAILING).strip()


def trim_name(text: str) -> str:
    """Like trim, but keep the period of a closing initial: "Smith, J." stays as it is."""
    text = " ".join(text.split()).rstrip(" ,;:/")
    if text.endswith(".") and not re.search(r"(^|[\s.])\w\.$", text):
        text = text[:-1]
    return text.strip()


def year_in(text: str) -> int | None:
    match = _YEAR.search(text)
    return int(match.group(1)) if match else None


def split_unified(values: Sequence[str]) -> tuple[list[str], str | None]:
    """Take the 统一书号 out of an ISBN field's values: (the other values, the first found)."""
    others: list[str] = []
    found: str | None = None
    for value in values:
        number = to_unified_number(value)
        if number is None:
            others.append(value)
        elif found is None:
            found = number
    return others, found
