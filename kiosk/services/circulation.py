"""The kiosk's side of lending, returning and renewing: look-ups, snapshots and rows on every scan.

kiosk.services.lending runs the flow (the rules, the change and its sync event) for the kiosk
and the central's desk alike; here it reads and writes on a sqlite3 connection inside a
transaction the caller opened (`db.engine.open_plain_connection` says why), with the
statements `kiosk.services.statements` generates from the models.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field

from db.models import HoldStatus, PatronStatus
from kiosk.circulation.compensation import blocks_at_kiosk
from kiosk.circulation.overdue import days_overdue
from kiosk.circulation.rules import ItemState, LoanPolicy, PatronStanding
from kiosk.circulation.states import CopyEvent, HoldEvent, copy_status_after, hold_status_after
from kiosk.clock import format_iso_time
from kiosk.services import lending, outbox
from kiosk.services import statements as sql
from kiosk.services.holds import HoldLine, patron_holds
from kiosk.services.lending import (
    Change,
    Checkout,
    CirculationResult,
    CopyState,
    ItemRecord,
    LoanedCopy,
    OpenLoan,
    Return,
    ReturnState,
    TitleCopy,
    WaitingHold,
    held_for,
)
from kiosk.services.statements import from_db_time, to_db_time


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


class _KioskLoans:
    """The kiosk's `LoanStore`: snapshots by the generated statements, changes as rows and an
    outbox event in the caller's transaction."""

    def __init__(self, db: sqlite3.Connection, kiosk_id: str, now: dt.datetime) -> None:
        self.db, self.kiosk_id, self.now = db, kiosk_id, now

    def standing(self, patron: PatronRecord) -> PatronStanding:
        return patron_standing(self.db, patron, self.now)

    def copy_state(self, item: ItemRecord, patron_id: int) -> CopyState:
        row = sql.ITEM_STATE.first(
            self.db, title_id=item.title_id, patron_id=patron_id, item_id=item.id
        )
        assert row is not None, "ITEM_STATE selects from a one-row table"
        loan = _open_loan(row)
        on_loan_to = None if loan is None else ("self" if loan.patron_id == patron_id else "other")
        held = held_for(item.status, row["hold_patron_id"], patron_id)
        state = ItemState(
            status=item.status,
            on_loan_to=on_loan_to,
            held_for=held,
            waiting_holds_ahead=row["waiting_ahead"],
            copies_on_shelf=row["copies_on_shelf"],
        )
        return CopyState(state, loan, row["hold_id"] if held is not None else None)

    def return_state(self, item: ItemRecord) -> ReturnState:
        row = sql.RETURN_STATE.first(self.db, title_id=item.title_id, item_id=item.id)
        assert row is not None, "RETURN_STATE selects from a one-row table"
        hold_id = row["waiting_hold_id"]
        waiting = None if hold_id is None else WaitingHold(hold_id, row["waiting_hold_uuid"])
        return ReturnState(_open_loan(row), waiting)

    def title_copies(self, title_id: int) -> list[TitleCopy]:
        return [
            TitleCopy(_item(row), row["loan_patron_id"], row["hold_patron_id"])
            for row in sql.TITLE_COPIES.all(self.db, title_id=title_id)
        ]

    def title_open_loans(self, title_id: int) -> list[LoanedCopy]:
        return [
            LoanedCopy(row["loan_id"], row["loan_patron_id"], _item(row))
            for row in sql.TITLE_OPEN_LOANS.all(self.db, title_id=title_id)
        ]

    def write(self, change: Change) -> None:
        db, item = self.db, change.item
        if isinstance(change, Checkout):
            if change.ready_hold_id is not None:
                # The rules only lend a copy on the hold shelf to the student it waits for.
                fulfilled = hold_status_after(HoldStatus.READY, HoldEvent.COLLECTED)
                sql.SET_HOLD_STATUS.run(
                    db, hold_id=change.ready_hold_id, new_status=fulfilled.value
                )
            else:
                # A copy from the open shelf also fulfils the student's own waiting hold on the
                # title, as the central's ledger does when the checkout arrives.
                sql.FULFIL_OWN_WAITING_HOLD.run(
                    db,
                    new_status=hold_status_after(HoldStatus.WAITING, HoldEvent.COLLECTED).value,
                    item_id=item.id,
                    title_id=item.title_id,
                    patron_id=change.patron_id,
                )
            sql.INSERT_LOAN.run(
                db,
                uuid=change.loan_uuid,
                item_id=item.id,
                patron_id=change.patron_id,
                checked_out_at=to_db_time(change.at),
                due_at=to_db_time(change.due_at),
                kiosk_id=self.kiosk_id,
            )
            lent = copy_status_after(item.status, CopyEvent.LENT)
            sql.SET_ITEM_STATUS.run(db, item_id=item.id, new_status=lent.value)
        elif isinstance(change, Return):
            stamp = to_db_time(change.at)
            sql.RETURN_LOAN.run(
                db, loan_id=change.loan.id, returned_at=stamp, kiosk_id=self.kiosk_id
            )
            event = CopyEvent.RETURNED_TO_SHELF
            if change.hold is not None:
                ready = hold_status_after(HoldStatus.WAITING, HoldEvent.COPY_SET_ASIDE)
                sql.SET_HOLD_READY.run(
                    db,
                    hold_id=change.hold.id,
                    new_status=ready.value,
                    item_id=item.id,
                    ready_at=stamp,
                )
                event = CopyEvent.RETURNED_TO_HOLD_SHELF
            new_status = copy_status_after(item.status, event)
            if new_status != item.status:
                sql.SET_ITEM_STATUS.run(db, item_id=item.id, new_status=new_status.value)
        else:
            sql.RENEW_LOAN.run(
                db,
                loan_id=change.loan.id,
                new_due_at=to_db_time(change.due_at),
                new_renewals=change.renewals,
            )
        # The sync event, times in the one event time format (kiosk.clock.format_iso_time).
        body = {
            key: format_iso_time(value) if isinstance(value, dt.datetime) else value
            for key, value in change.event_fields().items()
        }
        outbox.record_event(db, change.kind, body, self.kiosk_id, change.at)


# --- lending, returning, renewing (kiosk.services.lending decides; these are its kiosk side) ---


def check_out(
    db: sqlite3.Connection,
    patron: PatronRecord,
    item: ItemRecord,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Lend `item` to `patron` if the rules allow, with its outbox event. Caller commits."""
    return lending.check_out(_KioskLoans(db, kiosk_id, now), patron, item, policy, now)


def check_out_title(
    db: sqlite3.Connection,
    patron: PatronRecord,
    title: TitleRecord,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Lend one copy of `title` (scanned by ISBN; lending.check_out_title picks it). Caller
    commits."""
    return lending.check_out_title(_KioskLoans(db, kiosk_id, now), patron, title, policy, now)


def check_in(
    db: sqlite3.Connection, item: ItemRecord, policy: LoanPolicy, kiosk_id: str, now: dt.datetime
) -> CirculationResult:
    """Return `item`: close its loan, route it to the hold shelf or return box. Caller commits."""
    return lending.check_in(_KioskLoans(db, kiosk_id, now), item, policy, now)


def check_in_title(
    db: sqlite3.Connection,
    title: TitleRecord,
    signed_in_patron_id: int | None,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Return a book scanned by ISBN: resolve which copy's loan it closes. Caller commits."""
    store = _KioskLoans(db, kiosk_id, now)
    return lending.check_in_title(store, title, signed_in_patron_id, policy, now)


def renew(
    db: sqlite3.Connection,
    patron: PatronRecord,
    item: ItemRecord,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Renew this patron's loan of `item` if the rules allow. Caller commits."""
    return lending.renew(_KioskLoans(db, kiosk_id, now), patron, item, policy, now)


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
