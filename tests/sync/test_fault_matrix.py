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
import http.client
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests import support
from tests.conftest import ROOT
from tests.support import free_port
from tests.sync.faultproxy import FaultProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

START_S = 30.0
HTTP_TIMEOUT_S = 10.0
CARDS = [f"2026000{i}" for i in range(1, 9)]
ITEMS = [f"SX{i:05d}" for i in range(1, 21)]

T = TypeVar("T")

# Runs run_kiosk.py with the kiosk's clock shifted by argv[1] seconds (a kiosk whose clock is
# wrong); everything else is the real program.
SHIFTED_CLOCK_LAUNCHER = """
import datetime as dt, runpy, sys
offset = dt.timedelta(seconds=float(sys.argv[1]))
import kiosk.clock
real = kiosk.clock.utc_now
def shifted():
    return real() + offset
# Before anything else imports it: every module takes utc_now from kiosk.clock.
kiosk.clock.utc_now = shifted
sys.argv = ["run_kiosk.py", *sys.argv[2:]]
runpy.run_path("run_kiosk.py", run_name="__main__")
"""


def wait_for(probe: Callable[[], T], what: str, timeout_s: float = 30.0) -> T:
    return support.wait_for(probe, what, timeout_s, interval_s=0.05)


def run_kiosk_cmd(*args: str, clock_offset_s: float | None = None) -> list[str]:
    if clock_offset_s is None:
        return [sys.executable, str(ROOT / "run_kiosk.py"), *args]
    return [sys.executable, "-c", SHIFTED_CLOCK_LAUNCHER, str(clock_offset_s), *args]


def http_json(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
    try:
        payload = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data.decode("utf-8", "replace")
    finally:
        conn.close()


class Process:
    """A child process with its output in a log file; killed (never left behind) at close."""

    def __init__(self, argv: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:]

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def close(self) -> None:
        self.kill9()
        self._log.close()


class Central:
    """`run_kiosk.py central` on its own port and database, seeded with the demo library."""

    def __init__(self, tmp: Path, database_url: str | None = None) -> None:
        self.dir = tmp / "central"
        self.dir.mkdir()
        self.port = free_port()
        self.database_url = database_url or str(self.dir / "central.sqlite3")
        self.config = self.dir / "central.toml"
        self.config.write_text(
            f"""
[central]
host = "127.0.0.1"
port = {self.port}
database_url = "{self.database_url}"
threads = 8
""",
            encoding="utf-8",
        )
        self.process: Process | None = None
        self.runs = 0
        self.acked_through: dict[tuple[str, str], int] = {}
        self._cli("central-demo-data")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return "://" not in self.database_url or self.database_url.startswith("sqlite")

    def _cli(self, *args: str) -> str:
        done = subprocess.run(
            run_kiosk_cmd(*args, "--config", str(self.config)),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def add_kiosk(self, kiosk_id: str, token_file: Path) -> None:
        self._cli("central-add-kiosk", kiosk_id, "--token-file", str(token_file))

    def start(self) -> None:
        self.runs += 1
        self.process = Process(
            run_kiosk_cmd("central", "--config", str(self.config)),
            self.dir / f"central-{self.runs}.log",
        )
        wait_for(self._answers, "the central to answer", START_S)

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.proc.poll() is not None:
            pytest.fail(f"the central exited:\n{self.process.log()}")
        try:
            status, _ = http_json(self.port, "GET", "/sync/v1/pull?since=0&limit=1")
        except OSError:
            return False
        return status == 401

    def kill9(self) -> None:
        if self.process is not None:
            self.process.close()
            self.process = None

    def settle(self, timeout_s: float = 30.0) -> None:
        """Wait until the central's ledger worker has applied every stored event."""
        wait_for(
            lambda: (
                self.query("SELECT count(*) FROM central_events WHERE state = 'received'")[0][0]
                == 0
            ),
            "the central ledger to catch up",
            timeout_s,
        )

    # --- reading the central database (SQLAlchemy, so PostgreSQL works too) ------------------

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        from sqlalchemy import create_engine, text

        from db.engine import database_url

        engine = create_engine(database_url(self.database_url))
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql), params)]
        finally:
            engine.dispose()


class Kiosk:
    """A kiosk's config and database; `serve()` runs it, `sync()` runs the sync command."""

    def __init__(
        self,
        tmp: Path,
        kiosk_id: str,
        central: Central,
        central_url: str | None = None,
        batch_size: int = 50,
        clock_offset_s: float | None = None,
    ) -> None:
        self.id = kiosk_id
        self.dir = tmp / kiosk_id
        self.dir.mkdir()
        self.port = free_port()
        self.db_path = self.dir / "kiosk.sqlite3"
        self.token_file = self.dir / "kiosk_token"
        self.clock_offset_s = clock_offset_s
        central.add_kiosk(kiosk_id, self.token_file)
        self.config = self.dir / "config.toml"
        self.config.write_text(
            f"""
[kiosk]
id = "{kiosk_id}"
[server]
host = "127.0.0.1"
port = {self.port}
threads = 4
[database]
path = "kiosk.sqlite3"
[sync]
central_url = "{central_url or central.url}"
token_file = "kiosk_token"
interval_s = 10
heartbeat_s = 5
batch_size = {batch_size}
timeout_s = 3.0
""",
            encoding="utf-8",
        )
        self.process: Process | None = None
        self.runs = 0
        self.acked_seen: set[str] = set()

    def serve(self, wait_for_roster: bool = True) -> None:
        self.runs += 1
        self.process = Process(
            run_kiosk_cmd(
                "serve", "--config", str(self.config), clock_offset_s=self.clock_offset_s
            ),
            self.dir / f"serve-{self.runs}.log",
        )
        wait_for(self._answers, f"kiosk {self.id} to answer", START_S)
        if wait_for_roster:
            wait_for(lambda: self.count("patrons") >= 9, f"kiosk {self.id} to pull the roster")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.proc.poll() is not None:
            pytest.fail(f"kiosk {self.id} exited:\n{self.process.log()}")
        try:
            return http_json(self.port, "GET", "/api/status")[0] == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.close()
            self.process = None

    def kill9(self) -> None:
        if self.process is not None:
            self.process.close()
            self.process = None

    def scan(self, code: str) -> dict[str, Any]:
        status, reply = http_json(self.port, "POST", "/api/scan", {"code": code})
        assert status == 200, reply
        assert isinstance(reply, dict)
        return reply

    def end_session(self) -> None:
        http_json(self.port, "POST", "/api/session/end", {})

    def lend(self, card: str, *items: str) -> None:
        assert self.scan(card)["action"] in ("signed_in", "switched")
        for item in items:
            reply = self.scan(item)
            assert reply["action"] == "checked_out", (reply["reason"], reply)
        self.end_session()

    def give_back(self, *items: str) -> None:
        for item in items:
            reply = self.scan(item)
            assert reply["action"] == "returned", reply

    def sync_process(self, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            run_kiosk_cmd(
                "sync",
                "--config",
                str(self.config),
                "--no-progress",
                *extra,
                clock_offset_s=self.clock_offset_s,
            ),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def sync(self, *extra: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        proc = self.sync_process(*extra)
        out, err = proc.communicate(timeout=120)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        if expect is not None:
            assert done.returncode == expect, out + err
        return done

    # --- reading the kiosk database --------------------------------------------------------------

    def _sql(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db_path, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def count(self, table: str) -> int:
        try:
            return int(self._sql(f"SELECT count(*) FROM {table}")[0][0])
        except sqlite3.OperationalError:
            return 0

    def outbox(self) -> list[tuple[str, str, int, str, str]]:
        return [
            (r[0], r[1], int(r[2]), r[3], r[4])
            for r in self._sql(
                "SELECT event_uuid, epoch, sequence, state, kind FROM outbox_events ORDER BY id"
            )
        ]

    def pending(self) -> int:
        return sum(1 for row in self.outbox() if row[3] == "pending")

    def acked(self) -> set[str]:
        """Acknowledged event ids, checked never to shrink: acknowledgements never go back."""
        now = {row[0] for row in self.outbox() if row[3] == "acked"}
        assert self.acked_seen <= now, "an acknowledged event became pending again"
        self.acked_seen |= now
        return now

    def integrity(self) -> str:
        return str(self._sql("PRAGMA integrity_check")[0][0])


def check_invariants(central: Central, kiosks: list[Kiosk], drained: bool = True) -> None:
    if central.process is not None:
        central.settle()
    rows = central.query(
        "SELECT event_id, kiosk_id, count(*) FROM central_events "
        "WHERE state <> 'duplicate' GROUP BY event_id, kiosk_id"
    )
    held = {event_id: (kiosk_id, n) for event_id, kiosk_id, n in rows}
    doubled = [event_id for event_id, (_, n) in held.items() if n != 1]
    assert not doubled, f"events held more than once: {doubled[:5]}"
    for kiosk in kiosks:
        acked = kiosk.acked()
        missing = [e for e in acked if held.get(e, (None, 0))[0] != kiosk.id]
        assert not missing, f"{kiosk.id}: acknowledged events missing centrally: {missing[:5]}"
        assert kiosk.integrity() == "ok"
        if drained:
            assert kiosk.pending() == 0, f"{kiosk.id} still has a backlog"
    # No duplicate effects: one loan per checkout event, whatever was pushed twice.
    checkouts = central.query(
        "SELECT count(*) FROM central_events WHERE kind = 'checkout' AND state = 'applied'"
    )[0][0]
    loans = central.query(
        "SELECT count(*) FROM loans WHERE uuid IN (SELECT loan_uuid FROM central_events "
        "WHERE kind = 'checkout' AND state = 'applied')"
    )[0][0]
    assert checkouts == loans
    # The central's acknowledgement per (kiosk, epoch) never goes backwards either.
    for kiosk_id, epoch, through in central.query(
        "SELECT kiosk_id, epoch, acked_through FROM central_kiosk_epochs"
    ):
        before = central.acked_through.get((kiosk_id, epoch), 0)
        assert through >= before, f"{kiosk_id}/{epoch}: acked_through went {before} -> {through}"
        central.acked_through[(kiosk_id, epoch)] = through
    if central.is_sqlite:
        assert central.query("PRAGMA integrity_check")[0][0] == "ok"


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


def busy_day(kiosk: Kiosk, rounds: int, rng: random.Random) -> None:
    """Students come and go: sign-ins (visits), loans and returns, each checked as it happens."""
    on_loan: dict[str, str] = {}
    for _ in range(rounds):
        card = rng.choice(CARDS)
        kiosk.scan(card)
        mine = [item for item, who in on_loan.items() if who == card]
        free = [i for i in ITEMS[:16] if i not in on_loan]
        if len(mine) < 2 and free and rng.random() < 0.6:
            item = rng.choice(free)
            reply = kiosk.scan(item)
            if reply["action"] == "checked_out":
                on_loan[item] = card
        kiosk.end_session()
        if on_loan and rng.random() < 0.4:
            item = rng.choice(sorted(on_loan))
            assert kiosk.scan(item)["action"] == "returned"
            del on_loan[item]


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
    tmp_path: Path, central: Central, cleanup: list[Any]
) -> None:
    proxy = FaultProxy(central.port)
    cleanup.append(proxy)
    kiosk = Kiosk(tmp_path, "k-kill", central, central_url=proxy.url, batch_size=5)
    cleanup.append(kiosk)
    kiosk.serve()
    # A day's backlog recorded offline: the kiosk serves with its central unreachable.
    proxy.set("refuse")
    busy_day(kiosk, 60, random.Random(11))
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


def test_kill9_of_the_central_mid_batch(
    tmp_path: Path, central: Central, cleanup: list[Any]
) -> None:
    proxy = FaultProxy(central.port)
    cleanup.append(proxy)
    kiosk = Kiosk(tmp_path, "k-cdie", central, central_url=proxy.url, batch_size=3)
    cleanup.append(kiosk)
    kiosk.serve()
    proxy.set("refuse")
    busy_day(kiosk, 50, random.Random(3))
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
    tmp_path: Path, central: Central, cleanup: list[Any]
) -> None:
    proxy = FaultProxy(central.port)
    cleanup.append(proxy)
    kiosk = Kiosk(tmp_path, "k-lost", central, central_url=proxy.url, batch_size=4)
    cleanup.append(kiosk)
    kiosk.serve()
    proxy.set("refuse")
    busy_day(kiosk, 12, random.Random(1))
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
    tmp_path: Path, central: Central, cleanup: list[Any]
) -> None:
    proxy = FaultProxy(central.port)
    cleanup.append(proxy)
    kiosk = Kiosk(tmp_path, "k-dup", central, central_url=proxy.url, batch_size=3)
    cleanup.append(kiosk)
    kiosk.serve()
    proxy.set("refuse")
    busy_day(kiosk, 30, random.Random(4))
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
