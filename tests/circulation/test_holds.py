"""Hold rules, table-driven: who may reserve, the order of refusals, shelf expiry, the queue.

The hold states and their transitions are tested with the copy table in test_states.py.
"""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.circulation.calendar import OpeningCalendar
from kiosk.circulation.holds import (
    HoldPolicy,
    QueuedHold,
    TitleHoldState,
    decide_hold,
    expiring_by,
    is_shelf_expired,
    next_in_line,
    shelf_expires_at,
)
from kiosk.circulation.rules import PatronStanding, Refusal

NOW = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)  # Wednesday 10:00 in Shanghai
POLICY = HoldPolicy(max_holds=2, shelf_days=3)
OK = PatronStanding(known=True)
ALL_OUT = TitleHoldState(copies_lendable=2, copies_on_shelf=0)

HOLD_CASES = [
    # (name, patron, title, expected refusal or None)
    ("all copies out", OK, ALL_OUT, None),
    ("unknown card", PatronStanding(known=False), ALL_OUT, Refusal.CARD_UNKNOWN),
    ("left school", PatronStanding(True, "left"), ALL_OUT, Refusal.CARD_LEFT),
    ("blocked", PatronStanding(True, "blocked"), ALL_OUT, Refusal.CARD_BLOCKED),
    ("at the hold limit", PatronStanding(True, active_holds=2), ALL_OUT, Refusal.TOO_MANY_HOLDS),
    ("below the hold limit", PatronStanding(True, active_holds=1), ALL_OUT, None),
    (
        "has a copy on loan",
        OK,
        TitleHoldState(copies_lendable=2, on_loan_to_self=True),
        Refusal.ALREADY_ON_LOAN,
    ),
    (
        "already reserved",
        OK,
        TitleHoldState(copies_lendable=2, reserved_by_self=True),
        Refusal.ALREADY_RESERVED,
    ),
    (
        "a copy on the shelf",
        OK,
        TitleHoldState(copies_lendable=2, copies_on_shelf=1),
        Refusal.COPY_ON_SHELF,
    ),
    (
        "the copy on the shelf is promised to someone waiting",
        OK,
        TitleHoldState(copies_lendable=2, copies_on_shelf=1, waiting_by_others=1),
        None,
    ),
    (
        "two on the shelf, one promised",
        OK,
        TitleHoldState(copies_lendable=2, copies_on_shelf=2, waiting_by_others=1),
        Refusal.COPY_ON_SHELF,
    ),
    (
        "every copy lost or withdrawn",
        OK,
        TitleHoldState(copies_lendable=0),
        Refusal.NOT_HOLDABLE,
    ),
    # The order of checks: the first refusal wins.
    (
        "blocked beats already on loan",
        PatronStanding(True, "blocked"),
        TitleHoldState(on_loan_to_self=True),
        Refusal.CARD_BLOCKED,
    ),
    (
        "on loan beats already reserved",
        OK,
        TitleHoldState(on_loan_to_self=True, reserved_by_self=True),
        Refusal.ALREADY_ON_LOAN,
    ),
    (
        "already reserved beats the limit",
        PatronStanding(True, active_holds=2),
        TitleHoldState(reserved_by_self=True),
        Refusal.ALREADY_RESERVED,
    ),
    (
        "on the shelf beats the limit",
        PatronStanding(True, active_holds=2),
        TitleHoldState(copies_on_shelf=1),
        Refusal.COPY_ON_SHELF,
    ),
    (
        "nothing lendable beats on the shelf",
        OK,
        TitleHoldState(copies_lendable=0, copies_on_shelf=1),
        Refusal.NOT_HOLDABLE,
    ),
]


@pytest.mark.parametrize(
    ("name", "patron", "title", "refusal"), HOLD_CASES, ids=[c[0] for c in HOLD_CASES]
)
def test_decide_hold(name, patron, title, refusal):
    decision = decide_hold(patron, title, POLICY, NOW)
    assert decision.refusal == refusal
    assert decision.allowed is (refusal is None)
    assert decision.placed_at == (NOW if refusal is None else None)


def test_a_zero_limit_turns_holds_off():
    decision = decide_hold(OK, ALL_OUT, HoldPolicy(max_holds=0), NOW)
    assert decision.refusal == Refusal.TOO_MANY_HOLDS


# Mon to Fri, closing 17:00 Shanghai; 2026-11-25 is a Wednesday.
CAL = OpeningCalendar(closed_dates=frozenset({dt.date(2026, 11, 30)}))

EXPIRY_CASES = [
    # (ready at, shelf days, expires at local date 17:00)
    # Wed ready, 3 open days: Thu, Fri, (weekend, Mon 30th closed) Tue 1 Dec.
    (dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC), 3, dt.date(2026, 12, 1)),
    # Wed ready, 1 open day: Thu.
    (dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC), 1, dt.date(2026, 11, 26)),
    # Set aside at 16:59 on Friday: the day does not count; Mon is closed → Tue.
    (dt.datetime(2026, 11, 27, 8, 59, tzinfo=dt.UTC), 1, dt.date(2026, 12, 1)),
    # Set aside on a Saturday (a return at a kiosk that stays on): Tue and Wed.
    (dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC), 2, dt.date(2026, 12, 2)),
]


@pytest.mark.parametrize(("ready_at", "days", "local_day"), EXPIRY_CASES)
def test_shelf_expiry_counts_open_days(ready_at, days, local_day):
    policy = HoldPolicy(shelf_days=days, calendar=CAL)
    expected = dt.datetime.combine(local_day, dt.time(17), tzinfo=CAL.zone)
    assert shelf_expires_at(ready_at, policy) == expected
    assert not is_shelf_expired(ready_at, policy, expected - dt.timedelta(seconds=1))
    assert is_shelf_expired(ready_at, policy, expected)


def test_first_placed_is_next_in_line_whatever_the_arrival_order():
    early = QueuedHold("b", dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC))
    late = QueuedHold("a", dt.datetime(2026, 11, 25, 2, 5, tzinfo=dt.UTC))
    same_time = QueuedHold("c", early.placed_at)
    assert next_in_line([late, early]) == early
    assert next_in_line([late, same_time, early]) == early  # ties by key, stable everywhere
    assert next_in_line([]) is None


@pytest.mark.parametrize("days", [0, 1, 2, 5])
def test_expiring_by_selects_exactly_the_copies_whose_time_ends_by_the_day(days):
    # Every hour over five weeks around a closed Monday: set aside before the cut-off exactly
    # when the copy's last day on the shelf is the day or earlier (what the database selects).
    policy = HoldPolicy(shelf_days=days, calendar=CAL)
    start = dt.datetime(2026, 11, 16, 0, 0, tzinfo=dt.UTC)
    set_aside = [start + dt.timedelta(hours=h) for h in range(24 * 35)]
    for day in (dt.date(2026, 11, 30), dt.date(2026, 12, 1), dt.date(2026, 12, 7)):
        cut = expiring_by(day, policy)
        for at in set_aside:
            ends_by_day = CAL.local_date(shelf_expires_at(at, policy)) <= day
            assert (at < cut) == ends_by_day, (day, at)
