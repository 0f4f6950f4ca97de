"""Lend, return and renew as one flow for the kiosk and the central's desk: snapshot, rules, change.

The kiosk (kiosk.services.circulation, on the scan path's sqlite3 connection) and the
librarian's desk (central.desk, through the central's ledger) differ only in how they read a
copy's state and how they write a change; what is asked of the rules, in which order, what
the change and its sync event hold, and what the screen is told are decided here once. Each
side gives a `LoanStore`; nothing here touches a database. Caller commits.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

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
from kiosk.circulation.states import ItemStatus


class Action(enum.StrEnum):
    """What a scan did; the kiosk API reports it as `action`, the desk's page words it."""

    SIGNED_IN = "signed_in"
    SWITCHED = "switched"
    CHECKED_OUT = "checked_out"
    RETURNED = "returned"
    RENEWED = "renewed"
    RENEW_OR_RETURN = "renew_or_return"
    # The desk only: a copy from the open shelf set aside for the first student waiting.
    SET_ASIDE = "set_aside"
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
    # The waiting hold a returned copy was set aside for (the desk names its student).
    hold_id: int | None = None


class Borrower(Protocol):
    """The patron fields the flow reads (the kiosk's PatronRecord, the central's Patron)."""

    @property
    def id(self) -> int: ...

    @property
    def student_number(self) -> str: ...


class TitleRef(Protocol):
    """The title fields the flow reads (the kiosk's TitleRecord, the central's Title)."""

    @property
    def id(self) -> int: ...

    @property
    def title(self) -> str: ...


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
class WaitingHold:
    """The first hold in a title's queue (kiosk.circulation.holds.next_in_line's order)."""

    id: int
    uuid: str


@dataclass(frozen=True)
class CopyState:
    """A copy as one student at the screen sees it: the rules' view, its open loan, and the
    ready hold it is set aside for (only when the rules' `held_for` is set)."""

    rules: ItemState
    loan: OpenLoan | None
    ready_hold_id: int | None


@dataclass(frozen=True)
class ReturnState:
    """A copy handed back: its open loan and the first waiting hold on its title."""

    loan: OpenLoan | None
    waiting_hold: WaitingHold | None


@dataclass(frozen=True)
class TitleCopy:
    """A copy of a title scanned by ISBN: who has it on loan, whom a ready hold keeps it for."""

    item: ItemRecord
    loan_patron_id: int | None
    hold_patron_id: int | None


@dataclass(frozen=True)
class LoanedCopy:
    """An open loan of a title's copy, oldest first in `LoanStore.title_open_loans`."""

    loan_id: int
    patron_id: int
    item: ItemRecord


# --- the changes and their sync events -------------------------------------------------------
# Each change's `at` is when it happened: its event's time, and the loan's checkout or return time.


@dataclass(frozen=True)
class Checkout:
    """A new loan; the copy it takes from the hold shelf fulfils `ready_hold_id`, a copy from
    the open shelf the student's own waiting hold on the title."""

    kind: ClassVar[str] = "checkout"
    loan_uuid: str
    patron_id: int
    student_number: str
    item: ItemRecord
    ready_hold_id: int | None
    at: dt.datetime
    due_at: dt.datetime

    def event_fields(self) -> dict[str, Any]:
        """The checkout event's fields (central.events.REQUIRED_FIELDS), times unformatted."""
        return {
            "loan_uuid": self.loan_uuid,
            "item_barcode": self.item.barcode,
            "isbn13": self.item.isbn13,
            "student_number": self.student_number,
            "checked_out_at": self.at,
            "due_at": self.due_at,
        }


@dataclass(frozen=True)
class Return:
    """A loan closed; with `hold`, the copy goes to the hold shelf for it."""

    kind: ClassVar[str] = "checkin"
    loan: OpenLoan
    item: ItemRecord
    hold: WaitingHold | None
    at: dt.datetime

    def event_fields(self) -> dict[str, Any]:
        return {
            "loan_uuid": self.loan.uuid,
            "item_barcode": self.item.barcode,
            "returned_at": self.at,
            "hold_uuid": self.hold.uuid if self.hold is not None else None,
        }


@dataclass(frozen=True)
class Renewal:
    kind: ClassVar[str] = "renewal"
    loan: OpenLoan
    item: ItemRecord
    due_at: dt.datetime
    renewals: int
    at: dt.datetime

    def event_fields(self) -> dict[str, Any]:
        return {
            "loan_uuid": self.loan.uuid,
            "item_barcode": self.item.barcode,
            "due_at": self.due_at,
            "renewals": self.renewals,
        }


Change = Checkout | Return | Renewal

P_contra = TypeVar("P_contra", bound=Borrower, contravariant=True)
P = TypeVar("P", bound=Borrower)


class LoanStore(Protocol[P_contra]):
    """Where the flow reads snapshots and writes changes: the kiosk's database, the central's
    ledger. `write` records the change and its sync event together. Caller commits."""

    def standing(self, patron: P_contra) -> PatronStanding: ...

    def copy_state(self, item: ItemRecord, patron_id: int) -> CopyState: ...

    def return_state(self, item: ItemRecord) -> ReturnState: ...

    def title_copies(self, title_id: int) -> Sequence[TitleCopy]: ...

    def title_open_loans(self, title_id: int) -> Sequence[LoanedCopy]: ...

    def write(self, change: Change) -> None: ...


def _item_result(action: Action, item: ItemRecord, **details: Any) -> CirculationResult:
    """What a scan of `item` did: its title and barcode, and `details`."""
    return CirculationResult(action, title=item.title, item_barcode=item.barcode, **details)


def held_for(status: str, hold_patron_id: int | None, patron_id: int | None) -> str | None:
    """ "self" or "other" for a copy set aside by a ready hold, None when it is not.

    A ready hold only binds a copy that is actually on the hold shelf.
    """
    if status != ItemStatus.ON_HOLD_SHELF or hold_patron_id is None:
        return None
    return "self" if hold_patron_id == patron_id else "other"


# --- lending ---------------------------------------------------------------------------------


def check_out(
    store: LoanStore[P], patron: P, item: ItemRecord, policy: LoanPolicy, now: dt.datetime
) -> CirculationResult:
    """Lend `item` to `patron` if the rules allow. Caller commits.

    A copy this student already has is not lent again: the result offers renew or return,
    with the renewal's refusal when renewing would not be allowed (the screen offers Renew
    only when it would be, else says why).
    """
    copy = store.copy_state(item, patron.id)
    standing = store.standing(patron)
    decision = rules.decide_checkout(standing, copy.rules, policy, now)
    loan = copy.loan
    if decision.outcome is CheckoutOutcome.RENEW_OR_RETURN and loan is not None:
        renewal = _decide_renewal(standing, loan, copy.rules, policy, now)
        return _item_result(
            Action.RENEW_OR_RETURN,
            item,
            refusal=renewal.refusal,
            due_at=loan.due_at,
            renewable_on=renewal.renewable_on,
            loan_uuid=loan.uuid,
        )
    if not decision.allowed or decision.due_at is None:
        return _item_result(Action.REFUSED, item, refusal=decision.refusal)
    loan_uuid = str(uuid.uuid4())
    store.write(
        Checkout(
            loan_uuid,
            patron.id,
            patron.student_number,
            item,
            copy.ready_hold_id,
            at=now,
            due_at=decision.due_at,
        )
    )
    return _item_result(Action.CHECKED_OUT, item, due_at=decision.due_at, loan_uuid=loan_uuid)


def check_out_title(
    store: LoanStore[P], patron: P, title: TitleRef, policy: LoanPolicy, now: dt.datetime
) -> CirculationResult:
    """Lend one copy of `title` (scanned by ISBN). Caller commits.

    A copy this student already has offers renew/return; otherwise the copy on the hold
    shelf for them, else any copy on the open shelf, else the refusal that best explains why.
    """
    copies = store.title_copies(title.id)
    for copy in copies:
        if copy.loan_patron_id == patron.id:
            return check_out(store, patron, copy.item, policy, now)
    chosen = rules.choose_copy(
        [
            CopyRef(c.item.id, c.item.status, held_for(c.item.status, c.hold_patron_id, patron.id))
            for c in copies
        ]
    )
    if chosen is not None:
        item = next(c.item for c in copies if c.item.id == chosen.item_id)
        return check_out(store, patron, item, policy, now)
    # No copy can be lent; patron refusals still come first.
    refusal = rules.decide_patron(store.standing(patron))
    if refusal is None:
        refusal = (
            Refusal.HELD_FOR_OTHER
            if any(c.item.status == ItemStatus.ON_HOLD_SHELF for c in copies)
            else Refusal.NO_COPY_AVAILABLE
        )
    return CirculationResult(Action.REFUSED, refusal=refusal, title=title.title)


# --- returning -------------------------------------------------------------------------------


def check_in(
    store: LoanStore[Any], item: ItemRecord, policy: LoanPolicy, now: dt.datetime
) -> CirculationResult:
    """Return `item`: close its loan, send it to the hold shelf for the first student waiting
    for its title (`hold_id`) or to the return box. A copy not on loan is refused, saying where
    it belongs (no refusal of its own for a lost or withdrawn copy that turns up: it goes to
    the librarian). Caller commits."""
    state = store.return_state(item)
    loan, waiting = state.loan, state.waiting_hold
    decision = rules.decide_checkin(
        on_loan=loan is not None,
        item_status=item.status,
        due_at=loan.due_at if loan is not None else None,
        title_has_waiting_hold=waiting is not None,
        policy=policy,
        now=now,
    )
    if loan is None:
        return _item_result(
            Action.REFUSED, item, refusal=decision.refusal, destination=decision.destination
        )
    hold = waiting if decision.destination is Destination.HOLD_SHELF else None
    store.write(Return(loan, item, hold, at=now))
    return _item_result(
        Action.RETURNED,
        item,
        due_at=loan.due_at,
        destination=decision.destination,
        days_overdue=decision.days_overdue,
        loan_uuid=loan.uuid,
        hold_id=hold.id if hold is not None else None,
    )


def copy_to_return(
    store: LoanStore[Any], title: TitleRef, signed_in_patron_id: int | None
) -> ItemRecord | Refusal:
    """The copy a book scanned by ISBN stands for when it is handed back
    (kiosk.circulation.rules.resolve_title_return), or why it can't be told."""
    loans = store.title_open_loans(title.id)
    resolved = rules.resolve_title_return(
        [OpenLoanRef(loan.loan_id, loan.patron_id) for loan in loans], signed_in_patron_id
    )
    if isinstance(resolved, Refusal):
        return resolved
    return next(loan.item for loan in loans if loan.loan_id == resolved)


def check_in_title(
    store: LoanStore[Any],
    title: TitleRef,
    signed_in_patron_id: int | None,
    policy: LoanPolicy,
    now: dt.datetime,
) -> CirculationResult:
    """Return a book scanned by ISBN: resolve which copy's loan it closes. Caller commits."""
    item = copy_to_return(store, title, signed_in_patron_id)
    if isinstance(item, Refusal):
        return CirculationResult(Action.REFUSED, refusal=item, title=title.title)
    return check_in(store, item, policy, now)


# --- renewing --------------------------------------------------------------------------------


def renew(
    store: LoanStore[P], patron: P, item: ItemRecord, policy: LoanPolicy, now: dt.datetime
) -> CirculationResult:
    """Renew this patron's loan of `item` if the rules allow. Caller commits."""
    copy = store.copy_state(item, patron.id)
    loan = copy.loan
    if loan is None or loan.patron_id != patron.id:
        return _item_result(Action.REFUSED, item, refusal=Refusal.NOT_ON_LOAN)
    decision = _decide_renewal(store.standing(patron), loan, copy.rules, policy, now)
    if not decision.allowed or decision.due_at is None:
        return _item_result(
            Action.REFUSED,
            item,
            refusal=decision.refusal,
            due_at=loan.due_at,
            renewable_on=decision.renewable_on,
            loan_uuid=loan.uuid,
        )
    store.write(Renewal(loan, item, decision.due_at, loan.renewals + 1, at=now))
    return _item_result(Action.RENEWED, item, due_at=decision.due_at, loan_uuid=loan.uuid)


def _decide_renewal(
    standing: PatronStanding,
    loan: OpenLoan,
    state: ItemState,
    policy: LoanPolicy,
    now: dt.datetime,
) -> rules.RenewalDecision:
    # The holds a copy must be kept for when its borrower takes it (db.hold_queue), asked for
    # the borrower: a renewal waits for each of them.
    return rules.decide_renewal(
        standing,
        renewals=loan.renewals,
        due_at=loan.due_at,
        waiting_holds_by_others=state.waiting_holds_ahead,
        policy=policy,
        now=now,
    )
