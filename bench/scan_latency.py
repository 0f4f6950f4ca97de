"""Benchmark: serial scan to committed loan and outbox row, against a bare durable SQLite transaction."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Runnable as `python bench/scan_latency.py` from the repo root: the packages live beside bench/.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PATRONS = 200
LOANS_PER_PATRON = 3  # the default max_loans, so every checkout is allowed
TITLES = PATRONS * LOANS_PER_PATRON
WARMUP_ITEMS = 10
TARGET_RATIO_MEDIAN = 3.0
TARGET_P99_MS = 10.0
WAIT_S = 10.0


def card_for(i: int) -> str:
    return f"{30_000_000 + i}"


def barcode_for(i: int) -> str:
    return f"BX{i:06d}"


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile; small samples make interpolation pointless."""
    ordered = sorted(samples)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Summary:
    median_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Summary:
        ms = [s * 1000 for s in seconds]
        return cls(
            statistics.median(ms), percentile(ms, 95), percentile(ms, 99), max(ms) if ms else 0
        )

    def line(self, label: str, n: int) -> str:
        return (
            f"{label:<36} n={n:<5} median {self.median_ms:6.2f} ms  p95 {self.p95_ms:6.2f} ms  "
            f"p99 {self.p99_ms:6.2f} ms  max {self.max_ms:6.2f} ms"
        )


# --- baseline: the bare durable transaction ---------------------------------------------------


def open_baseline_db(path: Path) -> sqlite3.Connection:
    """The baseline's database: two small tables, WAL + synchronous=FULL, plain sqlite3."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, status TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE loans (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, "
        "patron_id INTEGER NOT NULL, checked_out_at TEXT NOT NULL, returned_at TEXT)"
    )
    db.executemany("INSERT INTO items VALUES (?, 'available')", [(i,) for i in range(TITLES)])
    return db


def baseline_transaction(db: sqlite3.Connection, i: int) -> None:
    """The bare durable transaction: one INSERT and one UPDATE."""
    now = dt.datetime.now(dt.UTC).isoformat()
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        "INSERT INTO loans (item_id, patron_id, checked_out_at) VALUES (?, ?, ?)",
        (i % TITLES, i % PATRONS, now),
    )
    db.execute("UPDATE items SET status = 'on_loan' WHERE id = ?", (i % TITLES,))
    db.execute("COMMIT")


def measure_baseline(folder: Path, n: int) -> list[float]:
    """N baseline transactions in a tight loop."""
    db = open_baseline_db(folder / "baseline.sqlite3")
    try:
        samples = []
        for i in range(n):
            started = time.perf_counter()
            baseline_transaction(db, i)
            samples.append(time.perf_counter() - started)
        return samples
    finally:
        db.close()


# --- the kiosk: pty → SerialScanner → bus → ScanWorker → Desk → SQLite → ScanProcessed -----------


def seed_library(session_factory: Any, now: dt.datetime) -> None:
    """PATRONS students and TITLES one-copy titles, plus a few copies for warming up."""
    from db.models import Item, Patron, PatronStatus, Title

    with session_factory.begin() as session:
        for i in range(PATRONS + 1):
            session.add(
                Patron(
                    student_number=f"B{i:07d}",
                    card_barcode=card_for(i),
                    name=f"Student {i}",
                    status=PatronStatus.ACTIVE,
                    updated_at=now,
                )
            )
        for i in range(TITLES + WARMUP_ITEMS):
            title = Title(title=f"Book {i}", created_at=now, updated_at=now)
            session.add(title)
            session.add(Item(barcode=barcode_for(i), title=title, created_at=now))


class BaselineDesk:
    """Stands in for the desk behind the same reader thread, bus and scan worker: each scan
    commits the baseline's bare transaction and is announced. What a scan costs here is the
    pipeline the kiosk must have (the reader thread only publishes; a job writes; the screen
    hears after the commit) around the cheapest durable write."""

    def __init__(self, path: Path, bus: Any) -> None:
        self.db = open_baseline_db(path)
        self.bus = bus
        self.scans = 0

    def on_barcode_event(self, event: Any) -> None:
        from kiosk.events import ScanProcessed

        baseline_transaction(self.db, self.scans)
        self.scans += 1
        self.bus.publish(ScanProcessed({"action": "committed"}, event.source))

    def expire_if_idle(self) -> None:
        pass

    def write_health(self) -> None:
        """The scan worker asks between scans; the floor has no probe to run."""

    def close(self) -> None:
        self.db.close()


class Rig:
    """The kiosk wired as `run_kiosk.cmd_serve` wires it, minus waitress, on a pseudo-terminal.

    With `floor=True` the desk is a BaselineDesk.
    """

    def __init__(self, folder: Path, *, floor: bool = False) -> None:
        from db.engine import make_engine, make_session_factory
        from db.migrate import upgrade
        from kiosk.app import create_app
        from kiosk.clock import utc_now
        from kiosk.config import parse_settings
        from kiosk.desk import ScanWorker
        from kiosk.events import EventBus, ScannerStatusChanged
        from run_kiosk import build_scanner

        folder.mkdir(parents=True, exist_ok=True)
        link = folder / "scanner"
        self.settings = parse_settings(
            {
                "database": {"path": str(folder / "kiosk.sqlite3")},
                "scanner": {"type": "serial", "port": str(link), "reconnect_delay_s": 0.05},
            },
            folder,
            folder / "config.toml",
        )
        self.engine = make_engine(self.settings.database.path)
        upgrade(self.engine)
        self.session_factory = make_session_factory(self.engine)
        seed_library(self.session_factory, utc_now())

        self.master, self.slave = os.openpty()
        # Raw mode, so the line discipline neither turns CR into LF nor echoes.
        tty.setraw(self.slave)
        link.symlink_to(os.ttyname(self.slave))
        self.link = link

        self.bus = EventBus()
        self.heard = self.bus.subscribe()
        self.scanner = build_scanner(self.settings, self.bus)
        app = create_app(self.settings, scanner=self.scanner, engine=self.engine, bus=self.bus)
        self.desk = app.extensions["shuxiang"].desk
        if floor:
            self.desk.close()
            self.desk = BaselineDesk(folder / "floor.sqlite3", self.bus)
        self.worker = ScanWorker(self.desk, self.bus)
        self.worker.start()
        self.scanner.start()
        # pyserial flushes the input when it opens the port: write only once connected.
        deadline = time.monotonic() + WAIT_S
        while not self.scanner.connected:
            event = self.heard.get(timeout_s=max(0.0, deadline - time.monotonic()))
            if event is None and time.monotonic() > deadline:
                raise RuntimeError("the scanner never connected to the pseudo-terminal")
            if isinstance(event, ScannerStatusChanged) and event.connected:
                break

    def scan(self, code: str, expect: str) -> float:
        """Write one scan to the pty; seconds until its ScanProcessed (sent after commit) arrives."""
        from kiosk.events import ScanProcessed

        data = code.encode() + b"\r"
        started = time.perf_counter()
        os.write(self.master, data)
        deadline = time.monotonic() + WAIT_S
        while True:
            event = self.heard.get(timeout_s=max(0.001, deadline - time.monotonic()))
            if isinstance(event, ScanProcessed):
                elapsed = time.perf_counter() - started
                break
            if event is None and time.monotonic() > deadline:
                raise RuntimeError(f"no reply to a scan within {WAIT_S} s")
        action = event.result["action"]
        if action != expect:
            raise RuntimeError(f"scan of {code} gave {action!r}, expected {expect!r}")
        return elapsed

    def check_committed(self, loans: int) -> None:
        """Every measured scan left its loan and its outbox row on disk."""
        from sqlalchemy import func, select

        from db.models import Loan, OutboxEvent

        with self.session_factory() as session:
            returned = session.scalar(
                select(func.count(Loan.id)).where(Loan.returned_at.is_not(None))
            )
            kinds = dict(
                session.execute(
                    select(OutboxEvent.kind, func.count(OutboxEvent.id)).group_by(OutboxEvent.kind)
                ).all()
            )
        if returned != loans or kinds.get("checkout") != loans or kinds.get("checkin") != loans:
            raise RuntimeError(f"expected {loans} returned loans with outbox rows: {kinds}")

    def close(self) -> None:
        self.scanner.stop()
        self.worker.stop()
        self.desk.close()
        self.heard.close()
        self.link.unlink()
        os.close(self.master)
        os.close(self.slave)
        self.engine.dispose()


def measure_kiosk(folder: Path) -> tuple[list[float], list[float]]:
    """Checkout and return latencies, TITLES of each, every one committing a loan change."""
    rig = Rig(folder)
    try:
        # Warm up (imports, statement caches, the first WAL pages) on copies not measured.
        rig.scan(card_for(PATRONS), "signed_in")
        for i in range(TITLES, TITLES + WARMUP_ITEMS):
            rig.scan(barcode_for(i), "checked_out" if i < TITLES + 3 else "refused")
        rig.desk.end_session()
        for i in range(TITLES, TITLES + 3):
            rig.scan(barcode_for(i), "returned")

        checkouts: list[float] = []
        for p in range(PATRONS):
            # Signing in commits a visit, not a loan: it is not measured.
            rig.scan(card_for(p), "switched" if p else "signed_in")
            for k in range(LOANS_PER_PATRON):
                checkouts.append(rig.scan(barcode_for(p * LOANS_PER_PATRON + k), "checked_out"))
        rig.desk.end_session()
        returns = [rig.scan(barcode_for(i), "returned") for i in range(TITLES)]
        rig.check_committed(TITLES + 3)
        return checkouts, returns
    finally:
        rig.close()


def measure_floor(folder: Path, n: int) -> list[float]:
    """N scans through the pipeline alone (BaselineDesk), after a few to warm up."""
    rig = Rig(folder, floor=True)
    try:
        for i in range(WARMUP_ITEMS):
            rig.scan(barcode_for(i), "committed")
        return [rig.scan(barcode_for(i), "committed") for i in range(n)]
    finally:
        rig.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--dir", type=Path, default=None, help="folder (on the disk to measure) for both databases"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shuxiang-bench-", dir=args.dir) as tmp:
        folder = Path(tmp)
        print(f"scan_latency: databases in {folder}")
        checkouts, returns = measure_kiosk(folder / "kiosk")
        scans = checkouts + returns
        baseline = measure_baseline(folder, len(scans))
        floor = measure_floor(folder / "floor", len(scans))

    ours = Summary.of(scans)
    base = Summary.of(baseline)
    ratio = ours.median_ms / base.median_ms
    print(Summary.of(checkouts).line("checkout (pty write → committed)", len(checkouts)))
    print(Summary.of(returns).line("return (pty write → committed)", len(returns)))
    print(ours.line("all measured scans", len(scans)))
    print(base.line("baseline BEGIN/INSERT/UPDATE/COMMIT", len(baseline)))
    pipeline = Summary.of(floor)
    print(pipeline.line("pipeline floor (baseline txn via pty)", len(floor)))
    print(
        f"ratio of medians {ratio:.2f} (target ≤ {TARGET_RATIO_MEDIAN}); "
        f"p99 {ours.p99_ms:.2f} ms (target ≤ {TARGET_P99_MS} ms)"
    )
    # Context for the ratio: the pipeline alone, with the baseline's own transaction, costs
    # this many baselines; our scan's own work is the rest.
    floor_ratio = pipeline.median_ms / base.median_ms
    print(
        f"pipeline floor is {floor_ratio:.2f}x the baseline; a scan is "
        f"{ours.median_ms / pipeline.median_ms:.2f}x the floor"
    )
    meets = ratio <= TARGET_RATIO_MEDIAN and ours.p99_ms <= TARGET_P99_MS
    result = {
        "bench": "scan_latency",
        "scans": len(scans),
        "median_ms": round(ours.median_ms, 3),
        "p95_ms": round(ours.p95_ms, 3),
        "p99_ms": round(ours.p99_ms, 3),
        "baseline_median_ms": round(base.median_ms, 3),
        "ratio_median": round(ratio, 2),
        "pipeline_floor_median_ms": round(pipeline.median_ms, 3),
        "pipeline_floor_ratio_median": round(floor_ratio, 2),
        "target_ratio_median": TARGET_RATIO_MEDIAN,
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": meets,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
