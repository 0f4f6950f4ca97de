"""Checkout, return and renewal decided from snapshots and the current time."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from kiosk.circulation.calendar import OpeningCalendar
from kiosk.circulation.compensation import blocks_at_kiosk
from kiosk.circulation.overdue import days_overdue
from kiosk.circulation.states import NOT_LENDABLE, ItemStatus


class Refusal(enum.StrEnum):
    """Why a patron can't do what they asked; the screen turns each into plain words."""

    CARD_UNKNOWN = "card_unknown"
    CARD_BLOCKED = "card_blocked"
    CARD_LEFT = "card_left"
    # A lost or damaged book not yet paid for ([compensation] block_at_kiosk).
    OWES_COMPENSATION = "owes_compensation"
    HAS_OVERDUE = "has_overdue"
    TOO_MANY_LOANS = "too_many_loans"
    NOT_LOANABLE = "not_loanable"
    ON_LOAN_TO_OTHER = "on_loan_to_other"
    HELD_FOR_OTHER = "held_for_other"
    NO_COPY_AVAILABLE = "no_copy_available"
    UNKNOWN_BOOK = "unknown_book"
    RENEWAL_LIMIT = "renewal_limit"
    RENEWAL_HELD = "renewal_held"
    RENEWAL_TOO_EARLY = "renewal_too_early"
    NOT_ON_LOAN = "not_on_loan"
    WHICH_COPY = "which_copy"
    # Holds (kiosk/circulation/holds.py).
    ALREADY_ON_LOAN = "already_on_loan"
    ALREADY_RESERVED = "already_reserved"
    COPY_ON_SHELF = "copy_on_shelf"
    NOT_HOLDABLE = "not_holdable"
    TOO_MANY_HOLDS = "too_many_holds"
    HOLD_NOT_FOUND = "hold_not_found"


class CheckoutOutcome(enum.StrEnum):
    LEND = "lend"
    RENEW_OR_RETURN = "renew_or_return"
    REFUSE = "refuse"


class Destination(enum.StrEnum):
    """Where a returned book goes."""

    RETURN_BOX = "return_box"
    HOLD_SHELF = "hold_shelf"
    LIBRARIAN = "librarian"


@dataclass(frozen=True)
class LoanPolicy:
    loan_days: int = 14
    max_loans: int = 3
    max_renewals: int = 1
    # Renewal opens this many days before the due date (0: any time it moves the date later).
    renew_within_days: int = 3
    block_when_overdue: bool = True
    # No new loans while the student has an open compensation case (the kiosk's
    # [compensation] block_at_kiosk; the desk settles the case instead).
    block_on_open_compensation: bool = False
    calendar: OpeningCalendar = field(default_factory=OpeningCalendar)
    # How days overdue are counted, the same way as the chase counts them (`[chase]`).
    count_closed_days: bool = False


@dataclass(frozen=True)
class PatronStanding:
    """What the rules need to know about the patron at the kiosk."""

    known: bool
    status: str = "active"  # active / blocked / left
    open_loans: int = 0
    overdue_loans: int = 0
    # Waiting and ready holds; only the hold rules look at them.
    active_holds: int = 0
    # Lost or damaged books not yet settled (遗失赔偿), as the central last said.
    open_compensation_cases: int = 0


@dataclass(frozen=True)
class ItemState:
    """What the rules need to know about the copy being lent.

    `on_loan_to` is "self", "other" or None; `held_for` is "self", "other" or None for a copy
    put aside on the hold shelf; `waiting_holds_ahead` counts the holds not yet given a copy
    that come before the borrower's (every other student's, less those placed after the
    borrower's own waiting hold), and `copies_on_shelf` the copies of the same title free to lend
    (this one included).
    """

    status: str = ItemStatus.AVAILABLE
    on_loan_to: str | None = None
    held_for: str | None = None
    waiting_holds_ahead: int = 0
    copies_on_shelf: int = 1


@dataclass(frozen=True)
class CheckoutDecision:
    outcome: CheckoutOutcome
    refusal: Refusal | None = None
    due_at: dt.datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome is CheckoutOutcome.LEND


@dataclass(frozen=True)
class CheckinDecision:
    returned: bool
    destination: Destination
    days_overdue: int = 0
    refusal: Refusal | None = None


@dataclass(frozen=True)
class RenewalDecision:
    """`due_at` is the new due date when allowed; `renewable_on` the library-local date from
    which a RENEWAL_TOO_EARLY refusal no longer applies."""

    allowed: bool
    refusal: Refusal | None = None
    due_at: dt.datetime | None = None
    renewable_on: dt.date | None = None


def decide_patron(patron: PatronStanding) -> Refusal | None:
    """Whether the patron may use the kiosk at all: unknown card, then left, then blocked."""
    if not patron.known:
        return Refusal.CARD_UNKNOWN
    if patron.status == "left":
        return Refusal.CARD_LEFT
    if patron.status == "blocked":
        return Refusal.CARD_BLOCKED
    return None


def decide_checkout(
    patron: PatronStanding, item: ItemState, policy: LoanPolicy, now: dt.datetime
) -> CheckoutDecision:
    """Decide whether `patron` may borrow `item` at `now`.

    Order of checks, first refusal wins (it is what the screen shows):
    1. a copy already on loan to this same patron is not a refusal: offer renew or return;
    2. patron: unknown card, left the school, blocked;
    3. patron: an unsettled lost book (when the policy blocks on it), overdue books (when the
       policy blocks on them), then the loan limit;
    4. item: lost, withdrawn or in repair, on loan to someone else, on the hold shelf for someone else,
       or the last copies on the shelf are promised to students waiting for this title.
    Patron checks run before item checks: "see the librarian about your account" beats
    "this book can't be borrowed".
    """
    if item.on_loan_to == "self":
        return CheckoutDecision(CheckoutOutcome.RENEW_OR_RETURN)
    refusal = decide_patron(patron)
    if refusal is None and blocks_at_kiosk(
        patron.open_compensation_cases, block_at_kiosk=policy.block_on_open_compensation
    ):
        refusal = Refusal.OWES_COMPENSATION
    if refusal is None and policy.block_when_overdue and patron.overdue_loans > 0:
        refusal = Refusal.HAS_OVERDUE
    if refusal is None and patron.open_loans >= policy.max_loans:
        refusal = Refusal.TOO_MANY_LOANS
    if refusal is None:
        refusal = _item_refusal(item)
    if refusal is not None:
        return CheckoutDecision(CheckoutOutcome.REFUSE, refusal)
    return CheckoutDecision(
        CheckoutOutcome.LEND, due_at=policy.calendar.due_at(now, policy.loan_days)
    )


def _item_refusal(item: ItemState) -> Refusal | None:
    if item.status in NOT_LENDABLE:
        return Refusal.NOT_LOANABLE
    if item.on_loan_to == "other":
        return Refusal.ON_LOAN_TO_OTHER
    if item.held_for == "other":
        return Refusal.HELD_FOR_OTHER
    if item.held_for != "self" and item.waiting_holds_ahead >= item.copies_on_shelf > 0:
        return Refusal.HELD_FOR_OTHER
    return None


def decide_checkin(
    *,
    on_loan: bool,
    item_status: str,
    due_at: dt.datetime | None,
    title_has_waiting_hold: bool,
    policy: LoanPolicy,
    now: dt.datetime,
) -> CheckinDecision:
    """Decide what returning a copy means and where it goes.

    Order: a copy marked lost, withdrawn or in repair goes to the librarian (it was found, or
    must not go back on the shelf); a copy that
    was not on loan is "already returned"; otherwise it is returned, to the hold shelf when
    someone is waiting for the title, else to the return box, with the days it was overdue.
    """
    if item_status in NOT_LENDABLE:
        return CheckinDecision(returned=on_loan, destination=Destination.LIBRARIAN)
    if not on_loan:
        destination = Destination.HOLD_SHELF if title_has_waiting_hold else Destination.RETURN_BOX
        if item_status == ItemStatus.ON_HOLD_SHELF:
            destination = Destination.HOLD_SHELF
        return CheckinDecision(returned=False, destination=destination, refusal=Refusal.NOT_ON_LOAN)
    overdue = (
        days_overdue(policy.calendar, due_at, now, count_closed_days=policy.count_closed_days)
        if due_at is not None
        else 0
    )
    destination = Destination.HOLD_SHELF if title_has_waiting_hold else Destination.RETURN_BOX
    return CheckinDecision(returned=True, destination=destination, days_overdue=overdue)


def decide_renewal(
    patron: PatronStanding,
    *,
    renewals: int,
    due_at: dt.datetime,
    waiting_holds_by_others: int,
    policy: LoanPolicy,
    now: dt.datetime,
) -> RenewalDecision:
    """Decide whether a loan may be renewed at `now`.

    Order of checks, first refusal wins: the patron's own standing (unknown, left, blocked),
    then the renewal limit, then other students waiting for the title, then timing: renewal
    opens `policy.renew_within_days` library-local days before the due date, and only when the
    new due date (counted from today) falls on a later day than the current one, so a renewal
    is never spent without effect. A too-early refusal says the first day it is possible.
    """
    refusal = decide_patron(patron)
    if refusal is None and renewals >= policy.max_renewals:
        refusal = Refusal.RENEWAL_LIMIT
    if refusal is None and waiting_holds_by_others > 0:
        refusal = Refusal.RENEWAL_HELD
    if refusal is not None:
        return RenewalDecision(False, refusal)
    renewable_on = first_renewal_day(due_at, policy, now)
    if renewable_on > policy.calendar.local_date(now):
        return RenewalDecision(False, Refusal.RENEWAL_TOO_EARLY, renewable_on=renewable_on)
    return RenewalDecision(True, due_at=policy.calendar.due_at(now, policy.loan_days))


def first_renewal_day(due_at: dt.datetime, policy: LoanPolicy, now: dt.datetime) -> dt.date:
    """The first library-local day, today or later, on which a loan due at `due_at` may be
    renewed: inside the window before the due date and with a renewal that moves it later."""
    calendar = policy.calendar
    due_day = calendar.local_date(due_at)
    day = calendar.local_date(now)
    if policy.renew_within_days > 0:
        day = max(day, due_day - dt.timedelta(days=policy.renew_within_days))
    # Renewing on the due date itself always moves it by loan_days (at least one), so this
    # ends by then; a long-overdue loan starts past it and returns today.
    while day < due_day and _renewed_due_day(day, policy) <= due_day:
        day += dt.timedelta(days=1)
    return day


def _renewed_due_day(day: dt.date, policy: LoanPolicy) -> dt.date:
    calendar = policy.calendar
    return calendar.next_open_day(day + dt.timedelta(days=policy.loan_days))


@dataclass(frozen=True)
class OpenLoanRef:
    loan_id: int
    patron_id: int


def resolve_title_return(
    open_loans: Sequence[OpenLoanRef], signed_in_patron_id: int | None
) -> int | Refusal:
    """Which open loan a return scanned by ISBN (not by copy barcode) closes.

    The signed-in student's copy first; else the only outstanding loan of the title; else it
    can't be told apart and the kiosk asks for the copy's own barcode (WHICH_COPY), or there
    is nothing on loan (NOT_ON_LOAN).
    """
    if signed_in_patron_id is not None:
        mine = [loan for loan in open_loans if loan.patron_id == signed_in_patron_id]
        if mine:
            return mine[0].loan_id
    if len(open_loans) == 1:
        return open_loans[0].loan_id
    if not open_loans:
        return Refusal.NOT_ON_LOAN
    return Refusal.WHICH_COPY


@dataclass(frozen=True)
class CopyRef:
    item_id: int
    status: str
    held_for: str | None = None


def choose_copy(copies: Sequence[CopyRef]) -> CopyRef | None:
    """The copy to lend when a title is scanned by ISBN: the one on the hold shelf for this
    patron first, then any copy on the open shelf; None if no copy can be lent."""
    for copy in copies:
        if copy.status == ItemStatus.ON_HOLD_SHELF and copy.held_for == "self":
            return copy
    for copy in copies:
        if copy.status == ItemStatus.AVAILABLE:
            return copy
    return None
