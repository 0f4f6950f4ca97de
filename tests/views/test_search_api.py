"""GET /api/search at the kiosk: the find-a-book screen's results as the student types."""

from __future__ import annotations

import pytest

from kiosk.app import create_app
from kiosk.services.demo import isbn13_for
from tests.conftest import make_settings


@pytest.fixture
def client(tmp_path, engine, clock, demo_library):
    settings = make_settings(tmp_path, kiosk={"language": "zh"})
    return create_app(settings, engine=engine, clock=clock).test_client()


def test_results_as_the_student_types(client) -> None:
    for typed in ("x", "xw", "xwz"):
        reply = client.get("/api/search", query_string={"q": typed, "limit": 3})
        assert reply.status_code == 200
        results = reply.get_json()["results"]
        assert len(results) <= 3
    assert results[0] == {
        "title_id": results[0]["title_id"],
        "title": "小王子",
        "author": "圣埃克苏佩里",
        "isbn13": isbn13_for(3),
        "call_number": "I565.88/S45",
        "location": "Shelf I",
        "copies": 2,
        "available": 2,
    }


def test_one_character_and_isbn(client) -> None:
    titles = [r["title"] for r in client.get("/api/search?q=草").get_json()["results"]]
    assert titles == ["草房子", "稻草人"]  # starts with it, then contains it
    by_isbn = client.get("/api/search", query_string={"q": isbn13_for(2) + " 52"}).get_json()
    assert [r["title"] for r in by_isbn["results"]] == ["青铜葵花"]


def test_bad_arguments_get_a_clear_message(client) -> None:
    reply = client.get("/api/search?q=a&limit=many")
    assert reply.status_code == 400
    assert reply.get_json()["message"] == "limit must be a whole number from 1 to 100"
    assert client.get("/api/search").get_json() == {"results": []}
