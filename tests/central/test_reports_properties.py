"""Properties of the reports over any history: the classes add up to the school, and a report changes nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from central.db import make_central_session_factory, open_central_engine
from central.reports.base import LibraryCalendar
from central.reports.circulation import circulation
from central.reports.classes import class_ranking
from db.models import Loan
from kiosk.circulation.schoolyear import SchoolCalendar, parse_period
from tests.central.report_history import build_history

CALENDAR = LibraryCalendar(SchoolCalendar(), ZoneInfo("Asia/Shanghai"))
PERIODS = ["2026-09", "2026-T1", "2026-T2", "2026-2027", "2025-2026", "2026-10-01..2026-10-07"]
TABLES = ["patrons", "titles", "items", "loans", "central_events", "central_change_log"]


def _snapshot(session) -> dict[str, int]:
    return {t: session.scalar(select(func.count()).select_from(text(t))) for t in TABLES}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    students=st.integers(1, 5),
    loans=st.integers(0, 120),
    visits=st.integers(1, 40),
    period_text=st.sampled_from(PERIODS),
    measure=st.sampled_from(["loans_per_student", "loans", "borrowers", "share_borrowed"]),
)
def test_class_totals_add_up_and_reports_change_nothing(
    seed, students, loans, visits, period_text, measure
):
    period = parse_period(period_text, CALENDAR.school)
    assert period is not None
    calendar = LibraryCalendar(CALENDAR.school, CALENDAR.zone, measure)
    with tempfile.TemporaryDirectory() as folder:
        engine = open_central_engine(str(Path(folder) / "central.sqlite3"))
        factory = make_central_session_factory(engine)
        try:
            with factory.begin() as session:
                build_history(
                    session, seed=seed, students_per_class=students, loans=loans, visits=visits
                )
            with factory() as session:
                before = _snapshot(session)
                ranking = class_ranking(session, period, calendar)
                flow = circulation(session, period, "month", calendar)
                start, end = calendar.bounds(period)
                in_period = (Loan.checked_out_at >= start, Loan.checked_out_at < end)
                school_loans = session.scalar(select(func.count(Loan.id)).where(*in_period))
                school_borrowers = session.scalar(
                    select(func.count(func.distinct(Loan.patron_id))).where(*in_period)
                )
                students_total = session.scalar(
                    text("SELECT count(*) FROM patrons WHERE status != 'left'")
                )
                assert sum(r["loans"] for r in ranking.rows) == school_loans
                assert sum(r["borrowers"] for r in ranking.rows) == school_borrowers
                assert sum(r["students"] for r in ranking.rows) == students_total
                assert sum(r["loans"] for r in flow.rows) == school_loans
                assert flow.notes["total"]["loans"] == school_loans
                ranks = [r["rank"] for r in ranking.rows if r["rank"] is not None]
                assert ranks == sorted(ranks) and (not ranks or ranks[0] == 1)
                # Running a report again gives the same answer and writes nothing.
                assert class_ranking(session, period, calendar).as_json() == ranking.as_json()
                assert circulation(session, period, "month", calendar).as_json() == flow.as_json()
                assert _snapshot(session) == before
        finally:
            engine.dispose()
