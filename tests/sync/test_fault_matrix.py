"""The fault matrix end to end: real central and kiosk processes on 127.0.0.1, faults injected.

Invariants after every scenario (`check_invariants`): every event a kiosk holds as
acknowledged is in the central ledger exactly once; no event is applied twice and no loan
exists twice; acknowledgements never go backwards; `PRAGMA integrity_check` is ok on every
kiosk database (and a SQLite central); once the fault is gone the backlog drains; lending
works throughout (every scan during a fault gets its normal answer).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sync.fault_harness import (
    CARDS,
    ITEMS,
    Central,
    Kiosk,
    busy_day,
    check_invariants,
    http_json,
    wait_for,
)
from tests.sync.faultproxy import FaultProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    c = Central(tmp_path)
    c.start()
    try:
        yield c
    finally:
        c.kill9()


@pytest.fixture
def cleanup() -> Iterator[list[Any]]:
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        with contextlib.suppress(Exception):
            (thing.stop if isinstance(thing, Kiosk) else thing.close)()


OfflineKiosk = Callable[..., tuple[Kiosk, FaultProxy]]


@pytest.fixture
def offline_kiosk(tmp_path: Path, central: Central, cleanup: list[Any]) -> OfflineKiosk:
    """A serving kiosk behind a fault proxy, with `rounds` of a busy day recorded while the
    proxy refuses every connection (the backlog a scenario then syncs)."""

    def make(kiosk_id: str, *, batch_size: int, rounds: int, seed: int) -> tuple[Kiosk, FaultProxy]:
        proxy = FaultProxy(central.port)
        cleanup.append(proxy)
        kiosk = Kiosk(tmp_path, kiosk_id, central, central_url=proxy.url, batch_size=batch_size)
        cleanup.append(kiosk)
        kiosk.serve()
        proxy.set("refuse")
        busy_day(kiosk, rounds, random.Random(seed))
        return kiosk, proxy

    return make


# --- scenarios ---------------------------------------------------------------------------------


def test_central_down_while_students_borrow_and_return(
    tmp_path: Path, central: Central, cleanup: list[Any]
) -> None:
    kiosk = Kiosk(tmp_path, "k-down", central)
    cleanup.append(kiosk)
    kiosk.serve()
    kiosk.lend("20260001", "SX00001")
    wait_for(lambda: kiosk.pending() == 0, "the first loan to sync", 30)
    central.kill9()
    # Lending goes on while the central is away.
    kiosk.lend("20260002", "SX00002", "SX00003")
    kiosk.give_back("SX00001", "SX00002")
    kiosk.lend("20260003", "SX00005")
    assert kiosk.pending() >= 7
    down = kiosk.sync("--attempts", "1", expect=1)
    assert f"Cannot reach the central server at {central.url}" in down.stderr
    assert "Nothing is lost" in down.stderr
    status = http_json(kiosk.port, "GET", "/api/status")[1]["sync"]
    assert status["pending"] == kiosk.pending() and "cannot reach" in status["last_error"]
    central.start()
    # The kiosk's own worker drains the backlog once the central answers again.
    wait_for(lambda: kiosk.pending() == 0, "the backlog to drain", 40)
    check_invariants(central, [kiosk])
    open_loans = central.query("SELECT count(*) FROM loans WHERE returned_at IS NULL")[0][0]
    assert open_loans == 2  # SX00003 and SX00005


def test_kill9_of_the_kiosk_at_random_points_of_a_sync(
    central: Central, offline_kiosk: OfflineKiosk
) -> None:
    # A day's backlog recorded offline: the kiosk serves with its central unreachable.
    kiosk, proxy = offline_kiosk("k-kill", batch_size=5, rounds=60, seed=11)
    kiosk.kill9()
    total = kiosk.pending()
    assert total >= 80
    proxy.set("delay", delay_s=0.03)
    rng = random.Random(5)
    progress = []
    for _ in range(5):
        before = len(kiosk.acked())
        proc = kiosk.sync_process()
        # Kill once this sync has made some progress, at a random moment after that.
        wait_for(
            lambda before=before, proc=proc: len(kiosk.acked()) > before or proc.poll() is not None,
            "the sync to acknowledge a batch",
        )
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        progress.append(len(kiosk.acked()))
        assert kiosk.integrity() == "ok"
        check_invariants(central, [kiosk], drained=False)
    # The kills landed in the middle of syncs, not only before or after them.
    assert any(0 < n < total for n in progress), progress
    proxy.heal()
    kiosk.sync()
    check_invariants(central, [kiosk])
    assert len(kiosk.acked()) == kiosk.count("outbox_events")


def test_kill9_of_the_central_mid_batch(central: Central, offline_kiosk: OfflineKiosk) -> None:
    kiosk, proxy = offline_kiosk("k-cdie", batch_size=3, rounds=50, seed=3)
    kiosk.stop()
    proxy.set("delay", delay_s=0.1)
    rng = random.Random(9)
    for _ in range(2):
        before = len(kiosk.acked())
        proc = kiosk.sync_process("--attempts", "1")
        wait_for(
            lambda before=before: len(kiosk.acked()) > before, "the sync to acknowledge a batch"
        )
        # The next batch is on the wire or being committed when the central dies.
        time.sleep(rng.uniform(0.0, 0.1))
        central.kill9()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, out + err
        assert "Nothing is lost" in err
        central.start()
        check_invariants(central, [kiosk], drained=False)
    kiosk.sync()
    check_invariants(central, [kiosk])


def test_reply_lost_after_the_server_committed(
    central: Central, offline_kiosk: OfflineKiosk
) -> None:
    kiosk, proxy = offline_kiosk("k-lost", batch_size=4, rounds=12, seed=1)
    kiosk.stop()
    pending = kiosk.pending()
    # Every reply cut short after the status line: the central committed each batch.
    proxy.set("cut", cut_after_bytes=20, times=3)
    kiosk.sync("--attempts", "6")
    assert proxy.faults_applied == 3
    runs = central.query(
        "SELECT count(*) FROM central_sync_runs WHERE kiosk_id = 'k-lost' AND outcome = 'ok'"
    )[0][0]
    assert runs > pending / 4  # some batches went twice
    # A blackholed request times out; the next attempt sends the same batch again.
    proxy.set("refuse")
    kiosk.serve(wait_for_roster=False)
    busy_day(kiosk, 5, random.Random(2))
    kiosk.stop()
    proxy.set("blackhole", times=1)
    kiosk.sync("--attempts", "3")
    check_invariants(central, [kiosk])


def test_duplicate_and_reordered_batches_from_concurrent_syncs(
    central: Central, offline_kiosk: OfflineKiosk
) -> None:
    kiosk, proxy = offline_kiosk("k-dup", batch_size=3, rounds=30, seed=4)
    proxy.set("delay", delay_s=0.02)
    # Three sync commands and the serving kiosk's own worker push the same outbox at once:
    # the central sees the same batches several times, in any order.
    procs = [kiosk.sync_process("--attempts", "5") for _ in range(3)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, 1), out + err
    kiosk.stop()
    proxy.heal()
    kiosk.sync()
    check_invariants(central, [kiosk])
    received = central.query(
        "SELECT sum(events_sent) FROM central_sync_runs WHERE kiosk_id = 'k-dup'"
    )[0][0]
    assert received > kiosk.count("outbox_events")


@pytest.mark.parametrize("first", ["k-a", "k-b"])
def test_two_kiosks_lend_the_same_copy_offline(
    tmp_path: Path, central: Central, cleanup: list[Any], first: str
) -> None:
    proxies = {name: FaultProxy(central.port) for name in ("k-a", "k-b")}
    cleanup.extend(proxies.values())
    kiosks = {
        name: Kiosk(tmp_path, name, central, central_url=p.url) for name, p in proxies.items()
    }
    cleanup.extend(kiosks.values())
    for name, kiosk in kiosks.items():
        kiosk.serve()
        proxies[name].set("refuse")
    # The same copy, lent at kiosk A and (a little later) at kiosk B, both offline.
    kiosks["k-a"].lend("20260001", "SX00010")
    time.sleep(0.05)
    kiosks["k-b"].lend("20260002", "SX00010")
    for name in (first, "k-b" if first == "k-a" else "k-a"):
        proxies[name].heal()
        kiosks[name].sync()
    central.settle()
    for kiosk in kiosks.values():
        kiosk.sync()  # both now pull the central's verdict
    check_invariants(central, list(kiosks.values()))
    loans = central.query(
        "SELECT l.kiosk_id, l.returned_at FROM loans l JOIN items i ON i.id = l.item_id "
        "WHERE i.barcode = 'SX00010' ORDER BY l.checked_out_at"
    )
    assert [k for k, _ in loans] == ["k-a", "k-b"]
    assert loans[0][1] is not None and loans[1][1] is None
    exceptions = central.query(
        "SELECT kiosks FROM central_exceptions WHERE kind = 'double_checkout'"
    )
    assert len(exceptions) == 1
    assert "k-a" in exceptions[0][0] and "k-b" in exceptions[0][0]
    # Both kiosks now agree with the central: the later loan is the open one.
    for kiosk in kiosks.values():
        open_here = kiosk._sql(
            "SELECT l.kiosk_id FROM loans l JOIN items i ON i.id = l.item_id "
            "WHERE i.barcode = 'SX00010' AND l.returned_at IS NULL"
        )
        assert open_here == [("k-b",)], kiosk.id


@pytest.mark.parametrize("offset_s", [3600.0, -2 * 86400.0], ids=["hour-ahead", "two-days-behind"])
def test_kiosk_clock_off(
    tmp_path: Path, central: Central, cleanup: list[Any], offset_s: float
) -> None:
    kiosk = Kiosk(tmp_path, "k-clock", central, clock_offset_s=offset_s)
    cleanup.append(kiosk)
    kiosk.serve()
    kiosk.lend("20260004", "SX00008")
    kiosk.give_back("SX00008")
    kiosk.sync()
    wait_for(
        lambda: central.query(
            "SELECT count(*) FROM central_exceptions WHERE kind = 'clock_offset'"
        )[0][0],
        "a clock_offset exception",
        20,
    )
    offset = central.query("SELECT clock_offset_s FROM central_kiosks WHERE id = 'k-clock'")[0][0]
    assert abs(offset - offset_s) < 60
    check_invariants(central, [kiosk])
    if offset_s > 0:
        # recorded_at in the central's future: those times are flagged as doubtful.
        doubtful = central.query(
            "SELECT count(*) FROM central_events WHERE kiosk_id = 'k-clock' AND time_doubtful"
        )[0][0]
        assert doubtful >= 1


def test_kiosk_database_restored_from_an_old_copy(
    tmp_path: Path, central: Central, cleanup: list[Any]
) -> None:
    kiosk = Kiosk(tmp_path, "k-restore", central)
    cleanup.append(kiosk)
    kiosk.serve()
    kiosk.lend("20260001", "SX00001")
    kiosk.sync()
    kiosk.stop()
    backup = tmp_path / "backup.sqlite3"
    with (
        contextlib.closing(sqlite3.connect(kiosk.db_path)) as src,
        contextlib.closing(sqlite3.connect(backup)) as dst,
    ):
        src.backup(dst)
    kiosk.serve()
    kiosk.lend("20260002", "SX00002", "SX00003")
    kiosk.sync()
    lost_incarnation = kiosk.acked()
    kiosk.stop()
    # The disk died; the school restores last week's copy.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{kiosk.db_path}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, kiosk.db_path)
    kiosk.acked_seen = set()
    kiosk.serve(wait_for_roster=False)
    kiosk.lend("20260003", "SX00005", "SX00006")
    # The first push meets the central's other events at these positions (409): the kiosk
    # moves its backlog to a new epoch and sends it again.
    kiosk.sync()
    central.settle()
    kiosk.sync()  # pull what the ledger made of it
    kiosk.stop()
    check_invariants(central, [kiosk])
    held = {r[0] for r in central.query("SELECT event_id FROM central_events")}
    assert lost_incarnation <= held
    epochs = {row[1] for row in kiosk.outbox()}
    assert len(epochs) == 2
    assert (
        central.query("SELECT count(*) FROM central_exceptions WHERE kind = 'epoch_conflict'")[0][0]
        >= 1
    )
    # The loans the lost database recorded come back to the kiosk from the central.
    on_loan = kiosk._sql(
        "SELECT i.barcode FROM loans l JOIN items i ON i.id = l.item_id "
        "WHERE l.returned_at IS NULL ORDER BY i.barcode"
    )
    assert [b for (b,) in on_loan] == ["SX00001", "SX00002", "SX00003", "SX00005", "SX00006"]


def _offline_backlog(kiosk: Kiosk, rounds: int, seed: int) -> None:
    """Record a backlog through the kiosk's own HTTP API, in-process, with the roster pulled."""
    from sqlalchemy import select

    from db.engine import make_engine, make_session_factory
    from db.migrate import upgrade
    from db.models import Patron
    from kiosk.app import create_app
    from kiosk.config import load_settings
    from kiosk.services.demo import seed_demo_library

    settings = load_settings(kiosk.config)
    engine = make_engine(settings.database.path)
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        if session.scalar(select(Patron.id).limit(1)) is None:
            # Seeded exactly like the central's demo library, so natural keys and ids agree.
            seed_demo_library(session, dt.datetime.now(dt.UTC))
    client = create_app(settings, engine=engine).test_client()
    rng = random.Random(seed)
    for _ in range(rounds):
        client.post("/api/scan", json={"code": rng.choice(CARDS)})
        client.post("/api/scan", json={"code": rng.choice(ITEMS)})
        client.post("/api/session/end")
        client.post("/api/scan", json={"code": rng.choice(ITEMS)})
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_five_kiosks_sync_at_once_against_postgresql(
    tmp_path: Path, fresh_postgres_url: str, cleanup: list[Any]
) -> None:
    central = Central(tmp_path, database_url=fresh_postgres_url)
    cleanup.append(_Closer(central.kill9))
    central.start()
    kiosks = [Kiosk(tmp_path, f"k-pg{i}", central, batch_size=20) for i in range(5)]
    for i, kiosk in enumerate(kiosks):
        _offline_backlog(kiosk, 40, seed=i)
    procs = [kiosk.sync_process("--attempts", "6") for kiosk in kiosks]
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, out + err
    check_invariants(central, kiosks)
    total = sum(k.count("outbox_events") for k in kiosks)
    assert central.query("SELECT count(*) FROM central_events")[0][0] == total


class _Closer:
    def __init__(self, fn: Callable[[], None]) -> None:
        self.close = fn
