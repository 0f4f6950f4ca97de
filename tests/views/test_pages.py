"""The kiosk and staff pages through Flask's test client: language, headers, the staff PIN."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from kiosk.app import create_app
from kiosk.errorlog import RecentErrors
from kiosk.i18n import TRANSLATIONS_DIR, compile_catalogs, translations
from kiosk.staffgate import PinCheck, StaffGate
from kiosk.views import wording
from kiosk.views.staff import STAFF_COOKIE
from tests.conftest import make_settings

PIN = "471102"


@pytest.fixture
def pin_file(tmp_path: Path) -> Path:
    path = tmp_path / "staff_pin"
    path.write_text(PIN + "\n", encoding="utf-8")
    return path


@pytest.fixture
def app(tmp_path, engine, clock, demo_library, pin_file):
    settings = make_settings(
        tmp_path, kiosk={"language": "en", "staff_pin_file": str(pin_file), "name": "Test Library"}
    )
    return create_app(settings, engine=engine, clock=clock)


@pytest.fixture
def client(app):
    return app.test_client()


def sign_in_staff(client, pin: str = PIN):
    return client.post("/status/login", data={"pin": pin})


# --- the kiosk page ------------------------------------------------------------------------------


def test_kiosk_page_starts_in_the_configured_language(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Scan your student card to borrow" in html
    assert "Test Library" in html
    chinese = client.get("/?lang=zh").get_data(as_text=True)
    assert '<html lang="zh-CN">' in chinese
    assert "请刷学生卡借书" in chinese and "扫描图书条码还书" in chinese


def test_pages_and_api_replies_are_never_cached(client):
    for path in ("/", "/status", "/api/session", "/api/status"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path
    page = client.get("/")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    # Static files may be cached: their URLs carry the file's version.
    assert "no-store" not in client.get("/static/kiosk.js").headers.get("Cache-Control", "")


def test_kiosk_page_holds_no_student_data_even_mid_session(client):
    client.post("/api/scan", json={"code": "20260001"})
    client.post("/api/scan", json={"code": "SX00001"})
    html = client.get("/").get_data(as_text=True)
    for secret in ("小明", "张", "20260001", "草房子"):
        assert secret not in html


def test_relocalise_gives_the_sentences_in_the_other_language(client):
    replies = [
        {"action": "refused", "reason": "held_for_other", "title": "青铜葵花"},
        {"action": "checked_out", "title": "草房子", "due_date": "2026-12-09"},
        {"action": "signed_in", "patron": {"first_name": "小明"}},
        "not even a dict",
    ]
    answer = client.post("/kiosk/messages", json={"lang": "zh", "replies": replies}).get_json()
    assert answer["messages"][:3] == [
        "这本书已被其他同学预约，请交给图书管理员。",
        "已借出：《草房子》，还书日期：12月9日周三。",
        "小明，你好！请扫描要借的图书。",
    ]
    assert answer["messages"][3]  # something friendly, never a crash
    bad = client.post("/kiosk/messages", json={"lang": "fr", "replies": []})
    assert bad.status_code == 400
    too_many = client.post("/kiosk/messages", json={"lang": "en", "replies": [{}] * 101})
    assert too_many.status_code == 400


def test_forget_ends_the_session_for_a_known_reason_only(client):
    client.post("/api/scan", json={"code": "20260001"})
    assert client.post("/kiosk/session/forget", json={"reason": "because"}).status_code == 400
    assert client.get("/api/session").get_json()["active"] is True
    reply = client.post("/kiosk/session/forget", json={"reason": "idle_timeout"})
    assert reply.get_json() == {"session": {"active": False}}
    assert client.get("/api/session").get_json() == {"active": False}


# --- the staff page ------------------------------------------------------------------------------


def test_status_page_asks_for_the_pin_first(client):
    page = client.get("/status")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="pin"' in html and "Books borrowed" not in html
    wrong = sign_in_staff(client, "0000")
    assert wrong.status_code == 401
    assert "That PIN is not right" in wrong.get_data(as_text=True)
    assert STAFF_COOKIE not in wrong.headers.get("Set-Cookie", "")


def test_status_page_shows_counts_and_no_student_data(client, app):
    client.post("/api/scan", json={"code": "20260001"})
    client.post("/api/scan", json={"code": "SX00001"})
    logging.getLogger("kiosk.test").warning("scanner port vanished")
    signed_in = sign_in_staff(client)
    assert signed_in.status_code == 303
    cookie = signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/status" in cookie
    html = client.get("/status").get_data(as_text=True)
    assert 'id="count-checkouts">1<' in html
    assert 'id="count-visits">1<' in html
    assert "scanner port vanished" in html
    for secret in ("小明", "张", "20260001", "草房子", "SX00001"):
        assert secret not in html
    chinese = client.get("/status?lang=zh").get_data(as_text=True)
    assert "借还机状态" in chinese


def test_signing_out_ends_the_staff_sign_in(client):
    sign_in_staff(client)
    assert "Books borrowed" in client.get("/status").get_data(as_text=True)
    client.post("/status/logout")
    assert 'name="pin"' in client.get("/status").get_data(as_text=True)


def test_wrong_pins_shut_the_gate_even_for_the_right_pin(client):
    for _ in range(5):
        assert sign_in_staff(client, "1234").status_code == 401
    locked = sign_in_staff(client)
    assert locked.status_code == 429
    assert "Too many wrong PINs" in locked.get_data(as_text=True)


def test_no_pin_file_means_no_staff_page(tmp_path, engine):
    settings = make_settings(tmp_path, kiosk={"staff_pin_file": str(tmp_path / "missing")})
    client = create_app(settings, engine=engine).test_client()
    assert "no staff PIN has been set" in client.get("/status?lang=en").get_data(as_text=True)
    assert client.post("/status/login", data={"pin": ""}).status_code == 503


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_staff_sign_ins_expire(pin_file):
    ticks = Ticks()
    gate = StaffGate(pin_file, sign_in_s=600, monotonic=ticks)
    assert gate.attempt("999999") == (PinCheck.WRONG, None)
    outcome, token = gate.attempt(PIN)
    assert outcome is PinCheck.OK and token
    assert gate.signed_in(token) and not gate.signed_in("forged") and not gate.signed_in(None)
    ticks.now += 601
    assert not gate.signed_in(token)


def test_changing_the_pin_file_needs_no_restart(pin_file):
    gate = StaffGate(pin_file)
    pin_file.write_text("864200\n", encoding="utf-8")
    assert gate.attempt(PIN)[0] is PinCheck.WRONG
    assert gate.attempt("864200")[0] is PinCheck.OK


# --- wording and catalogs ------------------------------------------------------------------------


def test_every_sentence_has_chinese():
    catalog = read_po((TRANSLATIONS_DIR / "zh/LC_MESSAGES/messages.po").open("rb"))
    for message in catalog:
        if message.id:
            assert message.string, f"untranslated: {message.id!r}"
            assert "fuzzy" not in message.flags, f"fuzzy: {message.id!r}"
    ids = {message.id for message in catalog}
    root = TRANSLATIONS_DIR.parents[1]
    # The same map as kiosk/translations/babel.cfg.
    method_map = [
        ("kiosk/**.py", "python"),
        ("templates/kiosk/**.html", "jinja2"),
        ("templates/staff/**.html", "jinja2"),
    ]
    for filename, lineno, msgid, *_ in extract_from_dir(
        root, method_map, keywords=DEFAULT_KEYWORDS
    ):
        assert msgid in ids, (
            f"{filename}:{lineno}: {msgid!r} is not in the catalog; "
            "run pybabel extract and pybabel update (see kiosk/translations/babel.cfg)"
        )


def test_messages_are_chinese_outside_a_flask_context_too():
    # The event stream renders sentences after Flask has torn its request down.
    done = {}

    def in_a_thread() -> None:
        done["zh"] = wording.message_for({"action": "returned", "title": "草房子"}, "zh")

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert done["zh"] == "已归还：《草房子》，谢谢！请把书放进还书箱。"
    assert wording.text("session_ended", "en") == "Goodbye! You have been signed out."
    assert wording.message_for({"action": "ignored"}, "zh") == ""
    assert wording.ui_strings("fr") == wording.ui_strings("en")


def test_stale_catalogs_are_compiled(tmp_path):
    copy = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    written = compile_catalogs(copy)
    assert written == [copy / "zh/LC_MESSAGES/messages.mo"]
    assert compile_catalogs(copy) == []  # up to date now
    assert translations("zh").gettext("Done") == "完成"


def test_recent_errors_keep_the_newest_warnings():
    handler = RecentErrors(capacity=2)
    logger = logging.getLogger("kiosk.test.errors")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("card 20260001 for 张小明")
        except ValueError:
            logger.exception("scan failed")
        logger.info("not kept: below WARNING")
        logger.warning("one")
        logger.error("two")
    finally:
        logger.removeHandler(handler)
    messages = [entry.message for entry in handler.recent()]
    assert messages == ["two", "one"]  # newest first, capacity 2
    handler.clear()
    handler.handle(logging.makeLogRecord({"msg": "x", "levelno": 40, "levelname": "ERROR"}))
    assert handler.recent()[0].message == "x"


def test_recent_errors_name_only_the_exception_class():
    handler = RecentErrors()
    logger = logging.getLogger("kiosk.test.errors2")
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("card 20260001 for 张小明")
        except ValueError:
            logger.exception("scan failed")
    finally:
        logger.removeHandler(handler)
    assert handler.recent()[0].message == "scan failed (ValueError)"
