"""Benchmark: the start-up PRAGMA quick_check on a 200 000-copy library against a bare table scan."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

# Runnable as `python bench/startup_check.py` from the repo root: the packages live beside bench/.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from db.engine import check_sqlite_file, make_engine  # noqa: E402 - needs ROOT on sys.path
from db.migrate import upgrade  # noqa: E402
from db.models import Item, Loan, Patron, Title  # noqa: E402

# "well under a second" (issue 8): the kiosk checks its database at every start.
TARGET_S = 0.5
BATCH_ROWS = 10_000


def build_library(path: Path, copies: int) -> None:
    """A kiosk database with `copies` items of copies/2 titles, 3 000 students, 5 000 loans."""
    engine = make_engine(path)
    upgrade(engine)
    now = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
    titles = copies // 2
    with engine.begin() as conn:
        for start in range(0, titles, BATCH_ROWS):
            conn.execute(
                insert(Title),
                [
                    {
                        "isbn13": f"978{n:010d}",
                        "title": f"第{n}本书 A Book Title Of Ordinary Length {n}",
                        "author": f"作者{n % 5000} Author",
                        "publisher": "人民文学出版社",
                        "year": 1990 + n % 35,
                        "call_number": f"I247.{n % 1000}/{n % 97}",
                        "classification": "clc",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(start + 1, min(titles, start + BATCH_ROWS) + 1)
                ],
            )
        for start in range(0, copies, BATCH_ROWS):
            conn.execute(
                insert(Item),
                [
                    {
                        "barcode": f"SX{n:08d}",
                        "title_id": (n - 1) % titles + 1,
                        "location": "二楼 文学",
                        "status": "available",
                        "created_at": now,
                    }
                    for n in range(start + 1, min(copies, start + BATCH_ROWS) + 1)
                ],
            )
        conn.execute(
            insert(Patron),
            [
                {
                    "student_number": f"S{n:07d}",
                    "card_barcode": f"2026{n:06d}",
                    "name": f"学生{n}",
                    "class_name": f"{n % 6 + 1}年级{n % 8 + 1}班",
                    "grade": str(n % 6 + 1),
                    "parent_phone": f"139{n:08d}",
                    "updated_at": now,
                }
                for n in range(1, 3001)
            ],
        )
        conn.execute(
            insert(Loan),
            [
                {
                    "uuid": f"00000000-0000-4000-8000-{n:012d}",
                    "item_id": n,
                    "patron_id": n % 3000 + 1,
                    "checked_out_at": now,
                    "due_at": now + dt.timedelta(days=14),
                    "renewals": 0,
                    "kiosk_id": "kiosk-1",
                }
                for n in range(1, 5001)
            ],
        )
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def time_table_scan(path: Path) -> float:
    """The baseline: a fresh connection counting every row of the biggest table."""
    started = time.perf_counter()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    # NOT INDEXED: walk the table itself, not its smallest index.
    db.execute("SELECT count(*) FROM items NOT INDEXED").fetchone()
    db.close()
    return time.perf_counter() - started


def time_check(path: Path, deep: bool) -> float:
    started = time.perf_counter()
    check_sqlite_file(path, deep=deep)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kiosk.sqlite3"
        started = time.perf_counter()
        build_library(path, args.copies)
        print(
            f"startup_check: {args.copies} copies, {path.stat().st_size / 1e6:.1f} MB "
            f"(built in {time.perf_counter() - started:.1f} s; OS file cache warm)"
        )
        runs: dict[str, list[float]] = {"scan": [], "quick_check": [], "integrity_check": []}
        measures = {
            "scan": lambda: time_table_scan(path),
            "quick_check": lambda: time_check(path, deep=False),
            "integrity_check": lambda: time_check(path, deep=True),
        }
        order = list(measures)
        for repeat in range(args.repeats):
            # Interleaved, in a rotating order: no measure always runs first or last.
            for name in order[repeat % 3 :] + order[: repeat % 3]:
                runs[name].append(measures[name]())
    for name, values in runs.items():
        print(
            f"{name:>15}: median {statistics.median(values) * 1000:7.1f} ms, "
            f"min {min(values) * 1000:7.1f}, max {max(values) * 1000:7.1f} ms"
        )
    scan = statistics.median(runs["scan"])
    quick = statistics.median(runs["quick_check"])
    deep = statistics.median(runs["integrity_check"])
    print(
        f"quick_check / table scan = {quick / scan:.1f}x; quick_check {quick:.3f} s "
        f"(target < {TARGET_S} s); integrity_check / quick_check = {deep / quick:.1f}x"
    )
    result = {
        "bench": "startup_check",
        "copies": args.copies,
        "scan_median_s": round(scan, 4),
        "quick_check_median_s": round(quick, 4),
        "integrity_check_median_s": round(deep, 4),
        "ratio_quick_check_to_scan": round(quick / scan, 2),
        "target_s": TARGET_S,
        "ok": quick < TARGET_S,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
