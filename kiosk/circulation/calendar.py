"""The library's opening calendar: which days are open, and when a loan falls due."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# A calendar with no open day at all within a year is a configuration mistake, not a reason
# to loop forever.
MAX_SEARCH_DAYS = 366


@dataclass(frozen=True)
class OpeningCalendar:
    """Open weekdays, daily hours and closed dates (holidays), in the library's time zone."""

    timezone: str = "Asia/Shanghai"
    open_weekdays: frozenset[int] = frozenset(range(5))
    opens_at: dt.time = dt.time(8, 0)
    closes_at: dt.time = dt.time(17, 0)
    closed_dates: frozenset[dt.date] = frozenset()

    @classmethod
    def from_names(
        cls,
        timezone: str,
        open_days: tuple[str, ...],
        opens_at: dt.time,
        closes_at: dt.time,
        closed_dates: tuple[dt.date, ...] = (),
    ) -> OpeningCalendar:
        return cls(
            timezone=timezone,
            open_weekdays=frozenset(WEEKDAY_NAMES.index(d) for d in open_days),
            opens_at=opens_at,
            closes_at=closes_at,
            closed_dates=frozenset(closed_dates),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_date(self, at: dt.datetime) -> dt.date:
        """The library's calendar date at the instant `at` (aware)."""
        return at.astimezone(self.zone).date()

    def is_open_day(self, day: dt.date) -> bool:
        return day.weekday() in self.open_weekdays and day not in self.closed_dates

    def next_open_day(self, day: dt.date) -> dt.date:
        """`day` itself if the library opens that day, else the first open day after it."""
        for offset in range(MAX_SEARCH_DAYS):
            candidate = day + dt.timedelta(days=offset)
            if self.is_open_day(candidate):
                return candidate
        return day

    def open_days_after(self, day: dt.date, count: int) -> dt.date:
        """The `count`-th open day after `day` (`day` itself never counts); `day` for 0."""
        found = 0
        candidate = day
        for _ in range(MAX_SEARCH_DAYS * max(1, count)):
            if found >= count:
                break
            candidate += dt.timedelta(days=1)
            if self.is_open_day(candidate):
                found += 1
        return candidate

    def closing_time(self, day: dt.date) -> dt.datetime:
        """Closing time on `day`, as aware UTC."""
        return dt.datetime.combine(day, self.closes_at, tzinfo=self.zone).astimezone(dt.UTC)

    def due_at(self, now: dt.datetime, loan_days: int) -> dt.datetime:
        """Closing time of the first open day at least `loan_days` after `now`, as aware UTC.

        Due at closing time rather than midnight, so "due Friday" means the student can still
        bring the book back on Friday.
        """
        due_day = self.next_open_day(self.local_date(now) + dt.timedelta(days=loan_days))
        local = dt.datetime.combine(due_day, self.closes_at, tzinfo=self.zone)
        return local.astimezone(dt.UTC)
