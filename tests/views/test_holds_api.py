"""The kiosk's hold API through Flask's test client: reserve, every refusal, cancel, whose hold."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest

from kiosk.app import create_app
from tests.conftest import make_settings

# Demo library (kiosk.services.demo), fresh database: title ids follow DEMO_TITLES.
CAOFANGZI = 1  # 草房子, 3 copies SX00001-3, on the shelf
TOTTO = 5  # 窗边的小豆豆, 1 copy SX00010
CHENGNAN = 7  # 城南旧事, 1 copy SX00013


@pytest.fixture
def app(tmp_path, engine, clock, demo_library):
    settings = make_settings(
        tmp_path,
        kiosk={"language": "en"},
        circulation={"max_holds": 2, "hold_shelf_days": 3},
    )
    return create_app(settings, engine=engine, clock=clock)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(settings):
    conn = sqlite3.connect(settings.database.path)
    yield conn
    conn.close()


def scan(client, code):
    response = client.post("/api/scan", json={"code": code})
    assert response.status_code == 200, response.data
    return response.get_json()


def reserve(client, title_id, status=200, **kwargs):
    response = client.post("/api/holds", json={"title_id": title_id}, **kwargs)
    assert response.status_code == status, response.data
    return response.get_json()


def lend(client, card, *barcodes):
    scan(client, card)
    for barcode in barcodes:
        assert scan(client, barcode)["action"] == "checked_out"
    client.post("/api/session/end")


def outbox(db, kind):
    rows = db.execute(
        "SELECT payload FROM outbox_events WHERE kind = ? ORDER BY sequence", (kind,)
    ).fetchall()
    return [json.loads(payload) for (payload,) in rows]


def test_reserve_a_book_that_is_out(client, db):
    lend(client, "20260002", "SX00010")
    scan(client, "20260001")
    reply = reserve(client, TOTTO)
    assert reply["ok"] is True and reply["reason"] is None
    assert "窗边的小豆豆" in reply["message"]
    # Where and when: the hold shelf at the desk, and for how many open days.
    assert "hold shelf" in reply["message"] and "3 open days" in reply["message"]
    assert reply["hold"]["status"] == "waiting" and reply["hold"]["title_id"] == TOTTO
    holds = reply["session"]["patron"]["holds"]
    assert [(h["id"], h["status"]) for h in holds] == [(reply["hold"]["id"], "waiting")]
    # In the outbox, in the same transaction, for the central.
    (event,) = outbox(db, "hold_placed")
    assert event["student_number"] == "S2026001"
    assert event["title_key"] == event["isbn13"] and len(event["isbn13"]) == 13
    (hold_uuid,) = db.execute("SELECT uuid FROM holds WHERE id = ?", (reply["hold"]["id"],))
    assert event["hold_uuid"] == hold_uuid[0]


def test_a_copy_on_the_shelf_says_where_to_find_it(client, db):
    scan(client, "20260001")
    reply = reserve(client, CAOFANGZI)
    assert reply["ok"] is False and reply["reason"] == "copy_on_shelf"
    assert "I287.45/C12" in reply["message"] and "Shelf I" in reply["message"]
    assert reply["shelf"] == {"call_number": "I287.45/C12", "location": "Shelf I"}
    assert outbox(db, "hold_placed") == []


def test_refusals_in_plain_words(client, db):
    lend(client, "20260002", "SX00010", "SX00013")
    scan(client, "20260001")
    assert reserve(client, TOTTO)["ok"] is True
    again = reserve(client, TOTTO)
    assert again["reason"] == "already_reserved" and "already reserved" in again["message"]
    assert reserve(client, CHENGNAN)["ok"] is True
    # Two holds is this library's limit; a third title that is out is refused.
    lend_out_title_3 = ["SX00006", "SX00007"]
    client.post("/api/session/end")
    lend(client, "20260003", *lend_out_title_3)
    scan(client, "20260001")
    limit = reserve(client, 3)
    assert limit["reason"] == "too_many_holds" and "2 reservations" in limit["message"]
    assert len(outbox(db, "hold_placed")) == 2


def test_no_hold_on_a_book_you_have(client):
    scan(client, "20260001")
    scan(client, "SX00010")
    reply = reserve(client, TOTTO)
    assert reply["reason"] == "already_on_loan" and "already have" in reply["message"]


def test_no_hold_when_every_copy_is_gone(client, db):
    db.execute("UPDATE items SET status = 'withdrawn' WHERE barcode = 'SX00013'")
    db.commit()
    scan(client, "20260001")
    reply = reserve(client, CHENGNAN)
    assert reply["reason"] == "not_holdable" and "librarian" in reply["message"]


def test_a_card_blocked_since_sign_in_is_refused(client, db):
    lend(client, "20260002", "SX00010")
    scan(client, "20260001")
    # As a pull from the central would, while the student is at the kiosk.
    db.execute("UPDATE patrons SET status = 'blocked' WHERE card_barcode = '20260001'")
    db.commit()
    reply = reserve(client, TOTTO)
    assert reply["reason"] == "card_blocked" and "librarian" in reply["message"]


def test_unknown_title_bad_body_and_nobody_signed_in(client):
    assert reserve(client, 1, status=401)["error"] == "not_signed_in"
    scan(client, "20260001")
    assert reserve(client, 9999)["reason"] == "unknown_book"
    for body in ({"title_id": "5"}, {"title_id": True}, {"title_id": 0}, ["x"]):
        response = client.post("/api/holds", json=body)
        assert response.status_code == 400 and "title_id" in response.get_json()["message"]


def test_cancel_own_hold(client, db):
    lend(client, "20260002", "SX00010")
    scan(client, "20260001")
    hold = reserve(client, TOTTO)["hold"]
    response = client.delete(f"/api/holds/{hold['id']}")
    assert response.status_code == 200
    reply = response.get_json()
    assert reply["ok"] is True and "cancelled" in reply["message"]
    assert reply["hold"]["status"] == "cancelled"
    assert reply["session"]["patron"]["holds"] == []
    (event,) = outbox(db, "hold_cancelled")
    (placed,) = outbox(db, "hold_placed")
    assert event["hold_uuid"] == placed["hold_uuid"] and event["item_barcode"] is None
    # Cancelled once is enough.
    assert client.delete(f"/api/holds/{hold['id']}").status_code == 404


def test_someone_elses_hold_cannot_be_cancelled(client, db):
    lend(client, "20260002", "SX00010")
    scan(client, "20260003")
    theirs = reserve(client, TOTTO)["hold"]
    client.post("/api/session/end")
    scan(client, "20260001")
    response = client.delete(f"/api/holds/{theirs['id']}")
    assert response.status_code == 404
    assert response.get_json()["message"] == "That reservation wasn't found."
    assert "窗边" not in response.get_json()["message"]
    (status,) = db.execute("SELECT status FROM holds WHERE id = ?", (theirs["id"],)).fetchone()
    assert status == "waiting"
    assert outbox(db, "hold_cancelled") == []


def test_cancelling_a_ready_hold_passes_the_copy_on(client, db, clock):
    lend(client, "20260002", "SX00010")
    for card in ("20260001", "20260003"):
        scan(client, card)
        assert reserve(client, TOTTO)["ok"] is True
        client.post("/api/session/end")
        clock.advance(minutes=1)
    returned = scan(client, "SX00010")
    assert returned["destination"] == "hold_shelf"
    assert "hold shelf" in returned["message"]
    scan(client, "20260001")
    session = client.get("/api/session").get_json()
    (ready,) = session["patron"]["holds"]
    assert ready["status"] == "ready" and ready["kept_until"] == "2026-11-30"
    assert session["patron"]["holds_ready"] == ["窗边的小豆豆"]
    reply = client.delete(f"/api/holds/{ready['id']}").get_json()
    assert reply["ok"] is True
    (event,) = outbox(db, "hold_cancelled")
    assert event["item_barcode"] == "SX00010"
    rows = db.execute(
        "SELECT p.card_barcode, h.status FROM holds h JOIN patrons p ON p.id = h.patron_id "
        "WHERE h.title_id = ? ORDER BY h.id",
        (TOTTO,),
    ).fetchall()
    assert rows == [("20260001", "cancelled"), ("20260003", "ready")]
    (status,) = db.execute("SELECT status FROM items WHERE barcode = 'SX00010'").fetchone()
    assert status == "on_hold_shelf"


def test_borrowing_a_copy_from_the_open_shelf_fulfils_a_waiting_hold(client, db):
    lend(client, "20260002", "SX00010")
    scan(client, "20260001")
    hold = reserve(client, TOTTO)["hold"]
    client.post("/api/session/end")
    # The copy came back at a kiosk that had not heard of the hold: it is on the open shelf.
    db.execute("UPDATE loans SET returned_at = '2026-11-25 02:30:00.000000'")
    db.execute("UPDATE items SET status = 'available' WHERE barcode = 'SX00010'")
    db.commit()
    scan(client, "20260001")
    assert scan(client, "SX00010")["action"] == "checked_out"
    (status,) = db.execute("SELECT status FROM holds WHERE id = ?", (hold["id"],)).fetchone()
    assert status == "fulfilled"


def test_the_first_in_the_queue_may_borrow_the_copy_the_others_wait_for(client, db, clock):
    """Two students wait for the one copy; it comes back to the open shelf. The one who reserved
    first borrows it; the one behind is told it is kept for someone else (holds placed after the
    borrower's own count for nothing)."""
    lend(client, "20260002", "SX00010")
    for card in ("20260001", "20260003"):
        scan(client, card)
        reserve(client, TOTTO)
        client.post("/api/session/end")
        clock.now += dt.timedelta(minutes=1)
    db.execute("UPDATE loans SET returned_at = '2026-11-25 02:30:00.000000'")
    db.execute("UPDATE items SET status = 'available' WHERE barcode = 'SX00010'")
    db.commit()
    scan(client, "20260003")
    behind = scan(client, "SX00010")
    assert behind["action"] == "refused" and behind["reason"] == "held_for_other"
    client.post("/api/session/end")
    scan(client, "20260001")
    assert scan(client, "SX00010")["action"] == "checked_out"
    rows = db.execute(
        "SELECT p.card_barcode, h.status FROM holds h JOIN patrons p ON p.id = h.patron_id"
        " WHERE h.title_id = ? ORDER BY h.placed_at",
        (TOTTO,),
    ).fetchall()
    assert rows == [("20260001", "fulfilled"), ("20260003", "waiting")]


def test_a_full_disk_records_no_hold_and_sends_the_student_to_the_desk(client, app, db):
    from kiosk.context import services_of
    from tests.integration.test_write_faults import PageLimit

    lend(client, "20260002", "SX00010")
    scan(client, "20260001")
    fault = PageLimit(services_of(app).desk._db)
    fault.start()
    try:
        reply = reserve(client, TOTTO, status=503)
    finally:
        fault.clear()
    assert reply["error"] == "db_unavailable" and "go to the desk" in reply["message"]
    assert db.execute("SELECT count(*) FROM holds WHERE title_id = ?", (TOTTO,)).fetchone() == (0,)
    assert outbox(db, "hold_placed") == []
    assert reserve(client, TOTTO)["ok"] is True  # room again: the same tap works
