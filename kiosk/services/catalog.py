"""Add and update titles and their copies from catalog records, a whole batch in a few statements."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from db.models import Base, Item, ItemStatus, Title, width_of
from kiosk.search.index import INDEXED_FIELDS, index_new_titles, index_titles

TitleOutcome = Literal["added", "updated", "unchanged"]

# Column widths of the titles table; longer text is cut rather than refused, because a long
# subtitle is no reason to leave a book out of the catalog (PostgreSQL would refuse it whole).
_WIDTHS = {
    name: width_of(Title.__table__.c[name])
    for name in (
        "title",
        "author",
        "publisher",
        "call_number",
        "classification",
        "series",
        "subjects",
    )
}
_TITLE_FIELDS = (
    "isbn13",
    "unified_number",
    "title",
    "author",
    "publisher",
    "year",
    "call_number",
    "classification",
    "series",
    "subjects",
    "price_fen",
)

# Barcodes for copies the records do not list are "G" + ISBN-13 digits 3-12 (the check digit
# adds nothing), "GB…" to "GZ…" for the 2nd to 26th copy: the same book gets the same barcode
# on every kiosk that imports it. Anything else (a clash, no ISBN, a 27th copy) is numbered
# "GEN" + 7 digits after the highest such number in use.
GENERATED_PREFIX = "G"
GENERATED_COUNTER_PREFIX = "GEN"
_COUNTER_DIGITS = 7
_MAX_DETERMINISTIC_COPIES = 26

# Plain Core tables for the bulk INSERTs: half the Python work of the ORM's bulk mode.
_TITLES = Base.metadata.tables["titles"]
_ITEMS = Base.metadata.tables["items"]

# SQLite accepts 32 766 bound parameters per statement; stay far below on every database.
_IN_CHUNK = 500


@dataclass(frozen=True)
class CatalogTitle:
    """A title as a catalog record describes it; empty text and None mean "not given".

    `isbn13` must be canonical ISBN-13 digits (or None for a book without an ISBN);
    `unified_number` a 统一书号 as "10019·3152" (or None).
    """

    title: str
    isbn13: str | None = None
    author: str = ""
    publisher: str = ""
    year: int | None = None
    call_number: str = ""
    classification: str = ""
    unified_number: str | None = None
    series: str = ""
    # Subject headings, "; " between them.
    subjects: str = ""
    # The list price in fen (MARC 020$c, CNMARC 010$d, a price column); None: not given.
    price_fen: int | None = None


@dataclass(frozen=True)
class Holding:
    """One copy a record lists: its accession barcode and where it stands."""

    barcode: str
    location: str = ""


@dataclass(frozen=True)
class CatalogEntry:
    """A record and its copies; without holdings, the title gets at least `copies` copies.

    With `update` False an existing title is only found, not changed (another record of the
    same file already described it).
    """

    record: CatalogTitle
    holdings: tuple[Holding, ...] = ()
    copies: int = 1
    update: bool = True


@dataclass(frozen=True)
class ItemsResult:
    """What `ensure_items` did: copies added, barcodes it made up, holdings it refused.

    A holding is refused when its barcode already belongs to a different title.
    """

    added: int = 0
    generated: tuple[str, ...] = ()
    conflicts: tuple[Holding, ...] = ()


@dataclass(frozen=True)
class EntryResult:
    title_id: int
    outcome: TitleOutcome
    items: ItemsResult


def generated_barcode(isbn13: str, copy_number: int) -> str | None:
    """The made-up accession barcode of copy `copy_number` (1-based) of a book, or None.

    None when the scheme has no barcode for that copy (beyond the 26th); fits the item
    pattern [A-Z]{0,3}\\d{5,10}.
    """
    digits = isbn13[2:12]
    if copy_number == 1:
        return GENERATED_PREFIX + digits
    if 2 <= copy_number <= _MAX_DETERMINISTIC_COPIES:
        return GENERATED_PREFIX + chr(ord("A") + copy_number - 1) + digits
    return None


_GENERATED = re.compile(
    rf"{GENERATED_PREFIX}[B-Z]?\d{{10}}|{GENERATED_COUNTER_PREFIX}\d{{{_COUNTER_DIGITS}}}", re.ASCII
)


def is_generated_barcode(barcode: str) -> bool:
    """Whether `barcode` is one this import makes up (so no label in a book carries it yet)."""
    return _GENERATED.fullmatch(barcode) is not None


def upsert_entries(
    session: Session, entries: Sequence[CatalogEntry], now: dt.datetime
) -> list[EntryResult]:
    """Add or update every entry's title and make sure it has the entry's copies, in order.

    Titles are matched by ISBN-13; a title without one (in the file or in the database) is
    matched by its 统一书号, then through the barcode of a copy it already has, and a record
    with none of these by title + author + publisher + year among the titles that have no
    ISBN or 统一书号 either, so importing the same file again finds them. Empty fields of a record never
    blank what the database knows. Existing copies are never changed: their status and
    location belong to circulation. Added and changed titles are indexed for the search
    (kiosk.search). The batch is read in four queries (more only when a
    made-up barcode is taken) and written in a few more, whatever its size. Caller commits.
    """
    batch = _Batch(session, now)
    batch.preload(entries)
    results = []
    pending = []
    for entry in entries:
        slot, outcome = batch.upsert_title(entry.record, entry.holdings, update=entry.update)
        items = batch.ensure_items(slot, entry.holdings, entry.copies)
        pending.append((slot, outcome, items))
    batch.write()
    for slot, outcome, items in pending:
        assert slot.title_id is not None
        results.append(EntryResult(slot.title_id, outcome, items))
    # New titles are indexed from the values just written; changed ones re-read.
    added = {slot.title_id: slot for slot, outcome, _ in pending if outcome == "added"}
    index_new_titles(
        session,
        [
            (title_id, *(slot.get(name) or "" for name in INDEXED_FIELDS))
            for title_id, slot in added.items()
        ],
    )
    index_titles(session, {r.title_id for r in results if r.outcome == "updated"} - added.keys())
    return results


def upsert_title(
    session: Session, record: CatalogTitle, now: dt.datetime, *, holdings: Sequence[Holding] = ()
) -> tuple[Title, TitleOutcome]:
    """Add or update the title `record` describes; see `upsert_entries` for the matching.

    `holdings` are used only to find a title without an ISBN. Caller commits.
    """
    batch = _Batch(session, now)
    batch.preload([CatalogEntry(record, tuple(holdings), copies=0)])
    slot, outcome = batch.upsert_title(record, tuple(holdings))
    batch.write()
    if outcome != "unchanged" and slot.title_id is not None:
        index_titles(session, [slot.title_id])
    if slot.title is not None:
        return slot.title, outcome
    title = session.get(Title, slot.title_id)
    assert title is not None
    return title, outcome


def ensure_items(
    session: Session,
    title: Title,
    holdings: Sequence[Holding],
    now: dt.datetime,
    *,
    copies: int = 1,
) -> ItemsResult:
    """Give `title` an item for each holding it lacks; with no holdings, at least `copies` items.

    A barcode that already belongs to this title is left as it is; one that belongs to a
    different title is refused and returned in `conflicts`. A title that already has enough
    copies gets no generated one, so importing the same file again adds nothing. Caller commits.
    """
    if title.id is None:
        session.flush()
    batch = _Batch(session, now)
    slot = batch.adopt(title)
    batch.preload_items(
        [slot], [CatalogEntry(CatalogTitle(title.title, title.isbn13), tuple(holdings), copies)]
    )
    result = batch.ensure_items(slot, tuple(holdings), copies)
    batch.write()
    return result


@dataclass(eq=False)
class _Slot:
    """A title as this batch sees it: a loaded row, or the values of a row still to insert."""

    title: Title | None = None
    values: dict[str, Any] = field(default_factory=dict)
    title_id: int | None = None
    item_count: int = 0

    def get(self, attr: str) -> Any:
        return getattr(self.title, attr) if self.title is not None else self.values[attr]

    def set(self, attr: str, value: Any) -> None:
        if self.title is not None:
            setattr(self.title, attr, value)
        else:
            self.values[attr] = value


# Who owns a barcode: a title of this batch, the id of a title the batch has not loaded,
# or nobody (None).
_Owner = _Slot | int | None


class _Batch:
    """The planning and writing of one batch: dictionaries first, statements at the end."""

    def __init__(self, session: Session, now: dt.datetime) -> None:
        self.session = session
        self.now = now
        # Core INSERTs skip the session's flush events. When someone listens to those (the
        # central change log records every title and item for the kiosks to pull), new rows
        # go through the unit of work instead, slower but seen.
        self.through_orm = bool(session.dispatch.after_flush)
        self.by_isbn: dict[str, _Slot] = {}
        self.by_unified: dict[str, _Slot] = {}
        self.by_description: dict[tuple[Any, ...], _Slot] = {}
        self.by_id: dict[int, _Slot] = {}
        self.owner: dict[str, _Owner] = {}
        self.new_titles: list[_Slot] = []
        self.new_items: list[tuple[_Slot, Holding]] = []
        self.next_counter: int | None = None

    # --- reading ---------------------------------------------------------------------------

    def preload(self, entries: Sequence[CatalogEntry]) -> None:
        isbns = {e.record.isbn13 for e in entries if e.record.isbn13}
        for chunk in _chunks(sorted(isbns)):
            for title in self.session.scalars(select(Title).where(Title.isbn13.in_(chunk))):
                self._slot_for(title)
        unified = {e.record.unified_number for e in entries if e.record.unified_number}
        for chunk in _chunks(sorted(unified)):
            for title in self.session.scalars(
                select(Title).where(Title.unified_number.in_(chunk)).order_by(Title.id)
            ):
                self._slot_for(title)
        described = {
            _clip("title", e.record.title)
            for e in entries
            if not e.record.isbn13 and not e.record.unified_number
        }
        for chunk in _chunks(sorted(described)):
            for title in self.session.scalars(
                select(Title)
                .where(
                    Title.title.in_(chunk), Title.isbn13.is_(None), Title.unified_number.is_(None)
                )
                .order_by(Title.id)
            ):
                self._slot_for(title)
        self._load_owners(_barcodes_of(entries))
        # Titles reached only through a copy's barcode: books without an ISBN.
        missing = {o for o in self.owner.values() if isinstance(o, int) and o not in self.by_id}
        for chunk in _chunks(sorted(missing)):
            for title in self.session.scalars(select(Title).where(Title.id.in_(chunk))):
                self._slot_for(title)
        self._load_counts(list(self.by_id.values()))

    def preload_items(self, slots: Sequence[_Slot], entries: Sequence[CatalogEntry]) -> None:
        self._load_owners(_barcodes_of(entries))
        self._load_counts(list(slots))

    def adopt(self, title: Title) -> _Slot:
        return self._slot_for(title)

    def _slot_for(self, title: Title) -> _Slot:
        slot = self.by_id.get(title.id)
        if slot is None:
            slot = _Slot(title=title, title_id=title.id)
            self.by_id[title.id] = slot
            self._index(slot)
        return slot

    def _index(self, slot: _Slot) -> None:
        """Make `slot` findable by its ISBN, 统一书号 or (having neither) its description."""
        isbn13, unified = slot.get("isbn13"), slot.get("unified_number")
        if isbn13:
            self.by_isbn.setdefault(isbn13, slot)
        elif unified:
            self.by_unified.setdefault(unified, slot)
        else:
            self.by_description.setdefault(_description_of(slot), slot)

    def _load_owners(self, barcodes: Iterable[str]) -> None:
        wanted = sorted({b for b in barcodes if b not in self.owner})
        for chunk in _chunks(wanted):
            for barcode, title_id in self.session.execute(
                select(Item.barcode, Item.title_id).where(Item.barcode.in_(chunk))
            ):
                self.owner[barcode] = self.by_id.get(title_id, title_id)
            for barcode in chunk:
                self.owner.setdefault(barcode, None)

    def _load_counts(self, slots: Sequence[_Slot]) -> None:
        ids = sorted({s.title_id for s in slots if s.title_id is not None})
        for chunk in _chunks(ids):
            for title_id, count in self.session.execute(
                select(Item.title_id, func.count())
                .where(Item.title_id.in_(chunk))
                .group_by(Item.title_id)
            ):
                self.by_id[title_id].item_count = count

    def _owner_of(self, barcode: str) -> _Owner:
        if barcode not in self.owner:
            self._load_owners([barcode])
        owner = self.owner[barcode]
        if isinstance(owner, int) and owner in self.by_id:
            return self.by_id[owner]
        return owner

    # --- planning --------------------------------------------------------------------------

    def upsert_title(
        self, record: CatalogTitle, holdings: Sequence[Holding], *, update: bool = True
    ) -> tuple[_Slot, TitleOutcome]:
        slot = self.by_isbn.get(record.isbn13) if record.isbn13 else None
        if slot is None and record.unified_number:
            slot = self.by_unified.get(record.unified_number)
            if slot is not None and record.isbn13 and slot.get("isbn13"):
                slot = None
        if slot is None:
            slot = self._match_by_copy(record, holdings)
        if slot is None and not record.isbn13 and not record.unified_number:
            slot = self.by_description.get(_description_of_record(record))
        if slot is None:
            slot = _Slot(values=_new_title_values(record, self.now))
            self.new_titles.append(slot)
            self._index(slot)
            return slot, "added"
        if not update:
            return slot, "unchanged"
        changed = False
        for attr in _TITLE_FIELDS:
            value = _clip(attr, getattr(record, attr))
            if value in ("", None) or slot.get(attr) == value:
                continue
            slot.set(attr, value)
            changed = True
        if record.isbn13:
            self.by_isbn[record.isbn13] = slot
        if record.unified_number and not record.isbn13:
            self.by_unified.setdefault(record.unified_number, slot)
        if not changed:
            return slot, "unchanged"
        slot.set("updated_at", self.now)
        return slot, "updated"

    def _match_by_copy(self, record: CatalogTitle, holdings: Sequence[Holding]) -> _Slot | None:
        """The title that already has one of these copies, if it may be this record's title.

        A record with an ISBN may only claim a title that has none yet (the ISBN is then
        added); one without may claim any, since the copy itself says which book it is.
        """
        for holding in holdings:
            owner = self._owner_of(holding.barcode)
            if isinstance(owner, _Slot) and not (record.isbn13 and owner.get("isbn13")):
                return owner
        return None

    def ensure_items(self, slot: _Slot, holdings: Sequence[Holding], copies: int) -> ItemsResult:
        added = 0
        conflicts: list[Holding] = []
        for holding in holdings:
            owner = self._owner_of(holding.barcode)
            if owner is None:
                self._add_item(slot, holding)
                added += 1
            elif owner is not slot and owner != slot.title_id:
                conflicts.append(holding)
        generated: list[str] = []
        if not holdings:
            for copy_number in range(slot.item_count + 1, copies + 1):
                barcode = self._free_barcode(slot, copy_number)
                self._add_item(slot, Holding(barcode))
                generated.append(barcode)
                added += 1
        return ItemsResult(added, tuple(generated), tuple(conflicts))

    def _add_item(self, slot: _Slot, holding: Holding) -> None:
        self.owner[holding.barcode] = slot
        slot.item_count += 1
        self.new_items.append((slot, holding))

    def _free_barcode(self, slot: _Slot, copy_number: int) -> str:
        isbn13 = slot.get("isbn13")
        candidate = generated_barcode(isbn13, copy_number) if isbn13 else None
        if candidate is not None and self._owner_of(candidate) is None:
            return candidate
        while True:
            candidate = self._next_counter_barcode()
            if self._owner_of(candidate) is None:
                return candidate

    def _next_counter_barcode(self) -> str:
        if self.next_counter is None:
            pattern = GENERATED_COUNTER_PREFIX + "_" * _COUNTER_DIGITS
            highest = self.session.scalar(
                select(func.max(Item.barcode)).where(Item.barcode.like(pattern))
            )
            suffix = highest[len(GENERATED_COUNTER_PREFIX) :] if highest else ""
            self.next_counter = int(suffix) + 1 if suffix.isdigit() else 1
        number = self.next_counter
        self.next_counter += 1
        return f"{GENERATED_COUNTER_PREFIX}{number:0{_COUNTER_DIGITS}d}"

    # --- writing ---------------------------------------------------------------------------

    def write(self) -> None:
        if self.through_orm:
            self._write_through_orm()
        else:
            self._write_bulk()
        self.new_titles.clear()
        self.new_items.clear()

    def _write_bulk(self) -> None:
        if self.new_titles:
            ids = self._insert_titles([slot.values for slot in self.new_titles])
            for slot, title_id in zip(self.new_titles, ids, strict=True):
                slot.title_id = title_id
                self.by_id[title_id] = slot
        if self.new_items:
            self.session.execute(
                insert(_ITEMS),
                [
                    {
                        "barcode": holding.barcode,
                        "title_id": slot.title_id,
                        "location": holding.location,
                        "status": ItemStatus.AVAILABLE.value,
                        "created_at": self.now,
                    }
                    for slot, holding in self.new_items
                ],
            )

    def _insert_titles(self, rows: list[dict[str, Any]]) -> Sequence[int]:
        """Insert the new titles; their ids, in the order of `rows`."""
        if self.session.get_bind().dialect.name != "sqlite":
            return self.session.scalars(
                insert(_TITLES).returning(_TITLES.c.id, sort_by_parameter_order=True), rows
            ).all()
        # SQLite does not promise the order of a multi-row INSERT's RETURNING rows, so there
        # SQLAlchemy sends one statement per title. Instead the titles get the ids SQLite would
        # give them, each one above the highest, and go in as one executemany: nobody else
        # can add a title in between (the transaction began with BEGIN IMMEDIATE, and in WAL
        # mode a transaction that read an older snapshot could not write at all).
        first = (self.session.scalar(select(func.max(_TITLES.c.id))) or 0) + 1
        ids = range(first, first + len(rows))
        for values, title_id in zip(rows, ids, strict=True):
            values["id"] = title_id
        self.session.execute(insert(_TITLES), rows)
        return ids

    def _write_through_orm(self) -> None:
        for slot in self.new_titles:
            slot.title = Title(**slot.values)
            self.session.add(slot.title)
        for slot, holding in self.new_items:
            assert slot.title is not None
            self.session.add(
                Item(
                    barcode=holding.barcode,
                    title=slot.title,
                    location=holding.location,
                    status=ItemStatus.AVAILABLE.value,
                    created_at=self.now,
                )
            )
        self.session.flush()
        for slot in self.new_titles:
            assert slot.title is not None
            slot.title_id = slot.title.id
            self.by_id[slot.title.id] = slot


def _new_title_values(record: CatalogTitle, now: dt.datetime) -> dict[str, Any]:
    values: dict[str, Any] = {attr: _clip(attr, getattr(record, attr)) for attr in _TITLE_FIELDS}
    values["created_at"] = now
    values["updated_at"] = now
    return values


def _description_of(slot: _Slot) -> tuple[Any, ...]:
    return tuple(slot.get(attr) or "" for attr in ("title", "author", "publisher", "year"))


def _description_of_record(record: CatalogTitle) -> tuple[Any, ...]:
    """The key a title with neither ISBN nor 统一书号 is found by, as the database holds it."""
    return tuple(
        _clip(attr, getattr(record, attr)) or ""
        for attr in ("title", "author", "publisher", "year")
    )


def _clip(attr: str, value: Any) -> Any:
    width = _WIDTHS.get(attr)
    if width is not None and isinstance(value, str) and len(value) > width:
        return value[: width - 1] + "…"
    return value


def _barcodes_of(entries: Iterable[CatalogEntry]) -> list[str]:
    """Every barcode planning may ask about: listed copies and the generated candidates."""
    barcodes: list[str] = []
    for entry in entries:
        barcodes.extend(h.barcode for h in entry.holdings)
        if not entry.holdings and entry.record.isbn13:
            for copy_number in range(1, min(entry.copies, _MAX_DETERMINISTIC_COPIES) + 1):
                candidate = generated_barcode(entry.record.isbn13, copy_number)
                if candidate is not None:
                    barcodes.append(candidate)
    return barcodes


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]
