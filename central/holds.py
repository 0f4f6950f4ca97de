"""Holds at the central: reconcile kiosks' hold events, pass copies on, expire, place from the OPAC.

Every change goes through the hold state table in kiosk/circulation/holds.py, the same one the
kiosks use. The queue of a title is ordered by when each hold was placed (then uuid), wherever
and in whatever order the holds arrived, so two students reserving the last copy at two
offline kiosks end up in the order they reserved. Functions take a session; caller commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Hold, HoldStatus, Item, ItemStatus, Loan, Patron, Title, new_uuid
from kiosk.circulation import holds as rules
from kiosk.circulation.holds import HoldPolicy, QueuedHold, TitleHoldState
from kiosk.circulation.rules import PatronStanding, Refusal
from kiosk.circulation.states import (
    CopyEvent,
    HoldEvent,
    copy_status_after,
    hold_event_applies,
    hold_status_after,
)

log = logging.getLogger(__name__)

ACTIVE = (HoldStatus.WAITING, HoldStatus.READY)


def find_title_by_key(session: Session, key: str) -> Title | None:
    """The title a kiosk names by its ISBN-13 or, for a book without one, "id:<central id>"."""
    if key.startswith("id:"):
        number = key[3:]
        return session.get(Title, int(number)) if number.isdigit() else None
    return session.scalar(select(Title).where(Title.isbn13 == key))


def hold_by_uuid(session: Session, hold_uuid: str) -> Hold | None:
    return session.scalar(select(Hold).where(Hold.uuid == hold_uuid))


def _transition(hold: Hold, event: HoldEvent) -> bool:
    """Move `hold` by the state table; False (and no change) when `event` does not apply."""
    if not hold_event_applies(hold.status, event):
        return False
    hold.status = hold_status_after(hold.status, event)
    return True


def record_placed(
    session: Session, hold_uuid: str, patron: Patron, title: Title, placed_at: dt.datetime
) -> Hold:
    """Record a hold a kiosk placed (idempotent by uuid). Caller commits.

    The rules were asked at the kiosk; what the kiosk could not see is settled here. If the
    student already holds the title (reserved at two kiosks while offline), the earlier
    placed hold stays and the other is cancelled, unless the later one already has a copy
    waiting for it: then that one stays. Nobody loses a place in line to a hold that
    arrived first; the queue is by time placed.
    """
    existing = hold_by_uuid(session, hold_uuid)
    if existing is not None:
        return existing
    hold = Hold(
        uuid=hold_uuid,
        title_id=title.id,
        patron_id=patron.id,
        status=HoldStatus.WAITING,
        placed_at=placed_at,
    )
    session.add(hold)
    other = session.scalar(
        select(Hold).where(
            Hold.patron_id == patron.id,
            Hold.title_id == title.id,
            Hold.status.in_(ACTIVE),
            Hold.uuid != hold_uuid,
        )
    )
    if other is not None:
        if other.status == HoldStatus.READY or (other.placed_at, other.uuid) < (
            hold.placed_at,
            hold.uuid,
        ):
            _transition(hold, HoldEvent.CANCELLED)
        else:
            _transition(other, HoldEvent.CANCELLED)
        log.info("hold %s: the student already held the title; one kept", hold_uuid)
    return hold


def record_cancelled(session: Session, hold: Hold, now: dt.datetime) -> None:
    """Cancel `hold` (at a kiosk, the OPAC or the desk); a copy waiting for it passes on."""
    was_ready = hold.status == HoldStatus.READY
    if _transition(hold, HoldEvent.CANCELLED) and was_ready and hold.item_id is not None:
        pass_on(session, hold.title_id, hold.item_id, now)


def pass_on(session: Session, title_id: int, item_id: int, now: dt.datetime) -> Hold | None:
    """A copy on the hold shelf whose hold ended goes to the next in line, or back to the
    open shelf when nobody waits. Returns the hold it now waits for, if any."""
    waiting = list(
        session.scalars(
            select(Hold).where(Hold.title_id == title_id, Hold.status == HoldStatus.WAITING)
        )
    )
    by_uuid = {h.uuid: h for h in waiting}
    chosen = rules.next_in_line([QueuedHold(h.uuid, h.placed_at) for h in waiting])
    item = session.get(Item, item_id)
    if chosen is not None:
        hold = by_uuid[chosen.key]
        _transition(hold, HoldEvent.COPY_SET_ASIDE)
        hold.item_id = item_id
        hold.ready_at = now
        return hold
    if item is not None and item.status == ItemStatus.ON_HOLD_SHELF:
        item.status = copy_status_after(item.status, CopyEvent.RETURNED_TO_SHELF)
    return None


def expire_ready_holds(session: Session, policy: HoldPolicy, now: dt.datetime) -> int:
    """Expire ready holds whose copy has waited its open days; each copy passes on.

    Run by the central's worker (its sweep); kiosks learn of the changes on their next pull.
    Caller commits. Returns how many holds expired.
    """
    expired = 0
    ready = session.scalars(
        select(Hold).where(Hold.status == HoldStatus.READY).order_by(Hold.ready_at, Hold.id)
    ).all()
    for hold in ready:
        if hold.ready_at is None or not rules.is_shelf_expired(hold.ready_at, policy, now):
            continue
        _transition(hold, HoldEvent.EXPIRED)
        expired += 1
        if hold.item_id is not None:
            session.flush()
            pass_on(session, hold.title_id, hold.item_id, now)
    if expired:
        log.info("%d ready hold(s) expired and passed on", expired)
    return expired


# --- placing a hold at the central (the OPAC) ---------------------------------------------------


@dataclass(frozen=True)
class PlacedHold:
    ok: bool
    refusal: Refusal | None = None
    hold: Hold | None = None
    shelf_location: str = ""


def place_hold(
    session: Session, patron: Patron, title: Title, policy: HoldPolicy, now: dt.datetime
) -> PlacedHold:
    """Reserve `title` for `patron` if the hold rules allow. Caller commits."""
    open_loans = (
        session.scalar(
            select(func.count(Loan.id)).where(
                Loan.patron_id == patron.id, Loan.returned_at.is_(None)
            )
        )
        or 0
    )
    active = (
        session.scalar(
            select(func.count(Hold.id)).where(Hold.patron_id == patron.id, Hold.status.in_(ACTIVE))
        )
        or 0
    )
    standing = PatronStanding(
        known=True, status=patron.status, open_loans=open_loans, active_holds=active
    )
    decision = rules.decide_hold(standing, title_state(session, title.id, patron.id), policy, now)
    if not decision.allowed:
        location = ""
        if decision.refusal is Refusal.COPY_ON_SHELF:
            location = (
                session.scalar(
                    select(Item.location)
                    .where(Item.title_id == title.id, Item.status == ItemStatus.AVAILABLE)
                    .order_by(Item.id)
                    .limit(1)
                )
                or ""
            )
        return PlacedHold(False, decision.refusal, shelf_location=location)
    hold = Hold(
        uuid=new_uuid(),
        title_id=title.id,
        patron_id=patron.id,
        status=HoldStatus.WAITING,
        placed_at=now,
    )
    session.add(hold)
    session.flush()
    return PlacedHold(True, hold=hold)


def title_state(session: Session, title_id: int, patron_id: int) -> TitleHoldState:
    statuses = list(session.scalars(select(Item.status).where(Item.title_id == title_id)))
    waiting = (
        session.scalar(
            select(func.count(Hold.id)).where(
                Hold.title_id == title_id,
                Hold.status == HoldStatus.WAITING,
                Hold.patron_id != patron_id,
            )
        )
        or 0
    )
    on_loan = session.scalar(
        select(func.count(Loan.id))
        .join(Item, Item.id == Loan.item_id)
        .where(Item.title_id == title_id, Loan.patron_id == patron_id, Loan.returned_at.is_(None))
    )
    reserved = session.scalar(
        select(func.count(Hold.id)).where(
            Hold.title_id == title_id, Hold.patron_id == patron_id, Hold.status.in_(ACTIVE)
        )
    )
    lendable = (ItemStatus.AVAILABLE, ItemStatus.ON_LOAN, ItemStatus.ON_HOLD_SHELF)
    return TitleHoldState(
        copies_lendable=sum(1 for s in statuses if s in lendable),
        copies_on_shelf=sum(1 for s in statuses if s == ItemStatus.AVAILABLE),
        waiting_by_others=waiting,
        on_loan_to_self=bool(on_loan),
        reserved_by_self=bool(reserved),
    )
