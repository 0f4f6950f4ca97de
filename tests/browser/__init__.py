"""End-to-end helpers: the real kiosk server in a subprocess, a pty scanner, headless Chromium.

Shared by the browser tests and bench/scan_to_screen.py, so both drive the kiosk the same way.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests import support
from tests.support import PtyScanner, free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SHUXIANG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # The page's sounds must not wait for a user gesture (the kiosk launcher sets this too).
    "--autoplay-policy=no-user-gesture-required",
]
STAFF_PIN = "246810"
# linux/prctl.h
PR_SET_PDEATHSIG = 1
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str, timeout_s: float = 10.0) -> T:
    """Wait for `probe`; a server that is still starting (connection refused) is "not yet"."""
    return support.wait_for(probe, what, timeout_s, ignore=(OSError,))


def seed_library(directory: Path) -> Path:
    """A demo library made by `run_kiosk.py demo-data`, plus a few loans the tests need.

    Returns the SQLite file; copy it per test rather than seeding again (it takes a second).
    """
    directory.mkdir(parents=True, exist_ok=True)
    config = write_config(directory, port=free_port())
    subprocess.run(
        [sys.executable, "run_kiosk.py", "demo-data", "--config", str(config)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    database = directory / "kiosk.sqlite3"
    _add_test_loans(database)
    return database


def _add_test_loans(database: Path) -> None:
    """王芳 (20260003) has 昆虫记 overdue; 李华 (20260002) has 夏洛的网 due in two days, so
    inside the renewal window; 欧阳娜娜 (20260004) has 窗边的小豆豆 waiting on the hold shelf."""
    from sqlalchemy import select

    from db.engine import make_engine, make_session_factory
    from db.models import Hold, HoldStatus, Item, ItemStatus, Loan, Patron, Title

    engine = make_engine(database)
    now = dt.datetime.now(dt.UTC)
    try:
        with make_session_factory(engine).begin() as session:

            def patron(card: str) -> Patron:
                found = session.scalar(select(Patron).where(Patron.card_barcode == card))
                assert found is not None
                return found

            def item(barcode: str) -> Item:
                found = session.scalar(select(Item).where(Item.barcode == barcode))
                assert found is not None
                return found

            for card, barcode, out_days, due_days in (
                ("20260003", "SX00014", 20, -6),
                ("20260002", "SX00011", 12, 2),
            ):
                book = item(barcode)
                book.status = ItemStatus.ON_LOAN
                session.add(
                    Loan(
                        uuid=str(uuid.uuid4()),
                        item_id=book.id,
                        patron_id=patron(card).id,
                        checked_out_at=now - dt.timedelta(days=out_days),
                        due_at=now + dt.timedelta(days=due_days),
                        renewals=0,
                        kiosk_id="kiosk-test",
                    )
                )
            shelf = item("SX00010")
            shelf.status = ItemStatus.ON_HOLD_SHELF
            title = session.get(Title, shelf.title_id)
            assert title is not None
            session.add(
                Hold(
                    title_id=title.id,
                    patron_id=patron("20260004").id,
                    item_id=shelf.id,
                    status=HoldStatus.READY,
                    placed_at=now - dt.timedelta(days=3),
                    ready_at=now - dt.timedelta(days=1),
                )
            )
    finally:
        engine.dispose()


def write_config(
    directory: Path,
    *,
    port: int,
    idle_timeout_s: int = 600,
    language: str = "zh",
    scanner_link: Path | None = None,
) -> Path:
    (directory / "staff_pin").write_text(STAFF_PIN + "\n", encoding="utf-8")
    scanner = (
        f'type = "serial"\nport = "{scanner_link}"\nreconnect_delay_s = 0.1\n'
        if scanner_link
        else 'type = "keyboard"\n'
    )
    config = directory / "config.toml"
    config.write_text(
        f"""[kiosk]
id = "kiosk-test"
name = "书香小学图书馆 Shuxiang Primary Library"
language = "{language}"
idle_timeout_s = {idle_timeout_s}
staff_pin_file = "staff_pin"

[server]
host = "127.0.0.1"
port = {port}
threads = 12

[database]
path = "kiosk.sqlite3"

[scanner]
{scanner}""",
        encoding="utf-8",
    )
    return config


class KioskServer:
    """`python run_kiosk.py serve` on a free port, with its own database and pty scanner."""

    def __init__(
        self,
        directory: Path,
        seeded_database: Path,
        *,
        idle_timeout_s: int = 600,
        language: str = "zh",
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seeded_database, directory / "kiosk.sqlite3")
        self.port = free_port()
        self.scanner = PtyScanner(directory / "scanner")
        self.config = write_config(
            directory,
            port=self.port,
            idle_timeout_s=idle_timeout_s,
            language=language,
            scanner_link=self.scanner.link,
        )
        self.log_path = directory / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout_s: float = 20.0) -> None:
        if not self.scanner.plugged:
            self.scanner.plug()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "run_kiosk.py", "serve", "--config", str(self.config)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_stop_with_parent,
            )
        # pyserial flushes its input when it opens the port: scan only once it is connected.
        wait_for(self._ready, "the kiosk server and its scanner", timeout_s)

    def _ready(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"the kiosk server exited; see {self.log_path}")
        return bool(self.get("/api/status")["scanner"]["connected"])

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM, as systemd stops it; SIGKILL if it is still there after `grace_s`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def close(self) -> None:
        # Waitress waits up to 5 s for an event stream thread on SIGTERM; at teardown the
        # test is over, and SQLite's journal makes a kill safe.
        self.stop(grace_s=1.0)
        self.scanner.unplug()

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=5) as response:
            return json.load(response)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.url.rstrip("/") + path,
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)


def _stop_with_parent() -> None:
    """In the server's child process before exec: SIGTERM it when the test process dies.

    A test run killed before its teardown would otherwise leave the server running, and its
    scanner's reconnect loop opens whatever new pseudo-terminal reuses the dead one's number,
    taking the scans of other tests on the machine.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
