"""Counts for the status endpoint and staff page: open loans, today's checkouts, returns, visits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Loan, OutboxEvent
from kiosk.circulation.calendar import OpeningCalendar


@dataclass(frozen=True)
class CirculationCounts:
    open_loans: int
    checkouts_today: int
    returns_today: int
    visits_today: int


def start_of_local_day(calendar: OpeningCalendar, now: dt.datetime) -> dt.datetime:
    local_midnight = dt.datetime.combine(calendar.local_date(now), dt.time(0), tzinfo=calendar.zone)
    return local_midnight.astimezone(dt.UTC)


def circulation_counts(
    session: Session, calendar: OpeningCalendar, now: dt.datetime
) -> CirculationCounts:
    """Today's figures in the library's own time zone."""
    since = start_of_local_day(calendar, now)
    open_loans = session.scalar(select(func.count(Loan.id)).where(Loan.returned_at.is_(None)))
    checkouts = session.scalar(select(func.count(Loan.id)).where(Loan.checked_out_at >= since))
    returns = session.scalar(select(func.count(Loan.id)).where(Loan.returned_at >= since))
    visits = session.scalar(
        select(func.count(OutboxEvent.id)).where(
            OutboxEvent.kind == "visit", OutboxEvent.created_at >= since
        )
    )
    return CirculationCounts(open_loans or 0, checkouts or 0, returns or 0, visits or 0)
