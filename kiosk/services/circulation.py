"""Lend, return and renew: load snapshots, ask the rules, change rows and write the outbox event.

These run on every scan, on a sqlite3 connection inside a transaction the caller opened
(`db.engine.open_plain_connection` says why), with the statements `kiosk.services.statements`
generates from the models.
"""

from __future__ import annotations

import datetime as dt
import enum
import sqlite3
import uuid
from dataclasses import dataclass, field
from typing import Any

from db.models import HoldStatus, ItemStatus, PatronStatus
from kiosk.circulation import rules
from kiosk.circulation.compensation import blocks_at_kiosk
from kiosk.circulation.overdue import days_overdue
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
from kiosk.clock import format_iso_time
from kiosk.services import outbox
from kiosk.services import statements as sql
from kiosk.services.holds import HoldLine, patron_holds
from kiosk.services.statements import from_db_time, to_db_time


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
    # Set when a renewal is refused as too early: the library-local day it becomes possible.
    renewable_on: dt.date | None = None


@dataclass(frozen=True)
class PatronRecord:
    """The patron columns a scan needs (never logged: `name` and the card are personal)."""

    id: int
    student_number: str
    name: str
    status: str
    open_compensation_cases: int = 0
    # Why the librarian blocked the card; the kiosk tells the student.
    block_reason: str = ""


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
    # Waiting and ready holds, ready first (kiosk.services.holds.patron_holds).
    holds: list[HoldLine] = field(default_factory=list)


# --- look-ups --------------------------------------------------------------------------------


def _patron(row: sqlite3.Row | None) -> PatronRecord | None:
    return None if row is None else PatronRecord(**row)


def find_patron_by_card(db: sqlite3.Connection, card: str) -> PatronRecord | None:
    return _patron(sql.PATRON_BY_CARD.first(db, card=card))


def get_patron(db: sqlite3.Connection, patron_id: int) -> PatronRecord | None:
    return _patron(sql.PATRON_BY_ID.first(db, patron_id=patron_id))


def _item(row: sqlite3.Row) -> ItemRecord:
    return ItemRecord(
        id=row["id"],
        barcode=row["barcode"],
        status=row["status"],
        title_id=row["title_id"],
        title=row["title"],
        isbn13=row["isbn13"],
    )


def find_item(db: sqlite3.Connection, barcode: str) -> ItemRecord | None:
    row = sql.ITEM_BY_BARCODE.first(db, barcode=barcode)
    return None if row is None else _item(row)


def find_title_by_isbn(db: sqlite3.Connection, isbn13: str) -> TitleRecord | None:
    """Titles are stored by canonical ISBN-13, so an ISBN-10 catalog record and the EAN-13
    on the cover meet here."""
    row = sql.TITLE_BY_ISBN.first(db, isbn13=isbn13)
    return None if row is None else TitleRecord(**row)


def _open_loan(row: sqlite3.Row) -> OpenLoan | None:
    """The open loan in a row of ITEM_STATE or RETURN_STATE, None when there is none."""
    if row["loan_id"] is None:
        return None
    return OpenLoan(
        id=row["loan_id"],
        uuid=row["loan_uuid"],
        patron_id=row["loan_patron_id"],
        due_at=from_db_time(row["due_at"]),
        renewals=row["renewals"],
    )


def patron_standing(
    db: sqlite3.Connection, patron: PatronRecord | None, now: dt.datetime
) -> PatronStanding:
    if patron is None:
        return PatronStanding(known=False)
    row = sql.STANDING.first(db, now=to_db_time(now), patron_id=patron.id)
    assert row is not None, "an aggregate always has a row"
    return PatronStanding(
        known=True,
        status=patron.status,
        open_loans=row["open_loans"],
        overdue_loans=row["overdue_loans"],
        open_compensation_cases=patron.open_compensation_cases,
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
    row = sql.ITEM_STATE.first(db, title_id=item.title_id, patron_id=patron_id, item_id=item.id)
    assert row is not None, "ITEM_STATE selects from a one-row table"
    loan = _open_loan(row)
    on_loan_to = None if loan is None else ("self" if loan.patron_id == patron_id else "other")
    held_for = _held_for(item.status, row["hold_patron_id"], patron_id)
    state = ItemState(
        status=item.status,
        on_loan_to=on_loan_to,
        held_for=held_for,
        waiting_holds_ahead=row["waiting_ahead"],
        copies_on_shelf=row["copies_on_shelf"],
    )
    return state, loan, row["hold_id"] if held_for is not None else None


def _item_result(action: Action, item: ItemRecord, **details: Any) -> CirculationResult:
    """What a scan of `item` did: its title and barcode, and `details`."""
    return CirculationResult(action, title=item.title, item_barcode=item.barcode, **details)


def _record_loan_event(
    db: sqlite3.Connection,
    kind: str,
    loan_uuid: str,
    item: ItemRecord,
    kiosk_id: str,
    now: dt.datetime,
    **fields: object,
) -> None:
    """The outbox event of a change to a loan: the loan, its copy and `fields`, times in the
    one event time format (kiosk.clock.format_iso_time). Caller commits."""
    body: dict[str, Any] = {"loan_uuid": loan_uuid, "item_barcode": item.barcode}
    for key, value in fields.items():
        body[key] = format_iso_time(value) if isinstance(value, dt.datetime) else value
    outbox.record_event(db, kind, body, kiosk_id, now)


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
        # The screen offers Renew only when renewing would be allowed, else says why.
        renewal = _renewal(db, patron, loan, state, policy, now) if loan else None
        return _item_result(
            Action.RENEW_OR_RETURN,
            item,
            refusal=renewal.refusal if renewal else None,
            due_at=loan.due_at if loan else None,
            renewable_on=renewal.renewable_on if renewal else None,
        )
    if not decision.allowed or decision.due_at is None:
        return _item_result(Action.REFUSED, item, refusal=decision.refusal)
    if hold_id is not None:
        # The rules only lend a copy on the hold shelf to the student it waits for.
        fulfilled = hold_status_after(HoldStatus.READY, HoldEvent.COLLECTED)
        sql.SET_HOLD_STATUS.run(db, hold_id=hold_id, new_status=fulfilled.value)
    else:
        # A copy from the open shelf also fulfils the student's own waiting hold on the title,
        # as the central's ledger does when the checkout arrives.
        sql.FULFIL_OWN_WAITING_HOLD.run(
            db,
            new_status=hold_status_after(HoldStatus.WAITING, HoldEvent.COLLECTED).value,
            item_id=item.id,
            title_id=item.title_id,
            patron_id=patron.id,
        )
    loan_uuid = str(uuid.uuid4())
    sql.INSERT_LOAN.run(
        db,
        uuid=loan_uuid,
        item_id=item.id,
        patron_id=patron.id,
        checked_out_at=to_db_time(now),
        due_at=to_db_time(decision.due_at),
        kiosk_id=kiosk_id,
    )
    lent = copy_status_after(item.status, CopyEvent.LENT)
    sql.SET_ITEM_STATUS.run(db, item_id=item.id, new_status=lent.value)
    _record_loan_event(
        db,
        "checkout",
        loan_uuid,
        item,
        kiosk_id,
        now,
        isbn13=item.isbn13,
        student_number=patron.student_number,
        checked_out_at=now,
        due_at=decision.due_at,
    )
    return _item_result(Action.CHECKED_OUT, item, due_at=decision.due_at, loan_uuid=loan_uuid)


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
    rows = sql.TITLE_COPIES.all(db, title_id=title.id)
    items = {row["id"]: _item(row) for row in rows}
    for row in rows:
        if row["loan_patron_id"] == patron.id:
            return check_out(db, patron, items[row["id"]], policy, kiosk_id, now)
    copies = [
        CopyRef(
            row["id"], row["status"], _held_for(row["status"], row["hold_patron_id"], patron.id)
        )
        for row in rows
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
    row = sql.RETURN_STATE.first(db, title_id=item.title_id, item_id=item.id)
    assert row is not None, "RETURN_STATE selects from a one-row table"
    loan = _open_loan(row)
    waiting_hold_id = row["waiting_hold_id"]
    waiting_hold_uuid = row["waiting_hold_uuid"]
    decision = rules.decide_checkin(
        on_loan=loan is not None,
        item_status=item.status,
        due_at=loan.due_at if loan else None,
        title_has_waiting_hold=waiting_hold_id is not None,
        policy=policy,
        now=now,
    )
    if loan is None:
        return _item_result(
            Action.REFUSED, item, refusal=decision.refusal, destination=decision.destination
        )
    stamp = to_db_time(now)
    sql.RETURN_LOAN.run(db, loan_id=loan.id, returned_at=stamp, kiosk_id=kiosk_id)
    hold_uuid = None
    event = CopyEvent.RETURNED_TO_SHELF
    if decision.destination is Destination.HOLD_SHELF and waiting_hold_id is not None:
        ready = hold_status_after(HoldStatus.WAITING, HoldEvent.COPY_SET_ASIDE)
        sql.SET_HOLD_READY.run(
            db, hold_id=waiting_hold_id, new_status=ready.value, item_id=item.id, ready_at=stamp
        )
        event = CopyEvent.RETURNED_TO_HOLD_SHELF
        hold_uuid = waiting_hold_uuid
    new_status = copy_status_after(item.status, event)
    if new_status != item.status:
        sql.SET_ITEM_STATUS.run(db, item_id=item.id, new_status=new_status.value)
    _record_loan_event(
        db, "checkin", loan.uuid, item, kiosk_id, now, returned_at=now, hold_uuid=hold_uuid
    )
    return _item_result(
        Action.RETURNED,
        item,
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
    rows = sql.TITLE_OPEN_LOANS.all(db, title_id=title.id)
    resolved = rules.resolve_title_return(
        [OpenLoanRef(row["loan_id"], row["loan_patron_id"]) for row in rows], signed_in_patron_id
    )
    if isinstance(resolved, Refusal):
        return CirculationResult(Action.REFUSED, refusal=resolved, title=title.title)
    item = next(_item(row) for row in rows if row["loan_id"] == resolved)
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
        return _item_result(Action.REFUSED, item, refusal=Refusal.NOT_ON_LOAN)
    decision = _renewal(db, patron, loan, state, policy, now)
    if not decision.allowed or decision.due_at is None:
        return _item_result(
            Action.REFUSED,
            item,
            refusal=decision.refusal,
            due_at=loan.due_at,
            renewable_on=decision.renewable_on,
        )
    renewals = loan.renewals + 1
    sql.RENEW_LOAN.run(
        db, loan_id=loan.id, new_due_at=to_db_time(decision.due_at), new_renewals=renewals
    )
    _record_loan_event(
        db, "renewal", loan.uuid, item, kiosk_id, now, due_at=decision.due_at, renewals=renewals
    )
    return _item_result(Action.RENEWED, item, due_at=decision.due_at, loan_uuid=loan.uuid)


def _renewal(
    db: sqlite3.Connection,
    patron: PatronRecord,
    loan: OpenLoan,
    state: ItemState,
    policy: LoanPolicy,
    now: dt.datetime,
) -> rules.RenewalDecision:
    return rules.decide_renewal(
        patron_standing(db, patron, now),
        renewals=loan.renewals,
        due_at=loan.due_at,
        waiting_holds_by_others=state.waiting_holds_ahead,
        policy=policy,
        now=now,
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
    loans = []
    for row in sql.PATRON_LOANS.run(db, patron_id=patron.id):
        due_at = from_db_time(row["due_at"])
        loans.append(
            LoanLine(
                item_barcode=row["barcode"],
                title=row["title"],
                due_at=due_at,
                days_overdue=days_overdue(
                    policy.calendar, due_at, now, count_closed_days=policy.count_closed_days
                ),
                renewals=row["renewals"],
            )
        )
    holds = patron_holds(db, patron.id)
    holds_ready = [hold.title for hold in holds if hold.status == HoldStatus.READY]
    may_borrow = max(0, policy.max_loans - len(loans))
    has_overdue = any(line.due_at < now for line in loans)
    # Never promise books the rules will then refuse.
    if patron.status != PatronStatus.ACTIVE or (policy.block_when_overdue and has_overdue):
        may_borrow = 0
    if blocks_at_kiosk(
        patron.open_compensation_cases, block_at_kiosk=policy.block_on_open_compensation
    ):
        may_borrow = 0
    return PatronSummary(patron.id, first_name, loans, holds_ready, may_borrow, holds)
