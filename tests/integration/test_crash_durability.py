"""SIGKILL the real kiosk server mid-stream: every scan it acknowledged must be on disk, and it restarts."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

CARDS = [f"2026000{i}" for i in range(1, 9)]
ITEMS = [f"SX{i:05d}" for i in range(1, 21)]
START_S = 20.0
HTTP_TIMEOUT_S = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[kiosk]
id = "crash-test"
[server]
host = "127.0.0.1"
port = {port}
threads = 4
[database]
path = "kiosk.sqlite3"
[scanner]
type = "keyboard"
""",
        encoding="utf-8",
    )
    return config


def run_kiosk(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "run_kiosk.py"), *args]


class Server:
    """`run_kiosk.py serve` in a child process, its output kept in a log file."""

    def __init__(self, config: Path, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            run_kiosk("serve", "--config", str(config)),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT_S)
        try:
            payload = json.dumps(body) if body is not None else None
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            assert response.status == 200, data
            return json.loads(data)
        finally:
            conn.close()

    def wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status: dict[str, Any] = self.request("GET", "/api/status")
                return status
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"the server did not answer within {START_S} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._log.close()


@dataclass
class Acked:
    """A scan whose reply reached the client, so the kiosk told the student it was done."""

    code: str
    card: str | None
    action: str
    item_barcode: str | None


@dataclass
class ScanStream:
    """Students at the kiosk, one after another, as fast as the server answers."""

    server: Server
    rng: random.Random
    acked: list[Acked] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    # Set once a checkout and a return were acknowledged, so every kill lands mid-stream.
    warmed_up: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        # Copies the client believes are out, so returns mostly find a loan to close.
        on_loan: set[str] = set()
        try:
            for turn in range(10_000):
                if self._stop.is_set():
                    return
                card = CARDS[turn % len(CARDS)]
                if self._scan(card, None).action not in ("signed_in", "switched"):
                    continue
                for _ in range(self.rng.randint(2, 3)):
                    shelf = sorted(set(ITEMS) - on_loan) or ITEMS
                    done = self._scan(self.rng.choice(shelf), card)
                    if done.action == "checked_out":
                        on_loan.add(done.code)
                self.server.request("POST", "/api/session/end", {})
                # Returns with no card, as a student dropping books off would.
                for _ in range(self.rng.randint(1, 3)):
                    pick = sorted(on_loan) if on_loan and self.rng.random() < 0.8 else ITEMS
                    done = self._scan(self.rng.choice(pick), None)
                    if done.action == "returned":
                        on_loan.discard(done.code)
        except (OSError, http.client.HTTPException):
            # The server was killed under us: expected, and the end of the stream.
            return
        except BaseException as exc:
            self.errors.append(exc)

    def _scan(self, code: str, card: str | None) -> Acked:
        reply = self.server.request("POST", "/api/scan", {"code": code})
        acked = Acked(code, card, reply["action"], reply.get("item_barcode"))
        self.acked.append(acked)
        if acked.action == "returned":
            self.warmed_up.set()
        return acked

    def stop(self) -> None:
        self._stop.set()


@dataclass
class LoanRow:
    id: int
    uuid: str
    item_barcode: str
    card: str
    returned: bool


def read_loans(db_path: Path) -> tuple[list[LoanRow], dict[str, list[str]]]:
    """Loans and, per loan uuid, the kinds of outbox events naming it, straight from the file."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        loans = [
            LoanRow(row[0], row[1], row[2], row[3], row[4] is not None)
            for row in db.execute(
                "SELECT loans.id, loans.uuid, items.barcode, patrons.card_barcode, "
                "loans.returned_at FROM loans JOIN items ON items.id = loans.item_id "
                "JOIN patrons ON patrons.id = loans.patron_id ORDER BY loans.id"
            )
        ]
        events: dict[str, list[str]] = {}
        for kind, payload in db.execute(
            "SELECT kind, payload FROM outbox_events ORDER BY sequence"
        ):
            loan_uuid = json.loads(payload).get("loan_uuid")
            if loan_uuid is not None:
                events.setdefault(loan_uuid, []).append(kind)
    return loans, events


def assert_acknowledged_scans_survived(
    acked: list[Acked], loans: list[LoanRow], events: dict[str, list[str]]
) -> None:
    checkouts = [a for a in acked if a.action == "checked_out"]
    returns = [a for a in acked if a.action == "returned"]
    # The scans went one at a time, so the only effect the client may not have heard about
    # is that of the one request in flight when the server died.
    assert len(checkouts) <= len(loans) <= len(checkouts) + 1
    returned_rows = sum(loan.returned for loan in loans)
    assert len(returns) <= returned_rows <= len(returns) + 1

    # Replay each copy's acknowledged history against its loans, oldest first.
    for barcode in ITEMS:
        rows = [loan for loan in loans if loan.item_barcode == barcode]
        history = [a for a in acked if a.item_barcode == barcode]
        lent = -1
        for scan in history:
            if scan.action == "checked_out":
                lent += 1
                assert lent < len(rows), f"acknowledged checkout of {barcode} is missing"
                assert rows[lent].card == scan.card
            elif scan.action == "returned":
                assert 0 <= lent < len(rows)
                assert rows[lent].returned, f"acknowledged return of {barcode} is missing"
        # Earlier loans of the copy were all closed before the next one could be made.
        assert all(row.returned for row in rows[:-1])

    for loan in loans:
        expected = ["checkout", "checkin"] if loan.returned else ["checkout"]
        assert events.get(loan.uuid) == expected, f"outbox events of loan {loan.id}"


@pytest.fixture
def library(tmp_path: Path) -> tuple[Path, int]:
    """A config on a fresh demo library, and the port it serves on."""
    port = free_port()
    config = write_config(tmp_path, port)
    seeded = subprocess.run(
        run_kiosk("demo-data", "--config", str(config)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert seeded.returncode == 0, seeded.stderr
    return config, port


@pytest.mark.parametrize(
    ("seed", "earliest_s", "latest_s"),
    [(1, 0.3, 0.7), (2, 0.7, 1.1), (3, 1.1, 1.5)],
    ids=["early", "middle", "late"],
)
def test_sigkill_loses_no_acknowledged_scan(
    tmp_path: Path, library: tuple[Path, int], seed: int, earliest_s: float, latest_s: float
) -> None:
    rng = random.Random(seed)
    server = Server(*library, tmp_path / "serve-1.log")
    try:
        server.wait_ready()
        stream = ScanStream(server, rng)
        client = threading.Thread(target=stream.run, name="scan-stream", daemon=True)
        client.start()
        assert stream.warmed_up.wait(timeout=START_S), stream.errors
        time.sleep(rng.uniform(earliest_s, latest_s))
        os.kill(server.proc.pid, signal.SIGKILL)
        assert server.proc.wait(timeout=10) == -signal.SIGKILL
        stream.stop()
        client.join(timeout=HTTP_TIMEOUT_S + 5)
        assert not client.is_alive()
    finally:
        server.close()
    assert stream.errors == []
    assert any(a.action == "checked_out" for a in stream.acked)
    assert any(a.action == "returned" for a in stream.acked)

    loans, events = read_loans(tmp_path / "kiosk.sqlite3")
    assert_acknowledged_scans_survived(stream.acked, loans, events)

    # The same database serves again, and agrees with what was read from the file.
    port = free_port()
    config = write_config(tmp_path, port)
    again = Server(config, port, tmp_path / "serve-2.log")
    try:
        status = again.wait_ready()
        assert status["db"]["ok"] is True
        open_loans = sum(not loan.returned for loan in loans)
        assert status["circulation"]["open_loans"] == open_loans
        again.proc.send_signal(signal.SIGTERM)
        assert again.proc.wait(timeout=10) == 0
    finally:
        again.close()
