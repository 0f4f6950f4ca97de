"""Every kiosk /api/* error answers JSON with a stable code; hostile bodies are 400/413, never 500."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from kiosk.app import MAX_REQUEST_BYTES, create_app
from kiosk.jsonapi import MAX_JSON_DEPTH
from tests.conftest import make_settings


@pytest.fixture
def app(tmp_path, engine, clock, demo_library):
    return create_app(make_settings(tmp_path), engine=engine, clock=clock)


@pytest.fixture
def client(app):
    return app.test_client()


def error_of(response, status):
    assert response.status_code == status, response.data
    assert response.is_json, response.data
    body = response.get_json()
    assert isinstance(body["error"], str) and body["error"]
    return body


def test_unknown_api_path_and_wrong_method_answer_json(client):
    assert error_of(client.get("/api/no-such-thing"), 404)["error"] == "not_found"
    response = client.get("/api/scan")
    assert error_of(response, 405)["error"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_pages_keep_html_errors(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,  # past Python's recursion limit
        '{"code": ' + "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1) + "}",
        '{"code": "20260001", "n": ' + str(2**64) + "}",
        '{"code": "20260001", "n": -' + str(2**63 + 1) + "}",
        '{"code": "20260001", "n": NaN}',
        '{"code": "20260001", "n": Infinity}',
        '{"code": "20260001", "n": 1' + "0" * 5000 + "}",  # past Python's int digit limit
        '{"code": 20260001.0}',  # a number where text belongs
        '{"code": "2026',
    ],
    ids=["recursion", "depth", "int65", "int-65", "nan", "inf", "digits", "float", "truncated"],
)
def test_hostile_json_is_a_bad_request_and_signs_nobody_in(client, body):
    response = client.post("/api/scan", data=body, content_type="application/json")
    assert error_of(response, 400)["error"] == "bad_request"
    assert client.get("/api/session").get_json()["active"] is False


def test_oversized_body_is_413_json(client):
    body = '{"code": "' + "1" * MAX_REQUEST_BYTES + '"}'
    response = client.post("/api/scan", data=body, content_type="application/json")
    assert error_of(response, 413)["error"] == "body_too_large"
    response = client.post("/kiosk/messages", data=body, content_type="application/json")
    assert error_of(response, 413)["error"] == "body_too_large"


def test_a_database_fault_answers_json_and_logs_no_card_number(client, engine, caplog):
    # A real fault: the students' table is gone from under the running kiosk.
    db = sqlite3.connect(engine.url.database)
    db.execute("ALTER TABLE patrons RENAME TO patrons_gone")
    db.commit()
    db.close()
    with caplog.at_level(logging.INFO):
        response = client.post("/api/scan", json={"code": "20260001"})
    assert response.status_code >= 500 and response.is_json, response.data
    assert isinstance(response.get_json()["error"], str)
    assert "20260001" not in response.get_data(as_text=True)
    assert caplog.records, "the fault is logged"
    assert "20260001" not in caplog.text
