"""Every central /api/* and /sync/* error answers JSON with a stable code; hostile bodies are 4xx."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import func, select, text

from central.app import MAX_REQUEST_BYTES
from central.views.sync import MAX_PUSH_BYTES
from db.central_models import CentralEvent, Kiosk
from tests.central.conftest import MONITOR_TOKEN, CentralDB, SimKiosk
from tests.conftest import FakeClock

MONITOR = {"Authorization": f"Bearer {MONITOR_TOKEN}"}


def error_of(response, status):
    assert response.status_code == status, response.data
    assert response.is_json, response.data
    body = response.get_json()
    assert isinstance(body["error"], str) and body["error"]
    return body


def test_unknown_paths_and_wrong_methods_answer_json(client):
    assert error_of(client.get("/api/v1/nothing", headers=MONITOR), 404)["error"] == "not_found"
    assert error_of(client.get("/sync/v1/nothing"), 404)["error"] == "not_found"
    assert error_of(client.get("/sync/v1/push"), 405)["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    "backlog",
    [2**64, -(2**63) - 1, 2**40, -1, 1.5, "7", True, "NaN"],
    ids=["int65", "int-65", "int41", "negative", "float", "text", "bool", "nan"],
)
def test_heartbeat_with_a_number_the_database_cannot_hold_is_refused_and_writes_nothing(
    central_db: CentralDB, make_kiosk, client, clock: FakeClock, backlog
):
    k: SimKiosk = make_kiosk("k1")
    assert k.heartbeat(clock(), backlog=3).status_code == 200
    body = (
        '{"kiosk_id": "k1", "clock": "2026-11-25T09:00:00+00:00", "backlog": NaN}'
        if backlog == "NaN"
        else None
    )
    if body is None:
        response = k.heartbeat(clock() + dt.timedelta(minutes=1), backlog=backlog)
    else:
        response = client.post(
            "/sync/v1/heartbeat",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {k.token}"},
        )
    assert error_of(response, 400)["error"] == "malformed"
    with central_db.factory() as session:
        assert session.get(Kiosk, "k1").backlog == 3  # type: ignore[union-attr]


@pytest.mark.parametrize("query", ["since=1.5", f"since={2**64}", f"limit={2**70}", "since=-1"])
def test_pull_with_a_bad_number_is_refused(make_kiosk, client, query):
    k: SimKiosk = make_kiosk("k1")
    response = client.get(f"/sync/v1/pull?{query}", headers={"Authorization": f"Bearer {k.token}"})
    assert error_of(response, 400)["error"] == "malformed"


def test_deeply_nested_push_is_malformed_and_stores_nothing(
    central_db: CentralDB, make_kiosk, client, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    for depth in (50, 100_000):
        body = '{"kiosk_id": "k1", "epoch": "e", "events": ' + "[" * depth + "]" * depth + "}"
        response = client.post(
            "/sync/v1/push",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {k.token}"},
        )
        assert error_of(response, 400)["error"] == "malformed"
    with central_db.factory() as session:
        assert session.scalar(select(func.count(CentralEvent.id))) == 0


def test_body_limits_leave_room_for_a_full_push_only(make_kiosk, client, clock: FakeClock):
    k: SimKiosk = make_kiosk("k1")
    auth = {"Authorization": f"Bearer {k.token}"}
    big = "x" * (MAX_REQUEST_BYTES + 1024)
    # A push larger than the app's limit is read and judged on its content...
    body = {"kiosk_id": "k1", "epoch": "e", "events": big}
    assert error_of(client.post("/sync/v1/push", json=body, headers=auth), 400)["error"] == (
        "malformed"
    )
    # ...up to the push limit; other bodies stop at the app's limit.
    body = {"kiosk_id": "k1", "epoch": "e", "events": "x" * MAX_PUSH_BYTES}
    response = client.post("/sync/v1/push", json=body, headers=auth)
    assert error_of(response, 413)["error"] == "body_too_large"
    response = client.post("/sync/v1/heartbeat", json={"kiosk_id": "k1", "x": big}, headers=auth)
    assert error_of(response, 413)["error"] == "body_too_large"


def test_a_database_fault_on_the_monitor_api_answers_json(
    central_db: CentralDB, client, caplog
) -> None:
    if central_db.kind != "sqlite":
        pytest.skip("one real fault is enough; renaming a table is simplest on SQLite")
    with central_db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE central_kiosks RENAME TO central_kiosks_gone"))
    with caplog.at_level(logging.INFO):
        response = client.get("/api/v1/kiosks", headers=MONITOR)
    body = error_of(response, 500)
    assert body["error"] == "internal_error" and body["error_id"]
    assert body["error_id"] in caplog.text
