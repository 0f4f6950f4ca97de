"""The hold shelf as the desk sees it: copies to pull from the shelves, copies waiting, and expiry."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from db.models import Hold, HoldStatus, Item, ItemStatus, Patron, Title
from kiosk.circulation.holds import HoldPolicy, shelf_expires_at


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


@dataclass(frozen=True)
class HoldShelf:
    # The first of the copies to pull (TO_PULL_SHOWN), and how many there are in all.
    to_pull: list[ToPull]
    to_pull_total: int
    waiting: list[OnShelf]
    # Of `waiting`, the copies whose last day on the shelf is today.
    expiring_today: list[OnShelf]


# Rows of the to-pull list shown at once: a morning's walk along the shelves, not the whole
# district's backlog (the page says how many more there are).
TO_PULL_SHOWN = 100


def hold_shelf(
    session: Session, policy: HoldPolicy, now: dt.datetime, *, to_pull_shown: int = TO_PULL_SHOWN
) -> HoldShelf:
    """What the desk does with holds today, read in three queries."""
    to_pull, total = _to_pull(session, to_pull_shown)
    return HoldShelf(to_pull, total, *_waiting(session, policy, now))


def _to_pull(session: Session, limit: int) -> tuple[list[ToPull], int]:
    """Waiting holds that a copy on the open shelf could serve, first in line first: as many
    holds per title as it has copies on the shelf (the rest wait for returns). The first
    `limit` by call number (the order of a walk along the shelves), and how many there are.

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
    rows = session.execute(
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
        .limit(limit)
    ).all()
    if not rows:
        return [], 0
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
    found = [
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
    return found, int(rows[0].total)


def _waiting(
    session: Session, policy: HoldPolicy, now: dt.datetime
) -> tuple[list[OnShelf], list[OnShelf]]:
    rows = session.execute(
        select(
            Hold.id,
            Hold.patron_id,
            Hold.placed_at,
            Hold.ready_at,
            Item.barcode,
            Patron.name,
            Patron.class_name,
            Title.title,
        )
        .join(Item, Item.id == Hold.item_id)
        .join(Patron, Patron.id == Hold.patron_id)
        .join(Title, Title.id == Hold.title_id)
        .where(Hold.status == HoldStatus.READY)
        .order_by(Hold.ready_at, Hold.id)
    )
    today = policy.calendar.local_date(now)
    waiting, expiring = [], []
    for hold_id, patron_id, placed_at, ready_at, barcode, name, class_name, title in rows:
        since = ready_at or placed_at
        expires_at = shelf_expires_at(since, policy)
        entry = OnShelf(
            hold_id,
            title,
            barcode,
            patron_id,
            name,
            class_name,
            since,
            expires_at,
            expired=now >= expires_at,
        )
        waiting.append(entry)
        if policy.calendar.local_date(expires_at) <= today:
            expiring.append(entry)
    return waiting, expiring
