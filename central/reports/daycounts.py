"""Loans (册次) and first sightings (人次) per local day, grade and source, counted in the database."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Date, Integer, case, cast, func, literal, literal_column, select, union_all
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from central.reports.base import LibraryCalendar, class_group
from central.rollup import NO_GRADE
from db.central_models import CentralEvent, EventState, ReportDayCount
from db.models import Loan, Patron
from kiosk.circulation.schoolyear import Period

# (grade, source): the grade the roster puts the student in (None: no class), the kiosk id or
# "desk" / "import" the loan or sign-in came from.
Part = tuple[int | None, str]


@dataclass
class DayCounts:
    """One local day: loans and visits by (grade, source). A visit is counted where the student
    was first seen that day."""

    loans: Counter[Part] = field(default_factory=Counter)
    visits: Counter[Part] = field(default_factory=Counter)


def fixed_offset(calendar: LibraryCalendar, span: Period) -> dt.timedelta | None:
    """The zone's one UTC offset over the whole span, or None when it changes (DST) inside it."""
    offsets = {
        calendar.start_of(span.start + dt.timedelta(days=n)).astimezone(calendar.zone).utcoffset()
        for n in range((span.end - span.start).days + 1)
    }
    if len(offsets) != 1:
        return None
    (offset,) = offsets
    return offset


def _local_day(session: Session, at: Any, offset: dt.timedelta) -> ColumnElement[Any]:
    """The library's date of the naive-UTC instant `at`, when the zone keeps one offset."""
    seconds = int(offset.total_seconds())
    if session.get_bind().dialect.name == "postgresql":
        shifted = at.op("+")(literal_column(f"interval '{seconds} seconds'"))
        return cast(shifted, Date)
    return func.date(at, f"{seconds:+d} seconds")


def _student_number(session: Session) -> ColumnElement[Any]:
    """A visit event's student number, NULL unless the payload is an object with a string there."""
    if session.get_bind().dialect.name == "postgresql":
        # Payloads are written by the intake's JSON encoder, so they always parse.
        body = cast(CentralEvent.payload, JSONB)
        return case(
            (func.jsonb_typeof(body["student_number"]) == "string", body["student_number"].astext),
            else_=None,
        )
    valid = func.json_valid(CentralEvent.payload) == 1
    number = func.json_extract(CentralEvent.payload, "$.student_number")
    kind = func.json_type(CentralEvent.payload, "$.student_number")
    return case((valid & (kind == "text"), number), else_=None)


def count_days(
    session: Session, calendar: LibraryCalendar, span: Period, offset: dt.timedelta
) -> dict[dt.date, DayCounts]:
    """Loans and visits of each local day of `span`, grouped in one query: loans and the sign-ins
    ("visit" events, less copies a kiosk sent twice) ranked per student and day by time, loans
    first on a tie, then by source (as central.rollup.Sighting.order), the first of each counted
    as the visit."""
    start, end = calendar.bounds(span)
    loans = select(
        Loan.patron_id.label("patron_id"),
        Loan.checked_out_at.label("at"),
        Loan.kiosk_id.label("source"),
        literal(0).label("is_visit"),
    ).where(Loan.checked_out_at >= start, Loan.checked_out_at < end)
    signins = (
        select(
            Patron.id,
            CentralEvent.recorded_at,
            CentralEvent.kiosk_id,
            literal(1),
        )
        .join(Patron, Patron.student_number == _student_number(session))
        .where(
            CentralEvent.kind == "visit",
            CentralEvent.state != EventState.DUPLICATE,
            CentralEvent.recorded_at >= start,
            CentralEvent.recorded_at < end,
        )
    )
    seen = union_all(loans, signins).subquery()
    day = _local_day(session, seen.c.at, offset)
    first = func.row_number().over(
        partition_by=(seen.c.patron_id, day), order_by=(seen.c.at, seen.c.is_visit, seen.c.source)
    )
    ranked = select(
        seen.c.patron_id,
        day.label("day"),
        seen.c.source,
        seen.c.is_visit,
        first.label("nth"),
    ).subquery()
    rows = session.execute(
        select(
            ranked.c.day,
            Patron.grade,
            Patron.class_name,
            ranked.c.source,
            func.sum(case((ranked.c.is_visit == 0, 1), else_=0)),
            func.sum(case((ranked.c.nth == 1, 1), else_=0)),
        )
        .outerjoin(Patron, Patron.id == ranked.c.patron_id)
        .group_by(ranked.c.day, Patron.grade, Patron.class_name, ranked.c.source)
    )
    grades: dict[tuple[str, str], int | None] = {}
    days: dict[dt.date, DayCounts] = defaultdict(DayCounts)
    for local, grade, class_name, source, n_loans, n_visits in rows:
        pair = (grade or "", class_name or "")
        if pair not in grades:
            grades[pair] = class_group(*pair).grade
        counts = days[local if isinstance(local, dt.date) else dt.date.fromisoformat(local)]
        part = (grades[pair], source)
        if n_loans:
            counts.loans[part] += n_loans
        if n_visits:
            counts.visits[part] += n_visits
    return days


def rolled_up_days(session: Session, span: Period) -> dict[dt.date, DayCounts]:
    """count_days read from the daily roll-up (central.rollup): a few rows a day."""
    days: dict[dt.date, DayCounts] = defaultdict(DayCounts)
    # Core on the connection: the ORM's row handling would double the time for a year's rows.
    for day, grade, source, n_loans, n_visits in session.connection().execute(
        select(
            ReportDayCount.day,
            ReportDayCount.grade,
            ReportDayCount.source,
            ReportDayCount.loans,
            ReportDayCount.visits,
        ).where(ReportDayCount.day >= span.start, ReportDayCount.day < span.end)
    ):
        counts = days[day]
        part = (None if grade == NO_GRADE else grade, source)
        if n_loans:
            counts.loans[part] += n_loans
        if n_visits:
            counts.visits[part] += n_visits
    return days


def rolled_up_sums(session: Session, spans: list[tuple[dt.date, dt.date]]) -> list[DayCounts]:
    """Loans and visits of each [first day, first day after) span by (grade, source), summed in
    the database from the daily roll-up: one statement, a few dozen rows a span however long."""
    day = ReportDayCount.day
    parts = [
        select(
            literal(n, Integer).label("span"),
            ReportDayCount.grade,
            ReportDayCount.source,
            func.sum(ReportDayCount.loans),
            func.sum(ReportDayCount.visits),
        )
        .where(day >= start, day < end)
        .group_by(ReportDayCount.grade, ReportDayCount.source)
        for n, (start, end) in enumerate(spans)
    ]
    sums = [DayCounts() for _ in spans]
    if not parts:
        return sums
    for n, grade, source, n_loans, n_visits in session.connection().execute(union_all(*parts)):
        part = (None if grade == NO_GRADE else grade, source)
        if n_loans:
            sums[n].loans[part] += int(n_loans)
        if n_visits:
            sums[n].visits[part] += int(n_visits)
    return sums
