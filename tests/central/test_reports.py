"""The reports' figures against counts the test makes itself from a known history, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from zoneinfo import ZoneInfo

import pytest

from central.reports.base import LibraryCalendar
from central.reports.books import new_books, popular_books
from central.reports.circulation import circulation
from central.reports.classes import class_ranking
from central.reports.daycounts import fixed_offset
from central.reports.summary import year_summary
from central.rollup import RollupBasis, ensure_rollup
from kiosk.circulation.schoolyear import SchoolCalendar, parse_period
from tests.central.conftest import CentralDB
from tests.central.report_history import History, build_history

SHANGHAI = ZoneInfo("Asia/Shanghai")
SCHOOL = SchoolCalendar()


def calendar(measure: str = "loans_per_student") -> LibraryCalendar:
    return LibraryCalendar(SCHOOL, SHANGHAI, measure)


@pytest.fixture(params=["from the loans", "rolled up"])
def history(request: pytest.FixtureRequest, central_db: CentralDB) -> History:
    """The known history; with its roll-up built (as the central does at start), or without one,
    so each figure is checked both ways."""
    with central_db.factory.begin() as session:
        known = build_history(session)
    if request.param == "rolled up":
        basis = RollupBasis.for_calendar(calendar())
        assert ensure_rollup(central_db.factory, basis, dt.datetime.now(dt.UTC))
    return known


def period(text: str):
    found = parse_period(text, SCHOOL)
    assert found is not None
    return found


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(SHANGHAI).date()


def in_period(at: dt.datetime, text: str) -> bool:
    p = period(text)
    return p.start <= local_day(at) < p.end


@pytest.mark.parametrize("text", ["2026-12", "2026-T1", "2026-2027", "2025-T2"])
def test_class_ranking_counts_each_class(central_db, history, text):
    loans: Counter[object] = Counter()
    borrowers: dict[object, set[int]] = defaultdict(set)
    students: Counter[object] = Counter()
    for loan in history.loans:
        if in_period(loan.at, text):
            meant = history.patron(loan.patron_id).class_of
            loans[meant] += 1
            borrowers[meant].add(loan.patron_id)
    for p in history.patrons:
        if not p.left:
            students[p.class_of] += 1
    with central_db.factory() as session:
        report = class_ranking(session, period(text), calendar())
    by_class = {r["class_key"]: r for r in report.rows}
    for meant in students:
        key = f"{meant[0]}-{meant[1]}" if meant else ""
        row = by_class[key]
        assert (row["loans"], row["borrowers"], row["students"]) == (
            loans[meant],
            len(borrowers[meant]),
            students[meant],
        ), key
        assert row["loans_per_student"] == round(loans[meant] / students[meant], 2)
        # The share counts only students still on the roster, so it never passes 100%.
        on_roster = {p for p in borrowers[meant] if not history.patron(p).left}
        assert row["share_borrowed"] == round(len(on_roster) / students[meant], 4)
    # "三年级2班" and "3-2" are one class; ranked rows are the classes, best first.
    assert by_class["3-2"]["class"] == "三年级2班"
    ranked = [r for r in report.rows if r["rank"] is not None]
    assert len(ranked) == 5
    assert [r["loans_per_student"] for r in ranked] == sorted(
        (r["loans_per_student"] for r in ranked), reverse=True
    )
    assert by_class[""]["rank"] is None
    assert report.notes["school"]["loans"] == sum(loans.values())


def test_class_ranking_measure_is_a_setting(central_db, history):
    with central_db.factory() as session:
        report = class_ranking(session, period("2026-2027"), calendar("borrowers"))
    ranked = [r for r in report.rows if r["rank"] is not None]
    assert [r["borrowers"] for r in ranked] == sorted(
        (r["borrowers"] for r in ranked), reverse=True
    )
    assert report.notes["measure"] == "borrowers"


@pytest.mark.parametrize(
    ("text", "grade"), [("2026-2027", None), ("2026-12", None), ("2026-T1", 3), ("2025-2026", 4)]
)
def test_popular_books(central_db, history, text, grade):
    counts: Counter[int] = Counter()
    borrowers: dict[int, set[int]] = defaultdict(set)
    for loan in history.loans:
        meant = history.patron(loan.patron_id).class_of
        if in_period(loan.at, text) and (grade is None or (meant and meant[0] == grade)):
            counts[loan.title_id] += 1
            borrowers[loan.title_id].add(loan.patron_id)
    with central_db.factory() as session:
        report = popular_books(session, period(text), calendar(), grade=grade, limit=5)
    assert [r["loans"] for r in report.rows] == sorted(counts.values(), reverse=True)[:5]
    for row in report.rows:
        assert counts[row["title_id"]] == row["loans"]
        assert len(borrowers[row["title_id"]]) == row["borrowers"]
    assert report.rows[0]["rank"] == 1


def test_new_books(central_db, history):
    since = dt.date(2026, 9, 1)
    today = dt.date(2027, 8, 31)
    expected = sorted(
        (t for t, added in history.titles.items() if local_day(added) >= since),
        key=lambda t: history.titles[t],
        reverse=True,
    )
    with central_db.factory() as session:
        report = new_books(session, since, calendar(), today)
    assert [r["title_id"] for r in report.rows] == expected
    assert all(r["copies"] == 2 and r["call_number"].startswith("I287/") for r in report.rows)


def _expected_circulation(history: History, first: dt.date, end: dt.date) -> tuple[int, int]:
    loans = sum(1 for f in history.loans if first <= local_day(f.at) < end)
    days = {(f.patron_id, local_day(f.at)) for f in history.loans if first <= local_day(f.at) < end}
    days |= {
        (v.patron_id, local_day(v.at)) for v in history.visits if first <= local_day(v.at) < end
    }
    return loans, len(days)


@pytest.mark.parametrize("by", ["month", "term", "day"])
def test_circulation_against_the_year_before(central_db, history, by):
    span = period("2026-09-01..2027-03-31")
    with central_db.factory() as session:
        report = circulation(session, span, by, calendar())
    assert report.rows[0]["from"] == "2026-09-01" and report.rows[-1]["to"] == "2027-03-31"
    for row in report.rows:
        first, last = dt.date.fromisoformat(row["from"]), dt.date.fromisoformat(row["to"])
        end = last + dt.timedelta(days=1)
        assert (row["loans"], row["visits"]) == _expected_circulation(history, first, end), row[
            "period"
        ]
        before = _expected_circulation(
            history, first.replace(year=first.year - 1), end.replace(year=end.year - 1)
        )
        assert (row["loans_year_before"], row["visits_year_before"]) == before, row["period"]
        if before[0]:
            assert row["loans_change_pct"] == round((row["loans"] - before[0]) * 100 / before[0], 1)
        assert sum(g["loans"] for g in row["by_grade"]) == row["loans"]
        assert sum(s["visits"] for s in row["by_source"]) == row["visits"]
    total = report.notes["total"]
    assert total["loans"] == sum(r["loans"] for r in report.rows)
    assert "人次" in report.notes["visits_definition"]


def test_circulation_by_source_and_grade(central_db, history):
    span = period("2026-2027")
    with central_db.factory() as session:
        report = circulation(session, span, "year", calendar())
    (row,) = report.rows
    by_source = Counter(f.source for f in history.loans if in_period(f.at, "2026-2027"))
    assert {s["source"]: s["loans"] for s in row["by_source"] if s["loans"]} == dict(by_source)
    assert next(s for s in row["by_source"] if s["source"] == "desk")["label"] == "服务台"
    by_grade: Counter[int | None] = Counter()
    for f in history.loans:
        if in_period(f.at, "2026-2027"):
            meant = history.patron(f.patron_id).class_of
            by_grade[meant[0] if meant else None] += 1
    assert {g["grade"]: g["loans"] for g in row["by_grade"] if g["loans"]} == dict(by_grade)


def test_the_month_follows_the_library_clock(central_db, history):
    with central_db.factory() as session:
        december = circulation(session, period("2026-12"), "month", calendar()).rows[0]
    expected = sum(1 for f in history.loans if in_period(f.at, "2026-12"))
    assert december["loans"] == expected
    # The history holds a loan at 00:30 on 1 December Shanghai time (30 November in UTC).
    assert any(
        f.at.date() == dt.date(2026, 11, 30) and in_period(f.at, "2026-12") for f in history.loans
    )


def test_year_summary(central_db, history):
    with central_db.factory() as session:
        report = year_summary(session, period("2026-2027"), calendar())
    figures = {r["figure"]: r for r in report.rows}
    loans_now, visits_now = _expected_circulation(history, dt.date(2026, 9, 1), dt.date(2027, 9, 1))
    loans_before, visits_before = _expected_circulation(
        history, dt.date(2025, 9, 1), dt.date(2026, 9, 1)
    )
    assert (figures["loans"]["value"], figures["loans"]["year_before"]) == (loans_now, loans_before)
    assert (figures["visits"]["value"], figures["visits"]["year_before"]) == (
        visits_now,
        visits_before,
    )
    borrowers = {f.patron_id for f in history.loans if in_period(f.at, "2026-2027")}
    assert figures["borrowers"]["value"] == len(borrowers)
    titles_added = sum(1 for added in history.titles.values() if in_period(added, "2026-2027"))
    assert figures["titles_added"]["value"] == titles_added
    assert figures["copies_added"]["value"] == 2 * titles_added
    assert len(report.notes["popular"]) <= 10


BERLIN = ZoneInfo("Europe/Berlin")


def test_fixed_offset_only_where_the_zone_keeps_one():
    assert fixed_offset(calendar(), period("2025-2026")) == dt.timedelta(hours=8)
    berlin = LibraryCalendar(SCHOOL, BERLIN)
    assert fixed_offset(berlin, period("2026-07")) == dt.timedelta(hours=2)
    assert fixed_offset(berlin, period("2026-12")) == dt.timedelta(hours=1)
    # Summer time ends on 25 October 2026: no one offset for the autumn.
    assert fixed_offset(berlin, period("2026-10")) is None
    assert fixed_offset(berlin, period("2026-09-01..2027-03-31")) is None


@pytest.mark.parametrize(
    "span_text", ["2026-09-01..2027-03-31", "2026-12", "2027-01-10..2027-02-20"]
)
def test_circulation_in_a_zone_with_summer_time(central_db, history, span_text):
    """Spans with a DST change are counted the exact way, spans without by the fixed offset in
    SQL; both must give the library's local days in Berlin rather than Shanghai's."""
    berlin = LibraryCalendar(SCHOOL, BERLIN)

    def berlin_counts(first: dt.date, end: dt.date) -> tuple[int, int]:
        def day(at: dt.datetime) -> dt.date:
            return at.astimezone(BERLIN).date()

        loans = [f for f in history.loans if first <= day(f.at) < end]
        visitors = {(f.patron_id, day(f.at)) for f in loans}
        visitors |= {(v.patron_id, day(v.at)) for v in history.visits if first <= day(v.at) < end}
        return len(loans), len(visitors)

    with central_db.factory() as session:
        report = circulation(session, period(span_text), "month", berlin)
    for row in report.rows:
        first, last = dt.date.fromisoformat(row["from"]), dt.date.fromisoformat(row["to"])
        end = last + dt.timedelta(days=1)
        assert (row["loans"], row["visits"]) == berlin_counts(first, end), row["period"]
        before = berlin_counts(first.replace(year=first.year - 1), end.replace(year=end.year - 1))
        assert (row["loans_year_before"], row["visits_year_before"]) == before, row["period"]
        assert sum(s["visits"] for s in row["by_source"]) == row["visits"]
        assert sum(g["visits"] for g in row["by_grade"]) == row["visits"]
