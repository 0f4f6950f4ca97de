"""The hold shelf as the desk sees it: copies to pull from the shelves, copies waiting, and expiry."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
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
    to_pull: list[ToPull]
    waiting: list[OnShelf]
    # Of `waiting`, the copies whose last day on the shelf is today.
    expiring_today: list[OnShelf]


def hold_shelf(session: Session, policy: HoldPolicy, now: dt.datetime) -> HoldShelf:
    """What the desk does with holds today, read in three queries."""
    return HoldShelf(_to_pull(session), *_waiting(session, policy, now))


def _to_pull(session: Session) -> list[ToPull]:
    """Waiting holds that a copy on the open shelf could serve, first in line first: as many
    holds per title as it has copies on the shelf (the rest wait for returns)."""
    on_shelf: dict[int, list[ShelfCopy]] = defaultdict(list)
    waiting_titles = (
        select(Hold.title_id).where(Hold.status == HoldStatus.WAITING).distinct().scalar_subquery()
    )
    copies = session.execute(
        select(Item.title_id, Item.barcode, Item.location)
        .where(Item.status == ItemStatus.AVAILABLE, Item.title_id.in_(waiting_titles))
        .order_by(Item.title_id, Item.barcode)
    )
    for title_id, barcode, location in copies:
        on_shelf[title_id].append(ShelfCopy(barcode, location))
    if not on_shelf:
        return []
    # Columns, not entities: a long list would otherwise spend its time building Hold objects.
    rows = session.execute(
        select(
            Hold.id,
            Hold.title_id,
            Hold.patron_id,
            Hold.placed_at,
            Patron.name,
            Patron.class_name,
            Title.title,
            Title.call_number,
        )
        .join(Patron, Patron.id == Hold.patron_id)
        .join(Title, Title.id == Hold.title_id)
        .where(Hold.status == HoldStatus.WAITING, Hold.title_id.in_(on_shelf.keys()))
        .order_by(Hold.title_id, Hold.placed_at, Hold.uuid)
    )
    copies_of = {title_id: tuple(shelf) for title_id, shelf in on_shelf.items()}
    taken: dict[int, int] = defaultdict(int)
    found = []
    for hold_id, title_id, patron_id, placed_at, name, class_name, title, call_number in rows:
        if taken[title_id] >= len(copies_of[title_id]):
            continue
        taken[title_id] += 1
        found.append(
            ToPull(
                hold_id,
                title_id,
                title,
                call_number,
                copies_of[title_id],
                patron_id,
                name,
                class_name,
                placed_at,
            )
        )
    found.sort(key=lambda p: (p.call_number, p.placed_at))
    return found


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
