"""The hold shelf as the desk sees it: copies to pull from the shelves, copies waiting, and expiry."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Row, Select, and_, func, select
from sqlalchemy.orm import Session

from db.models import Hold, HoldStatus, Item, ItemStatus, Patron, Title
from kiosk.circulation.holds import HoldPolicy, expiring_by, shelf_expires_at


@dataclass(frozen=True)
class ShelfCopy:
    barcode: str
    location: str


@dataclass(frozen=True)
class ToPull:
    """A student first in line for a title while a copy stands on the open shelf: pull one
    (any of `copies`) and scan it at the desk to set it aside for them."""

    hold_id: int
    title_id: int
    title: str
    call_number: str
    copies: tuple[ShelfCopy, ...]
    patron_id: int
    name: str
    class_name: str
    placed_at: dt.datetime


@dataclass(frozen=True)
class OnShelf:
    """A copy on the hold shelf, set aside for a student since `ready_at` until `expires_at`."""

    hold_id: int
    title: str
    item_barcode: str
    patron_id: int
    name: str
    class_name: str
    ready_at: dt.datetime
    expires_at: dt.datetime
    # The sweep has not run yet: the copy's time is up and it passes on at the next sweep.
    expired: bool


T = TypeVar("T")


@dataclass(frozen=True)
class Section(Generic[T]):
    """One page of a section of the list: `rows` are the `number`-th `per_page` of `total`."""

    rows: list[T]
    number: int
    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The place of the page's first row in the whole section, counting from 1."""
        return (self.number - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


@dataclass(frozen=True)
class HoldShelf:
    to_pull: Section[ToPull]
    waiting: Section[OnShelf]
    # Of the copies waiting, those whose last day on the shelf is today (or already past).
    expiring_today: Section[OnShelf]


# Rows of each section shown at once: a stretch of the shelves a librarian walks with the page
# in hand; the page says how many there are in all and leads to the next ones.
PER_PAGE = 50


def hold_shelf(
    session: Session,
    policy: HoldPolicy,
    now: dt.datetime,
    *,
    pull_page: int = 1,
    shelf_page: int = 1,
    expiring_page: int = 1,
    per_page: int = PER_PAGE,
) -> HoldShelf:
    """What the desk does with holds today, one page of each section; a page past a section's
    end shows its last page."""
    return HoldShelf(
        _paged(_to_pull_query, pull_page, per_page, session, _to_pull_rows),
        _paged(
            lambda: _waiting_query(None), shelf_page, per_page, session, _on_shelf_rows(policy, now)
        ),
        _paged(
            lambda: _waiting_query(expiring_by(policy.calendar.local_date(now), policy)),
            expiring_page,
            per_page,
            session,
            _on_shelf_rows(policy, now),
        ),
    )


def _paged(
    query: Callable[[], Select[*tuple[Any, ...]]],
    number: int,
    per_page: int,
    session: Session,
    build: Callable[[Session, Sequence[Row[Any]]], list[T]],
) -> Section[T]:
    """The `number`-th page of `query` (ordered, with a `total` column counting all its rows):
    one query, the total read off the page's first row. Past the end, a count finds the last page."""
    number = max(1, number)
    rows = session.execute(query().limit(per_page).offset((number - 1) * per_page)).all()
    if not rows and number > 1:
        total = session.scalar(select(func.count()).select_from(query().subquery())) or 0
        number = max(1, -(-total // per_page))
        rows = session.execute(query().limit(per_page).offset((number - 1) * per_page)).all()
    total = int(rows[0].total) if rows else 0
    return Section(build(session, rows), number, total, per_page)


def _to_pull_query() -> Select[*tuple[Any, ...]]:
    """Waiting holds that a copy on the open shelf could serve, first in line first: as many
    holds per title as it has copies on the shelf (the rest wait for returns), by call number
    (the order of a walk along the shelves).

    The database ranks each title's queue and counts its copies on the shelf, so a long list
    costs one query and only the page's rows reach Python.
    """
    place = (
        func.row_number()
        .over(partition_by=Hold.title_id, order_by=(Hold.placed_at, Hold.uuid))
        .label("place")
    )
    queue = (
        select(Hold.id, Hold.title_id, Hold.patron_id, Hold.placed_at, place)
        .where(Hold.status == HoldStatus.WAITING)
        .subquery("queue")
    )
    shelf = (
        select(Item.title_id, func.count(Item.id).label("on_shelf"))
        .where(Item.status == ItemStatus.AVAILABLE, Item.title_id.in_(select(queue.c.title_id)))
        .group_by(Item.title_id)
        .subquery("shelf")
    )
    return (
        select(
            queue.c.id,
            queue.c.title_id,
            queue.c.patron_id,
            queue.c.placed_at,
            Patron.name,
            Patron.class_name,
            Title.title,
            Title.call_number,
            func.count().over().label("total"),
        )
        .join(shelf, and_(shelf.c.title_id == queue.c.title_id, queue.c.place <= shelf.c.on_shelf))
        .join(Patron, Patron.id == queue.c.patron_id)
        .join(Title, Title.id == queue.c.title_id)
        .order_by(Title.call_number, queue.c.placed_at, queue.c.id)
    )


def _to_pull_rows(session: Session, rows: Sequence[Row[Any]]) -> list[ToPull]:
    """The page's rows with the copies on the open shelf of each title (one more query)."""
    if not rows:
        return []
    copies: dict[int, list[ShelfCopy]] = defaultdict(list)
    for title_id, barcode, location in session.execute(
        select(Item.title_id, Item.barcode, Item.location)
        .where(
            Item.status == ItemStatus.AVAILABLE,
            Item.title_id.in_({row.title_id for row in rows}),
        )
        .order_by(Item.title_id, Item.barcode)
    ):
        copies[title_id].append(ShelfCopy(barcode, location))
    return [
        ToPull(
            row.id,
            row.title_id,
            row.title,
            row.call_number,
            tuple(copies[row.title_id]),
            row.patron_id,
            row.name,
            row.class_name,
            row.placed_at,
        )
        for row in rows
    ]


def _waiting_query(set_aside_before: dt.datetime | None) -> Select[*tuple[Any, ...]]:
    """Copies on the hold shelf in the order they were set aside, which is the order their time
    runs out (the shelf fills in that order); only those set aside before `set_aside_before`."""
    since = func.coalesce(Hold.ready_at, Hold.placed_at)
    query: Select[*tuple[Any, ...]] = (
        select(
            Hold.id,
            Hold.patron_id,
            Hold.placed_at,
            Hold.ready_at,
            Item.barcode,
            Patron.name,
            Patron.class_name,
            Title.title,
            func.count().over().label("total"),
        )
        .join(Item, Item.id == Hold.item_id)
        .join(Patron, Patron.id == Hold.patron_id)
        .join(Title, Title.id == Hold.title_id)
        .where(Hold.status == HoldStatus.READY)
        .order_by(since, Hold.id)
    )
    if set_aside_before is not None:
        query = query.where(since < set_aside_before)
    return query


def _on_shelf_rows(
    policy: HoldPolicy, now: dt.datetime
) -> Callable[[Session, Sequence[Row[Any]]], list[OnShelf]]:
    def build(session: Session, rows: Sequence[Row[Any]]) -> list[OnShelf]:
        found = []
        for row in rows:
            since = row.ready_at or row.placed_at
            expires_at = shelf_expires_at(since, policy)
            found.append(
                OnShelf(
                    row.id,
                    row.title,
                    row.barcode,
                    row.patron_id,
                    row.name,
                    row.class_name,
                    since,
                    expires_at,
                    expired=now >= expires_at,
                )
            )
        return found

    return build
