"""Roster and catalog upserts on a real SQLite file: matching, idempotence, made-up barcodes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select
from stdnum import ean

from db.engine import make_session_factory
from db.models import Item, Patron, PatronStatus, Title
from kiosk.services import catalog, roster
from kiosk.services.catalog import CatalogEntry, CatalogTitle, Holding
from kiosk.services.roster import RosterRow

ITEM_PATTERN = re.compile(r"[A-Z]{0,3}\d{5,10}")


def _isbn13(body12: str) -> str:
    return body12 + ean.calc_check_digit(body12)


HUOZHE = _isbn13("978702100000")


def _count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def _patron(session, number):
    return session.scalar(select(Patron).where(Patron.student_number == number))


# --- roster --------------------------------------------------------------------------------


def test_upsert_patron_adds_then_reports_unchanged_then_updated(session_factory, clock):
    row = RosterRow("S1", "20260001", "张小明", class_name="三年级二班", grade="3")
    with session_factory.begin() as s:
        assert roster.upsert_patron(s, row, clock()) == "added"
    with session_factory.begin() as s:
        assert roster.upsert_patron(s, row, clock()) == "unchanged"
    clock.advance(days=1)
    moved = RosterRow("S1", "20260001", "张小明", class_name="四年级一班", grade="4")
    with session_factory.begin() as s:
        assert roster.upsert_patron(s, moved, clock()) == "updated"
    with session_factory() as s:
        patron = _patron(s, "S1")
        assert (patron.class_name, patron.grade, patron.status) == ("四年级一班", "4", "active")
        assert patron.updated_at == clock()


def test_upsert_patron_refuses_a_card_that_belongs_to_someone_else(session_factory, clock):
    with session_factory.begin() as s:
        roster.upsert_patron(s, RosterRow("S1", "20260001", "A"), clock())
        roster.upsert_patron(s, RosterRow("S2", "20260002", "B"), clock())
    with session_factory.begin() as s:
        assert roster.upsert_patron(s, RosterRow("S3", "20260001", "C"), clock()) == "card_in_use"
        assert roster.upsert_patron(s, RosterRow("S2", "20260001", "B"), clock()) == "card_in_use"
    with session_factory() as s:
        assert _count(s, Patron) == 2
        assert _patron(s, "S2").card_barcode == "20260002"


def test_columns_missing_from_the_file_keep_what_is_known(session_factory, clock):
    full = RosterRow("S1", "C1", "A", "1班", "1", "家长", "13800000000", "p@example.cn")
    with session_factory.begin() as s:
        roster.upsert_patron(s, full, clock())
    with session_factory.begin() as s:
        assert roster.upsert_patron(s, RosterRow("S1", "C1", "A"), clock()) == "unchanged"
    with session_factory() as s:
        assert _patron(s, "S1").parent_email == "p@example.cn"


def test_blocked_stays_blocked_and_left_comes_back(session_factory, clock):
    with session_factory.begin() as s:
        roster.upsert_patron(s, RosterRow("S1", "C1", "A"), clock())
        roster.upsert_patron(s, RosterRow("S2", "C2", "B"), clock())
        _patron(s, "S1").status = PatronStatus.BLOCKED
        _patron(s, "S2").status = PatronStatus.LEFT
    with session_factory.begin() as s:
        assert roster.upsert_patron(s, RosterRow("S1", "C1", "A"), clock()) == "unchanged"
        assert roster.upsert_patron(s, RosterRow("S2", "C2", "B"), clock()) == "updated"
    with session_factory() as s:
        assert _patron(s, "S1").status == "blocked"
        assert _patron(s, "S2").status == "active"


def test_mark_missing_left_touches_only_active_patrons_not_seen(session_factory, clock):
    with session_factory.begin() as s:
        for n in ("S1", "S2", "S3", "S4"):
            roster.upsert_patron(s, RosterRow(n, "C" + n, n), clock())
        _patron(s, "S4").status = PatronStatus.BLOCKED
    with session_factory.begin() as s:
        assert roster.mark_missing_left(s, {"S1"}, clock()) == 2
    with session_factory() as s:
        statuses = {p.student_number: p.status for p in s.scalars(select(Patron))}
    assert statuses == {"S1": "active", "S2": "left", "S3": "left", "S4": "blocked"}


# --- catalog -------------------------------------------------------------------------------


def test_upsert_title_adds_updates_and_never_blanks(session_factory, clock):
    record = CatalogTitle("活着", HUOZHE, "余华", "作家出版社", 2012, "I247.57", "clc")
    with session_factory.begin() as s:
        title, outcome = catalog.upsert_title(s, record, clock())
        assert outcome == "added"
        assert title.id is not None
    with session_factory.begin() as s:
        assert catalog.upsert_title(s, record, clock())[1] == "unchanged"
        # A sparser record (a CSV without publisher) changes nothing it does not know.
        sparse = CatalogTitle("活着", HUOZHE)
        assert catalog.upsert_title(s, sparse, clock())[1] == "unchanged"
        _, outcome = catalog.upsert_title(s, CatalogTitle("活着（新版）", HUOZHE), clock())
        assert outcome == "updated"
    with session_factory() as s:
        title = s.scalar(select(Title))
        assert (title.title, title.publisher, title.year) == ("活着（新版）", "作家出版社", 2012)


def test_generated_copy_is_made_once_and_fits_the_item_pattern(session_factory, clock):
    entry = CatalogEntry(CatalogTitle("活着", HUOZHE))
    with session_factory.begin() as s:
        [result] = catalog.upsert_entries(s, [entry], clock())
    assert result.items.added == 1
    [barcode] = result.items.generated
    assert barcode == "G" + HUOZHE[2:12]
    assert ITEM_PATTERN.fullmatch(barcode)
    with session_factory.begin() as s:
        [again] = catalog.upsert_entries(s, [entry], clock())
    assert (again.outcome, again.items.added) == ("unchanged", 0)
    with session_factory() as s:
        assert _count(s, Item) == 1


def test_copies_and_clashes_give_distinct_barcodes(session_factory, clock):
    other = _isbn13("978702100001")
    with session_factory.begin() as s:
        # Someone already used the barcode the scheme would give the first copy.
        squatter, _ = catalog.upsert_title(s, CatalogTitle("占位", other), clock())
        catalog.ensure_items(s, squatter, [Holding("G" + HUOZHE[2:12])], clock())
    with session_factory.begin() as s:
        title, _ = catalog.upsert_title(s, CatalogTitle("活着", HUOZHE), clock())
        result = catalog.ensure_items(s, title, [], clock(), copies=3)
    assert result.added == 3
    assert result.generated[0].startswith("GEN")
    assert result.generated[1:] == ("GB" + HUOZHE[2:12], "GC" + HUOZHE[2:12])
    with session_factory() as s:
        barcodes = list(s.scalars(select(Item.barcode)))
    assert len(barcodes) == len(set(barcodes)) == 4
    assert all(ITEM_PATTERN.fullmatch(b) for b in barcodes)


def test_holding_of_another_title_is_refused(session_factory, clock):
    with session_factory.begin() as s:
        first, _ = catalog.upsert_title(s, CatalogTitle("活着", HUOZHE), clock())
        catalog.ensure_items(s, first, [Holding("A100000")], clock())
        second, _ = catalog.upsert_title(s, CatalogTitle("三体", _isbn13("978702100002")), clock())
        result = catalog.ensure_items(s, second, [Holding("A100000"), Holding("A100001")], clock())
    assert result.added == 1
    assert result.conflicts == (Holding("A100000"),)


def test_title_without_isbn_is_found_again_through_its_copy(session_factory, clock):
    entry = CatalogEntry(CatalogTitle("旧书", None, "佚名"), (Holding("B000123"),))
    with session_factory.begin() as s:
        [first] = catalog.upsert_entries(s, [entry], clock())
    with session_factory.begin() as s:
        [again] = catalog.upsert_entries(s, [entry], clock())
        # Later the book turns out to have an ISBN: the same title gets it.
        with_isbn = CatalogEntry(CatalogTitle("旧书", HUOZHE), (Holding("B000123"),))
        [found] = catalog.upsert_entries(s, [with_isbn], clock())
    assert first.outcome == "added"
    assert (again.outcome, again.title_id) == ("unchanged", first.title_id)
    assert (found.outcome, found.title_id) == ("updated", first.title_id)
    with session_factory() as s:
        assert _count(s, Title) == 1
        assert s.scalar(select(Title.isbn13)) == HUOZHE


def test_batch_with_the_same_isbn_twice_makes_one_title(session_factory, clock):
    entries = [
        CatalogEntry(CatalogTitle("活着", HUOZHE), (Holding("A1000001"),)),
        CatalogEntry(CatalogTitle("活着", HUOZHE), (Holding("A1000002"),)),
    ]
    with session_factory.begin() as s:
        results = catalog.upsert_entries(s, entries, clock())
    assert [r.outcome for r in results] == ["added", "unchanged"]
    with session_factory() as s:
        assert _count(s, Title) == 1
        assert _count(s, Item) == 2


def test_flush_listeners_see_every_new_row(engine, clock):
    """The central change log listens to flushes; bulk INSERTs would slip past it."""
    factory = make_session_factory(engine)
    seen: list[object] = []

    @event.listens_for(factory, "after_flush")
    def record(session, context):
        seen.extend(session.new)

    entries = [
        CatalogEntry(CatalogTitle("活着", HUOZHE)),
        CatalogEntry(CatalogTitle("旧书"), (Holding("B000123"),)),
    ]
    with factory.begin() as s:
        results = catalog.upsert_entries(s, entries, clock())
    assert sorted(type(o).__name__ for o in seen) == ["Item", "Item", "Title", "Title"]
    assert all(r.title_id for r in results)
    with factory() as s:
        assert _count(s, Item) == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("978"), st.integers(0, 10**9 - 1)),
            # 979-0 is sheet music, not a book.
            st.tuples(st.just("979"), st.integers(10**8, 10**9 - 1)),
        ),
        min_size=2,
        max_size=20,
        unique=True,
    ),
    st.integers(1, 26),
)
def test_generated_barcodes_fit_the_pattern_and_never_repeat(books, copies):
    barcodes = []
    for prefix, body in books:
        isbn13 = _isbn13(f"{prefix}{body:09d}")
        barcodes += [catalog.generated_barcode(isbn13, n) for n in range(1, copies + 1)]
    assert all(b is not None and ITEM_PATTERN.fullmatch(b) for b in barcodes)
    assert len(set(barcodes)) == len(barcodes)


def test_generated_barcode_has_none_beyond_the_scheme():
    assert catalog.generated_barcode(HUOZHE, 27) is None


@pytest.mark.parametrize("copies", [1, 2])
def test_ensure_items_on_a_title_that_has_copies_adds_nothing(session_factory, clock, copies):
    with session_factory.begin() as s:
        title, _ = catalog.upsert_title(s, CatalogTitle("活着", HUOZHE), clock())
        catalog.ensure_items(s, title, [Holding("A1000001"), Holding("A1000002")], clock())
        assert catalog.ensure_items(s, title, [], clock(), copies=copies).added == 0
