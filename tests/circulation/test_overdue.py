"""Days overdue as the library counts them, and the chase's stages; table-driven, no fixtures."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.circulation.calendar import OpeningCalendar
from kiosk.circulation.overdue import (
    ChasePolicy,
    Stage,
    current_stage,
    days_overdue,
    notices_due,
    shows_kiosk_reminder,
    stages_reached,
)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
# Winter holidays: Mon 2027-01-25 .. Sun 2027-02-21 (28 days, 20 of them weekdays).
HOLIDAYS = tuple(dt.date(2027, 1, 25) + dt.timedelta(days=i) for i in range(28))
CALENDAR = OpeningCalendar(closed_dates=frozenset(HOLIDAYS))
POLICY = ChasePolicy(
    kiosk_reminder_days=1, class_list_days=5, parents_days=10, long_overdue_days=30
)


def at(day: str, hour: int = 10) -> dt.datetime:
    """A time in the library's zone, as aware UTC."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), SHANGHAI).astimezone(
        dt.UTC
    )


FRIDAY_DUE = at("2026-12-04", 17)  # Friday closing time

DAYS_CASES = [
    # (name, due_at, now, count_closed_days, expected)
    ("before due", FRIDAY_DUE, at("2026-12-04", 16), False, 0),
    ("due day after closing", FRIDAY_DUE, at("2026-12-04", 18), False, 0),
    ("saturday: library shut", FRIDAY_DUE, at("2026-12-05"), False, 0),
    ("saturday counted", FRIDAY_DUE, at("2026-12-05"), True, 1),
    ("monday", FRIDAY_DUE, at("2026-12-07"), False, 1),
    ("monday counted", FRIDAY_DUE, at("2026-12-07"), True, 3),
    ("two weeks later", FRIDAY_DUE, at("2026-12-18"), False, 10),
    ("two weeks later counted", FRIDAY_DUE, at("2026-12-18"), True, 14),
    # Due Fri 2027-01-22, winter holidays 01-25..02-21: on Mon 02-22 one open day has passed.
    ("over the winter holidays", at("2027-01-22", 17), at("2027-02-22"), False, 1),
    ("over the winter holidays counted", at("2027-01-22", 17), at("2027-02-22"), True, 31),
    # Shanghai's Monday 07:00 is Sunday in UTC: the library's own date decides.
    ("library's date, not UTC's", FRIDAY_DUE, at("2026-12-07", 7), False, 1),
]


@pytest.mark.parametrize(
    ("due_at", "now", "count_closed", "expected"),
    [case[1:] for case in DAYS_CASES],
    ids=[case[0] for case in DAYS_CASES],
)
def test_days_overdue(due_at, now, count_closed, expected):
    assert days_overdue(CALENDAR, due_at, now, count_closed_days=count_closed) == expected


@pytest.mark.parametrize("weeks", [0, 1, 3, 20, 60])
@pytest.mark.parametrize("extra_days", range(7))
def test_open_days_counted_match_walking_the_calendar(weeks, extra_days):
    """The whole-weeks shortcut counts what walking the calendar day by day counts."""
    due_at = at("2026-12-02", 17)
    now = due_at + dt.timedelta(days=7 * weeks + extra_days)
    walked = sum(
        1
        for i in range(1, (CALENDAR.local_date(now) - CALENDAR.local_date(due_at)).days + 1)
        if CALENDAR.is_open_day(CALENDAR.local_date(due_at) + dt.timedelta(days=i))
    )
    assert days_overdue(CALENDAR, due_at, now, count_closed_days=False) == walked


STAGE_CASES = [
    # (days overdue, stages reached, current stage)
    (0, (), None),
    (1, (Stage.KIOSK_REMINDER,), Stage.KIOSK_REMINDER),
    (4, (Stage.KIOSK_REMINDER,), Stage.KIOSK_REMINDER),
    (5, (Stage.KIOSK_REMINDER, Stage.CLASS_LIST), Stage.CLASS_LIST),
    (10, (Stage.KIOSK_REMINDER, Stage.CLASS_LIST, Stage.PARENTS), Stage.PARENTS),
    (30, tuple(Stage), Stage.LONG_OVERDUE),
]


@pytest.mark.parametrize(("days", "reached", "current"), STAGE_CASES)
def test_stages(days, reached, current):
    assert stages_reached(POLICY, days) == reached
    assert current_stage(POLICY, days) is current
    assert shows_kiosk_reminder(POLICY, days) is (days >= 1)


def test_kiosk_reminder_waits_for_its_threshold():
    policy = ChasePolicy(kiosk_reminder_days=3, class_list_days=5, parents_days=10)
    assert not shows_kiosk_reminder(policy, 2)
    assert shows_kiosk_reminder(policy, 3)


NOTICE_CASES = [
    # (name, days overdue, already sent, to send now)
    ("not yet", 4, set(), ()),
    ("class list", 5, set(), (Stage.CLASS_LIST,)),
    ("class list sent", 7, {Stage.CLASS_LIST}, ()),
    ("parents after class list", 10, {Stage.CLASS_LIST}, (Stage.PARENTS,)),
    ("a skipped stage is still sent", 12, set(), (Stage.CLASS_LIST, Stage.PARENTS)),
    ("everything sent", 40, {Stage.CLASS_LIST, Stage.PARENTS}, ()),
]


@pytest.mark.parametrize(
    ("days", "sent", "expected"),
    [case[1:] for case in NOTICE_CASES],
    ids=[case[0] for case in NOTICE_CASES],
)
def test_notices_due_never_twice(days, sent, expected):
    assert notices_due(POLICY, days, sent) == expected
