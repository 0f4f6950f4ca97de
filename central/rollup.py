"""The roll-up behind the reports: loans and visits per local day, grade and source, and loans per student and per title in each month and school year, kept with the loans."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Row, delete, event, func, insert, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from central.reports.base import LibraryCalendar, class_group
from central.upsert import dialect_insert
from db.central_models import (
    CentralEvent,
    EventState,
    ReportDayCount,
    ReportRollupState,
    ReportStudentDay,
    ReportStudentPeriod,
    ReportTitlePeriod,
)
from db.models import Item, Loan, Patron
from kiosk.circulation.schoolyear import MonthDay, Period, SchoolCalendar, month_period

if TYPE_CHECKING:
    from kiosk.config import Settings

log = logging.getLogger(__name__)

# report_day_counts.grade of a student whose class names no grade.
NO_GRADE = 0
# Sign-ins the ledger applied in this session, folded in at the next flush (session.info key).
_PENDING_VISITS = "rollup_pending_visits"
# Rows written per statement by a rebuild.
_BATCH = 5000


@dataclass(frozen=True)
class RollupBasis:
    """What the roll-up's rows depend on besides the loans and sign-ins: the time zone its days
    are counted in and the day of the year its school years start ("09-01")."""

    timezone: str
    year_start: str

    @classmethod
    def of(cls, settings: Settings) -> RollupBasis:
        return cls.for_calendar(LibraryCalendar.from_settings(settings))

    @classmethod
    def for_calendar(cls, calendar: LibraryCalendar) -> RollupBasis:
        return cls(calendar.zone.key, str(calendar.school.year_start))

    def school(self) -> SchoolCalendar:
        """A calendar that knows which school year a day falls in."""
        start = MonthDay.parse(self.year_start)
        if start is None:
            raise ValueError(f"not a day of the year: {self.year_start!r}")
        return SchoolCalendar(year_start=start)


@dataclass(frozen=True)
class Sighting:
    """A student seen at an instant: a loan of a copy (`item_id`), or a sign-in (`is_visit`), at
    a kiosk or the desk."""

    patron_id: int
    at: dt.datetime
    source: str
    is_visit: bool
    item_id: int | None = None

    @property
    def order(self) -> tuple[dt.datetime, bool, str]:
        """Which of two sightings of a day came first: the earlier; on a tie the loan, then the
        source's name (the raw count in central.reports orders them the same way)."""
        return (self.at, self.is_visit, self.source)


def grade_of(grade: str | None, class_name: str | None) -> int:
    """The grade a roster row's class names, NO_GRADE when it names none."""
    found = class_group(grade or "", class_name or "").grade
    return NO_GRADE if found is None else found


# --- kept with the events ----------------------------------------------------------------------


def install_rollup(factory: sessionmaker[Session]) -> None:
    """Make `factory`'s sessions fold the loans each flush inserts, and the sign-ins the ledger
    applied, into the roll-up in their own transaction."""
    event.listen(factory, "after_flush", _after_flush)
    # A sign-in changes no row the session tracks, so no flush would carry it: it is folded
    # just before the commit instead.
    event.listen(factory, "before_commit", _fold_visits)
    event.listen(factory, "after_soft_rollback", _forget_pending)


def note_visit(session: Session, patron_id: int, at: dt.datetime, source: str) -> None:
    """Count a sign-in the ledger applied; it reaches the roll-up when the session commits.
    Caller commits."""
    session.info.setdefault(_PENDING_VISITS, []).append(Sighting(patron_id, at, source, True))


def _forget_pending(session: Session, previous_transaction: Any) -> None:
    # A sign-in noted in a transaction that rolled back was never applied.
    session.info.pop(_PENDING_VISITS, None)


def _after_flush(session: Session, flush_context: Any) -> None:
    # session.new still lists what this flush inserted (changes.py reads it the same way).
    sightings = [
        Sighting(obj.patron_id, obj.checked_out_at, obj.kiosk_id, False, obj.item_id)
        for obj in session.new
        if isinstance(obj, Loan)
    ]
    if sightings:
        record(session.connection(), sightings)


def _fold_visits(session: Session) -> None:
    visits = session.info.pop(_PENDING_VISITS, [])
    if visits:
        record(session.connection(), visits)


def rollup_zone(conn: Connection | Session) -> str | None:
    """The time zone the roll-up counts days in; None when it was never built."""
    state = _state(conn)
    return None if state is None else state.timezone


def _state(conn: Connection | Session) -> Row[str, str | None] | None:
    return conn.execute(
        select(ReportRollupState.timezone, ReportRollupState.year_start).where(
            ReportRollupState.id == 1
        )
    ).first()


def rollup_basis(conn: Connection | Session) -> RollupBasis | None:
    """The zone and school-year start the roll-up was built for; None when it was never built,
    or built before it counted periods."""
    row = _state(conn)
    if row is None or row.year_start is None:
        return None
    return RollupBasis(row.timezone, row.year_start)


# The periods whose loans the roll-up counts per student and per title.
COUNTED_KINDS = ("month", "year")


def counted_period(
    conn: Connection | Session, period: Period, calendar: LibraryCalendar
) -> str | None:
    """The key the roll-up counts `period`'s loans per student and per title under (a month's
    or a school year's), or None when it does not: another kind of period, or a roll-up built
    for another zone or school-year start than `calendar`'s (until the central rebuilds it)."""
    if period.kind not in COUNTED_KINDS:
        return None
    if rollup_basis(conn) != RollupBasis.for_calendar(calendar):
        return None
    return period.key


def record(conn: Connection, sightings: list[Sighting]) -> None:
    """Fold loans and sign-ins into the roll-up. Does nothing while the roll-up is unbuilt (the
    build reads them from the loans and events). Caller commits.

    A loan adds to its day, grade and source; a student's first sighting of a day is that day's
    visit, moved when an earlier one arrives later (a kiosk's push is late, history imported).
    Everything a student does on a day counts in the grade they were in when first seen that
    day: figures stay with the class at the time, whatever rollovers come after.
    """
    state = _state(conn)
    if state is None:
        return
    zone = ZoneInfo(state.timezone)
    keyed = [(s, s.at.astimezone(zone).date()) for s in sightings]
    patron_ids = {s.patron_id for s in sightings}
    grades = {
        pid: grade_of(g, c)
        for pid, g, c in conn.execute(
            select(Patron.id, Patron.grade, Patron.class_name).where(Patron.id.in_(patron_ids))
        )
    }
    wanted = {(s.patron_id, day) for s, day in keyed}
    table = ReportStudentDay
    known = {
        (pid, day): (Sighting(pid, first_at, source, is_visit), grade)
        for pid, day, first_at, is_visit, source, grade in conn.execute(
            select(
                table.patron_id,
                table.day,
                table.first_at,
                table.first_is_visit,
                table.first_source,
                table.grade,
            ).where(tuple_(table.patron_id, table.day).in_(wanted))
        )
    }
    days = _Fold(known)
    for sighting, day in keyed:
        days.add(sighting, day, grades.get(sighting.patron_id, NO_GRADE))
    _write_student_days(conn, list(days.student_days()), replace=set(known))
    _add_counts(conn, days.loans, days.visits)
    if state.year_start is not None:
        # A roll-up built before it counted periods has none to keep (the central rebuilds it).
        loans = [(s, day) for s, day in keyed if not s.is_visit]
        item_ids = {s.item_id for s, _ in loans if s.item_id is not None}
        title_of = dict(
            conn.execute(select(Item.id, Item.title_id).where(Item.id.in_(item_ids))).all()
        )
        periods = _Periods(RollupBasis(state.timezone, state.year_start))
        for sighting, day in loans:
            periods.add(sighting.patron_id, title_of.get(sighting.item_id or 0), day)
        periods.add_to(conn)


class _Fold:
    """Student-days and count changes of some sightings, starting from the stored student-days."""

    def __init__(self, known: dict[tuple[int, dt.date], tuple[Sighting, int]]) -> None:
        # (student, day) → their first sighting that day and the grade the day counts in.
        self.first = dict(known)
        self.changed: set[tuple[int, dt.date]] = set()
        self.loans: Counter[tuple[dt.date, int, str]] = Counter()
        self.visits: Counter[tuple[dt.date, int, str]] = Counter()

    def add(self, sighting: Sighting, day: dt.date, current_grade: int) -> None:
        key = (sighting.patron_id, day)
        seen = self.first.get(key)
        grade = current_grade if seen is None else seen[1]
        if not sighting.is_visit:
            self.loans[(day, grade, sighting.source)] += 1
        if seen is None or sighting.order < seen[0].order:
            if seen is not None:
                self.visits[(day, grade, seen[0].source)] -= 1
            self.visits[(day, grade, sighting.source)] += 1
            self.first[key] = (sighting, grade)
            self.changed.add(key)

    def student_days(self) -> Iterator[dict[str, Any]]:
        for key in self.changed:
            sighting, grade = self.first[key]
            yield {
                "patron_id": key[0],
                "day": key[1],
                "first_at": sighting.at,
                "first_is_visit": sighting.is_visit,
                "first_source": sighting.source,
                "grade": grade,
            }


class _Periods:
    """Loans per (period, student) and per (period, title) of some loans, for each loan's month
    and school year (keyed as Period.key: "2026-12", "2026-2027")."""

    def __init__(self, basis: RollupBasis) -> None:
        self.school = basis.school()
        # By kind of period ("month", "year"): (period key, student or title id) → loans.
        self.students: dict[str, Counter[tuple[str, int]]] = {k: Counter() for k in COUNTED_KINDS}
        self.titles: dict[str, Counter[tuple[str, int]]] = {k: Counter() for k in COUNTED_KINDS}
        self._keys: dict[dt.date, tuple[tuple[str, str], ...]] = {}

    def _periods_of(self, day: dt.date) -> tuple[tuple[str, str], ...]:
        keys = self._keys.get(day)
        if keys is None:
            year = self.school.school_year(self.school.school_year_of(day))
            month = month_period(day.year, day.month)
            keys = self._keys[day] = ((month.kind, month.key), (year.kind, year.key))
        return keys

    def add(self, patron_id: int, title_id: int | None, day: dt.date) -> None:
        for kind, key in self._periods_of(day):
            self.students[kind][(key, patron_id)] += 1
            if title_id is not None:
                self.titles[kind][(key, title_id)] += 1

    def add_to(self, conn: Connection, kinds: tuple[str, ...] = COUNTED_KINDS) -> None:
        """Add these counts of periods of `kinds` to the stored ones, and forget them (a rebuild
        writes each month's when it has read the month, so it never holds them all). Caller
        commits."""
        for model, key, counts in (
            (ReportStudentPeriod, "patron_id", self.students),
            (ReportTitlePeriod, "title_id", self.titles),
        ):
            rows = [
                {"period": period, key: some_id, "loans": n}
                for kind in kinds
                for (period, some_id), n in counts[kind].items()
            ]
            for kind in kinds:
                counts[kind].clear()
            _add_to_stored(conn, model, ("period", key), ("loans",), rows)


def _write_student_days(
    conn: Connection, rows: list[dict[str, Any]], replace: set[tuple[int, dt.date]]
) -> None:
    stale = [(r["patron_id"], r["day"]) for r in rows if (r["patron_id"], r["day"]) in replace]
    if stale:
        conn.execute(
            delete(ReportStudentDay).where(
                tuple_(ReportStudentDay.patron_id, ReportStudentDay.day).in_(stale)
            )
        )
    if rows:
        conn.execute(insert(ReportStudentDay), rows)


def _add_counts(
    conn: Connection,
    loans: Counter[tuple[dt.date, int, str]],
    visits: Counter[tuple[dt.date, int, str]],
) -> None:
    rows = _count_rows(loans, visits)
    _add_to_stored(conn, ReportDayCount, ("day", "grade", "source"), ("loans", "visits"), rows)


def _add_to_stored(
    conn: Connection,
    model: Any,
    key: tuple[str, ...],
    counted: tuple[str, ...],
    rows: list[dict[str, Any]],
) -> None:
    """Add the `counted` columns of `rows` to the stored rows of the same `key`, inserting those
    not stored yet. Caller commits."""
    if not rows:
        return
    upsert = dialect_insert(conn, model)
    statement = upsert.on_conflict_do_update(
        index_elements=list(key),
        set_={name: getattr(model, name) + upsert.excluded[name] for name in counted},
    )
    for n in range(0, len(rows), _BATCH):
        conn.execute(statement, rows[n : n + _BATCH])


def _count_rows(
    loans: Counter[tuple[dt.date, int, str]], visits: Counter[tuple[dt.date, int, str]]
) -> list[dict[str, Any]]:
    return [
        {"day": d, "grade": g, "source": s, "loans": loans[(d, g, s)], "visits": visits[(d, g, s)]}
        for d, g, s in set(loans) | set(visits)
        if loans[(d, g, s)] or visits[(d, g, s)]
    ]


# --- built from the loans and events -----------------------------------------------------------


def _months(first: dt.date, last: dt.date) -> Iterator[tuple[dt.date, dt.date]]:
    """[first day, first day after) of each calendar month from `first`'s to `last`'s."""
    start = first.replace(day=1)
    while start <= last:
        end = (start + dt.timedelta(days=32)).replace(day=1)
        yield start, end
        start = end


def student_number_in(payload: str) -> str | None:
    """The student number a stored sign-in event's JSON names, or None when it names none."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    number = body.get("student_number") if isinstance(body, dict) else None
    return number if isinstance(number, str) else None


def rebuild_rollup(session: Session, basis: RollupBasis, now: dt.datetime) -> int:
    """Count every loan and sign-in again, by local day in the basis's zone, a month at a time,
    and per student and title by month and school year. Returns the number of student-days.
    Caller commits.

    A student-day already in the roll-up keeps its grade (the class at the time, see `record`);
    days not seen before take the student's grade today.
    """
    zone = ZoneInfo(basis.timezone)
    conn = session.connection()
    grades = {
        pid: grade_of(g, c)
        for pid, g, c in conn.execute(select(Patron.id, Patron.grade, Patron.class_name))
    }
    by_number = {
        number: pid for pid, number in conn.execute(select(Patron.id, Patron.student_number))
    }
    visit = (
        CentralEvent.kind == "visit",
        CentralEvent.state != EventState.DUPLICATE,
        CentralEvent.recorded_at.is_not(None),
    )
    first_at = [
        conn.scalar(select(func.min(Loan.checked_out_at))),
        conn.scalar(select(func.min(CentralEvent.recorded_at)).where(*visit)),
    ]
    last_at = [
        conn.scalar(select(func.max(Loan.checked_out_at))),
        conn.scalar(select(func.max(CentralEvent.recorded_at)).where(*visit)),
    ]
    firsts = [a for a in first_at if a is not None]
    lasts = [a for a in last_at if a is not None]
    conn.execute(delete(ReportDayCount))
    conn.execute(delete(ReportStudentPeriod))
    conn.execute(delete(ReportTitlePeriod))
    periods = _Periods(basis)
    student_days = 0
    months: list[tuple[dt.date, dt.date]] = []
    if firsts and lasts:
        months = list(
            _months(
                min(_utc(a).astimezone(zone).date() for a in firsts),
                max(_utc(a).astimezone(zone).date() for a in lasts),
            )
        )
    # Days outside every month read (the zone moved them, or their loans are gone).
    outside = delete(ReportStudentDay)
    if months:
        outside = outside.where(
            (ReportStudentDay.day < months[0][0]) | (ReportStudentDay.day >= months[-1][1])
        )
    conn.execute(outside)
    for start, end in months:
        in_month = (ReportStudentDay.day >= start, ReportStudentDay.day < end)
        kept = {
            (pid, day): grade
            for pid, day, grade in conn.execute(
                select(
                    ReportStudentDay.patron_id, ReportStudentDay.day, ReportStudentDay.grade
                ).where(*in_month)
            )
        }
        conn.execute(delete(ReportStudentDay).where(*in_month))
        student_days += _rebuild_month(
            conn, zone, (start, end), grades, by_number, kept, visit, periods
        )
        # The month's loans are all read: its counts are complete.
        periods.add_to(conn, ("month",))
    periods.add_to(conn)
    conn.execute(delete(ReportRollupState))
    conn.execute(
        insert(ReportRollupState),
        {"id": 1, "timezone": basis.timezone, "year_start": basis.year_start, "built_at": now},
    )
    log.info(
        "report roll-up rebuilt in %s, school years from %s: %d student-days",
        basis.timezone,
        basis.year_start,
        student_days,
    )
    return student_days


def _utc(at: dt.datetime) -> dt.datetime:
    # Read through Core with the column type's processor: aware UTC; min()/max() lose the type.
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _rebuild_month(
    conn: Connection,
    zone: ZoneInfo,
    month: tuple[dt.date, dt.date],
    grades: dict[int, int],
    by_number: dict[str, int],
    kept: dict[tuple[int, dt.date], int],
    visit: tuple[Any, ...],
    periods: _Periods,
) -> int:
    start, end = month
    begin = dt.datetime.combine(start, dt.time(0), zone).astimezone(dt.UTC)
    until = dt.datetime.combine(end, dt.time(0), zone).astimezone(dt.UTC)
    days = _Fold({})
    for patron_id, at, source, item_id, title_id in conn.execute(
        select(Loan.patron_id, Loan.checked_out_at, Loan.kiosk_id, Loan.item_id, Item.title_id)
        .outerjoin(Item, Item.id == Loan.item_id)
        .where(Loan.checked_out_at >= begin, Loan.checked_out_at < until)
    ):
        day = at.astimezone(zone).date()
        grade = kept.get((patron_id, day), grades.get(patron_id, NO_GRADE))
        days.add(Sighting(patron_id, at, source, False, item_id), day, grade)
        periods.add(patron_id, title_id, day)
    for payload, seen_at, kiosk_id in conn.execute(
        select(CentralEvent.payload, CentralEvent.recorded_at, CentralEvent.kiosk_id).where(
            *visit, CentralEvent.recorded_at >= begin, CentralEvent.recorded_at < until
        )
    ):
        visitor = by_number.get(student_number_in(payload) or "")
        if visitor is None or seen_at is None:
            continue
        day = seen_at.astimezone(zone).date()
        grade = kept.get((visitor, day), grades.get(visitor, NO_GRADE))
        days.add(Sighting(visitor, seen_at, kiosk_id, True), day, grade)
    rows = list(days.student_days())
    for n in range(0, len(rows), _BATCH):
        conn.execute(insert(ReportStudentDay), rows[n : n + _BATCH])
    counts = _count_rows(days.loans, days.visits)
    for n in range(0, len(counts), _BATCH):
        conn.execute(insert(ReportDayCount), counts[n : n + _BATCH])
    return len(rows)


def ensure_rollup(factory: sessionmaker[Session], basis: RollupBasis, now: dt.datetime) -> bool:
    """Build the roll-up when it was never built, or for another zone or school-year start than
    `basis` (a setting changed); True when it did. One transaction."""
    with factory.begin() as session:
        if rollup_basis(session) == basis:
            return False
        rebuild_rollup(session, basis, now)
        return True
