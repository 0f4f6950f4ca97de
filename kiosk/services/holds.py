"""Place and cancel holds at the kiosk: load snapshots, ask the hold rules, change rows, write the outbox.

They run on the desk's sqlite3 connection, inside the transaction the caller opened, like the
rest of the desk's work (kiosk/services/circulation.py says why), with the statements
`kiosk.services.statements` generates from the models.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from db.models import HoldStatus, ItemStatus, new_uuid
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
from kiosk.services import outbox
from kiosk.services import statements as sql
from kiosk.services.state import REPLICA_TITLE_PREFIX
from kiosk.services.statements import from_db_time, to_db_time


@dataclass(frozen=True)
class HoldLine:
    """One of a student's holds, as the kiosk shows it."""

    id: int
    uuid: str
    patron_id: int
    status: str
    placed_at: dt.datetime
    ready_at: dt.datetime | None
    item_id: int | None
    title_id: int
    title: str
    isbn13: str | None


@dataclass(frozen=True)
class ShelfPlace:
    """Where a copy on the open shelf is: the call number to look for and the shelf."""

    call_number: str
    location: str


@dataclass(frozen=True)
class HoldResult:
    ok: bool
    refusal: Refusal | None = None
    title: str | None = None
    hold: HoldLine | None = None
    shelf: ShelfPlace | None = None


def _line(row: sqlite3.Row) -> HoldLine:
    return HoldLine(
        id=row["id"],
        uuid=row["uuid"],
        patron_id=row["patron_id"],
        status=row["status"],
        placed_at=from_db_time(row["placed_at"]),
        ready_at=from_db_time(row["ready_at"]) if row["ready_at"] else None,
        item_id=row["item_id"],
        title_id=row["title_id"],
        title=row["title"],
        isbn13=row["isbn13"] or None,
    )


def patron_holds(db: sqlite3.Connection, patron_id: int) -> list[HoldLine]:
    """The student's waiting and ready holds: ready ones first (in the order set aside), then
    waiting ones in the order placed."""
    return [_line(row) for row in sql.PATRON_HOLDS.all(db, patron_id=patron_id)]


def _get_hold(db: sqlite3.Connection, hold_id: int) -> HoldLine | None:
    row = sql.HOLD_BY_ID.first(db, hold_id=hold_id)
    return None if row is None else _line(row)


def title_hold_state(db: sqlite3.Connection, title_id: int, patron_id: int) -> TitleHoldState:
    row = sql.TITLE_HOLD_STATE.first(db, title_id=title_id, patron_id=patron_id)
    assert row is not None, "a SELECT of counts has one row"
    return TitleHoldState(
        copies_lendable=row["copies_lendable"],
        copies_on_shelf=row["copies_on_shelf"],
        waiting_by_others=row["waiting_by_others"],
        on_loan_to_self=row["on_loan_to_self"] > 0,
        reserved_by_self=row["reserved_by_self"] > 0,
    )


def hold_standing(
    db: sqlite3.Connection, standing: PatronStanding, patron_id: int
) -> PatronStanding:
    """`standing` with the patron's waiting and ready holds counted in."""
    row = sql.PATRON_ACTIVE_HOLDS.first(db, patron_id=patron_id)
    assert row is not None, "a SELECT of a count has one row"
    return PatronStanding(
        known=standing.known,
        status=standing.status,
        open_loans=standing.open_loans,
        overdue_loans=standing.overdue_loans,
        active_holds=row["active_holds"],
    )


def title_key(db: sqlite3.Connection, title_id: int, isbn13: str | None) -> str | None:
    """The central's key for a local title: its ISBN-13, or the "id:<central id>" it was pulled as."""
    if isbn13:
        return isbn13
    row = sql.REPLICA_KEY_OF_TITLE.first(
        db, key_pattern=REPLICA_TITLE_PREFIX + "id:%", title_id_text=str(title_id)
    )
    return str(row["key"])[len(REPLICA_TITLE_PREFIX) :] if row else None


def place_hold(
    db: sqlite3.Connection,
    patron_id: int,
    student_number: str,
    standing: PatronStanding,
    title_id: int,
    policy: HoldPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> HoldResult:
    """Reserve a title for the patron if the rules allow, with its outbox event. Caller commits.

    `standing` is the patron's loan standing (circulation.patron_standing); holds are counted
    here. A refusal because a copy is on the shelf says where: the title's call number and
    the shelf of a copy that is there.
    """
    title_row = sql.TITLE_FOR_HOLD.first(db, title_id=title_id)
    if title_row is None:
        return HoldResult(False, Refusal.UNKNOWN_BOOK)
    title, isbn13 = title_row["title"], title_row["isbn13"]
    decision = rules.decide_hold(
        hold_standing(db, standing, patron_id),
        title_hold_state(db, title_id, patron_id),
        policy,
        now,
    )
    if not decision.allowed:
        shelf = None
        if decision.refusal is Refusal.COPY_ON_SHELF:
            place = sql.SHELF_OF_TITLE.first(db, title_id=title_id)
            assert place is not None, "the rules saw a copy on the shelf in this transaction"
            shelf = ShelfPlace(title_row["call_number"], place["location"])
        return HoldResult(False, decision.refusal, title, shelf=shelf)
    key = title_key(db, title_id, isbn13)
    if key is None:
        # Only a title made on this kiosk with no ISBN and never synced; the central could
        # not match the hold to anything.
        return HoldResult(False, Refusal.NOT_HOLDABLE, title)
    hold_uuid = new_uuid()
    cursor = sql.INSERT_HOLD.run(
        db, uuid=hold_uuid, title_id=title_id, patron_id=patron_id, placed_at=to_db_time(now)
    )
    outbox.record_event(
        db,
        "hold_placed",
        {
            "hold_uuid": hold_uuid,
            "title_key": key,
            "isbn13": isbn13,
            "student_number": student_number,
            "placed_at": now.isoformat(),
        },
        kiosk_id,
        now,
    )
    hold = _get_hold(db, int(cursor.lastrowid or 0))
    return HoldResult(True, title=title, hold=hold)


def cancel_hold(
    db: sqlite3.Connection,
    patron_id: int,
    student_number: str,
    hold_id: int,
    kiosk_id: str,
    now: dt.datetime,
) -> HoldResult:
    """Cancel one of the patron's own waiting or ready holds, with its outbox event. Caller commits.

    Another student's hold is answered exactly like a hold that does not exist. A ready hold's
    copy passes on to the next in line here, or goes back to the open shelf; the central does
    the same with what it knows when the event arrives.
    """
    hold = _get_hold(db, hold_id)
    if hold is None or hold.patron_id != patron_id:
        return HoldResult(False, Refusal.HOLD_NOT_FOUND)
    if not hold_event_applies(hold.status, HoldEvent.CANCELLED):
        return HoldResult(False, Refusal.HOLD_NOT_FOUND, hold.title)
    new_state = hold_status_after(hold.status, HoldEvent.CANCELLED)
    sql.SET_HOLD_STATUS.run(db, hold_id=hold.id, new_status=new_state.value)
    item_barcode = None
    if hold.status == HoldStatus.READY and hold.item_id is not None:
        item_barcode = pass_on_copy(db, hold.title_id, hold.item_id, now)
    outbox.record_event(
        db,
        "hold_cancelled",
        {
            "hold_uuid": hold.uuid,
            "student_number": student_number,
            "cancelled_at": now.isoformat(),
            "item_barcode": item_barcode,
        },
        kiosk_id,
        now,
    )
    return HoldResult(True, title=hold.title, hold=_get_hold(db, hold.id))


def pass_on_copy(db: sqlite3.Connection, title_id: int, item_id: int, now: dt.datetime) -> str:
    """A copy on the hold shelf whose hold ended: set it aside for the next in line, or put it
    back on the open shelf. Returns the copy's barcode. Caller commits."""
    waiting = sql.WAITING_HOLDS.all(db, title_id=title_id)
    queue = {row["uuid"]: row["id"] for row in waiting}
    chosen = rules.next_in_line(
        [QueuedHold(row["uuid"], from_db_time(row["placed_at"])) for row in waiting]
    )
    if chosen is not None:
        ready = hold_status_after(HoldStatus.WAITING, HoldEvent.COPY_SET_ASIDE)
        sql.SET_HOLD_READY.run(
            db,
            hold_id=queue[chosen.key],
            new_status=ready.value,
            item_id=item_id,
            ready_at=to_db_time(now),
        )
        event = CopyEvent.RETURNED_TO_HOLD_SHELF
    else:
        event = CopyEvent.RETURNED_TO_SHELF
    sql.MOVE_ITEM_STATUS.run(
        db,
        item_id=item_id,
        old_status=ItemStatus.ON_HOLD_SHELF.value,
        new_status=copy_status_after(ItemStatus.ON_HOLD_SHELF, event).value,
    )
    row = sql.ITEM_BARCODE.first(db, item_id=item_id)
    assert row is not None, "the copy was just read in this transaction"
    return str(row["barcode"])
