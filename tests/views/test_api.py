"""The kiosk API through Flask's test client: scans, the student session, status."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from db.models import Loan, OutboxEvent, Patron
from kiosk.app import create_app
from kiosk.services.demo import isbn13_for
from tests.conftest import make_settings


@pytest.fixture
def app(tmp_path, engine, clock, demo_library):
    settings = make_settings(tmp_path, kiosk={"idle_timeout_s": 45, "language": "en"})
    return create_app(settings, engine=engine, clock=clock)


@pytest.fixture
def client(app):
    return app.test_client()


def scan(client, code, **kwargs):
    response = client.post("/api/scan", json={"code": code}, **kwargs)
    assert response.status_code == 200, response.data
    return response.get_json()


def test_sign_in_borrow_and_see_due_date(client):
    reply = scan(client, "20260001\r\n")
    assert reply["kind"] == "patron" and reply["action"] == "signed_in"
    assert reply["patron"]["first_name"] == "张同学"
    assert "小明" not in str(reply)  # never the full name
    assert "20260001" not in str(reply)  # never the card number
    reply = scan(client, isbn13_for(1) + "51299")  # EAN-13 with a 5-digit price add-on
    assert reply["kind"] == "isbn" and reply["action"] == "checked_out"
    assert reply["title"] == "草房子"
    assert reply["due_at"].startswith("2026-12-09")
    assert reply["due_date"] == "2026-12-09"
    # The date as the screen's lists write it, not a second style beside them.
    assert "草房子" in reply["message"] and "Wed 9 December" in reply["message"]
    assert reply["patron"]["may_borrow"] == 2


def test_refusal_has_a_plain_message(client):
    scan(client, "20260009")  # a blocked card
    reply = scan(client, "20260001")
    scan(client, "SX00004")
    reply = scan(client, "20260002")
    assert reply["action"] == "switched"
    reply = scan(client, "SX00005")
    assert reply["action"] == "refused" and reply["reason"] == "held_for_other"
    assert "reserved for another student" in reply["message"]


def test_blocked_card_is_refused_and_signs_nobody_in(client):
    reply = scan(client, "20260009")
    assert reply["action"] == "refused" and reply["reason"] == "card_blocked"
    assert "librarian" in reply["message"]
    assert reply["session"]["active"] is False


def test_a_blocked_card_is_told_why_in_both_languages(client, engine):
    reply = scan(client, "20260009")
    assert reply["block_reason"] == "demo: lost book to pay for"
    assert reply["message"] == (
        "Your card is blocked (demo: lost book to pay for). Please see the librarian."
    )
    zh = scan(client, "20260009", headers={"X-Kiosk-Language": "zh"})
    assert zh["message"] == "你的借书卡暂停借书（demo: lost book to pay for）。请找图书管理员。"
    with engine.begin() as conn:
        conn.execute(
            update(Patron).where(Patron.card_barcode == "20260009").values(block_reason="")
        )
    # Without a reason written down, the general sentence.
    plain = scan(client, "20260009")
    assert "block_reason" not in plain
    assert plain["message"] == "Please see the librarian about your account before borrowing."


def test_return_needs_no_card(client, app):
    scan(client, "20260001")
    scan(client, "SX00001")
    client.post("/api/session/end")
    reply = scan(client, "SX00001")
    assert reply["action"] == "returned" and reply["destination"] == "return_box"
    assert reply["session"]["active"] is False


def test_idle_timeout_ends_session_before_a_late_scan(client, clock, app):
    scan(client, "20260001")
    clock.advance(seconds=44)
    assert scan(client, "SX00001")["action"] == "checked_out"  # activity keeps it alive
    clock.advance(seconds=45)
    reply = scan(client, "SX00006")
    # The session had ended: the book is treated as a return, never lent to the last student.
    assert reply["action"] == "refused" and reply["reason"] == "not_on_loan"
    assert reply["session"]["active"] is False
    with app.extensions["shuxiang"].session_factory() as s:
        assert s.scalar(select(func.count(Loan.id))) == 1


def test_touch_keeps_the_session_alive_and_end_ends_it(client, clock):
    scan(client, "20260001")
    clock.advance(seconds=40)
    touched = client.post("/api/session/touch").get_json()["session"]
    assert touched == {"active": True, "expires_in_s": 45.0}
    clock.advance(seconds=40)
    assert client.get("/api/session").get_json()["active"] is True
    client.post("/api/session/end")
    assert client.get("/api/session").get_json() == {"active": False}
    assert client.post("/api/session/touch").get_json()["session"]["active"] is False


def test_renew_and_return_buttons(client, clock):
    scan(client, "20260001")
    lent = scan(client, "SX00001")
    again = scan(client, "SX00001")
    assert again["action"] == "renew_or_return"
    # Same day: renewing would leave the due date where it is, so it is not offered.
    assert again["reason"] == "renewal_too_early" and again["renewable_on"] == "2026-12-06"
    assert "renewed from Sun 6 December" in again["message"]
    early = client.post("/api/renew", json={"code": "SX00001"}).get_json()
    assert early["action"] == "refused" and early["due_at"] == lent["due_at"]
    assert early["message"] == "This book can be renewed from Sun 6 December."
    clock.advance(days=11)
    scan(client, "20260001")
    again = scan(client, "SX00001")
    assert again["action"] == "renew_or_return" and again["reason"] is None
    renewed = client.post("/api/renew", json={"code": "SX00001"}).get_json()
    assert renewed["action"] == "renewed" and renewed["due_date"] == "2026-12-21"
    returned = client.post("/api/return", json={"code": "SX00001"}).get_json()
    assert returned["action"] == "returned"
    assert returned["patron"]["loans"] == []


def test_unknown_and_addon_only_codes(client):
    reply = scan(client, "hello?")
    assert reply["action"] == "unknown" and reply["message"]
    reply = scan(client, "9780306406158")  # bad check digit
    assert reply["action"] == "unknown" and reply["reason"] == "bad_isbn_check_digit"
    reply = scan(client, "9790060115615")
    assert reply["reason"] == "sheet_music" and "sheet music" in reply["message"]
    reply = scan(client, "9780306406157")  # a real ISBN the library doesn't own
    assert reply["action"] == "refused" and reply["reason"] == "unknown_book"


def test_language_from_query(client):
    reply = client.post("/api/scan?lang=zh", json={"code": "20260001"}).get_json()
    assert "你好" in reply["message"]
    reply = client.post("/api/scan?lang=en", json={"code": "20260001"}).get_json()
    assert reply["message"].startswith("Hello")


@pytest.mark.parametrize("body", [None, {"nope": 1}, {"code": 5}, {"code": "x" * 5000}])
def test_bad_requests_get_a_clear_400(client, body):
    response = (
        client.post("/api/scan", json=body)
        if body is not None
        else client.post("/api/scan", data="not json")
    )
    assert response.status_code == 400
    assert response.get_json()["message"]


def test_status(client, app):
    scan(client, "20260001")
    scan(client, "SX00001")
    scan(client, "SX00006")
    client.post("/api/session/end")
    scan(client, "SX00001")
    status = client.get("/api/status").get_json()
    assert status["kiosk_id"] == app.extensions["shuxiang"].settings.kiosk.id
    assert status["version"]
    assert status["scanner"]["connected"] is False
    assert status["circulation"] == {
        "open_loans": 1,
        "checkouts_today": 2,
        "returns_today": 1,
        "visits_today": 1,
    }
    with app.extensions["shuxiang"].session_factory() as s:
        events = s.scalar(select(func.count(OutboxEvent.id)))
    assert status["sync"]["pending"] == events == 4  # visit, 2 checkouts, 1 checkin
    assert status["db"]["ok"] is True


def test_idle_session_ends_without_any_request(client, clock, app):
    """The scan worker's reaper ends a session even if the kiosk page has gone away."""
    from kiosk.events import SessionEnded

    desk = app.extensions["shuxiang"].desk
    scan(client, "20260001")
    with app.extensions["shuxiang"].bus.subscribe((SessionEnded,)) as sub:
        clock.advance(seconds=46)
        desk.expire_if_idle()
        ended = sub.get(timeout_s=1)
    assert isinstance(ended, SessionEnded) and ended.reason == "idle_timeout"


def test_no_promise_of_more_books_while_one_is_overdue(client, clock):
    scan(client, "20260001")
    scan(client, "SX00001")
    clock.advance(days=20)
    reply = scan(client, "20260001")
    assert reply["patron"]["loans"][0]["days_overdue"] > 0
    assert reply["patron"]["may_borrow"] == 0
    assert scan(client, "SX00006")["reason"] == "has_overdue"


def test_a_scan_that_fails_half_way_records_nothing_and_the_next_one_works(
    client, app, monkeypatch
):
    from kiosk.services import outbox

    scan(client, "20260001")

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        # Fails after the loan row and the copy's new status were written.
        m.setattr(outbox, "record_event", disk_full)
        assert client.post("/api/scan", json={"code": "SX00001"}).status_code == 500
    with app.extensions["shuxiang"].session_factory() as session:
        assert session.scalar(select(func.count(Loan.id))) == 0
        assert session.scalar(select(func.count(OutboxEvent.id))) == 1  # the sign-in visit
    reply = scan(client, "SX00001")
    assert reply["action"] == "checked_out"
    assert [line["item_barcode"] for line in reply["patron"]["loans"]] == ["SX00001"]


def test_a_book_that_was_never_lent_is_not_called_returned(client):
    reply = scan(client, "SX00001")  # on the shelf, never lent
    assert reply["action"] == "refused" and reply["reason"] == "not_on_loan"
    assert reply["message"] == (
        "This book isn't on loan. Please put it back on the shelf or in the return box."
    )
    zh = scan(client, "SX00001", headers={"X-Kiosk-Language": "zh"})
    assert zh["message"] == "这本书没有被借出，请放回书架或放进还书箱。"


@pytest.mark.parametrize(
    ("style", "card", "greeting"),
    [
        ("surname", "20260002", "李同学，你好！请扫描要借的图书。"),
        ("full", "20260002", "李华同学，你好！请扫描要借的图书。"),
        ("surname", "20260004", "欧阳同学，你好！请扫描要借的图书。"),
        ("given", "20260006", "Emily，你好！请扫描要借的图书。"),
        ("full", "20260006", "Emily，你好！请扫描要借的图书。"),
    ],
)
def test_greeting_follows_the_configured_style(
    tmp_path, engine, clock, demo_library, style, card, greeting
):
    settings = make_settings(tmp_path, kiosk={"language": "zh", "greeting": style})
    client = create_app(settings, engine=engine, clock=clock).test_client()
    assert scan(client, card)["message"] == greeting
