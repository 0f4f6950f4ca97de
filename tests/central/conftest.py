"""Central fixtures: every test runs on SQLite and on PostgreSQL; simulated kiosks push events."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from central.app import create_central_app
from central.db import make_central_session_factory, open_central_engine
from central.intake import register_kiosk
from central.worker import LedgerWorker
from db.engine import SessionFactory
from db.models import Item, Loan
from kiosk.config import Settings
from kiosk.services.demo import seed_demo_library
from tests.conftest import FakeClock, make_settings

MONITOR_TOKEN = "monitor-token-for-tests-0123456789"


@dataclass
class CentralDB:
    kind: str
    url: str
    engine: Engine
    factory: SessionFactory


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def central_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CentralDB]:
    """A migrated central database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = str(tmp_path / "central.sqlite3")
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = open_central_engine(url)
    yield CentralDB(request.param, url, engine, make_central_session_factory(engine))
    engine.dispose()


@pytest.fixture
def central_settings(tmp_path: Path, central_db: CentralDB) -> Settings:
    (tmp_path / "monitor_token").write_text(MONITOR_TOKEN + "\n")
    (tmp_path / "central_secret").write_text("test-secret-key\n")
    return make_settings(
        tmp_path,
        central={
            "database_url": central_db.url,
            "monitor_token_file": str(tmp_path / "monitor_token"),
            "secret_key_file": str(tmp_path / "central_secret"),
            "kiosk_silent_after_s": 600,
        },
    )


@pytest.fixture
def central_app(central_settings: Settings, central_db: CentralDB, clock: FakeClock) -> Flask:
    app = create_central_app(central_settings, engine=central_db.engine, clock=clock)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(central_app: Flask) -> FlaskClient:
    return central_app.test_client()


@pytest.fixture
def library(central_db: CentralDB, clock: FakeClock) -> Any:
    """The demo library in the central database (9 students, 14 titles, SX00001…)."""
    with central_db.factory.begin() as session:
        return seed_demo_library(session, clock())


def add_kiosk(central_db: CentralDB, kiosk_id: str, clock: FakeClock) -> str:
    with central_db.factory.begin() as session:
        _, token = register_kiosk(session, kiosk_id, kiosk_id, clock())
    return token


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat()


@dataclass
class SimKiosk:
    """A kiosk's outbox in miniature: numbered events, pushed in batches through the client."""

    kiosk_id: str
    token: str
    client: FlaskClient
    epoch: str = field(default_factory=lambda: str(uuid.uuid4()))
    next_sequence: int = 1
    outbox: list[dict[str, Any]] = field(default_factory=list)
    # Runs after each push: the tests apply the ledger at once instead of a worker thread.
    after_push: Any = None

    def _event(self, kind: str, at: dt.datetime, **fields: Any) -> dict[str, Any]:
        event = {
            "event_id": str(uuid.uuid4()),
            "kind": kind,
            "kiosk_id": self.kiosk_id,
            "epoch": self.epoch,
            "sequence": self.next_sequence,
            "recorded_at": iso(at),
            **fields,
        }
        self.next_sequence += 1
        self.outbox.append(event)
        return event

    def checkout(
        self, item: str, student: str, at: dt.datetime, loan_uuid: str | None = None
    ) -> dict[str, Any]:
        return self._event(
            "checkout",
            at,
            loan_uuid=loan_uuid or str(uuid.uuid4()),
            item_barcode=item,
            isbn13=None,
            student_number=student,
            checked_out_at=iso(at),
            due_at=iso(at + dt.timedelta(days=14)),
        )

    def checkin(self, loan: dict[str, Any], at: dt.datetime, hold_id: int | None = None) -> Any:
        return self._event(
            "checkin",
            at,
            loan_uuid=loan["loan_uuid"],
            item_barcode=loan["item_barcode"],
            returned_at=iso(at),
            hold_id=hold_id,
        )

    def renewal(self, loan: dict[str, Any], at: dt.datetime, renewals: int) -> Any:
        return self._event(
            "renewal",
            at,
            loan_uuid=loan["loan_uuid"],
            item_barcode=loan["item_barcode"],
            due_at=iso(at + dt.timedelta(days=14)),
            renewals=renewals,
        )

    def visit(self, student: str, at: dt.datetime) -> Any:
        return self._event("visit", at, student_number=student)

    def push(self, events: list[dict[str, Any]] | None = None, epoch: str | None = None) -> Any:
        events = self.outbox if events is None else events
        response = self.client.post(
            "/sync/v1/push",
            json={
                "kiosk_id": self.kiosk_id,
                "epoch": epoch or self.epoch,
                "sent_at": iso(dt.datetime.now(dt.UTC)),
                "events": events,
            },
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if self.after_push is not None:
            self.after_push()
        return response

    def heartbeat(self, clock_at: dt.datetime, **fields: Any) -> Any:
        body = {
            "kiosk_id": self.kiosk_id,
            "clock": iso(clock_at),
            "scanner_connected": True,
            "backlog": 0,
            "last_sync_at": None,
            "last_error": None,
            "version": "0.1.0",
            "sqlite_version": "3.40.1",
            "disk_free_bytes": 10_000_000_000,
            "checkouts_today": 0,
            "returns_today": 0,
            **fields,
        }
        return self.client.post(
            "/sync/v1/heartbeat", json=body, headers={"Authorization": f"Bearer {self.token}"}
        )

    def pull(self, since: int = 0, limit: int = 500) -> Any:
        return self.client.get(
            f"/sync/v1/pull?since={since}&limit={limit}",
            headers={"Authorization": f"Bearer {self.token}"},
        )


def drain_ledger(factory: SessionFactory, clock: FakeClock) -> int:
    """Apply every received event, as the central's worker thread would."""
    return LedgerWorker(factory, clock, threading.Event()).drain()


@pytest.fixture
def make_kiosk(central_db: CentralDB, client: FlaskClient, clock: FakeClock) -> Any:
    def make(kiosk_id: str) -> SimKiosk:
        return SimKiosk(
            kiosk_id,
            add_kiosk(central_db, kiosk_id, clock),
            client,
            after_push=lambda: drain_ledger(central_db.factory, clock),
        )

    return make


def ledger_state(factory: SessionFactory) -> dict[str, Any]:
    """Everything order-independence promises: loans, item status, open exceptions."""
    from db.central_models import ExceptionStatus, SyncException

    with factory() as session:
        loans = sorted(
            (
                loan.uuid,
                loan.checked_out_at.isoformat(),
                loan.returned_at.isoformat() if loan.returned_at else None,
                loan.due_at.isoformat(),
                loan.renewals,
                loan.kiosk_id,
            )
            for loan in session.scalars(select(Loan))
        )
        items = sorted(tuple(r) for r in session.execute(select(Item.barcode, Item.status)))
        exceptions = sorted(
            (e.kind, e.dedup_key, e.kiosks)
            for e in session.scalars(
                select(SyncException).where(SyncException.status == ExceptionStatus.OPEN)
            )
        )
        return {"loans": loans, "items": items, "exceptions": exceptions}
