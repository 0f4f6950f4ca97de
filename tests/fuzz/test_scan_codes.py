"""Any sequence of scanned or typed codes: a JSON answer every time, and the books stay consistent."""

from __future__ import annotations

import json
import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.app import create_app
from kiosk.services.lending import Action
from kiosk.views.api import MAX_CODE_CHARS
from tests.conftest import make_settings
from tests.fuzz.strategies import DEMO_CARDS, scan_codes

ACTIONS = {str(action) for action in Action}


def assert_books_consistent(database: str) -> None:
    """A copy is on loan exactly when it has one open loan; the outbox numbers have no gaps."""
    db = sqlite3.connect(database)
    try:
        mismatched = db.execute(
            """SELECT items.barcode, items.status, COUNT(loans.id) FROM items
               LEFT JOIN loans ON loans.item_id = items.id AND loans.returned_at IS NULL
               GROUP BY items.id
               HAVING COUNT(loans.id) > 1 OR (items.status = 'on_loan') != (COUNT(loans.id) = 1)"""
        ).fetchall()
        assert mismatched == []
        for epoch, count, low, high in db.execute(
            "SELECT epoch, COUNT(*), MIN(sequence), MAX(sequence) FROM outbox_events GROUP BY epoch"
        ):
            assert (low, high) == (1, count), f"outbox epoch {epoch} has gaps or repeats"
    finally:
        db.close()


def test_any_scans_answer_json_and_keep_the_books_consistent(tmp_path, engine, clock, demo_library):
    app = create_app(make_settings(tmp_path), engine=engine, clock=clock)
    client = app.test_client()
    database = str(engine.url.database)

    @settings(
        max_examples=120,
        deadline=None,
        database=None,
        # One kiosk through the whole run, like a day at the library door.
        suppress_health_check=list(HealthCheck),
    )
    @given(codes=st.lists(scan_codes, min_size=1, max_size=8))
    def check(codes: list[str]) -> None:
        for code in codes:
            response = client.post("/api/scan", json={"code": code})
            assert response.status_code == 200 if len(code) <= MAX_CODE_CHARS else 400
            reply = response.get_json()
            assert reply["action"] in ACTIONS and isinstance(reply["message"], str)
            # A card number never comes back: the screen may be seen by the next in line.
            answer = json.dumps(reply, ensure_ascii=False)
            assert not [card for card in DEMO_CARDS if card in code and card in answer]
        assert_books_consistent(database)

    check()
