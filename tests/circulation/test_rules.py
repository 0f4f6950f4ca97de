"""Checkout, return and renewal rules, table-driven, with no fixtures."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from kiosk.circulation.calendar import OpeningCalendar
from kiosk.circulation.rules import (
    CheckoutOutcome,
    CopyRef,
    Destination,
    ItemState,
    LoanPolicy,
    OpenLoanRef,
    PatronStanding,
    Refusal,
    choose_copy,
    decide_checkin,
    decide_checkout,
    decide_renewal,
    resolve_title_return,
)

NOW = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)  # Wednesday 10:00 in Shanghai
POLICY = LoanPolicy(loan_days=14, max_loans=3, max_renewals=1, block_when_overdue=True)
OK_PATRON = PatronStanding(known=True)
SHELF = ItemState()

CHECKOUT_CASES = [
    # (name, patron, item, policy, expected outcome, expected refusal)
    ("lend", OK_PATRON, SHELF, POLICY, CheckoutOutcome.LEND, None),
    (
        "unknown card",
        PatronStanding(known=False),
        SHELF,
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.CARD_UNKNOWN,
    ),
    (
        "left school",
        PatronStanding(True, "left"),
        SHELF,
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.CARD_LEFT,
    ),
    (
        "blocked",
        PatronStanding(True, "blocked"),
        SHELF,
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.CARD_BLOCKED,
    ),
    (
        "overdue blocks",
        PatronStanding(True, overdue_loans=1, open_loans=1),
        SHELF,
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.HAS_OVERDUE,
    ),
    (
        "overdue allowed by policy",
        PatronStanding(True, overdue_loans=1, open_loans=1),
        SHELF,
        LoanPolicy(block_when_overdue=False),
        CheckoutOutcome.LEND,
        None,
    ),
    (
        "at the limit",
        PatronStanding(True, open_loans=3),
        SHELF,
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.TOO_MANY_LOANS,
    ),
    (
        "one below the limit",
        PatronStanding(True, open_loans=2),
        SHELF,
        POLICY,
        CheckoutOutcome.LEND,
        None,
    ),
    (
        "lost copy",
        OK_PATRON,
        ItemState(status="lost"),
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.NOT_LOANABLE,
    ),
    (
        "withdrawn copy",
        OK_PATRON,
        ItemState(status="withdrawn"),
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.NOT_LOANABLE,
    ),
    (
        "unsettled lost book, kiosk blocks on it",
        PatronStanding(known=True, open_compensation_cases=1, overdue_loans=1),
        SHELF,
        replace(POLICY, block_on_open_compensation=True),
        CheckoutOutcome.REFUSE,
        Refusal.OWES_COMPENSATION,
    ),
    (
        "unsettled lost book, kiosk does not block on it",
        PatronStanding(known=True, open_compensation_cases=1),
        SHELF,
        POLICY,
        CheckoutOutcome.LEND,
        None,
    ),
    (
        "blocked card beats an unsettled lost book",
        PatronStanding(known=True, status="blocked", open_compensation_cases=1),
        SHELF,
        replace(POLICY, block_on_open_compensation=True),
        CheckoutOutcome.REFUSE,
        Refusal.CARD_BLOCKED,
    ),
    (
        "copy in repair",
        OK_PATRON,
        ItemState(status="in_repair"),
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.NOT_LOANABLE,
    ),
    (
        "on loan to other",
        OK_PATRON,
        ItemState(status="on_loan", on_loan_to="other"),
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.ON_LOAN_TO_OTHER,
    ),
    (
        "on loan to self",
        OK_PATRON,
        ItemState(status="on_loan", on_loan_to="self"),
        POLICY,
        CheckoutOutcome.RENEW_OR_RETURN,
        None,
    ),
    (
        "on loan to self beats blocked",
        PatronStanding(True, "blocked"),
        ItemState(status="on_loan", on_loan_to="self"),
        POLICY,
        CheckoutOutcome.RENEW_OR_RETURN,
        None,
    ),
    (
        "hold shelf for other",
        OK_PATRON,
        ItemState(status="on_hold_shelf", held_for="other"),
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.HELD_FOR_OTHER,
    ),
    (
        "hold shelf for self",
        OK_PATRON,
        ItemState(status="on_hold_shelf", held_for="self", copies_on_shelf=0),
        POLICY,
        CheckoutOutcome.LEND,
        None,
    ),
    (
        "last copies promised",
        OK_PATRON,
        ItemState(waiting_holds_ahead=1, copies_on_shelf=1),
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.HELD_FOR_OTHER,
    ),
    (
        "more copies than holds",
        OK_PATRON,
        ItemState(waiting_holds_ahead=1, copies_on_shelf=2),
        POLICY,
        CheckoutOutcome.LEND,
        None,
    ),
    (
        "patron refusal beats item refusal",
        PatronStanding(True, "blocked"),
        ItemState(status="lost"),
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.CARD_BLOCKED,
    ),
    (
        "limit beats on-loan-to-other",
        PatronStanding(True, open_loans=3),
        ItemState(on_loan_to="other"),
        POLICY,
        CheckoutOutcome.REFUSE,
        Refusal.TOO_MANY_LOANS,
    ),
]


@pytest.mark.parametrize(
    ("patron", "item", "policy", "outcome", "refusal"),
    [case[1:] for case in CHECKOUT_CASES],
    ids=[case[0] for case in CHECKOUT_CASES],
)
def test_decide_checkout(patron, item, policy, outcome, refusal):
    decision = decide_checkout(patron, item, policy, NOW)
    assert decision.outcome is outcome
    assert decision.refusal == refusal
    assert (decision.due_at is not None) == (outcome is CheckoutOutcome.LEND)


def test_due_date_is_closing_time_loan_days_later():
    decision = decide_checkout(OK_PATRON, SHELF, POLICY, NOW)
    # 14 days after Wednesday 25 Nov is Wednesday 9 Dec, 17:00 Shanghai = 09:00 UTC.
    assert decision.due_at == dt.datetime(2026, 12, 9, 9, 0, tzinfo=dt.UTC)


CALENDAR = OpeningCalendar(closed_dates=frozenset({dt.date(2026, 12, 9), dt.date(2026, 12, 10)}))

DUE_CASES = [
    # (name, now, loan_days, calendar, due local date)
    ("weekday", NOW, 14, OpeningCalendar(), dt.date(2026, 12, 9)),
    ("lands on Saturday", NOW, 3, OpeningCalendar(), dt.date(2026, 11, 30)),
    ("lands on Sunday", NOW, 4, OpeningCalendar(), dt.date(2026, 11, 30)),
    ("holiday run", NOW, 14, CALENDAR, dt.date(2026, 12, 11)),
    (
        "late evening UTC is next day in Shanghai",
        dt.datetime(2026, 11, 24, 17, 0, tzinfo=dt.UTC),
        14,
        OpeningCalendar(),
        dt.date(2026, 12, 9),
    ),
    (
        "no open day at all",
        NOW,
        1,
        OpeningCalendar(open_weekdays=frozenset()),
        dt.date(2026, 11, 26),
    ),
]


@pytest.mark.parametrize(
    ("now", "loan_days", "calendar", "due_day"),
    [case[1:] for case in DUE_CASES],
    ids=[case[0] for case in DUE_CASES],
)
def test_due_dates_move_to_next_open_day(now, loan_days, calendar, due_day):
    due_at = calendar.due_at(now, loan_days)
    assert calendar.local_date(due_at) == due_day
    assert due_at.tzinfo is not None


CHECKIN_CASES = [
    # (name, on_loan, status, due_at, waiting hold, returned, destination, days overdue, refusal)
    (
        "on time",
        True,
        "on_loan",
        NOW + dt.timedelta(days=3),
        False,
        True,
        Destination.RETURN_BOX,
        0,
        None,
    ),
    (
        "hold waiting",
        True,
        "on_loan",
        NOW + dt.timedelta(days=3),
        True,
        True,
        Destination.HOLD_SHELF,
        0,
        None,
    ),
    (
        "two days late",
        True,
        "on_loan",
        NOW - dt.timedelta(days=2),
        False,
        True,
        Destination.RETURN_BOX,
        2,
        None,
    ),
    (
        "not on loan",
        False,
        "available",
        None,
        False,
        False,
        Destination.RETURN_BOX,
        0,
        Refusal.NOT_ON_LOAN,
    ),
    ("lost copy found", False, "lost", None, False, False, Destination.LIBRARIAN, 0, None),
    ("lost copy on loan", True, "lost", NOW, False, True, Destination.LIBRARIAN, 0, None),
    ("copy in repair", False, "in_repair", None, True, False, Destination.LIBRARIAN, 0, None),
    ("withdrawn copy", False, "withdrawn", None, False, False, Destination.LIBRARIAN, 0, None),
]


@pytest.mark.parametrize(
    ("on_loan", "status", "due_at", "waiting", "returned", "destination", "overdue", "refusal"),
    [case[1:] for case in CHECKIN_CASES],
    ids=[case[0] for case in CHECKIN_CASES],
)
def test_decide_checkin(on_loan, status, due_at, waiting, returned, destination, overdue, refusal):
    decision = decide_checkin(
        on_loan=on_loan,
        item_status=status,
        due_at=due_at,
        title_has_waiting_hold=waiting,
        policy=POLICY,
        now=NOW,
    )
    assert decision.returned is returned
    assert decision.destination is destination
    assert decision.days_overdue == overdue
    assert decision.refusal == refusal


RENEWAL_CASES = [
    # (name, patron, renewals, waiting holds by others, allowed, refusal)
    ("first renewal", OK_PATRON, 0, 0, True, None),
    ("limit reached", OK_PATRON, 1, 0, False, Refusal.RENEWAL_LIMIT),
    ("someone waiting", OK_PATRON, 0, 1, False, Refusal.RENEWAL_HELD),
    ("blocked patron", PatronStanding(True, "blocked"), 0, 0, False, Refusal.CARD_BLOCKED),
    ("limit before holds", OK_PATRON, 1, 1, False, Refusal.RENEWAL_LIMIT),
]


@pytest.mark.parametrize(
    ("patron", "renewals", "waiting", "allowed", "refusal"),
    [case[1:] for case in RENEWAL_CASES],
    ids=[case[0] for case in RENEWAL_CASES],
)
def test_decide_renewal(patron, renewals, waiting, allowed, refusal):
    due_at = NOW + dt.timedelta(days=2)
    decision = decide_renewal(
        patron,
        renewals=renewals,
        due_at=due_at,
        waiting_holds_by_others=waiting,
        policy=POLICY,
        now=NOW,
    )
    assert decision.allowed is allowed
    assert decision.refusal == refusal
    if allowed:
        assert decision.due_at is not None and decision.due_at > due_at


# NOW is Wednesday 25 November (Shanghai); loans fall due at 17:00 local (09:00 UTC).
def _due(day: int, month: int = 12) -> dt.datetime:
    return dt.datetime(2026, month, day, 9, 0, tzinfo=dt.UTC)


WINDOW_CASES = [
    # (name, renew_within_days, due_at, allowed, renewable_on)
    ("same day as borrowed: too early", 3, _due(9), False, dt.date(2026, 12, 6)),
    ("window opens 3 days before due", 3, _due(28, 11), True, None),
    ("on the due date", 3, _due(25, 11), True, None),
    ("overdue may renew", 3, _due(20, 11), True, None),
    ("one day before the window", 3, _due(29, 11), False, dt.date(2026, 11, 26)),
    # 0 = any time, but only when the due date moves: borrowed today (due Wed 9 Dec) it would
    # stay 9 Dec until Thursday, when 14 days lands on Wed 10 Dec.
    ("any time, same day: would not move", 0, _due(9), False, dt.date(2026, 11, 26)),
    ("any time, next day", 0, _due(8), True, None),
    # A long window never lets a renewal leave the due date where it is.
    ("window longer than the loan", 30, _due(9), False, dt.date(2026, 11, 26)),
]


@pytest.mark.parametrize(
    ("window", "due_at", "allowed", "renewable_on"),
    [case[1:] for case in WINDOW_CASES],
    ids=[case[0] for case in WINDOW_CASES],
)
def test_renewal_window(window, due_at, allowed, renewable_on):
    policy = LoanPolicy(loan_days=14, max_renewals=1, renew_within_days=window)
    decision = decide_renewal(
        OK_PATRON, renewals=0, due_at=due_at, waiting_holds_by_others=0, policy=policy, now=NOW
    )
    assert decision.allowed is allowed
    assert decision.renewable_on == renewable_on
    if allowed:
        assert decision.due_at is not None
        assert policy.calendar.local_date(decision.due_at) > policy.calendar.local_date(due_at)
    else:
        assert decision.refusal is Refusal.RENEWAL_TOO_EARLY and decision.due_at is None


def test_renewal_on_the_day_it_opens_moves_the_due_date():
    policy = LoanPolicy(loan_days=14, renew_within_days=0)
    due_at = _due(9)
    opens = decide_renewal(
        OK_PATRON, renewals=0, due_at=due_at, waiting_holds_by_others=0, policy=policy, now=NOW
    ).renewable_on
    assert opens is not None
    that_morning = dt.datetime.combine(opens, dt.time(9), tzinfo=policy.calendar.zone)
    decision = decide_renewal(
        OK_PATRON,
        renewals=0,
        due_at=due_at,
        waiting_holds_by_others=0,
        policy=policy,
        now=that_morning,
    )
    assert decision.allowed and decision.due_at is not None and decision.due_at > due_at


def test_holds_and_limits_are_said_before_timing():
    too_early = _due(9)
    limit = decide_renewal(
        OK_PATRON, renewals=1, due_at=too_early, waiting_holds_by_others=0, policy=POLICY, now=NOW
    )
    held = decide_renewal(
        OK_PATRON, renewals=0, due_at=too_early, waiting_holds_by_others=1, policy=POLICY, now=NOW
    )
    assert limit.refusal is Refusal.RENEWAL_LIMIT and held.refusal is Refusal.RENEWAL_HELD


TITLE_RETURN_CASES = [
    # (name, open loans, signed-in patron, expected)
    ("signed-in student's copy", [OpenLoanRef(1, 10), OpenLoanRef(2, 20)], 20, 2),
    ("only loan of the title", [OpenLoanRef(1, 10)], None, 1),
    ("only loan, other student signed in", [OpenLoanRef(1, 10)], 30, 1),
    (
        "several, nobody signed in",
        [OpenLoanRef(1, 10), OpenLoanRef(2, 20)],
        None,
        Refusal.WHICH_COPY,
    ),
    ("nothing on loan", [], None, Refusal.NOT_ON_LOAN),
]


@pytest.mark.parametrize(
    ("loans", "patron_id", "expected"),
    [case[1:] for case in TITLE_RETURN_CASES],
    ids=[case[0] for case in TITLE_RETURN_CASES],
)
def test_resolve_title_return(loans, patron_id, expected):
    assert resolve_title_return(loans, patron_id) == expected


COPY_CASES = [
    (
        "hold shelf copy for me first",
        [CopyRef(1, "available"), CopyRef(2, "on_hold_shelf", "self")],
        2,
    ),
    ("any copy on the shelf", [CopyRef(1, "on_loan"), CopyRef(2, "available")], 2),
    ("someone else's hold copy is not mine", [CopyRef(1, "on_hold_shelf", "other")], None),
    ("nothing lendable", [CopyRef(1, "lost"), CopyRef(2, "on_loan")], None),
]


@pytest.mark.parametrize(
    ("copies", "expected"), [c[1:] for c in COPY_CASES], ids=[c[0] for c in COPY_CASES]
)
def test_choose_copy(copies, expected):
    chosen = choose_copy(copies)
    assert (chosen.item_id if chosen else None) == expected
