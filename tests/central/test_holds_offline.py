"""Holds end to end with real kiosks and a real central: offline holds, routing, expiry.

Two kiosk apps on their own SQLite files sync with a central served by waitress on 127.0.0.1
(SQLite and PostgreSQL), through the kiosks' own sync client. "Offline" is a central URL where
nothing listens.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import waitress
from flask.testing import FlaskClient
from sqlalchemy import select

from central.app import create_central_app
from central.worker import LedgerWorker
from db.engine import SessionFactory, make_engine
from db.migrate import upgrade
from db.models import Hold, Item, Patron, Title
from kiosk.app import create_app
from kiosk.circulation.holds import HoldPolicy
from kiosk.services.demo import isbn13_for
from kiosk.sync.client import CentralClient
from kiosk.sync.worker import SyncOutcome, sync_once
from tests.central.conftest import CentralDB, add_kiosk, drain_ledger
from tests.conftest import FakeClock, make_settings
from tests.pgserver import free_port

TOTTO_ISBN = isbn13_for(5)  # 窗边的小豆豆: one copy, SX00010


@dataclass
class Kiosk:
    kiosk_id: str
    token: str
    clock: FakeClock
    client: FlaskClient
    factory: SessionFactory

    def sync(self, url: str) -> SyncOutcome:
        central = CentralClient(url, self.kiosk_id, self.token, timeout_s=5.0)
        return sync_once(self.factory, central, 200, self.clock)

    def scan(self, code: str) -> dict[str, Any]:
        response = self.client.post("/api/scan", json={"code": code})
        assert response.status_code == 200, response.data
        return dict(response.get_json())

    def title_id(self, isbn13: str) -> int:
        with self.factory() as s:
            found = s.scalar(select(Title.id).where(Title.isbn13 == isbn13))
            assert found is not None
            return found

    def reserve(self, card: str, isbn13: str) -> dict[str, Any]:
        self.scan(card)
        response = self.client.post("/api/holds", json={"title_id": self.title_id(isbn13)})
        self.client.post("/api/session/end")
        return dict(response.get_json())

    def holds_at_sign_in(self, card: str) -> list[dict[str, Any]]:
        holds = self.scan(card)["patron"]["holds"]
        self.client.post("/api/session/end")
        return list(holds)


@pytest.fixture
def central_url(central_db: CentralDB, central_settings, library, clock) -> Iterator[str]:
    app = create_central_app(central_settings, engine=central_db.engine, clock=clock)
    port = free_port()
    server = waitress.create_server(app, host="127.0.0.1", port=port, threads=4)

    def serve() -> None:
        # Closing the server from the test thread ends the loop with EBADF; that is the stop.
        with contextlib.suppress(OSError):
            server.run()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.close()
    thread.join(timeout=5)


@pytest.fixture
def make_kiosk(tmp_path: Path, central_db: CentralDB, clock: FakeClock) -> Any:
    engines = []

    def make(kiosk_id: str) -> Kiosk:
        folder = tmp_path / kiosk_id
        folder.mkdir()
        settings = make_settings(
            folder, kiosk={"id": kiosk_id, "language": "en"}, circulation={"hold_shelf_days": 2}
        )
        engine = make_engine(settings.database.path)
        upgrade(engine)
        engines.append(engine)
        kiosk_clock = FakeClock(clock.now)
        app = create_app(settings, engine=engine, clock=kiosk_clock)
        return Kiosk(
            kiosk_id,
            add_kiosk(central_db, kiosk_id, clock),
            kiosk_clock,
            app.test_client(),
            app.extensions["shuxiang"].session_factory,
        )

    yield make
    for engine in engines:
        engine.dispose()


def central_queue(central_db: CentralDB) -> list[tuple[str, str, str | None]]:
    """The title's holds at the central, first in line first: (student, status, copy)."""
    with central_db.factory() as s:
        rows = s.execute(
            select(Patron.student_number, Hold.status, Item.barcode)
            .join(Patron, Patron.id == Hold.patron_id)
            .join(Title, Title.id == Hold.title_id)
            .outerjoin(Item, Item.id == Hold.item_id)
            .where(Title.isbn13 == TOTTO_ISBN)
            .order_by(Hold.placed_at, Hold.uuid)
        )
        return [(number, status, barcode) for number, status, barcode in rows]


def test_offline_holds_on_the_last_copy_route_and_expire(
    central_db: CentralDB, central_url: str, make_kiosk: Any, clock: FakeClock
):
    a, b = make_kiosk("kiosk-a"), make_kiosk("kiosk-b")
    settle = lambda: drain_ledger(central_db.factory, clock)  # noqa: E731 - the worker, in-line
    for k in (a, b):
        assert k.sync(central_url).ok
    # The library's only copy is out (lent at kiosk A, known everywhere).
    a.scan("20260008")
    assert a.scan("SX00010")["action"] == "checked_out"
    a.client.post("/api/session/end")
    assert a.sync(central_url).ok
    settle()
    assert b.sync(central_url).ok

    # The central is unreachable; two students reserve the same title at two kiosks,
    # the one at kiosk A five minutes earlier.
    offline = f"http://127.0.0.1:{free_port()}"
    a.clock.advance(hours=1)
    b.clock.advance(hours=1, minutes=5)
    assert a.reserve("20260001", TOTTO_ISBN)["ok"] is True
    assert b.reserve("20260003", TOTTO_ISBN)["ok"] is True
    for k in (a, b):
        outcome = k.sync(offline)
        # The sign-in (a library visit) and the hold wait in the outbox.
        assert outcome.kind == "unreachable" and outcome.pending == 2

    # Back online; kiosk B's hold reaches the central first, yet A's student is first in line.
    assert b.sync(central_url).ok
    settle()
    assert a.sync(central_url).ok
    settle()
    assert central_queue(central_db) == [
        ("S2026001", "waiting", None),
        ("S2026003", "waiting", None),
    ]
    assert b.sync(central_url).ok

    # The copy comes back at kiosk B: it goes to the hold shelf for A's student.
    b.clock.advance(hours=1)
    returned = b.scan("SX00010")
    assert returned["action"] == "returned" and returned["destination"] == "hold_shelf"
    assert "hold shelf" in returned["message"]
    assert b.sync(central_url).ok
    settle()
    assert central_queue(central_db) == [
        ("S2026001", "ready", "SX00010"),
        ("S2026003", "waiting", None),
    ]
    assert a.sync(central_url).ok
    (ready,) = a.holds_at_sign_in("20260001")
    # Set aside on Wednesday; two open days: Thursday and Friday.
    assert ready["status"] == "ready" and ready["kept_until"] == "2026-11-27"

    # Nobody comes. The central's sweep expires the hold after two open days (not before)
    # and the copy passes on to the next in line; the kiosks learn on their next pull.
    sweeper = LedgerWorker(
        central_db.factory, clock, threading.Event(), hold_policy=HoldPolicy(shelf_days=2)
    )
    clock.now = dt.datetime(2026, 11, 27, 8, 59, tzinfo=dt.UTC)  # Friday 16:59
    sweeper.sweep_once()
    assert central_queue(central_db)[0][1] == "ready"
    clock.now = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)  # Friday 17:00, closing
    sweeper.sweep_once()
    assert central_queue(central_db) == [
        ("S2026001", "expired", "SX00010"),
        ("S2026003", "ready", "SX00010"),
    ]
    for k in (a, b):
        k.clock.now = clock.now
        assert k.sync(central_url).ok
    assert a.holds_at_sign_in("20260001") == []
    (passed_on,) = b.holds_at_sign_in("20260003")
    # Ready on Friday at closing: Monday and Tuesday.
    assert passed_on["status"] == "ready" and passed_on["kept_until"] == "2026-12-01"
