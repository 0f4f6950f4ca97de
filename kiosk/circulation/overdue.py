"""Overdue chase (催还) rules: days overdue as the library counts them, and the escalation stages."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from kiosk.circulation.calendar import OpeningCalendar


class Stage(enum.StrEnum):
    """A step of the chase, in the order a late book reaches them."""

    # The kiosk reminds the student at sign-in ("《X》已经超期N天了" and please bring it back).
    KIOSK_REMINDER = "kiosk_reminder"
    # The book is on the class teacher's 催还单 (printed per class).
    CLASS_LIST = "class_list"
    # The parents are told: by e-mail, or through the school's SMS platform (an export).
    PARENTS = "parents"
    # Kept so long it is probably lost: the librarian is offered the loss case.
    LONG_OVERDUE = "long_overdue"


class Channel(enum.StrEnum):
    """How a recorded notice went out."""

    EMAIL = "email"
    # Handed to the school's own SMS platform as a row of an export file.
    SMS = "sms"
    # A line on a printed 催还单 for the class teacher.
    PRINT = "print"


# Stages that produce a notice somebody sends, so they are recorded and never repeated. The kiosk
# reminder repeats at every sign-in by design; the long-overdue stage is a suggestion to the
# librarian, not a message.
NOTICE_STAGES = (Stage.CLASS_LIST, Stage.PARENTS)


@dataclass(frozen=True)
class ChasePolicy:
    """Thresholds in days overdue for each stage, and how those days are counted."""

    kiosk_reminder_days: int = 1
    class_list_days: int = 7
    parents_days: int = 14
    long_overdue_days: int = 42
    # False: only the library's open days count (a book due on Friday is 1 day late on Monday,
    # and the winter holidays in `closed_dates` add nothing); True: every calendar day counts.
    count_closed_days: bool = False
    calendar: OpeningCalendar = field(default_factory=OpeningCalendar)

    def threshold_days(self, stage: Stage) -> int:
        return {
            Stage.KIOSK_REMINDER: self.kiosk_reminder_days,
            Stage.CLASS_LIST: self.class_list_days,
            Stage.PARENTS: self.parents_days,
            Stage.LONG_OVERDUE: self.long_overdue_days,
        }[stage]


def days_overdue(
    calendar: OpeningCalendar, due_at: dt.datetime, now: dt.datetime, *, count_closed_days: bool
) -> int:
    """Days a loan due at `due_at` is late at `now`, as the library counts them; 0 if not late.

    Days are the library's local dates after the due date, up to and including today. With
    `count_closed_days` False a day counts only when the library opens that day (its weekdays
    and `closed_dates`): a student cannot bring a book back on a day the library is shut.
    """
    if now <= due_at:
        return 0
    due_day = calendar.local_date(due_at)
    today = calendar.local_date(now)
    if count_closed_days:
        return max(0, (today - due_day).days)
    # A loan years overdue is counted without walking every day: whole weeks first.
    total_days = (today - due_day).days
    weeks, rest = divmod(total_days, 7)
    open_per_week = len(calendar.open_weekdays)
    count = weeks * open_per_week
    day = due_day + dt.timedelta(days=weeks * 7)
    for _ in range(rest):
        day += dt.timedelta(days=1)
        if day.weekday() in calendar.open_weekdays:
            count += 1
    closed_open_weekdays = sum(
        1
        for closed in calendar.closed_dates
        if due_day < closed <= today and closed.weekday() in calendar.open_weekdays
    )
    return count - closed_open_weekdays


def loan_days_overdue(policy: ChasePolicy, due_at: dt.datetime, now: dt.datetime) -> int:
    """`days_overdue` under `policy`'s counting."""
    return days_overdue(policy.calendar, due_at, now, count_closed_days=policy.count_closed_days)


def stages_reached(policy: ChasePolicy, days: int) -> tuple[Stage, ...]:
    """Every stage whose threshold `days` has reached, in escalation order."""
    if days <= 0:
        return ()
    return tuple(stage for stage in Stage if days >= policy.threshold_days(stage))


def current_stage(policy: ChasePolicy, days: int) -> Stage | None:
    """The furthest stage `days` overdue has reached, or None before the first."""
    reached = stages_reached(policy, days)
    return reached[-1] if reached else None


def shows_kiosk_reminder(policy: ChasePolicy, days: int) -> bool:
    """Whether the kiosk reminds the student of this loan at sign-in."""
    return Stage.KIOSK_REMINDER in stages_reached(policy, days)


def notices_due(
    policy: ChasePolicy, days: int, sent: frozenset[Stage] | set[Stage]
) -> tuple[Stage, ...]:
    """The notice stages to send now for a loan `days` overdue, given the stages already `sent`.

    A stage is sent once per loan whatever happens later; a loan that skipped a stage (the
    chase did not run for a while) gets every stage it has reached, in order, so the class
    teacher still has it on the list when the parents hear of it.
    """
    return tuple(
        stage
        for stage in stages_reached(policy, days)
        if stage in NOTICE_STAGES and stage not in sent
    )
