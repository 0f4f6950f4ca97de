"""Benchmark: events/s through the central's push endpoint versus a raw idempotent batch insert.

Both run in the same database in the same run: first the raw `INSERT ... ON CONFLICT DO NOTHING`
of the very rows the endpoint will store (one transaction per batch), then, after those rows are
cleared, the same events pushed through `POST /sync/v1/push` (token check, JSON, validation,
duplicate and epoch checks, insert, acked_through, sync history, commit). The ledger worker's
rate applying them afterwards is printed too, outside the ratio. SQLite always; PostgreSQL when
its binaries are installed (a throwaway server with fsync on). Ends with one JSON line.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, delete, func, select  # noqa: E402

from central.app import create_central_app  # noqa: E402
from central.db import make_central_session_factory, open_central_engine  # noqa: E402
from central.intake import register_kiosk  # noqa: E402
from central.rollup import RollupBasis, ensure_rollup  # noqa: E402
from central.upsert import dialect_insert  # noqa: E402
from central.worker import LedgerWorker  # noqa: E402
from db.central_models import CentralEvent, KioskEpoch, SyncRun  # noqa: E402
from db.models import Item, Patron, Title  # noqa: E402
from kiosk.config import parse_settings  # noqa: E402
from tests.pgserver import running_postgres  # noqa: E402

TARGET_RATIO = 0.5
BATCH = 200
EVENTS = 4000
ROUNDS = 7
ITEMS = 2000
PATRONS = 500
T0 = dt.datetime(2026, 9, 1, 0, 0, tzinfo=dt.UTC)


def _seed(engine: Engine) -> None:
    """A school-sized catalog and roster, written through the change log like an import."""
    factory = make_central_session_factory(engine)
    with factory.begin() as s:
        titles = [Title(isbn13=f"978{i:010d}", title=f"Title {i}") for i in range(ITEMS // 2)]
        s.add_all(titles)
        s.flush()
        s.add_all(
            Item(barcode=f"SX{i:06d}", title_id=titles[i // 2].id, created_at=T0)
            for i in range(ITEMS)
        )
        s.add_all(
            Patron(student_number=f"S{i:07d}", card_barcode=f"2026{i:06d}", name=f"P{i}")
            for i in range(PATRONS)
        )


def _events(kiosk_id: str, epoch: str) -> list[dict[str, Any]]:
    """A day at a busy kiosk: checkouts, their returns a little later, and sign-in visits."""
    events: list[dict[str, Any]] = []
    seq = 0

    def add(kind: str, at: dt.datetime, **fields: Any) -> None:
        nonlocal seq
        seq += 1
        events.append(
            {
                "event_id": str(uuid.uuid4()),
                "kind": kind,
                "kiosk_id": kiosk_id,
                "epoch": epoch,
                "sequence": seq,
                "recorded_at": at.isoformat(),
                **fields,
            }
        )

    i = 0
    while len(events) < EVENTS:
        at = T0 + dt.timedelta(minutes=i)
        loan = str(uuid.uuid4())
        item = f"SX{i % ITEMS:06d}"
        student = f"S{i % PATRONS:07d}"
        add("visit", at, student_number=student)
        add(
            "checkout",
            at,
            loan_uuid=loan,
            item_barcode=item,
            isbn13=None,
            student_number=student,
            checked_out_at=at.isoformat(),
            due_at=(at + dt.timedelta(days=14)).isoformat(),
        )
        back = at + dt.timedelta(days=3)
        add(
            "checkin",
            back,
            loan_uuid=loan,
            item_barcode=item,
            returned_at=back.isoformat(),
            hold_id=None,
        )
        i += 1
    return events[:EVENTS]


def _rows(events: list[dict[str, Any]], received_at: dt.datetime) -> list[dict[str, Any]]:
    """The central_events rows the endpoint stores for these events."""
    return [
        {
            "event_id": e["event_id"],
            "kiosk_id": e["kiosk_id"],
            "epoch": e["epoch"],
            "sequence": e["sequence"],
            "kind": e["kind"],
            "loan_uuid": e.get("loan_uuid"),
            "payload": json.dumps(e, ensure_ascii=False, sort_keys=True),
            "recorded_at": dt.datetime.fromisoformat(e["recorded_at"]),
            "received_at": received_at,
            "state": "applied",
            "time_doubtful": False,
            "applied_at": received_at,
        }
        for e in events
    ]


def _raw_round(factory: Any, rows: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        with factory.begin() as s:
            stmt = dialect_insert(s, CentralEvent.__table__).on_conflict_do_nothing(
                index_elements=["kiosk_id", "epoch", "sequence"]
            )
            s.execute(stmt, rows[i : i + BATCH])
    return time.perf_counter() - started


def _endpoint_round(client: Any, token: str, kiosk_id: str, events: list[dict[str, Any]]) -> float:
    epoch = events[0]["epoch"]
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    for i in range(0, len(events), BATCH):
        reply = client.post(
            "/sync/v1/push",
            json={"kiosk_id": kiosk_id, "epoch": epoch, "events": events[i : i + BATCH]},
            headers=headers,
        )
        assert reply.status_code == 200, reply.get_data(as_text=True)
    return time.perf_counter() - started


def measure(label: str, url: str) -> dict[str, Any]:
    engine = open_central_engine(url)
    _seed(engine)
    factory = make_central_session_factory(engine)
    now = dt.datetime.now(dt.UTC)
    # As the central starts: the reports' roll-up built, so the ledger keeps it as it applies.
    ensure_rollup(factory, RollupBasis("Asia/Shanghai", "09-01"), now)
    with factory.begin() as s:
        _, token = register_kiosk(s, "bench-kiosk", "bench", now)
    settings = parse_settings(
        {"central": {"database_url": url}}, Path(tempfile.gettempdir()), Path("bench.toml")
    )
    client = create_central_app(settings, engine=engine).test_client()
    raw_times, endpoint_times = [], []
    # Alternating rounds, median of each: another process on the machine slows both alike.
    for round_ in range(ROUNDS):
        events = _events("bench-kiosk", str(uuid.uuid4()))
        raw_times.append(_raw_round(factory, _rows(events, now)))
        with factory.begin() as s:
            assert s.scalar(select(func.count(CentralEvent.id))) == len(events)
            s.execute(delete(CentralEvent))
        endpoint_times.append(_endpoint_round(client, token, "bench-kiosk", events))
        with factory() as s:
            acked = s.scalar(
                select(KioskEpoch.acked_through).where(KioskEpoch.epoch == events[0]["epoch"])
            )
            assert acked == len(events), acked
        if round_ < ROUNDS - 1:
            with factory.begin() as s:
                s.execute(delete(CentralEvent))
    # Not part of the ratio: how fast the worker then applies the last round to the ledger.
    started = time.perf_counter()
    applied = LedgerWorker(factory, lambda: dt.datetime.now(dt.UTC), threading.Event()).drain()
    apply_s = time.perf_counter() - started
    assert applied == len(events), applied
    with factory() as s:
        assert s.scalar(select(func.count(SyncRun.id))) == ROUNDS * len(events) // BATCH
    engine.dispose()

    raw_s, endpoint_s = statistics.median(raw_times), statistics.median(endpoint_times)
    # Each round's own ratio: its spread shows how much the machine moved during the run.
    round_ratios = sorted(r / e for r, e in zip(raw_times, endpoint_times, strict=True))
    figures = {
        "events": len(events),
        "batch": BATCH,
        "rounds": ROUNDS,
        "endpoint_events_per_s": round(len(events) / endpoint_s, 1),
        "raw_insert_events_per_s": round(len(events) / raw_s, 1),
        "ledger_apply_events_per_s": round(len(events) / apply_s, 1),
    }
    figures["ratio"] = round(raw_s / endpoint_s, 3)
    figures["round_ratio_min"] = round(round_ratios[0], 3)
    figures["round_ratio_max"] = round(round_ratios[-1], 3)
    print(
        f"{label}: endpoint {figures['endpoint_events_per_s']:.0f} events/s, raw insert "
        f"{figures['raw_insert_events_per_s']:.0f} events/s, ratio of medians "
        f"{figures['ratio']:.2f} (target >= {TARGET_RATIO}; rounds "
        f"{figures['round_ratio_min']:.2f}-{figures['round_ratio_max']:.2f}); ledger worker then applied "
        f"{figures['ledger_apply_events_per_s']:.0f} events/s",
        flush=True,
    )
    return figures


def main() -> int:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shuxiang-bench-") as tmp:
        results["sqlite"] = measure("SQLite", str(Path(tmp) / "central.sqlite3"))
    with running_postgres(fast=False) as server:
        if server is None:
            print(
                "PostgreSQL: skipped, no PostgreSQL binaries found "
                "(install them with scripts/system-deps.sh postgres)",
                flush=True,
            )
            results["postgresql"] = None
        else:
            results["postgresql"] = measure("PostgreSQL", server.create_database())
    ratios = [r["ratio"] for r in results.values() if r]
    summary = {
        "benchmark": "central_ingest",
        **results,
        "target_ratio": TARGET_RATIO,
        "meets_target": all(r >= TARGET_RATIO for r in ratios),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
