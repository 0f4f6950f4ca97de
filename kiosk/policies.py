"""The circulation rules' settings, built from config.toml for the kiosk and the central alike."""

from __future__ import annotations

from kiosk.circulation.calendar import OpeningCalendar
from kiosk.circulation.holds import HoldPolicy
from kiosk.config import Settings


def opening_calendar(settings: Settings) -> OpeningCalendar:
    """The library's opening days and hours (`[circulation]`), for due dates and hold shelves."""
    c = settings.circulation
    return OpeningCalendar.from_names(
        c.timezone, c.open_days, c.opens_at, c.closes_at, c.closed_dates
    )


def hold_policy(settings: Settings) -> HoldPolicy:
    """The hold rules' settings: `max_holds`, `hold_shelf_days`, on the opening calendar."""
    return HoldPolicy(
        max_holds=settings.circulation.max_holds,
        shelf_days=settings.circulation.hold_shelf_days,
        calendar=opening_calendar(settings),
    )
