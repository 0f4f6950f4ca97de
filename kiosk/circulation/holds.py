"""Holds (reservations) decided from snapshots: who may reserve a title, who is next, and until when."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from kiosk.circulation.calendar import MAX_SEARCH_DAYS, OpeningCalendar
from kiosk.circulation.rules import PatronStanding, Refusal, decide_patron

# Hold states and their transitions (waiting → ready → fulfilled / expired / cancelled) live in
# the one state table, kiosk/circulation/states.py; these rules decide when a hold may be placed,
# until when a ready hold waits, and who is next in line when it ends.


@dataclass(frozen=True)
class HoldPolicy:
    max_holds: int = 2
    # Open days a copy waits on the hold shelf, not counting the day it was set aside.
    shelf_days: int = 5
    calendar: OpeningCalendar = field(default_factory=OpeningCalendar)


@dataclass(frozen=True)
class TitleHoldState:
    """What the hold rules need to know about a title, from the asking student's side.

    `copies_lendable` counts copies that are not lost or withdrawn; `copies_on_shelf` the
    copies on the open shelf now; `waiting_by_others` other students' holds not yet given a copy.
    """

    copies_lendable: int = 1
    copies_on_shelf: int = 0
    waiting_by_others: int = 0
    on_loan_to_self: bool = False
    reserved_by_self: bool = False


@dataclass(frozen=True)
class HoldDecision:
    allowed: bool
    refusal: Refusal | None = None
    placed_at: dt.datetime | None = None


def decide_hold(
    patron: PatronStanding, title: TitleHoldState, policy: HoldPolicy, now: dt.datetime
) -> HoldDecision:
    """Decide whether `patron` may reserve `title` at `now`.

    Order of checks, first refusal wins (it is what the screen shows):
    1. patron: unknown card, left the school, blocked;
    2. the student already has a copy on loan, then already has a hold on this title;
    3. the library has no copy it could ever lend (all lost or withdrawn);
    4. a copy is on the open shelf now and not promised to students already waiting:
       go and take it (the screen says where);
    5. the hold limit.
    Patron checks come first as for loans ("see the librarian about your account"); what the
    student already has comes before the shelf and the limit, because it answers the question
    they are really asking; the limit comes last, so a student at the limit still learns that
    the book is on the shelf.
    """
    refusal = decide_patron(patron)
    if refusal is None and title.on_loan_to_self:
        refusal = Refusal.ALREADY_ON_LOAN
    if refusal is None and title.reserved_by_self:
        refusal = Refusal.ALREADY_RESERVED
    if refusal is None and title.copies_lendable <= 0:
        refusal = Refusal.NOT_HOLDABLE
    if refusal is None and title.copies_on_shelf > title.waiting_by_others:
        refusal = Refusal.COPY_ON_SHELF
    if refusal is None and patron.active_holds >= policy.max_holds:
        refusal = Refusal.TOO_MANY_HOLDS
    if refusal is not None:
        return HoldDecision(False, refusal)
    return HoldDecision(True, placed_at=now)


def shelf_expires_at(ready_at: dt.datetime, policy: HoldPolicy) -> dt.datetime:
    """When a copy set aside at `ready_at` stops waiting: closing time of the `shelf_days`-th
    open day after the day it was set aside (that day itself does not count, so a copy put
    aside at closing time still gets its full days)."""
    cal = policy.calendar
    return cal.closing_time(cal.open_days_after(cal.local_date(ready_at), policy.shelf_days))


def expiring_by(day: dt.date, policy: HoldPolicy) -> dt.datetime:
    """The instant before which a copy must have been set aside for its time on the hold shelf
    to end on `day` or earlier: the start of the day after the last such set-aside day.

    The end day only moves forward as the set-aside day does, so a database can select the
    copies whose time is up by `day` with one comparison instead of asking each copy.
    """
    cal = policy.calendar
    last = day
    for _ in range(MAX_SEARCH_DAYS):
        if cal.open_days_after(last, policy.shelf_days) <= day:
            break
        last -= dt.timedelta(days=1)
    start = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=cal.zone)
    return start.astimezone(dt.UTC)


def is_shelf_expired(ready_at: dt.datetime, policy: HoldPolicy, now: dt.datetime) -> bool:
    """Whether a ready hold set aside at `ready_at` has waited its open days by `now`."""
    return now >= shelf_expires_at(ready_at, policy)


@dataclass(frozen=True)
class QueuedHold:
    """A waiting hold in a title's queue; `key` breaks ties between holds placed the same instant."""

    key: str
    placed_at: dt.datetime


def next_in_line(waiting: Sequence[QueuedHold]) -> QueuedHold | None:
    """The waiting hold a copy of the title goes to: the earliest placed, wherever it was placed.

    Holds placed at kiosks while offline arrive at the central in any order; ordering by the
    time each was placed (not by arrival) makes the first to reserve the first in line.
    """
    return min(waiting, key=lambda h: (h.placed_at, h.key), default=None)
