"""The idle screen's boards: made at the central, pulled with a sync by a real client, served by the kiosk, off by config."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from central.app import create_central_app
from central.db import make_central_session_factory, open_central_engine
from central.intake import register_kiosk
from kiosk.app import create_app
from kiosk.config import with_overrides
from kiosk.sync.boards import stored_boards
from kiosk.sync.client import CentralClient, NullCentral
from kiosk.sync.worker import sync_once
from tests.central.report_history import build_history
from tests.conftest import FakeClock, make_settings

pytestmark = pytest.mark.timeout(120)
# A day inside the history (tests.central.report_history): December 2026 in Shanghai.
TODAY = dt.datetime(2026, 12, 20, 4, 0, tzinfo=dt.UTC)


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[str, str, object]]:
    folder = tmp_path / "central"
    folder.mkdir()
    url = str(folder / "central.sqlite3")
    settings = make_settings(folder, central={"database_url": url})
    engine = open_central_engine(url)
    factory = make_central_session_factory(engine)
    with factory.begin() as s:
        history = build_history(s, loans=600, students_per_class=6)
        _, token = register_kiosk(s, "kiosk-1", "kiosk-1", TODAY)
    app = create_central_app(settings, engine=engine, clock=FakeClock(TODAY))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", token, history
    server.shutdown()
    engine.dispose()


def test_boards_come_with_a_sync_and_name_no_student(central, settings, engine, session_factory):
    url, token, history = central
    client = CentralClient(url, "kiosk-1", token)
    outcome = sync_once(session_factory, client, 200, FakeClock(TODAY))
    assert outcome.ok
    document = stored_boards(session_factory)
    assert document is not None
    assert document["popular"]["period_zh"] == "2026年12月"
    assert document["popular"]["rows"] and document["classes"]["rows"]
    assert document["classes"]["rows"][0]["class_zh"].endswith("班")
    titles = set(history.title_names.values())
    assert {r["title"] for r in document["popular"]["rows"]} <= titles
    # Titles and classes only: no student's name, card or number anywhere in it.
    text = json.dumps(document, ensure_ascii=False)
    for patron in history.patrons:
        assert patron.student_number not in text
        assert f"学生{patron.student_number}" not in text
    app = create_app(settings, engine=engine, clock=FakeClock(TODAY), central=client)
    reply = app.test_client().get("/api/boards").get_json()
    assert reply["enabled"] is True
    assert reply["boards"] == document
    assert reply["words"]["zh"]["popular"] == "好书借阅排行榜"
    assert reply["words"]["en"]["classes"] == "Reading classes"


def test_the_central_wants_a_kiosk_token(central):
    url, _token, _ = central
    with pytest.raises(Exception, match="refused this kiosk's token"):
        CentralClient(url, "kiosk-1", "not-the-token").boards()


def test_off_by_config_and_empty_before_the_first_pull(tmp_path, engine, session_factory):
    settings = make_settings(tmp_path)
    app = create_app(settings, engine=engine, clock=FakeClock(TODAY), central=NullCentral())
    assert app.test_client().get("/api/boards").get_json()["boards"] is None
    off = with_overrides(settings, kiosk={"idle_boards": False})
    app = create_app(off, engine=engine, clock=FakeClock(TODAY), central=NullCentral())
    assert app.test_client().get("/api/boards").get_json() == {"enabled": False}
