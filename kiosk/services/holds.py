"""Place and cancel holds at the kiosk: load snapshots, ask the hold rules, change rows, write the outbox.

Plain SQL on the desk's sqlite3 connection, inside the transaction the caller opened, like
the rest of the desk's work (kiosk/services/circulation.py says why).
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
from kiosk.services.state import REPLICA_TITLE_PREFIX
from kiosk.services.statements import from_db_time, to_db_time

_LENDABLE = (ItemStatus.AVAILABLE.value, ItemStatus.ON_LOAN.value, ItemStatus.ON_HOLD_SHELF.value)

# ?1 title id, ?2 patron id.
_TITLE_STATE = f"""
SELECT
  (SELECT count(*) FROM items WHERE title_id = ?1 AND status IN {_LENDABLE!r}),
  (SELECT count(*) FROM items WHERE title_id = ?1 AND status = 'available'),
  (SELECT count(*) FROM holds WHERE title_id = ?1 AND status = 'waiting' AND patron_id != ?2),
  (SELECT count(*) FROM loans l JOIN items i ON i.id = l.item_id
     WHERE i.title_id = ?1 AND l.patron_id = ?2 AND l.returned_at IS NULL),
  (SELECT count(*) FROM holds WHERE title_id = ?1 AND patron_id = ?2
     AND status IN ('waiting', 'ready'))
"""

_HOLD_COLUMNS = (
    "h.id, h.uuid, h.patron_id, h.status, h.placed_at, h.ready_at, h.item_id, "
    "t.id, t.title, t.isbn13"
)


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


def _line(row: tuple[object, ...]) -> HoldLine:
    hold_id, uuid, patron_id, status, placed_at, ready_at, item_id, title_id, title, isbn = row
    return HoldLine(
        id=int(str(hold_id)),
        uuid=str(uuid),
        patron_id=int(str(patron_id)),
        status=str(status),
        placed_at=from_db_time(str(placed_at)),
        ready_at=from_db_time(str(ready_at)) if ready_at else None,
        item_id=int(str(item_id)) if item_id is not None else None,
        title_id=int(str(title_id)),
        title=str(title),
        isbn13=str(isbn) if isbn else None,
    )


def patron_holds(db: sqlite3.Connection, patron_id: int) -> list[HoldLine]:
    """The student's waiting and ready holds: ready ones first (in the order set aside), then
    waiting ones in the order placed."""
    rows = db.execute(
        f"SELECT {_HOLD_COLUMNS} FROM holds h JOIN titles t ON t.id = h.title_id "
        "WHERE h.patron_id = ? AND h.status IN ('waiting', 'ready') "
        "ORDER BY h.status = 'waiting', coalesce(h.ready_at, h.placed_at), h.id",
        (patron_id,),
    ).fetchall()
    return [_line(row) for row in rows]


def _get_hold(db: sqlite3.Connection, hold_id: int) -> HoldLine | None:
    row = db.execute(
        f"SELECT {_HOLD_COLUMNS} FROM holds h JOIN titles t ON t.id = h.title_id WHERE h.id = ?",
        (hold_id,),
    ).fetchone()
    return None if row is None else _line(row)


def title_hold_state(db: sqlite3.Connection, title_id: int, patron_id: int) -> TitleHoldState:
    lendable, on_shelf, waiting, on_loan, reserved = db.execute(
        _TITLE_STATE, (title_id, patron_id)
    ).fetchone()
    return TitleHoldState(
        copies_lendable=lendable,
        copies_on_shelf=on_shelf,
        waiting_by_others=waiting,
        on_loan_to_self=on_loan > 0,
        reserved_by_self=reserved > 0,
    )


def hold_standing(
    db: sqlite3.Connection, standing: PatronStanding, patron_id: int
) -> PatronStanding:
    """`standing` with the patron's waiting and ready holds counted in."""
    (active,) = db.execute(
        "SELECT count(*) FROM holds WHERE patron_id = ? AND status IN ('waiting', 'ready')",
        (patron_id,),
    ).fetchone()
    return PatronStanding(
        known=standing.known,
        status=standing.status,
        open_loans=standing.open_loans,
        overdue_loans=standing.overdue_loans,
        active_holds=active,
    )


def title_key(db: sqlite3.Connection, title_id: int, isbn13: str | None) -> str | None:
    """The central's key for a local title: its ISBN-13, or the "id:<central id>" it was pulled as."""
    if isbn13:
        return isbn13
    row = db.execute(
        "SELECT key FROM kiosk_state WHERE key LIKE ? AND value = ?",
        (REPLICA_TITLE_PREFIX + "id:%", str(title_id)),
    ).fetchone()
    return str(row[0])[len(REPLICA_TITLE_PREFIX) :] if row else None


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
    title_row = db.execute(
        "SELECT title, isbn13, call_number FROM titles WHERE id = ?", (title_id,)
    ).fetchone()
    if title_row is None:
        return HoldResult(False, Refusal.UNKNOWN_BOOK)
    title, isbn13, call_number = title_row
    decision = rules.decide_hold(
        hold_standing(db, standing, patron_id),
        title_hold_state(db, title_id, patron_id),
        policy,
        now,
    )
    if not decision.allowed:
        shelf = None
        if decision.refusal is Refusal.COPY_ON_SHELF:
            (location,) = db.execute(
                "SELECT location FROM items WHERE title_id = ? AND status = 'available' "
                "ORDER BY id LIMIT 1",
                (title_id,),
            ).fetchone()
            shelf = ShelfPlace(call_number, location)
        return HoldResult(False, decision.refusal, title, shelf=shelf)
    key = title_key(db, title_id, isbn13)
    if key is None:
        # Only a title made on this kiosk with no ISBN and never synced; the central could
        # not match the hold to anything.
        return HoldResult(False, Refusal.NOT_HOLDABLE, title)
    hold_uuid = new_uuid()
    cursor = db.execute(
        "INSERT INTO holds (uuid, title_id, patron_id, status, placed_at) VALUES (?, ?, ?, ?, ?)",
        (hold_uuid, title_id, patron_id, HoldStatus.WAITING.value, to_db_time(now)),
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
    db.execute("UPDATE holds SET status = ? WHERE id = ?", (new_state.value, hold.id))
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
    waiting = db.execute(
        "SELECT id, uuid, placed_at FROM holds WHERE title_id = ? AND status = 'waiting'",
        (title_id,),
    ).fetchall()
    queue = {uuid: hold_id for hold_id, uuid, _ in waiting}
    chosen = rules.next_in_line([QueuedHold(u, from_db_time(p)) for _, u, p in waiting])
    if chosen is not None:
        ready = hold_status_after(HoldStatus.WAITING, HoldEvent.COPY_SET_ASIDE)
        db.execute(
            "UPDATE holds SET status = ?, item_id = ?, ready_at = ? WHERE id = ?",
            (ready.value, item_id, to_db_time(now), queue[chosen.key]),
        )
        event = CopyEvent.RETURNED_TO_HOLD_SHELF
    else:
        event = CopyEvent.RETURNED_TO_SHELF
    db.execute(
        "UPDATE items SET status = ? WHERE id = ? AND status = ?",
        (
            copy_status_after(ItemStatus.ON_HOLD_SHELF, event).value,
            item_id,
            ItemStatus.ON_HOLD_SHELF.value,
        ),
    )
    (barcode,) = db.execute("SELECT barcode FROM items WHERE id = ?", (item_id,)).fetchone()
    return str(barcode)
