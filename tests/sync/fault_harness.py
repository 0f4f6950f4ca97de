"""The fault matrix's harness: real central and kiosk processes on 127.0.0.1, their databases,
and the invariants every scenario ends with (tests/sync/test_fault_matrix.py)."""

from __future__ import annotations

import http.client
import json
import random
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests import support
from tests.conftest import ROOT
from tests.support import free_port

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
