"""Counts for the status endpoint and staff page: this kiosk's checkouts, returns and visits today."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Loan, OutboxEvent
from kiosk.circulation.calendar import OpeningCalendar


@dataclass(frozen=True)
class CirculationCounts:
    """Today's figures are this kiosk's own; `open_loans` is every loan this kiosk knows of,
    its own and those pulled from the central (the whole library, as of the last sync)."""

    open_loans: int
    checkouts_today: int
    returns_today: int
    visits_today: int


def start_of_local_day(calendar: OpeningCalendar, now: dt.datetime) -> dt.datetime:
    local_midnight = dt.datetime.combine(calendar.local_date(now), dt.time(0), tzinfo=calendar.zone)
    return local_midnight.astimezone(dt.UTC)


def circulation_counts(
    session: Session, calendar: OpeningCalendar, now: dt.datetime, kiosk_id: str
) -> CirculationCounts:
    """Today's figures in the library's own time zone, counting only what was done at
    `kiosk_id`: loans pulled from the central (other kiosks' work) are not this kiosk's."""
    since = start_of_local_day(calendar, now)
    open_loans = session.scalar(select(func.count(Loan.id)).where(Loan.returned_at.is_(None)))
    checkouts = session.scalar(
        select(func.count(Loan.id)).where(Loan.kiosk_id == kiosk_id, Loan.checked_out_at >= since)
    )
    returns = session.scalar(
        select(func.count(Loan.id)).where(
            Loan.returned_kiosk_id == kiosk_id, Loan.returned_at >= since
        )
    )
    visits = session.scalar(
        select(func.count(OutboxEvent.id)).where(
            OutboxEvent.kind == "visit", OutboxEvent.created_at >= since
        )
    )
    return CirculationCounts(open_loans or 0, checkouts or 0, returns or 0, visits or 0)
