"""Lend, return and renew: load snapshots, ask the rules, change rows and write the outbox event.

These run on every scan, so they speak plain SQL to a sqlite3 connection inside a transaction
the caller opened (`db.engine.open_plain_connection` gives the measured reason); the tables are
the ones `db.models` declares, and times are stored as `db.models.to_db_time` writes them.
"""

from __future__ import annotations

import datetime as dt
import enum
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

from db.models import HoldStatus, ItemStatus, PatronStatus, from_db_time, to_db_time
from kiosk.circulation import rules
from kiosk.circulation.rules import (
    CheckoutOutcome,
    CopyRef,
    Destination,
    ItemState,
    LoanPolicy,
    OpenLoanRef,
    PatronStanding,
    Refusal,
)
from kiosk.circulation.states import CopyEvent, HoldEvent, copy_status_after, hold_status_after
from kiosk.services import outbox


class Action(enum.StrEnum):
    """What a scan did; the kiosk API reports it as `action`."""

    SIGNED_IN = "signed_in"
    SWITCHED = "switched"
    CHECKED_OUT = "checked_out"
    RETURNED = "returned"
    RENEWED = "renewed"
    RENEW_OR_RETURN = "renew_or_return"
    REFUSED = "refused"
    IGNORED = "ignored"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CirculationResult:
    action: Action
    refusal: Refusal | None = None
    title: str | None = None
    item_barcode: str | None = None
    due_at: dt.datetime | None = None
    destination: Destination | None = None
    days_overdue: int = 0
    loan_uuid: str | None = None


@dataclass(frozen=True)
class PatronRecord:
    """The patron columns a scan needs (never logged: `name` and the card are personal)."""

    id: int
    student_number: str
    name: str
    status: str


@dataclass(frozen=True)
class TitleRecord:
    id: int
    title: str
    isbn13: str | None


@dataclass(frozen=True)
class ItemRecord:
    """A copy with the title it is shown under."""

    id: int
    barcode: str
    status: str
    title_id: int
    title: str
    isbn13: str | None


@dataclass(frozen=True)
class OpenLoan:
    id: int
    uuid: str
    patron_id: int
    due_at: dt.datetime
    renewals: int


@dataclass(frozen=True)
class LoanLine:
    item_barcode: str
    title: str
    due_at: dt.datetime
    days_overdue: int
    renewals: int


@dataclass(frozen=True)
class PatronSummary:
    """What the signed-in screen shows: loans with due dates, holds ready, what is left to borrow."""

    patron_id: int
    first_name: str
    loans: list[LoanLine] = field(default_factory=list)
    holds_ready: list[str] = field(default_factory=list)
    may_borrow: int = 0


# --- statements ------------------------------------------------------------------------------

_PATRON_COLUMNS = "SELECT id, student_number, name, status FROM patrons"
# A copy with its title, as ItemRecord's fields.
_ITEM_FIELDS = "i.id, i.barcode, i.status, i.title_id, t.title, t.isbn13"
_ITEM_FROM = "items i JOIN titles t ON t.id = i.title_id"
_LOAN_COLUMNS = "l.id, l.uuid, l.patron_id, l.due_at, l.renewals"

# One copy's state for the rules, in one statement: its open loan, the hold it is set aside
# for, the holds waiting for its title by other students, and the copies of it on the shelf.
# ?1 title id, ?2 the signed-in patron (NULL: nobody), ?3 item id.
_ITEM_STATE = f"""
SELECT {_LOAN_COLUMNS}, h.id, h.patron_id,
  (SELECT count(*) FROM holds w WHERE w.title_id = ?1 AND w.status = 'waiting'
     AND (?2 IS NULL OR w.patron_id != ?2)),
  (SELECT count(*) FROM items c WHERE c.title_id = ?1 AND c.status = 'available')
FROM (SELECT ?3 AS item_id) AS x
LEFT JOIN loans l ON l.item_id = x.item_id AND l.returned_at IS NULL
LEFT JOIN holds h ON h.title_id = ?1 AND h.status = 'ready' AND h.item_id = x.item_id
"""

# A returned copy: its open loan and the longest-waiting hold on its title (?1 title, ?2 item).
_RETURN_STATE = f"""
SELECT {_LOAN_COLUMNS},
  (SELECT w.id FROM holds w WHERE w.title_id = ?1 AND w.status = 'waiting'
     ORDER BY w.placed_at, w.id LIMIT 1)
FROM (SELECT ?2 AS item_id) AS x
LEFT JOIN loans l ON l.item_id = x.item_id AND l.returned_at IS NULL
"""

# Every copy of a title, with the patron of its open loan and of the ready hold it is set aside for.
_TITLE_COPIES = f"""
SELECT {_ITEM_FIELDS}, l.patron_id, h.patron_id
FROM {_ITEM_FROM}
LEFT JOIN loans l ON l.item_id = i.id AND l.returned_at IS NULL
LEFT JOIN holds h ON h.title_id = i.title_id AND h.status = 'ready' AND h.item_id = i.id
"""

_STANDING = (
    "SELECT count(*), coalesce(sum(due_at < ?), 0) FROM loans "
    "WHERE patron_id = ? AND returned_at IS NULL"
)


# --- look-ups --------------------------------------------------------------------------------


def _patron(row: Any) -> PatronRecord | None:
    return None if row is None else PatronRecord(*row)


def find_patron_by_card(db: sqlite3.Connection, card: str) -> PatronRecord | None:
    return _patron(db.execute(f"{_PATRON_COLUMNS} WHERE card_barcode = ?", (card,)).fetchone())


def get_patron(db: sqlite3.Connection, patron_id: int) -> PatronRecord | None:
    return _patron(db.execute(f"{_PATRON_COLUMNS} WHERE id = ?", (patron_id,)).fetchone())


def find_item(db: sqlite3.Connection, barcode: str) -> ItemRecord | None:
    row = db.execute(
        f"SELECT {_ITEM_FIELDS} FROM {_ITEM_FROM} WHERE i.barcode = ?", (barcode,)
    ).fetchone()
    return None if row is None else ItemRecord(*row)


def find_title_by_isbn(db: sqlite3.Connection, isbn13: str) -> TitleRecord | None:
    """Titles are stored by canonical ISBN-13, so an ISBN-10 catalog record and the EAN-13
    on the cover meet here."""
    row = db.execute("SELECT id, title, isbn13 FROM titles WHERE isbn13 = ?", (isbn13,)).fetchone()
    return None if row is None else TitleRecord(*row)


def _open_loan(row: Any) -> OpenLoan | None:
    """The OpenLoan in a row's first five columns (_LOAN_COLUMNS), None when they are NULL."""
    loan_id, loan_uuid, patron_id, due_at, renewals = row[:5]
    if loan_id is None:
        return None
    return OpenLoan(loan_id, loan_uuid, patron_id, from_db_time(due_at), renewals)


def patron_standing(
    db: sqlite3.Connection, patron: PatronRecord | None, now: dt.datetime
) -> PatronStanding:
    if patron is None:
        return PatronStanding(known=False)
    open_loans, overdue = db.execute(_STANDING, (to_db_time(now), patron.id)).fetchone()
    return PatronStanding(
        known=True, status=patron.status, open_loans=open_loans, overdue_loans=overdue
    )


def _held_for(status: str, hold_patron_id: int | None, patron_id: int | None) -> str | None:
    """ "self" or "other" for a copy set aside by a ready hold, None when it is not.

    A ready hold only binds a copy that is actually on the hold shelf.
    """
    if status != ItemStatus.ON_HOLD_SHELF or hold_patron_id is None:
        return None
    return "self" if hold_patron_id == patron_id else "other"


def _item_state(
    db: sqlite3.Connection, item: ItemRecord, patron_id: int | None
) -> tuple[ItemState, OpenLoan | None, int | None]:
    """The rules' view of `item`, its open loan, and the id of the ready hold it is set aside for."""
    row = db.execute(_ITEM_STATE, (item.title_id, patron_id, item.id)).fetchone()
    loan = _open_loan(row)
    hold_id, hold_patron_id, waiting_by_others, on_shelf = row[5:]
    on_loan_to = None if loan is None else ("self" if loan.patron_id == patron_id else "other")
    held_for = _held_for(item.status, hold_patron_id, patron_id)
    state = ItemState(
        status=item.status,
        on_loan_to=on_loan_to,
        held_for=held_for,
        waiting_holds_by_others=waiting_by_others,
        copies_on_shelf=on_shelf,
    )
    return state, loan, hold_id if held_for is not None else None


# --- lending ---------------------------------------------------------------------------------


def check_out(
    db: sqlite3.Connection,
    patron: PatronRecord,
    item: ItemRecord,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Lend `item` to `patron` if the rules allow, with its outbox event. Caller commits."""
    state, loan, hold_id = _item_state(db, item, patron.id)
    decision = rules.decide_checkout(patron_standing(db, patron, now), state, policy, now)
    if decision.outcome is CheckoutOutcome.RENEW_OR_RETURN:
        return CirculationResult(
            Action.RENEW_OR_RETURN,
            title=item.title,
            item_barcode=item.barcode,
            due_at=loan.due_at if loan else None,
        )
    if not decision.allowed or decision.due_at is None:
        return CirculationResult(
            Action.REFUSED, refusal=decision.refusal, title=item.title, item_barcode=item.barcode
        )
    if hold_id is not None:
        # The rules only lend a copy on the hold shelf to the student it waits for.
        fulfilled = hold_status_after(HoldStatus.READY, HoldEvent.COLLECTED)
        db.execute("UPDATE holds SET status = ? WHERE id = ?", (fulfilled.value, hold_id))
    loan_uuid = str(uuid.uuid4())
    db.execute(
        "INSERT INTO loans (uuid, item_id, patron_id, checked_out_at, due_at, renewals, kiosk_id) "
        "VALUES (?, ?, ?, ?, ?, 0, ?)",
        (loan_uuid, item.id, patron.id, to_db_time(now), to_db_time(decision.due_at), kiosk_id),
    )
    lent = copy_status_after(item.status, CopyEvent.LENT)
    db.execute("UPDATE items SET status = ? WHERE id = ?", (lent.value, item.id))
    outbox.record_event(
        db,
        "checkout",
        {
            "loan_uuid": loan_uuid,
            "item_barcode": item.barcode,
            "isbn13": item.isbn13,
            "student_number": patron.student_number,
            "checked_out_at": now.isoformat(),
            "due_at": decision.due_at.isoformat(),
        },
        kiosk_id,
        now,
    )
    return CirculationResult(
        Action.CHECKED_OUT,
        title=item.title,
        item_barcode=item.barcode,
        due_at=decision.due_at,
        loan_uuid=loan_uuid,
    )


def check_out_title(
    db: sqlite3.Connection,
    patron: PatronRecord,
    title: TitleRecord,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Lend one copy of `title` (scanned by ISBN). Caller commits.

    A copy this student already has offers renew/return; otherwise the copy on the hold
    shelf for them, else any copy on the open shelf, else the refusal that best explains why.
    """
    rows = db.execute(f"{_TITLE_COPIES} WHERE i.title_id = ? ORDER BY i.id", (title.id,)).fetchall()
    # Columns: the item's (six), then its open loan's patron and its ready hold's patron.
    items = {row[0]: ItemRecord(*row[:6]) for row in rows}
    for row in rows:
        if row[6] == patron.id:
            return check_out(db, patron, items[row[0]], policy, kiosk_id, now)
    copies = [
        CopyRef(item_id, status, _held_for(status, hold_patron_id, patron.id))
        for item_id, _, status, *_, hold_patron_id in rows
    ]
    chosen = rules.choose_copy(copies)
    if chosen is not None:
        return check_out(db, patron, items[chosen.item_id], policy, kiosk_id, now)
    # No copy can be lent; patron refusals still come first.
    refusal = rules.decide_patron(patron_standing(db, patron, now))
    if refusal is None:
        refusal = (
            Refusal.HELD_FOR_OTHER
            if any(i.status == ItemStatus.ON_HOLD_SHELF for i in items.values())
            else Refusal.NO_COPY_AVAILABLE
        )
    return CirculationResult(Action.REFUSED, refusal=refusal, title=title.title)


# --- returning -------------------------------------------------------------------------------


def check_in(
    db: sqlite3.Connection, item: ItemRecord, policy: LoanPolicy, kiosk_id: str, now: dt.datetime
) -> CirculationResult:
    """Return `item`: close its loan, route it to the hold shelf or return box. Caller commits."""
    row = db.execute(_RETURN_STATE, (item.title_id, item.id)).fetchone()
    loan = _open_loan(row)
    waiting_hold_id = row[5]
    decision = rules.decide_checkin(
        on_loan=loan is not None,
        item_status=item.status,
        due_at=loan.due_at if loan else None,
        title_has_waiting_hold=waiting_hold_id is not None,
        policy=policy,
        now=now,
    )
    if loan is None:
        return CirculationResult(
            Action.REFUSED,
            refusal=decision.refusal,
            title=item.title,
            item_barcode=item.barcode,
            destination=decision.destination,
        )
    stamp = to_db_time(now)
    db.execute(
        "UPDATE loans SET returned_at = ?, returned_kiosk_id = ? WHERE id = ?",
        (stamp, kiosk_id, loan.id),
    )
    hold_id = None
    event = CopyEvent.RETURNED_TO_SHELF
    if decision.destination is Destination.HOLD_SHELF and waiting_hold_id is not None:
        ready = hold_status_after(HoldStatus.WAITING, HoldEvent.COPY_SET_ASIDE)
        db.execute(
            "UPDATE holds SET status = ?, item_id = ?, ready_at = ? WHERE id = ?",
            (ready.value, item.id, stamp, waiting_hold_id),
        )
        event = CopyEvent.RETURNED_TO_HOLD_SHELF
        hold_id = waiting_hold_id
    new_status = copy_status_after(item.status, event)
    if new_status != item.status:
        db.execute("UPDATE items SET status = ? WHERE id = ?", (new_status.value, item.id))
    outbox.record_event(
        db,
        "checkin",
        {
            "loan_uuid": loan.uuid,
            "item_barcode": item.barcode,
            "returned_at": now.isoformat(),
            "hold_id": hold_id,
        },
        kiosk_id,
        now,
    )
    return CirculationResult(
        Action.RETURNED,
        title=item.title,
        item_barcode=item.barcode,
        due_at=loan.due_at,
        destination=decision.destination,
        days_overdue=decision.days_overdue,
        loan_uuid=loan.uuid,
    )


def check_in_title(
    db: sqlite3.Connection,
    title: TitleRecord,
    signed_in_patron_id: int | None,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Return a book scanned by ISBN: resolve which copy's loan it closes. Caller commits."""
    rows = db.execute(
        f"SELECT l.id, l.patron_id, {_ITEM_FIELDS} "
        "FROM loans l JOIN items i ON i.id = l.item_id JOIN titles t ON t.id = i.title_id "
        "WHERE i.title_id = ? AND l.returned_at IS NULL ORDER BY l.checked_out_at",
        (title.id,),
    ).fetchall()
    resolved = rules.resolve_title_return(
        [OpenLoanRef(row[0], row[1]) for row in rows], signed_in_patron_id
    )
    if isinstance(resolved, Refusal):
        return CirculationResult(Action.REFUSED, refusal=resolved, title=title.title)
    item = next(ItemRecord(*row[2:]) for row in rows if row[0] == resolved)
    return check_in(db, item, policy, kiosk_id, now)


# --- renewing --------------------------------------------------------------------------------


def renew(
    db: sqlite3.Connection,
    patron: PatronRecord,
    item: ItemRecord,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Renew this patron's loan of `item` if the rules allow. Caller commits."""
    state, loan, _ = _item_state(db, item, patron.id)
    if loan is None or loan.patron_id != patron.id:
        return CirculationResult(
            Action.REFUSED,
            refusal=Refusal.NOT_ON_LOAN,
            title=item.title,
            item_barcode=item.barcode,
        )
    decision = rules.decide_renewal(
        patron_standing(db, patron, now),
        renewals=loan.renewals,
        due_at=loan.due_at,
        waiting_holds_by_others=state.waiting_holds_by_others,
        policy=policy,
        now=now,
    )
    if not decision.allowed or decision.due_at is None:
        return CirculationResult(
            Action.REFUSED,
            refusal=decision.refusal,
            title=item.title,
            item_barcode=item.barcode,
            due_at=loan.due_at,
        )
    renewals = loan.renewals + 1
    db.execute(
        "UPDATE loans SET due_at = ?, renewals = ? WHERE id = ?",
        (to_db_time(decision.due_at), renewals, loan.id),
    )
    outbox.record_event(
        db,
        "renewal",
        {
            "loan_uuid": loan.uuid,
            "item_barcode": item.barcode,
            "due_at": decision.due_at.isoformat(),
            "renewals": renewals,
        },
        kiosk_id,
        now,
    )
    return CirculationResult(
        Action.RENEWED,
        title=item.title,
        item_barcode=item.barcode,
        due_at=decision.due_at,
        loan_uuid=loan.uuid,
    )


# --- the signed-in patron ----------------------------------------------------------------------


def record_visit(
    db: sqlite3.Connection, patron: PatronRecord, kiosk_id: str, now: dt.datetime
) -> None:
    """Count a sign-in as a library visit (for the librarian's statistics). Caller commits."""
    outbox.record_event(db, "visit", {"student_number": patron.student_number}, kiosk_id, now)


def patron_summary(
    db: sqlite3.Connection,
    patron: PatronRecord,
    first_name: str,
    policy: LoanPolicy,
    now: dt.datetime,
) -> PatronSummary:
    rows = db.execute(
        "SELECT i.barcode, t.title, l.due_at, l.renewals "
        "FROM loans l JOIN items i ON i.id = l.item_id JOIN titles t ON t.id = i.title_id "
        "WHERE l.patron_id = ? AND l.returned_at IS NULL ORDER BY l.due_at, l.id",
        (patron.id,),
    ).fetchall()
    loans = []
    for barcode, title, due_text, renewals in rows:
        due_at = from_db_time(due_text)
        loans.append(
            LoanLine(
                item_barcode=barcode,
                title=title,
                due_at=due_at,
                days_overdue=policy.calendar.days_overdue(due_at, now),
                renewals=renewals,
            )
        )
    holds_ready = [
        title
        for (title,) in db.execute(
            "SELECT t.title FROM holds h JOIN titles t ON t.id = h.title_id "
            "WHERE h.patron_id = ? AND h.status = ? ORDER BY h.ready_at, h.id",
            (patron.id, HoldStatus.READY.value),
        )
    ]
    may_borrow = max(0, policy.max_loans - len(loans))
    has_overdue = any(line.due_at < now for line in loans)
    # Never promise books the rules will then refuse.
    if patron.status != PatronStatus.ACTIVE or (policy.block_when_overdue and has_overdue):
        may_borrow = 0
    return PatronSummary(patron.id, first_name, loans, holds_ready, may_borrow)
