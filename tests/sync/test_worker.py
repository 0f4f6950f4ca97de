"""The sync thread, /metrics and `run_kiosk.py sync` against the stub central."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from db.engine import make_engine
from db.migrate import upgrade
from kiosk.app import create_app
from kiosk.config import Settings, with_overrides
from kiosk.context import services_of
from kiosk.events import SyncFinished
from kiosk.services import outbox, state
from kiosk.services.demo import seed_demo_library
from kiosk.status import build_status, heartbeat_body
from kiosk.sync import worker as sync_worker
from kiosk.sync.worker import next_nightly, start_sync_worker
from tests import support
from tests.conftest import ROOT, FakeClock, make_settings
from tests.sync.conftest import RunningStub
from tests.sync.faultproxy import FaultProxy

pytestmark = pytest.mark.timeout(90)

T = TypeVar("T")


def wait_for(probe: Callable[[], T], what: str, timeout_s: float = 10.0) -> T:
    return support.wait_for(probe, what, timeout_s)


def kiosk_settings(tmp_path: Path, url: str, token_file: Path, **sync: Any) -> Settings:
    return make_settings(
        tmp_path,
        kiosk={"id": "kiosk-1"},
        sync={
            "central_url": url,
            "token_file": str(token_file),
            "interval_s": 10,
            "heartbeat_s": 5,
            "timeout_s": 2.0,
            **sync,
        },
    )


@pytest.fixture
def make_kiosk(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    engines = []

    def build(settings: Settings, clock: Any = None) -> Flask:
        engine = make_engine(settings.database.path)
        upgrade(engine)
        engines.append(engine)
        app = create_app(settings, engine=engine, clock=clock)
        with app.extensions["shuxiang"].session_factory.begin() as session:
            seed_demo_library(session, dt.datetime.now(dt.UTC))
        return app

    yield build
    for engine in engines:
        engine.dispose()


def lend(app: Flask, card: str, *items: str) -> None:
    client = app.test_client()
    assert client.post("/api/scan", json={"code": card}).json["action"] == "signed_in"
    for barcode in items:
        assert client.post("/api/scan", json={"code": barcode}).json["action"] == "checked_out"
    client.post("/api/session/end")


def test_sync_now_on_the_staff_page(
    stub: RunningStub, token_file: Path, tmp_path: Path, make_kiosk: Callable[..., Flask]
) -> None:
    (tmp_path / "staff_pin").write_text("246810\n", encoding="utf-8")
    # No sync of its own for a day: only the button makes this one.
    settings = with_overrides(
        kiosk_settings(tmp_path, stub.url, token_file, interval_s=86_400, heartbeat_s=86_400),
        kiosk={"staff_pin_file": tmp_path / "staff_pin"},
    )
    app = make_kiosk(settings)
    services = app.extensions["shuxiang"]
    client = app.test_client()
    stop = start_sync_worker(settings, services)
    try:
        wait_for(lambda: stub.central.pulls, "the start-up sync")
        lend(app, "20260001", "SX00001")
        # Without the staff sign-in the button does nothing.
        assert client.post("/status/sync").status_code == 303
        assert not stub.central.events
        client.post("/status/login", data={"pin": "246810"})
        page = client.post("/status/sync?lang=en", follow_redirects=True)
    finally:
        stop()
    html = page.get_data(as_text=True)
    assert "Synced just now: 2 sent, 0 received." in html
    assert {e["kind"] for e in stub.central.events.values()} == {"visit", "checkout"}
    assert 'id="outbox-pending">Waiting to send: 0<' in html


def test_heartbeat_says_how_long_the_backlog_has_waited(
    tmp_path: Path, token_file: Path, make_kiosk: Callable[..., Flask]
) -> None:
    clock = FakeClock()
    settings = kiosk_settings(tmp_path, "http://127.0.0.1:9", token_file)
    app = make_kiosk(settings, clock)
    lend(app, "20260001", "SX00001")
    clock.advance(seconds=90)
    status = build_status(services_of(app), clock())
    body = heartbeat_body(status, next_push_in_s=30.0)
    assert body["backlog"] == 2  # the visit and the loan
    assert body["oldest_pending_age_s"] == 90.0
    assert body["next_push_in_s"] == 30.0 and body["sync_interval_s"] == 10


def test_worker_syncs_at_start_up_heartbeats_and_stops_promptly(
    stub: RunningStub, token_file: Path, tmp_path: Path, make_kiosk: Callable[..., Flask]
) -> None:
    settings = kiosk_settings(tmp_path, stub.url, token_file)
    app = make_kiosk(settings)
    lend(app, "20260001", "SX00001", "SX00004")
    services = app.extensions["shuxiang"]
    finished = services.bus.subscribe()
    stop = start_sync_worker(settings, services)
    try:
        event = wait_for(lambda: finished.get(0.05), "SyncFinished")
        while not isinstance(event, SyncFinished):
            event = wait_for(lambda: finished.get(0.05), "SyncFinished")
        assert event.ok and event.pushed == 3
        beat = wait_for(lambda: stub.central.heartbeats, "a heartbeat")[0]
    finally:
        started = time.monotonic()
        stop()
        assert time.monotonic() - started < 3.0
    assert {e["kind"] for e in stub.central.events.values()} == {"visit", "checkout"}
    assert beat["kiosk_id"] == "kiosk-1" and beat["scanner_connected"] is None
    assert beat["version"] and beat["sqlite_version"] and beat["disk_free_bytes"] > 0
    assert beat["checkouts_today"] == 2 and isinstance(beat["backlog"], int)
    # The push schedule, so the central can tell a waiting backlog from a stuck one.
    assert beat["sync_interval_s"] == settings.sync.interval_s
    assert 0 < beat["next_push_in_s"] <= settings.sync.interval_s
    assert beat["backlog"] == 0 and beat["oldest_pending_age_s"] is None
    status = app.test_client().get("/api/status").json["sync"]
    assert status["pending"] == 0 and status["last_success_at"] and status["last_error"] is None


def test_no_hot_loop_while_the_central_is_down_then_drains(
    stub: RunningStub,
    proxy: FaultProxy,
    token_file: Path,
    tmp_path: Path,
    make_kiosk: Callable[..., Flask],
) -> None:
    settings = kiosk_settings(tmp_path, proxy.url, token_file)
    app = make_kiosk(settings)
    proxy.set("reset")
    stop = start_sync_worker(settings, app.extensions["shuxiang"])
    try:
        lend(app, "20260002", "SX00002")
        time.sleep(4.0)
        attempts = proxy.connections
        # Backoff from 1 s with full jitter: a handful of tries, not hundreds.
        assert 1 <= attempts <= 8, attempts
        status = app.test_client().get("/api/status").json["sync"]
        assert status["pending"] == 2 and "cannot reach" in status["last_error"]
        proxy.heal()
        wait_for(lambda: len(stub.central.events) == 2, "the backlog to drain", 30.0)
    finally:
        stop()


def test_retry_after_is_honoured(
    stub: RunningStub, token_file: Path, tmp_path: Path, make_kiosk: Callable[..., Flask]
) -> None:
    settings = kiosk_settings(tmp_path, stub.url, token_file, heartbeat_s=3600)
    app = make_kiosk(settings)
    lend(app, "20260003", "SX00003")
    stub.central.fail_next.append((503, {"Retry-After": "2"}, None))
    stop = start_sync_worker(settings, app.extensions["shuxiang"])
    try:
        wait_for(lambda: len(stub.central.events) == 2, "the push after the pause")
    finally:
        stop()
    first, second = stub.central.requests[0][0], stub.central.requests[1][0]
    assert second - first >= 1.9


def test_nightly_sync_in_the_library_time_zone(
    stub: RunningStub,
    token_file: Path,
    tmp_path: Path,
    make_kiosk: Callable[..., Flask],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 02:00 in Shanghai is 18:00 UTC the day before.
    now = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    assert next_nightly(now, dt.time(2, 0), "Asia/Shanghai") == dt.datetime(
        2026, 11, 25, 18, 0, tzinfo=dt.UTC
    )
    assert next_nightly(
        dt.datetime(2026, 11, 25, 18, 0, tzinfo=dt.UTC), dt.time(2, 0), "Asia/Shanghai"
    ) == dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(sync_worker, "MAX_IDLE_WAIT_S", 0.05)
    clock = FakeClock(now)
    settings = kiosk_settings(tmp_path, stub.url, token_file, interval_s=86_400, heartbeat_s=86_400)
    app = make_kiosk(settings, clock)
    stop = start_sync_worker(settings, app.extensions["shuxiang"])
    try:
        wait_for(lambda: len(stub.central.pulls) == 1, "the start-up sync")
        time.sleep(0.3)
        assert len(stub.central.pulls) == 1
        clock.now = dt.datetime(2026, 11, 25, 18, 0, 1, tzinfo=dt.UTC)
        wait_for(lambda: len(stub.central.pulls) == 2, "the nightly sync")
        time.sleep(0.3)
        assert len(stub.central.pulls) == 2
    finally:
        stop()


def test_metrics_show_backlog_and_outcomes_without_personal_data(
    stub: RunningStub, token_file: Path, tmp_path: Path, make_kiosk: Callable[..., Flask]
) -> None:
    settings = kiosk_settings(tmp_path, stub.url, token_file)
    app = make_kiosk(settings)
    lend(app, "20260004", "SX00005")
    with app.extensions["shuxiang"].session_factory.begin() as session:
        state.set_state(session, state.SYNC_OUTCOME_PREFIX + "unreachable", "3")
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    text = response.get_data(as_text=True)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    kiosk = ("kiosk_id", "kiosk-1")
    assert samples["shuxiang_kiosk_outbox_pending_events", (kiosk,)] == 2
    assert samples["shuxiang_kiosk_sync_runs_total", (kiosk, ("outcome", "unreachable"))] == 3
    assert samples["shuxiang_kiosk_scanner_connected", (kiosk,)] == 0
    assert samples["shuxiang_kiosk_database_ok", (kiosk,)] == 1
    assert ("shuxiang_kiosk_heartbeat_age_seconds", (kiosk,)) not in samples
    for secret in ("20260004", "S2026004", "欧阳", "SX00005"):
        assert secret not in text


def run_sync(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "run_kiosk.py"), "sync", "--config", str(config), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write_config(tmp_path: Path, url: str, token_file: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[kiosk]
id = "kiosk-1"
[database]
path = "kiosk.sqlite3"
[sync]
central_url = "{url}"
token_file = "{token_file}"
timeout_s = 2.0
batch_size = 2
""",
        encoding="utf-8",
    )
    return config


@pytest.mark.slow
def test_sync_command_exit_codes(
    stub: RunningStub,
    proxy: FaultProxy,
    token_file: Path,
    tmp_path: Path,
    make_kiosk: Callable[..., Flask],
) -> None:
    config = write_config(tmp_path, proxy.url, token_file)
    from kiosk.config import load_settings

    app = make_kiosk(load_settings(config))
    lend(app, "20260006", "SX00006", "SX00007")
    proxy.set("refuse")
    down = run_sync(config, "--attempts", "2")
    assert down.returncode == 1, down.stderr
    assert f"Cannot reach the central server at {proxy.url}" in down.stderr
    assert "Nothing is lost: 3 event(s) wait" in down.stderr
    proxy.heal()
    up = run_sync(config)
    assert up.returncode == 0, up.stderr
    assert "Sent 3 event(s)" in up.stdout and "0 event(s) pending" in up.stdout
    assert "push" in up.stderr  # the progress bar
    assert len(stub.central.events) == 3
    with app.extensions["shuxiang"].session_factory() as session:
        assert outbox.pending_count(session) == 0
