"""One status snapshot, four formats: db.ok follows the desk's writes in /api/status, the staff
page, /metrics and the heartbeat, and comes back when the fault clears."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from kiosk.app import create_app
from kiosk.context import services_of
from kiosk.health import PROBE_EVERY
from kiosk.status import build_status, heartbeat_body
from tests.conftest import FakeClock, make_settings

PIN = "471102"
CARD, BOOK = "20260001", "SX00001"


@pytest.fixture
def app(tmp_path, engine, clock, demo_library) -> Flask:
    pin_file = tmp_path / "staff_pin"
    pin_file.write_text(PIN + "\n", encoding="utf-8")
    settings = make_settings(tmp_path, kiosk={"language": "en", "staff_pin_file": str(pin_file)})
    return create_app(settings, engine=engine, clock=clock)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert client.post("/status/login", data={"pin": PIN}).status_code == 303
    return client


def db_ok_everywhere(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """db.ok as each of the four outputs reports it."""
    api = client.get("/api/status").get_json()["db"]["ok"]
    page = client.get("/status").get_data(as_text=True)
    card = re.search(r'<section class="card (card-\w+)" id="card-database">', page)
    assert card is not None
    metrics = {
        sample.name: sample.value
        for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))
        for sample in family.samples
    }
    svc = services_of(app)
    beat = heartbeat_body(build_status(svc, svc.clock()))["db_ok"]
    return {
        "api": api,
        "page": card.group(1) == "card-ok",
        "metrics": metrics["shuxiang_kiosk_database_ok"] == 1,
        "heartbeat": beat,
    }


ALL_OK = {"api": True, "page": True, "metrics": True, "heartbeat": True}
ALL_DOWN = {"api": False, "page": False, "metrics": False, "heartbeat": False}


def desk_connection(app: Flask) -> Any:
    # The fault is made on the desk's own connection, the one every scan writes through.
    return services_of(app).desk._db


def test_a_failed_scan_write_turns_db_ok_false_in_all_four_and_a_probe_brings_it_back(
    app: Flask, client: FlaskClient, clock: FakeClock
):
    assert db_ok_everywhere(app, client) == ALL_OK
    desk_connection(app).execute("PRAGMA query_only = ON")
    assert client.post("/api/scan", json={"code": CARD}).status_code >= 500
    assert db_ok_everywhere(app, client) == ALL_DOWN
    status = client.get("/api/status").get_json()["db"]
    assert status["readable"] is True and status["writable"] is False
    assert status["write_checked_by"] == "write"

    desk_connection(app).execute("PRAGMA query_only = OFF")
    # Nothing has written yet: the failed scan is still the latest word until a probe is due.
    assert db_ok_everywhere(app, client) == ALL_DOWN
    clock.advance(seconds=PROBE_EVERY.total_seconds())
    assert db_ok_everywhere(app, client) == ALL_OK
    assert client.get("/api/status").get_json()["db"]["write_checked_by"] == "probe"
    assert client.post("/api/scan", json={"code": CARD}).get_json()["action"] == "signed_in"


def test_the_probe_finds_an_unwritable_database_before_any_scan(
    app: Flask, client: FlaskClient, clock: FakeClock
):
    assert db_ok_everywhere(app, client) == ALL_OK
    desk_connection(app).execute("PRAGMA query_only = ON")
    clock.advance(seconds=PROBE_EVERY.total_seconds())
    assert db_ok_everywhere(app, client) == ALL_DOWN
    assert client.get("/api/status").get_json()["db"]["write_checked_by"] == "probe"


def test_a_probe_does_not_write_anything(
    app: Flask, client: FlaskClient, clock: FakeClock, plain_db: sqlite3.Connection
):
    # data_version moves when another connection (here: the desk's) commits a change.
    before = plain_db.execute("PRAGMA data_version").fetchone()[0]
    for _ in range(3):
        clock.advance(seconds=PROBE_EVERY.total_seconds())
        assert db_ok_everywhere(app, client) == ALL_OK
    assert client.get("/api/status").get_json()["db"]["write_checked_by"] == "probe"
    assert plain_db.execute("PRAGMA data_version").fetchone()[0] == before
    assert (
        plain_db.execute("SELECT count(*) FROM kiosk_state WHERE key LIKE 'health.%'").fetchone()[0]
        == 0
    )


def test_a_database_at_its_page_limit_fails_the_probe(
    app: Flask, client: FlaskClient, clock: FakeClock
):
    db = desk_connection(app)
    db.execute("VACUUM")  # no free pages left to reuse: the probe's row needs a new one
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    clock.advance(seconds=PROBE_EVERY.total_seconds())
    assert db_ok_everywhere(app, client) == ALL_DOWN
    db.execute("PRAGMA max_page_count = 1073741823")
    clock.advance(seconds=PROBE_EVERY.total_seconds())
    assert db_ok_everywhere(app, client) == ALL_OK
