"""Benchmark: 100 kiosks x 2 000 events pushed at once to one central over real HTTP on 127.0.0.1.

Each simulated kiosk is a thread with its own SQLite outbox, pushed by the kiosk's own sync
code (`kiosk.sync.push.push_pending` through `CentralClient`), backing off on 503/Retry-After
exactly as the sync worker does. The central is a real `run_kiosk.py central` process (SQLite
by default, a throwaway PostgreSQL server with `--postgres`). When every kiosk is done, the
central's ledger worker may still be applying events: the benchmark watches `GET /api/v1/stats`
until `events_unapplied` is 0 and reports how long that took after the last push
(`ledger_drain_s`). Afterwards the central database is checked: every event present exactly
once (0 lost, 0 duplicated). Prints figures, then one JSON line. Times are reported, never
asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from central.db import make_central_session_factory, open_central_engine  # noqa: E402
from central.intake import register_kiosk  # noqa: E402
from db.engine import database_url, make_engine, make_session_factory  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import Item, Patron, Title  # noqa: E402
from kiosk.clock import utc_now  # noqa: E402
from kiosk.sync.backoff import Backoff  # noqa: E402
from kiosk.sync.client import CentralClient, SyncError  # noqa: E402
from kiosk.sync.push import push_pending  # noqa: E402

TARGET_WALL_S = 60
ITEMS_PER_KIOSK = 40
PATRONS_PER_KIOSK = 20
# Every kiosk gives up after this long, so a broken central cannot hang the benchmark.
KIOSK_DEADLINE_S = 600.0
MAX_ATTEMPTS_PER_KIOSK = 2000
START_S = 60.0
# How long to wait for the ledger to catch up after the pushes, and how often to look.
DRAIN_DEADLINE_S = 900.0
DRAIN_POLL_S = 0.25
MONITOR_TOKEN = "nightly-sync-bench-monitor-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed_central(url: str, kiosks: int) -> None:
    """Each kiosk's own students and copies, written through the change log like an import."""
    engine = open_central_engine(url)
    factory = make_central_session_factory(engine)
    now = utc_now()
    with factory.begin() as s:
        titles = [Title(isbn13=f"978{k:010d}", title=f"Title {k}") for k in range(kiosks)]
        s.add_all(titles)
        s.flush()
        for k, title in enumerate(titles):
            s.add_all(
                Item(barcode=f"BK{k:03d}{m:03d}", title_id=title.id, created_at=now)
                for m in range(ITEMS_PER_KIOSK)
            )
            s.add_all(
                Patron(
                    student_number=f"S{k:03d}{j:03d}", card_barcode=f"26{k:03d}{j:03d}", name="-"
                )
                for j in range(PATRONS_PER_KIOSK)
            )
    engine.dispose()


def register(url: str, kiosk_ids: list[str]) -> dict[str, str]:
    engine = open_central_engine(url)
    factory = make_central_session_factory(engine)
    tokens = {}
    with factory.begin() as s:
        for kiosk_id in kiosk_ids:
            _, tokens[kiosk_id] = register_kiosk(s, kiosk_id, kiosk_id, utc_now())
    engine.dispose()
    return tokens


def kiosk_events(k: int, kiosk_id: str, epoch: str, n: int) -> list[dict[str, Any]]:
    """A busy day: a visit, a checkout, a renewal and the return, over and over."""
    start = utc_now() - dt.timedelta(hours=12)
    events: list[dict[str, Any]] = []
    loan_uuid = ""
    for seq in range(1, n + 1):
        cycle, step = divmod(seq - 1, 4)
        at = start + dt.timedelta(seconds=10 * seq)
        student = f"S{k:03d}{cycle % PATRONS_PER_KIOSK:03d}"
        barcode = f"BK{k:03d}{cycle % ITEMS_PER_KIOSK:03d}"
        body: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "kiosk_id": kiosk_id,
            "epoch": epoch,
            "sequence": seq,
            "recorded_at": at.isoformat(),
        }
        if step == 0:
            body |= {"kind": "visit", "student_number": student}
        elif step == 1:
            loan_uuid = str(uuid.uuid4())
            body |= {
                "kind": "checkout",
                "loan_uuid": loan_uuid,
                "item_barcode": barcode,
                "isbn13": f"978{k:010d}",
                "student_number": student,
                "checked_out_at": at.isoformat(),
                "due_at": (at + dt.timedelta(days=14)).isoformat(),
            }
        elif step == 2:
            body |= {
                "kind": "renewal",
                "loan_uuid": loan_uuid,
                "item_barcode": barcode,
                "due_at": (at + dt.timedelta(days=28)).isoformat(),
                "renewals": 1,
            }
        else:
            body |= {
                "kind": "checkin",
                "loan_uuid": loan_uuid,
                "item_barcode": barcode,
                "returned_at": at.isoformat(),
                "hold_id": None,
            }
        events.append(body)
    return events


def build_outboxes(
    workdir: Path, kiosk_ids: list[str], events_per_kiosk: int
) -> dict[str, tuple[Path, set[str]]]:
    """One migrated kiosk database per kiosk, its outbox full of pending events."""
    template = workdir / "template.sqlite3"
    engine = make_engine(template)
    upgrade(engine)
    engine.dispose()
    out = {}
    for k, kiosk_id in enumerate(kiosk_ids):
        path = workdir / f"{kiosk_id}.sqlite3"
        shutil.copy(template, path)
        epoch = str(uuid.uuid4())
        events = kiosk_events(k, kiosk_id, epoch, events_per_kiosk)
        conn = sqlite3.connect(path)
        with conn:
            conn.executemany(
                "INSERT INTO outbox_events (event_uuid, epoch, sequence, kind, payload, "
                "created_at, state) VALUES (?, ?, ?, ?, ?, ?, 'pending')",
                [
                    (
                        e["event_id"],
                        epoch,
                        e["sequence"],
                        e["kind"],
                        json.dumps(e, sort_keys=True),
                        e["recorded_at"][:26].replace("T", " "),
                    )
                    for e in events
                ],
            )
            conn.executemany(
                "INSERT INTO kiosk_state (key, value) VALUES (?, ?)",
                [("outbox.epoch", epoch), ("outbox.next_sequence", str(events_per_kiosk + 1))],
            )
        conn.close()
        out[kiosk_id] = (path, {e["event_id"] for e in events})
    return out


@dataclass
class KioskRun:
    attempts: int = 0
    retries: int = 0
    error: str = ""
    finished_at: float = 0.0
    errors: list[str] = field(default_factory=list)


def run_kiosk(
    path: Path, client: CentralClient, batch_size: int, result: KioskRun, started: float
) -> None:
    """Push until the outbox is empty, backing off like the sync worker does."""
    engine = make_engine(path)
    factory = make_session_factory(engine)
    backoff = Backoff(0.5, 10.0)
    try:
        while result.attempts < MAX_ATTEMPTS_PER_KIOSK:
            if time.monotonic() - started > KIOSK_DEADLINE_S:
                result.error = "deadline"
                return
            result.attempts += 1
            try:
                push_pending(factory, client, batch_size, utc_now)
                result.finished_at = time.monotonic()
                return
            except SyncError as exc:
                result.retries += 1
                if len(result.errors) < 3:
                    result.errors.append(str(exc))
                retry_after = getattr(exc, "retry_after_s", None)
                time.sleep(backoff.next_delay(retry_after))
        result.error = "too many attempts"
    finally:
        engine.dispose()


def start_central(workdir: Path, url: str, port: int, threads: int) -> subprocess.Popen[bytes]:
    config = workdir / "central.toml"
    monitor_token = workdir / "monitor_token"
    monitor_token.write_text(MONITOR_TOKEN + "\n", encoding="utf-8")
    config.write_text(
        f'[central]\nhost = "127.0.0.1"\nport = {port}\ndatabase_url = "{url}"\n'
        f'threads = {threads}\nmonitor_token_file = "{monitor_token}"\n',
        encoding="utf-8",
    )
    log = (workdir / "central.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_kiosk.py"), "central", "--config", str(config)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((workdir / "central.log").read_text(errors="replace")[-4000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/sync/v1/pull?since=0&limit=1")
            conn.getresponse().read()
            conn.close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the central did not start")


def stats_unapplied(port: int) -> int:
    """`events_unapplied` as `GET /api/v1/stats` reports it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/api/v1/stats", headers={"Authorization": f"Bearer {MONITOR_TOKEN}"})
        reply = conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"/api/v1/stats answered {reply.status}: {body[:200]!r}")
        return int(json.loads(body)["events_unapplied"])
    finally:
        conn.close()


def wait_for_ledger(url: str, port: int) -> tuple[float | None, int]:
    """Seconds until the central's ledger has applied every stored event (None: gave up).

    Watched with a plain read of the central database, which waits for no writer; the stats
    endpoint (whose full counts take a while on a big database) is asked once at the start
    and once at the end, so that the watching itself does not slow the ledger down.
    """
    started = time.monotonic()
    print(f"ledger: {stats_unapplied(port)} events still to apply after the pushes", flush=True)
    engine = create_engine(database_url(url))
    try:
        while True:
            with engine.connect() as conn:
                left = conn.execute(
                    text("SELECT count(*) FROM central_events WHERE state = 'received'")
                ).scalar_one()
            if not left or time.monotonic() - started > DRAIN_DEADLINE_S:
                break
            time.sleep(DRAIN_POLL_S)
    finally:
        engine.dispose()
    drain_s = time.monotonic() - started
    left = stats_unapplied(port)
    return (drain_s if left == 0 else None), left


def verify(url: str, expected: dict[str, set[str]]) -> tuple[int, int]:
    """(lost, duplicated) by event id, read from the central database itself."""
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT event_id, count(*) FROM central_events "
                    "WHERE state <> 'duplicate' GROUP BY event_id"
                )
            ).all()
            loans = conn.execute(text("SELECT count(*), count(DISTINCT uuid) FROM loans")).one()
    finally:
        engine.dispose()
    held = {event_id: n for event_id, n in rows}
    lost = sum(1 for ids in expected.values() for e in ids if e not in held)
    duplicated = sum(n - 1 for n in held.values() if n > 1) + (loans[0] - loans[1])
    return lost, duplicated


def pending_left(outboxes: dict[str, tuple[Path, set[str]]]) -> int:
    left = 0
    for path, _ in outboxes.values():
        conn = sqlite3.connect(path)
        left += conn.execute("SELECT count(*) FROM outbox_events WHERE state='pending'").fetchone()[
            0
        ]
        conn.close()
    return left


def measure(url: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    kiosk_ids = [f"bench-{k:03d}" for k in range(args.kiosks)]
    prep = time.monotonic()
    seed_central(url, args.kiosks)
    tokens = register(url, kiosk_ids)
    outboxes = build_outboxes(workdir, kiosk_ids, args.events)
    print(f"prepared {args.kiosks} kiosk outboxes in {time.monotonic() - prep:.1f} s", flush=True)
    port = free_port()
    central = start_central(workdir, url, port, args.central_threads)
    try:
        results = {kiosk_id: KioskRun() for kiosk_id in kiosk_ids}
        started = time.monotonic()
        threads = [
            threading.Thread(
                target=run_kiosk,
                args=(
                    outboxes[kiosk_id][0],
                    CentralClient(f"http://127.0.0.1:{port}", kiosk_id, tokens[kiosk_id], 60.0),
                    args.batch_size,
                    results[kiosk_id],
                    started,
                ),
                daemon=True,
            )
            for kiosk_id in kiosk_ids
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=KIOSK_DEADLINE_S + 60)
        wall_s = time.monotonic() - started
        drain_s, unapplied_left = wait_for_ledger(url, port)
    finally:
        central.terminate()
        try:
            central.wait(timeout=20)
        except subprocess.TimeoutExpired:
            central.kill()
            central.wait(timeout=10)
    lost, duplicated = verify(url, {k: ids for k, (_, ids) in outboxes.items()})
    total = args.kiosks * args.events
    left = pending_left(outboxes)
    finish_times = sorted(r.finished_at - started for r in results.values() if r.finished_at)
    failed = [k for k, r in results.items() if r.error]
    for kiosk_id in failed[:3]:
        print(f"  {kiosk_id}: {results[kiosk_id].error} {results[kiosk_id].errors}")
    return {
        "wall_s": round(wall_s, 2),
        "events_per_s": round(total / wall_s, 1),
        "acked": total - left,
        "pending_left": left,
        "retries": sum(r.retries for r in results.values()),
        "kiosks_failed": len(failed),
        "first_kiosk_done_s": round(finish_times[0], 2) if finish_times else None,
        "median_kiosk_done_s": (
            round(finish_times[len(finish_times) // 2], 2) if finish_times else None
        ),
        "lost": lost,
        "duplicated": duplicated,
        # After wall_s: how long the ledger took to apply what was still waiting.
        "ledger_drain_s": None if drain_s is None else round(drain_s, 2),
        "ledger_unapplied_left": unapplied_left,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kiosks", type=int, default=100)
    parser.add_argument("--events", type=int, default=2000, help="events per kiosk")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--central-threads", type=int, default=8)
    parser.add_argument(
        "--postgres", action="store_true", help="central on a throwaway PostgreSQL server"
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="shuxiang-nightly-"))
    try:
        if args.postgres:
            from tests.pgserver import running_postgres

            with running_postgres(fast=False) as server:
                if server is None:
                    print("PostgreSQL binaries not found; run scripts/system-deps.sh postgres")
                    return 1
                figures = measure(server.create_database(), workdir, args)
                database = "postgresql"
        else:
            figures = measure(str(workdir / "central.sqlite3"), workdir, args)
            database = "sqlite"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"{args.kiosks} kiosks × {args.events} events to one central ({database}): "
        f"{figures['wall_s']} s wall, {figures['events_per_s']} events/s, "
        f"{figures['retries']} retries (503/Retry-After), lost {figures['lost']}, "
        f"duplicated {figures['duplicated']}, left pending {figures['pending_left']}; "
        f"ledger drained {figures['ledger_drain_s']} s after the last push"
    )
    line = {
        "bench": "nightly_sync",
        "kiosks": args.kiosks,
        "events_per_kiosk": args.events,
        "database": database,
        "batch_size": args.batch_size,
        **figures,
        "target_wall_s": TARGET_WALL_S,
        "meets_target": figures["wall_s"] <= TARGET_WALL_S
        and figures["lost"] == 0
        and figures["duplicated"] == 0,
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
