"""Benchmark: each report at district scale (10 000 students, 300 classes, 200 000 copies, 2 000 000 loans over two school years) on SQLite and PostgreSQL, beside the bare aggregate query it rests on.

For each report the whole service (`central.reports`, what the page, the JSON and the files
call) and the one aggregate query a hand-written report would start with run interleaved, round
after round, on the same database; it prints medians, p95 and spread (min-max) in ms and the
report/bare ratio, then one JSON line. The target is p95 <= 150 ms per report.

    python bench/reports.py [--scale-divisor N] [--rounds N] [--no-postgres]

The SQLite database is built once and kept under var/bench/; PostgreSQL is filled from scratch in
a server of its own for each run. Run it alone (flock /work/bench.lock ...): it loads both cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.district import DISTRICT, build, cached_sqlite, count_loans  # noqa: E402
from central.db import make_central_session_factory, open_central_engine  # noqa: E402
from central.reports.base import LibraryCalendar  # noqa: E402
from central.reports.books import new_books, popular_books  # noqa: E402
from central.reports.circulation import circulation  # noqa: E402
from central.reports.classes import class_ranking  # noqa: E402
from central.reports.summary import year_summary  # noqa: E402
from central.rollup import RollupBasis, ensure_rollup  # noqa: E402
from db.engine import make_session_factory  # noqa: E402
from db.models import Item, Loan, Patron, Title  # noqa: E402
from kiosk.circulation.schoolyear import SchoolCalendar, date_range, parse_period  # noqa: E402
from tests.pgserver import running_postgres  # noqa: E402

TARGET_P95_MS = 150.0
CALENDAR = LibraryCalendar(SchoolCalendar(), ZoneInfo("Asia/Shanghai"))


def _period(text: str) -> Any:
    period = parse_period(text, CALENDAR.school)
    assert period is not None
    return period


MONTH, TERM, YEAR = _period("2026-12"), _period("2026-T1"), _period("2026-2027")


def cases() -> list[tuple[str, Callable[[Any], object], Callable[[Any], object]]]:
    """(name, the report, the bare aggregate query under it)."""

    def loans_in(period: Any) -> Any:
        start, end = CALENDAR.bounds(period)
        return (Loan.checked_out_at >= start, Loan.checked_out_at < end)

    def bare_classes(period: Any) -> Callable[[Any], object]:
        return lambda s: s.execute(
            select(Patron.class_name, func.count(Loan.id))
            .join(Patron, Patron.id == Loan.patron_id)
            .where(*loans_in(period))
            .group_by(Patron.class_name)
        ).all()

    def bare_popular(period: Any) -> Callable[[Any], object]:
        n = func.count(Loan.id)
        return lambda s: s.execute(
            select(Item.title_id, n)
            .join(Item, Item.id == Loan.item_id)
            .where(*loans_in(period))
            .group_by(Item.title_id)
            .order_by(n.desc())
            .limit(20)
        ).all()

    def bare_count(period: Any) -> Callable[[Any], object]:
        return lambda s: s.scalar(select(func.count(Loan.id)).where(*loans_in(period)))

    since = CALENDAR.start_of(YEAR.end.replace(month=8, day=1))
    span = date_range(YEAR.start, YEAR.last_day)
    return [
        ("class-ranking month", lambda s: class_ranking(s, MONTH, CALENDAR), bare_classes(MONTH)),
        # A term is not in the roll-up's per-student counts: read from the loans.
        ("class-ranking term", lambda s: class_ranking(s, TERM, CALENDAR), bare_classes(TERM)),
        ("class-ranking year", lambda s: class_ranking(s, YEAR, CALENDAR), bare_classes(YEAR)),
        ("popular month", lambda s: popular_books(s, MONTH, CALENDAR), bare_popular(MONTH)),
        ("popular year", lambda s: popular_books(s, YEAR, CALENDAR), bare_popular(YEAR)),
        (
            "popular term grade 3",
            lambda s: popular_books(s, TERM, CALENDAR, grade=3),
            bare_popular(TERM),
        ),
        (
            "new-books",
            lambda s: new_books(s, YEAR.end.replace(month=8, day=1), CALENDAR, YEAR.last_day),
            lambda s: s.scalar(select(func.count(Title.id)).where(Title.created_at >= since)),
        ),
        (
            "circulation month by day",
            lambda s: circulation(s, MONTH, "day", CALENDAR),
            bare_count(MONTH),
        ),
        (
            "circulation year by month",
            lambda s: circulation(s, span, "month", CALENDAR),
            bare_count(YEAR),
        ),
        ("year-summary", lambda s: year_summary(s, YEAR, CALENDAR), bare_count(YEAR)),
    ]


def _ms(fn: Callable[[Any], object], session: Any) -> float:
    started = time.perf_counter()
    fn(session)
    return (time.perf_counter() - started) * 1000


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def build_rollup(engine: Engine) -> float:
    """Build the daily roll-up the way the central does at start (the district's rows were
    inserted with Core, past the flush that keeps it); seconds taken, 0 when already built."""
    started = time.perf_counter()
    factory = make_central_session_factory(engine)
    built = ensure_rollup(factory, RollupBasis.for_calendar(CALENDAR), dt.datetime.now(dt.UTC))
    return round(time.perf_counter() - started, 1) if built else 0.0


def measure(engine: Engine, rounds: int) -> dict[str, Any]:
    factory = make_session_factory(engine)
    results: dict[str, Any] = {}
    timings = {name: ([], []) for name, _, _ in cases()}
    with factory() as session:
        # One warm-up of each, so the first round does not pay for cold caches alone.
        for _, report, bare in cases():
            report(session)
            bare(session)
        for _ in range(rounds):
            for name, report, bare in cases():
                timings[name][0].append(_ms(report, session))
                timings[name][1].append(_ms(bare, session))
    for name, (report_ms, bare_ms) in timings.items():
        results[name] = {
            "report_median_ms": round(statistics.median(report_ms), 1),
            "report_p95_ms": round(_p95(report_ms), 1),
            "report_spread_ms": [round(min(report_ms), 1), round(max(report_ms), 1)],
            "bare_median_ms": round(statistics.median(bare_ms), 1),
            "bare_p95_ms": round(_p95(bare_ms), 1),
            "bare_spread_ms": [round(min(bare_ms), 1), round(max(bare_ms), 1)],
            "ratio": round(
                statistics.median(report_ms) / max(statistics.median(bare_ms), 0.001), 1
            ),
            "meets_target": _p95(report_ms) <= TARGET_P95_MS,
        }
    return results


def show(backend: str, results: dict[str, Any]) -> None:
    print(f"\n{backend}: report vs bare aggregate (ms; median, p95, spread)")
    print(
        f"{'report':28} {'median':>8} {'p95':>8} {'spread':>17} | {'bare med':>8} {'bare p95':>8} {'ratio':>6}  ok"
    )
    for name, r in results.items():
        spread = f"{r['report_spread_ms'][0]}-{r['report_spread_ms'][1]}"
        print(
            f"{name:28} {r['report_median_ms']:>8} {r['report_p95_ms']:>8} {spread:>17} | "
            f"{r['bare_median_ms']:>8} {r['bare_p95_ms']:>8} {r['ratio']:>6}  {'yes' if r['meets_target'] else 'NO'}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale-divisor", type=int, default=1, help="a smaller library (e.g. 20) for a quick run"
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    scale = DISTRICT if args.scale_divisor == 1 else DISTRICT.divided(args.scale_divisor)
    out: dict[str, Any] = {
        "bench": "reports",
        "scale": scale.__dict__,
        "target_p95_ms": TARGET_P95_MS,
    }
    started = time.perf_counter()
    path = cached_sqlite(scale)
    print(f"SQLite library {path} ready in {time.perf_counter() - started:.0f} s", flush=True)
    engine = open_central_engine(str(path))
    try:
        rollup_s = build_rollup(engine)
        print(f"SQLite roll-up built in {rollup_s} s", flush=True)
        out["sqlite"] = {
            "loans": count_loans(engine),
            "rollup_build_s": rollup_s,
            "reports": measure(engine, args.rounds),
        }
        show("SQLite", out["sqlite"]["reports"])
    finally:
        engine.dispose()
    if not args.no_postgres:
        with running_postgres() as server:
            if server is None:
                print("PostgreSQL is not installed: skipped", file=sys.stderr)
            else:
                url = server.create_database()
                engine = open_central_engine(url)
                try:
                    started = time.perf_counter()
                    build(engine, scale)
                    # VACUUM too: a bulk-built table has no visibility map yet, so PostgreSQL
                    # would read every row an index-only scan skips; a running central's
                    # autovacuum (inserts trigger it) keeps the map of its old loans set.
                    with engine.connect() as conn:
                        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                            "VACUUM ANALYZE"
                        )
                    print(
                        f"PostgreSQL library built in {time.perf_counter() - started:.0f} s",
                        flush=True,
                    )
                    rollup_s = build_rollup(engine)
                    print(f"PostgreSQL roll-up built in {rollup_s} s", flush=True)
                    out["postgresql"] = {
                        "loans": count_loans(engine),
                        "rollup_build_s": rollup_s,
                        "reports": measure(engine, args.rounds),
                    }
                    show("PostgreSQL", out["postgresql"]["reports"])
                finally:
                    engine.dispose()
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
