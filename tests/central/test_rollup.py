"""The reports' roll-up against counts from the raw loans and sign-ins, for random histories written through the real paths."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

import run_kiosk
from central.db import make_central_session_factory, open_central_engine
from central.desk import record_central_event
from central.history import import_loans
from central.intake import parse_push, push_batch, register_kiosk
from central.reports.base import LibraryCalendar
from central.reports.books import popular_books
from central.reports.circulation import circulation
from central.reports.classes import class_ranking
from central.reports.summary import year_summary
from central.rollup import RollupBasis, counted_period, ensure_rollup, rebuild_rollup, rollup_zone
from db.central_models import (
    Kiosk,
    ReportDayCount,
    ReportRollupState,
    ReportStudentDay,
    ReportStudentPeriod,
    ReportTitlePeriod,
)
from db.models import Item, Patron
from kiosk.circulation.schoolyear import MonthDay, SchoolCalendar, parse_period
from kiosk.services.demo import seed_demo_library
from tests.central.conftest import CentralDB, SimKiosk, drain_ledger, iso
from tests.central.report_history import build_history
from tests.conftest import FakeClock
from tests.pgserver import MIGRATED_TEMPLATE

NOW = dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC)
SCHOOL = SchoolCalendar()
# Around the end of summer time in Berlin (25 October 2026), and Shanghai's one offset.
FIRST_DAY = dt.date(2026, 10, 20)
SHANGHAI = RollupBasis("Asia/Shanghai", "09-01")
SPANS = ["2026-10-15..2026-11-10", "2026-10", "2026-2027"]
# Periods the roll-up counts per student and per title: a month and a school year.
COUNTED = ["2026-10", "2026-11", "2026-2027"]

action = st.tuples(
    st.sampled_from(["kiosk", "return_elsewhere", "visit", "desk", "import"]),
    st.integers(0, 1),  # which kiosk
    st.integers(0, 8),  # which student
    st.integers(0, 13),  # which copy
    st.integers(0, 10),  # day after FIRST_DAY
    st.sampled_from([0, 1, 7, 12, 22, 23]),  # hour, library time
    st.sampled_from([0, 30]),  # minute: sightings at the very same instant too
)


def _tables(session: Any) -> tuple[set[tuple[Any, ...]], ...]:
    counts = {
        tuple(r) for r in session.execute(select(ReportDayCount.__table__)) if r.loans or r.visits
    }
    days = {tuple(r) for r in session.execute(select(ReportStudentDay.__table__))}
    students = {tuple(r) for r in session.execute(select(ReportStudentPeriod.__table__))}
    titles = {tuple(r) for r in session.execute(select(ReportTitlePeriod.__table__))}
    return counts, days, students, titles


def _rankings(session: Any, calendar: LibraryCalendar) -> list[Any]:
    """The class ranking and the popular books (all, and only the first two) of each counted
    period: what the per-student and per-title counts answer."""
    out = []
    for text in COUNTED:
        period = parse_period(text, SCHOOL)
        assert period is not None
        out.append(class_ranking(session, period, calendar).as_json())
        out.append(popular_books(session, period, calendar).as_json())
        out.append(popular_books(session, period, calendar, limit=2).as_json())
    return out


def _raw_and_rolled(central_db: CentralDB, calendar: LibraryCalendar) -> list[tuple[Any, Any]]:
    pairs = []
    with central_db.factory() as session:
        assert rollup_zone(session) == calendar.zone.key
        for text in SPANS:
            span = parse_period(text, SCHOOL)
            assert span is not None
            # By day the roll-up's days are read; by month each month is summed in the database.
            for by in ("day", "month"):
                pairs.append((circulation(session, span, by, calendar).as_json(), text))
        pairs.append(
            (year_summary(session, parse_period("2026-2027", SCHOOL), calendar).as_json(), "y")
        )
        pairs += [(report, "ranking") for report in _rankings(session, calendar)]
        # Without the state row the reports count from the loans and events themselves.
        session.execute(delete(ReportRollupState))
        period = parse_period("2026-2027", SCHOOL)
        assert period is not None
        assert counted_period(session, period, calendar) is None
        raw = [
            circulation(session, parse_period(t, SCHOOL), by, calendar).as_json()
            for t in SPANS
            for by in ("day", "month")
        ]
        raw.append(year_summary(session, parse_period("2026-2027", SCHOOL), calendar).as_json())
        raw += _rankings(session, calendar)
        session.rollback()
    return [(rolled, r) for (rolled, _), r in zip(pairs, raw, strict=True)]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_central(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Makes a new migrated central database with the demo library for each example."""
    engines = []

    def make() -> CentralDB:
        if request.param == "sqlite":
            url = str(tmp_path / f"central{len(engines)}.sqlite3")
        else:
            url = request.getfixturevalue("postgres_server").create_database(
                template=MIGRATED_TEMPLATE
            )
        engine = open_central_engine(url)
        engines.append(engine)
        db = CentralDB(request.param, url, engine, make_central_session_factory(engine))
        with db.factory.begin() as session:
            seed_demo_library(session, NOW)
        return db

    yield make
    for engine in engines:
        engine.dispose()


def _push(central_db: CentralDB, kiosk_id: str, events: list[dict[str, Any]]) -> None:
    """A kiosk's push as the sync endpoint stores it, then the ledger worker's apply."""
    if not events:
        return
    with central_db.factory.begin() as session:
        kiosk = session.get(Kiosk, kiosk_id)
        if kiosk is None:
            kiosk, _ = register_kiosk(session, kiosk_id, kiosk_id, NOW)
        request = parse_push(
            {
                "kiosk_id": kiosk_id,
                "epoch": events[0]["epoch"],
                "sent_at": iso(NOW),
                "events": events,
            }
        )
        push_batch(session, kiosk, request, FakeClock(NOW))
    drain_ledger(central_db.factory, FakeClock(NOW))


@pytest.mark.parametrize("zone_name", ["Asia/Shanghai", "Europe/Berlin"])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=st.lists(action, min_size=1, max_size=25), push_b_first=st.booleans())
def test_rolled_up_figures_equal_the_raw_count(fresh_central, zone_name, actions, push_b_first):
    """Kiosk loans pushed late and out of order, returns at the other kiosk, sign-ins, desk loans
    and imported history: the roll-up kept with each write gives the figures the loans give, and
    a rebuild from the loans finds the roll-up as it was kept."""
    central_db = fresh_central()
    zone = ZoneInfo(zone_name)
    calendar = LibraryCalendar(SCHOOL, zone)
    assert ensure_rollup(central_db.factory, RollupBasis(zone_name, "09-01"), NOW)
    kiosks = [SimKiosk(f"kiosk-{n}", "", None) for n in "ab"]  # type: ignore[arg-type]
    with central_db.factory() as s:
        students = list(s.scalars(select(Patron.student_number).order_by(Patron.id)))
        copies = list(s.scalars(select(Item.barcode).order_by(Item.id)))
    lent: list[tuple[int, dict[str, Any]]] = []
    rows = []
    for kind, k, who, copy, day, hour, minute in actions:
        at = dt.datetime.combine(
            FIRST_DAY + dt.timedelta(days=day), dt.time(hour, minute), zone
        ).astimezone(dt.UTC)
        student, barcode = students[who % len(students)], copies[copy % len(copies)]
        if kind == "kiosk":
            lent.append((k, kiosks[k].checkout(barcode, student, at)))
        elif kind == "return_elsewhere" and lent:
            where, loan = lent[copy % len(lent)]
            kiosks[1 - where].checkin(loan, at + dt.timedelta(hours=1))
        elif kind == "visit":
            kiosks[k].visit(student, at)
        elif kind == "desk":
            with central_db.factory.begin() as s:
                fields = {
                    "loan_uuid": str(uuid.uuid4()),
                    "item_barcode": barcode,
                    "isbn13": None,
                    "student_number": student,
                    "checked_out_at": at,
                    "due_at": at + dt.timedelta(days=14),
                }
                record_central_event(s, "checkout", fields, at)
        elif kind == "import":
            local = at.astimezone(zone)
            back = local + dt.timedelta(days=3)
            rows.append(f"{student},{barcode},{local:%Y-%m-%d %H:%M},,{back:%Y-%m-%d %H:%M}")
    for kiosk in reversed(kiosks) if push_b_first else kiosks:
        _push(central_db, kiosk.kiosk_id, kiosk.outbox)
    if rows:
        data = "student number,barcode,checked out,due date,returned\n" + "\n".join(rows)
        with central_db.factory.begin() as s:
            import_loans(s, data.encode(), "loans.csv", zone=zone, loan_days=14, now=NOW)
    for rolled, raw in _raw_and_rolled(central_db, calendar):
        assert rolled == raw
    with central_db.factory.begin() as s:
        kept = _tables(s)
        rebuild_rollup(s, RollupBasis(zone_name, "09-01"), NOW)
        assert _tables(s) == kept


def _by_day(central_db: CentralDB, calendar: LibraryCalendar, text: str) -> dict[str, Any]:
    span = parse_period(text, SCHOOL)
    assert span is not None
    with central_db.factory() as session:
        return circulation(session, span, "month", calendar).as_json()


def test_a_roll_up_in_another_zone_is_not_used_and_the_central_rebuilds_it(
    central_db: CentralDB, tmp_path, capsys, caplog
):
    with central_db.factory.begin() as session:
        build_history(session)
    berlin = LibraryCalendar(SCHOOL, ZoneInfo("Europe/Berlin"))
    raw = _by_day(central_db, berlin, "2026-09-01..2027-03-31")
    config = tmp_path / "config.toml"
    config.write_text(f'[central]\ndatabase_url = "{central_db.url}"\n')
    assert run_kiosk.main(["rebuild-rollup", "--config", str(config)]) == 2
    assert "add --central" in capsys.readouterr().err
    # The default [circulation] timezone is Shanghai's.
    assert run_kiosk.main(["rebuild-rollup", "--central", "--config", str(config)]) == 0
    assert "Asia/Shanghai" in capsys.readouterr().out
    caplog.clear()
    # Counted in Shanghai, asked in Berlin: the loans are counted again, with a warning.
    assert _by_day(central_db, berlin, "2026-09-01..2027-03-31") == raw
    assert "rebuild-rollup" in caplog.text
    assert not ensure_rollup(central_db.factory, SHANGHAI, NOW)
    assert ensure_rollup(central_db.factory, RollupBasis("Europe/Berlin", "09-01"), NOW)
    caplog.clear()
    assert _by_day(central_db, berlin, "2026-09-01..2027-03-31") == raw
    assert "rebuild-rollup" not in caplog.text


def test_figures_stay_with_the_grade_of_the_time(central_db: CentralDB):
    shanghai = LibraryCalendar(SCHOOL, ZoneInfo("Asia/Shanghai"))
    assert ensure_rollup(central_db.factory, SHANGHAI, NOW)
    with central_db.factory.begin() as session:
        seed_demo_library(session, NOW)
        student = session.scalars(select(Patron).order_by(Patron.id)).first()
        assert student is not None
        student.grade, student.class_name = "", "三年级2班"
        barcode = session.scalars(select(Item.barcode).order_by(Item.id)).first()
    at = dt.datetime(2026, 10, 12, 2, tzinfo=dt.UTC)
    with central_db.factory.begin() as session:
        fields = {
            "loan_uuid": str(uuid.uuid4()),
            "item_barcode": barcode,
            "isbn13": None,
            "student_number": student.student_number,
            "checked_out_at": at,
            "due_at": at + dt.timedelta(days=14),
        }
        record_central_event(session, "checkout", fields, at)
    # The next school year's rollover (or a roster import) moves the student up a grade.
    with central_db.factory.begin() as session:
        moved = session.get(Patron, student.id)
        assert moved is not None
        moved.class_name = "四年级2班"
    (row,) = _by_day(central_db, shanghai, "2026-10")["rows"]
    assert [(g["grade"], g["loans"]) for g in row["by_grade"]] == [(3, 1)]
    # Rebuilt (the same zone), the day keeps its grade.
    with central_db.factory.begin() as session:
        rebuild_rollup(session, SHANGHAI, NOW)
    (row,) = _by_day(central_db, shanghai, "2026-10")["rows"]
    assert [(g["grade"], g["loans"]) for g in row["by_grade"]] == [(3, 1)]


def test_a_roll_up_from_another_school_year_start_is_not_used_and_the_central_rebuilds_it(
    central_db: CentralDB,
):
    with central_db.factory.begin() as session:
        build_history(session)
    assert ensure_rollup(central_db.factory, SHANGHAI, NOW)
    # The school moves its year's start to 15 August: the roll-up's school years are wrong now.
    school = SchoolCalendar(year_start=MonthDay(8, 15))
    calendar = LibraryCalendar(school, ZoneInfo("Asia/Shanghai"))
    year = school.school_year(2026)

    def reports(session: Any) -> list[Any]:
        return [
            class_ranking(session, year, calendar).as_json(),
            popular_books(session, year, calendar, limit=3).as_json(),
        ]

    with central_db.factory() as session:
        assert counted_period(session, year, calendar) is None
        kept = reports(session)
        # Without the state row the reports count from the loans.
        session.execute(delete(ReportRollupState))
        raw = reports(session)
        session.rollback()
    assert kept == raw
    assert ensure_rollup(central_db.factory, RollupBasis("Asia/Shanghai", "08-15"), NOW)
    with central_db.factory() as session:
        assert counted_period(session, year, calendar) == "2026-2027"
        assert reports(session) == raw
    assert raw[0]["school"]["loans"] and raw[1]["rows"]
