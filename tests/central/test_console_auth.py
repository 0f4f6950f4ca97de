"""Console sign-in: revocable server-side sessions, throttling per (address, user) with slower
backstops, proxy and cookie settings, and Flask-WTF's CSRF and form checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

import run_kiosk
from central.app import create_central_app
from central.auth import add_user
from db.central_models import ConsoleSession
from kiosk.config import Settings
from tests.central.conftest import CentralDB
from tests.conftest import FakeClock, make_settings

PASSWORD = "correct horse battery"
COOKIE = "shuxiang_console"


@pytest.fixture
def librarian(central_db: CentralDB, clock: FakeClock) -> str:
    with central_db.factory.begin() as s:
        add_user(s, "liu", PASSWORD, "librarian", clock())
        add_user(s, "wang", PASSWORD, "admin", clock())
    return "liu"


def client_at(app: Flask, address: str) -> FlaskClient:
    """A browser at `address` (its own cookies)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def sign_in(client: FlaskClient, password: str = PASSWORD, username: str = "liu", **kw) -> int:
    data = {"username": username, "password": password, "csrf_token": csrf_token(client)}
    return client.post("/login", data=data, **kw).status_code


def captured_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def replay(app: Flask, cookie: str) -> FlaskClient:
    """Another browser presenting a cookie captured from the first."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie)
    return thief


def sessions_of(central_db: CentralDB) -> int:
    with central_db.factory() as s:
        return s.scalar(select(func.count(ConsoleSession.id))) or 0


# --- server-side sessions ------------------------------------------------------------------------


def test_a_captured_cookie_stops_working_after_sign_out(
    central_app: Flask, central_db: CentralDB, librarian: str
):
    browser = client_at(central_app, "10.0.0.5")
    assert sign_in(browser) == 302
    cookie = captured_cookie(browser)
    assert replay(central_app, cookie).get("/").status_code == 200
    assert sessions_of(central_db) == 1
    token = csrf_token(browser, "/")
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert sessions_of(central_db) == 0
    thief = replay(central_app, cookie)
    page = thief.get("/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert thief.get("/api/v1/kiosks").status_code == 401


def test_a_new_password_ends_every_session_of_that_user(
    central_app: Flask, central_db: CentralDB, librarian: str, clock: FakeClock
):
    liu, wang = client_at(central_app, "10.0.0.5"), client_at(central_app, "10.0.0.6")
    assert sign_in(liu) == 302 and sign_in(wang, username="wang") == 302
    cookie = captured_cookie(liu)
    with central_db.factory.begin() as s:
        add_user(s, "liu", "a brand new password", "librarian", clock())
    assert replay(central_app, cookie).get("/").status_code == 302
    assert liu.get("/").status_code == 302
    assert wang.get("/").status_code == 200  # someone else's session is untouched
    assert sign_in(liu, "a brand new password") == 302


def test_disabling_a_user_ends_their_sessions_and_enabling_lets_them_back(
    central_app: Flask, central_settings: Settings, librarian: str, tmp_path: Path
):
    config = tmp_path / "config.toml"
    config.write_text(f'[central]\ndatabase_url = "{central_settings.central.database_url}"\n')
    browser = client_at(central_app, "10.0.0.5")
    assert sign_in(browser) == 302
    cookie = captured_cookie(browser)
    assert run_kiosk.main(["add-user", "liu", "--disable", "--config", str(config)]) == 0
    assert replay(central_app, cookie).get("/").status_code == 302
    assert sign_in(client_at(central_app, "10.0.0.5")) == 401
    assert run_kiosk.main(["add-user", "nobody", "--disable", "--config", str(config)]) == 2
    assert run_kiosk.main(["add-user", "liu", "--enable", "--config", str(config)]) == 0
    assert sign_in(client_at(central_app, "10.0.0.5")) == 302


def test_the_session_row_holds_a_hash_not_the_token(
    central_app: Flask, central_db: CentralDB, librarian: str
):
    browser = client_at(central_app, "10.0.0.5")
    assert sign_in(browser) == 302
    with central_db.factory() as s:
        row = s.scalar(select(ConsoleSession))
        assert row is not None and len(row.token_sha256) == 64
    # The cookie is signed by Flask; the token inside is what only the browser has.
    assert row.token_sha256 not in captured_cookie(browser)


def test_idle_and_absolute_expiry(central_app: Flask, librarian: str, clock: FakeClock):
    browser = client_at(central_app, "10.0.0.5")
    assert sign_in(browser) == 302
    for _ in range(30):  # busy all day, never idle for long…
        clock.advance(minutes=29)
        if browser.get("/").status_code != 200:
            break
    # …still signed out once 12 hours have passed since signing in.
    assert browser.get("/").status_code == 302
    assert sign_in(browser) == 302
    clock.advance(minutes=31)
    assert browser.get("/").status_code == 302


# --- throttling ----------------------------------------------------------------------------------


def test_one_address_guessing_does_not_lock_the_user_out_elsewhere(
    central_app: Flask, librarian: str
):
    guesser = client_at(central_app, "203.0.113.9")
    for _ in range(5):
        assert sign_in(guesser, "wrong password") == 401
    refused = guesser.post(
        "/login",
        data={"username": "liu", "password": PASSWORD, "csrf_token": csrf_token(guesser)},
    )
    assert refused.status_code == 429  # even the right password, from the guesser's address
    assert "登录失败次数太多" in refused.get_data(as_text=True)
    # The librarian at her own desk signs in as usual.
    assert sign_in(client_at(central_app, "10.0.0.5")) == 302
    # And the guesser may still try another user name.
    assert sign_in(guesser, "wrong password", username="wang") == 401


def test_the_per_user_backstop_counts_failures_from_every_address(
    central_app: Flask, librarian: str
):
    central_app.config["CONSOLE_FAILURES_PER_USER"] = "3 per hour"
    for n in range(3):
        assert sign_in(client_at(central_app, f"198.51.100.{n}"), "wrong password") == 401
    assert sign_in(client_at(central_app, "10.0.0.5")) == 429
    assert sign_in(client_at(central_app, "10.0.0.5"), username="wang") == 302


def test_the_global_backstop_engages(central_app: Flask, librarian: str):
    central_app.config["CONSOLE_FAILURES_EVERYWHERE"] = "4 per hour"
    for n in range(4):
        guesser = client_at(central_app, f"198.51.100.{n}")
        assert sign_in(guesser, "wrong password", username=f"user{n}") == 401
    assert sign_in(client_at(central_app, "10.0.0.5"), username="wang") == 429


def test_successful_sign_ins_are_not_counted(central_app: Flask, librarian: str):
    central_app.config["CONSOLE_FAILURES_EVERYWHERE"] = "2 per hour"
    for _ in range(4):
        assert sign_in(client_at(central_app, "10.0.0.5")) == 302


def proxied_app(tmp_path: Path, central_db: CentralDB, clock: FakeClock, **central) -> Flask:
    (tmp_path / "central_secret").write_text("test-secret-key\n")
    settings = make_settings(
        tmp_path,
        central={
            "database_url": central_db.url,
            "secret_key_file": str(tmp_path / "central_secret"),
            **central,
        },
    )
    return create_central_app(settings, engine=central_db.engine, clock=clock)


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(
    tmp_path: Path, central_db: CentralDB, librarian: str, clock: FakeClock
):
    direct = proxied_app(tmp_path, central_db, clock)
    guesser = client_at(direct, "203.0.113.9")
    for n in range(5):
        headers = {"X-Forwarded-For": f"192.0.2.{n}"}
        assert sign_in(guesser, "wrong password", headers=headers) == 401
    # Not behind a proxy: a made-up X-Forwarded-For does not buy a fresh count.
    assert sign_in(guesser, headers={"X-Forwarded-For": "192.0.2.99"}) == 429

    behind = proxied_app(tmp_path, central_db, clock, proxy_hops=1)
    proxy = client_at(behind, "127.0.0.1")
    for _ in range(5):
        assert sign_in(proxy, "wrong password", headers={"X-Forwarded-For": "192.0.2.1"}) == 401
    assert sign_in(proxy, headers={"X-Forwarded-For": "192.0.2.1"}) == 429
    # Another client behind the same proxy is another address.
    other = client_at(behind, "127.0.0.1")
    assert sign_in(other, headers={"X-Forwarded-For": "192.0.2.2"}) == 302


def test_secure_cookies_setting(tmp_path: Path, central_db: CentralDB, librarian, clock):
    plain = proxied_app(tmp_path, central_db, clock)
    browser = plain.test_client()
    response = browser.post(
        "/login", data={"username": "liu", "password": PASSWORD, "csrf_token": csrf_token(browser)}
    )
    assert "Secure" not in response.headers["Set-Cookie"]

    tls = proxied_app(tmp_path, central_db, clock, secure_cookies=True, proxy_hops=1)
    browser = tls.test_client()
    headers = {"X-Forwarded-Proto": "https", "Referer": "https://localhost/login"}
    page = browser.get("/login", headers=headers, base_url="https://localhost")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    response = browser.post(
        "/login",
        data={"username": "liu", "password": PASSWORD, "csrf_token": token.group(1)},
        headers=headers,
        base_url="https://localhost",
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(COOKIE) and "; Secure" in cookie and "HttpOnly" in cookie


# --- CSRF and forms ------------------------------------------------------------------------------


def test_missing_or_wrong_csrf_token_gets_a_clear_400_page(central_app: Flask, librarian: str):
    browser = client_at(central_app, "10.0.0.5")
    missing = browser.post("/login", data={"username": "liu", "password": PASSWORD})
    assert missing.status_code == 400
    html = missing.get_data(as_text=True)
    assert "表单已失效" in html and "表单缺少安全令牌" in html
    english = client_at(central_app, "10.0.0.9").post(
        "/login?lang=en", data={"username": "liu", "password": PASSWORD}
    )
    assert "This form has expired" in english.get_data(as_text=True)
    assert "security token is missing" in english.get_data(as_text=True)
    assert sign_in(browser) == 302
    csrf_token(browser, "/")  # the page with the sign-out button
    wrong = browser.post("/logout", data={"csrf_token": "forged"})
    assert wrong.status_code == 400 and "安全令牌不对" in wrong.get_data(as_text=True)
    assert browser.get("/").status_code == 200  # still signed in: the forged form did nothing
    elsewhere = client_at(central_app, "10.0.0.6")
    other_token = csrf_token(elsewhere)
    mismatched = browser.post("/logout", data={"csrf_token": other_token})
    assert mismatched.status_code == 400
    assert "安全令牌与登录会话不符" in mismatched.get_data(as_text=True)


def test_expired_csrf_token_is_refused_with_its_reason(central_app: Flask, librarian: str):
    central_app.config["WTF_CSRF_TIME_LIMIT"] = -1
    browser = client_at(central_app, "10.0.0.5")
    refused = browser.post(
        "/login", data={"username": "liu", "password": PASSWORD, "csrf_token": csrf_token(browser)}
    )
    assert refused.status_code == 400 and "页面打开太久了" in refused.get_data(as_text=True)


def test_empty_fields_get_readable_messages_and_are_not_counted(central_app: Flask, librarian: str):
    central_app.config["CONSOLE_FAILURES_EVERYWHERE"] = "1 per hour"
    browser = client_at(central_app, "10.0.0.5")
    for _ in range(3):
        page = browser.post(
            "/login", data={"username": " ", "password": "", "csrf_token": csrf_token(browser)}
        )
        assert page.status_code == 400
        html = page.get_data(as_text=True)
        assert "请输入用户名" in html and "请输入密码" in html
    assert sign_in(browser) == 302


def test_sign_in_keeps_a_local_next_only(central_app: Flask, librarian: str):
    browser = client_at(central_app, "10.0.0.5")
    token = csrf_token(browser)
    data = {"username": "liu", "password": PASSWORD, "csrf_token": token, "next": "/exceptions"}
    assert browser.post("/login", data=data).headers["Location"] == "/exceptions"
    browser = client_at(central_app, "10.0.0.6")
    data = {
        "username": "liu",
        "password": PASSWORD,
        "csrf_token": csrf_token(browser),
        "next": "//evil.example/",
    }
    assert browser.post("/login", data=data).headers["Location"] == "/"


def test_the_sessions_migration_downgrades_and_upgrades(central_db: CentralDB, librarian: str):
    from alembic import command

    from db.migrate import alembic_config, current_revision, head_revision, upgrade

    command.downgrade(alembic_config(central_db.engine), "0002")
    assert current_revision(central_db.engine) == "0002"
    upgrade(central_db.engine)
    assert current_revision(central_db.engine) == head_revision(central_db.engine)
