"""Server-side faults: kill -9 of the central mid-batch, five kiosks pushing at once."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import waitress
from sqlalchemy import func, select

from central.app import create_central_app
from central.worker import LedgerWorker
from db.central_models import CentralEvent, KioskEpoch
from db.models import Loan
from tests.central.conftest import CentralDB, add_kiosk, drain_ledger, iso
from tests.conftest import FakeClock
from tests.pgserver import free_port

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)


def _post(url: str, token: str, body: dict[str, Any], timeout: float = 30) -> tuple[int, Any, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), dict(exc.headers)


def _events(kiosk_id: str, epoch: str, count: int, offset_min: int) -> list[dict[str, Any]]:
    events = []
    seq = 1
    for i in range(count // 2):
        at = T0 + dt.timedelta(minutes=10 * i + offset_min)
        loan = str(uuid.uuid4())
        item = f"SX{(i % 20) + 1:05d}"
        common = {"kiosk_id": kiosk_id, "epoch": epoch}
        events.append(
            common
            | {
                "event_id": str(uuid.uuid4()),
                "kind": "checkout",
                "sequence": seq,
                "recorded_at": iso(at),
                "loan_uuid": loan,
                "item_barcode": item,
                "isbn13": None,
                "student_number": f"S202600{(i % 8) + 1}",
                "checked_out_at": iso(at),
                "due_at": iso(at + dt.timedelta(days=14)),
            }
        )
        events.append(
            common
            | {
                "event_id": str(uuid.uuid4()),
                "kind": "checkin",
                "sequence": seq + 1,
                "recorded_at": iso(at + dt.timedelta(minutes=5)),
                "loan_uuid": loan,
                "item_barcode": item,
                "returned_at": iso(at + dt.timedelta(minutes=5)),
                "hold_id": None,
            }
        )
        seq += 2
    return events


def _count(central_db: CentralDB, model: Any) -> int:
    with central_db.factory() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.slow
def test_kill_9_mid_batch_leaves_no_partial_batch(
    central_db: CentralDB, library, clock: FakeClock, tmp_path: Path
):
    token = add_kiosk(central_db, "k1", clock)
    config = tmp_path / "central.toml"
    config.write_text(f'[central]\ndatabase_url = "{central_db.url}"\n')
    arm, paused = tmp_path / "arm", tmp_path / "paused"
    port = free_port()

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests/central/serve_paused.py"),
                str(config),
                str(port),
                str(arm),
                str(paused),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for _ in range(100):  # wait for the port to accept connections
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1)
                return proc
            except OSError:
                time.sleep(0.05)
        raise AssertionError("central did not start")

    epoch = str(uuid.uuid4())
    batch = {"kiosk_id": "k1", "epoch": epoch, "events": _events("k1", epoch, 60, 0)}
    url = f"http://127.0.0.1:{port}/sync/v1/push"
    proc = start()
    arm.write_text("armed")
    outcome: list[Any] = []
    sender = threading.Thread(target=lambda: outcome.append(_safe_post(url, token, batch)))
    sender.start()
    for _ in range(200):
        if paused.exists():
            break
        time.sleep(0.05)
    assert paused.exists(), "the push never reached its commit"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    sender.join(timeout=10)
    assert outcome and outcome[0] is None  # the kiosk got no answer, so it will resend
    assert _count(central_db, CentralEvent) == 0
    assert _count(central_db, Loan) == 0

    arm.unlink()
    proc = start()
    try:
        status, body, _ = _post(url, token, batch)
        assert status == 200 and body["acked_through"] == 60
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert _count(central_db, CentralEvent) == 60
    drain_ledger(central_db.factory, clock)
    assert _count(central_db, Loan) == 30


def _safe_post(url: str, token: str, body: dict[str, Any]) -> Any:
    try:
        return _post(url, token, body, timeout=20)
    except (OSError, ConnectionError):
        return None


@pytest.mark.slow
def test_five_kiosks_push_at_once(
    central_db: CentralDB, central_settings, library, clock: FakeClock
):
    kiosks = {f"kiosk-{n}": add_kiosk(central_db, f"kiosk-{n}", clock) for n in range(5)}
    app = create_central_app(central_settings, engine=central_db.engine, clock=clock)
    port = free_port()
    server = waitress.create_server(app, host="127.0.0.1", port=port, threads=8)

    def serve() -> None:
        # Closing the server from the test thread ends the loop with EBADF; that is the stop.
        with contextlib.suppress(OSError):
            server.run()

    serving = threading.Thread(target=serve, daemon=True)
    serving.start()
    svc = app.extensions["shuxiang_central"]
    # The ledger worker runs beside the pushes, as in `run_kiosk.py central`.
    worker = LedgerWorker(central_db.factory, clock, svc.ledger_wakeup, idle_wait_s=0.1)
    worker.start()
    url = f"http://127.0.0.1:{port}/sync/v1/push"
    per_kiosk = 120
    errors: list[str] = []
    busy: list[int] = []

    def run(kiosk_id: str, offset: int) -> None:
        epoch = str(uuid.uuid4())
        events = _events(kiosk_id, epoch, per_kiosk, offset)
        acked = 0
        attempts = 0
        while acked < len(events) and attempts < 500:
            attempts += 1
            batch = events[acked : acked + 20]
            status, body, headers = _post(
                url, kiosks[kiosk_id], {"kiosk_id": kiosk_id, "epoch": epoch, "events": batch}
            )
            if status == 503:
                busy.append(1)
                time.sleep(min(float(headers.get("Retry-After", "1")), 0.2))
                continue
            if status != 200:
                errors.append(f"{kiosk_id}: {status} {body}")
                return
            assert body["acked_through"] >= acked
            acked = body["acked_through"]
        if acked != len(events):
            errors.append(f"{kiosk_id}: acked {acked} of {len(events)}")

    threads = [
        threading.Thread(target=run, args=(kiosk_id, n)) for n, kiosk_id in enumerate(kiosks)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    server.close()
    worker.stop()
    drain_ledger(central_db.factory, clock)
    assert not errors
    assert _count(central_db, CentralEvent) == 5 * per_kiosk
    assert _count(central_db, Loan) == 5 * per_kiosk // 2
    with central_db.factory() as s:
        assert set(s.scalars(select(KioskEpoch.acked_through))) == {per_kiosk}
        open_per_item = s.execute(
            select(Loan.item_id, func.count())
            .where(Loan.returned_at.is_(None))
            .group_by(Loan.item_id)
        ).all()
        assert all(n == 1 for _, n in open_per_item)
