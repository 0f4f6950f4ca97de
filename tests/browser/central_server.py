"""The central app on a real SQLite file, served on a free port by a thread, for console tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from central.app import create_central_app
from central.db import make_central_session_factory, open_central_engine
from db.engine import SessionFactory
from tests.central.console_support import PASSWORD
from tests.conftest import FakeClock, make_settings


@dataclass
class ServedCentral:
    url: str
    app: Flask
    engine: Any
    factory: SessionFactory
    clock: FakeClock
    settings: Any


@contextmanager
def served_central(
    tmp_path: Path, clock: FakeClock, **sections: dict[str, Any]
) -> Iterator[ServedCentral]:
    """Serve a central on `tmp_path`/central.sqlite3 (migrated, empty) with a session secret;
    `sections` add settings. The caller seeds it through `factory` before a browser asks."""
    (tmp_path / "secret").write_text("browser-test-secret\n")
    url = str(tmp_path / "central.sqlite3")
    central = {"database_url": url, "secret_key_file": str(tmp_path / "secret")}
    settings = make_settings(
        tmp_path, **(sections | {"central": central | sections.get("central", {})})
    )
    engine = open_central_engine(url)
    app = create_central_app(settings, engine=engine, clock=clock)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ServedCentral(
            f"http://127.0.0.1:{server.server_port}",
            app,
            engine,
            make_central_session_factory(engine),
            clock,
            settings,
        )
    finally:
        server.shutdown()
        engine.dispose()


def sign_in(page: Any, url: str, username: str, path: str = "/") -> None:
    """Open `path` of the console at `url`, sign in on the page it sends to, and land on `path`."""
    page.goto(f"{url}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{path}")
