"""Console: sign-in with argon2, rate limits, CSRF, expiry, escaping; the JSON API and /metrics."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from central.auth import add_user
from tests.central.conftest import MONITOR_TOKEN, CentralDB, SimKiosk
from tests.conftest import FakeClock

PASSWORD = "correct horse battery"


@pytest.fixture
def librarian(central_db: CentralDB, clock: FakeClock) -> str:
    with central_db.factory.begin() as s:
        user = add_user(s, "liu", PASSWORD, "librarian", clock())
        assert user.password_hash.startswith("$argon2")
    return "liu"


def _csrf(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def _login(client: FlaskClient, password: str = PASSWORD, username: str = "liu") -> int:
    token = _csrf(client)
    r = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    return r.status_code


def test_console_requires_login(client: FlaskClient, librarian: str):
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/api/v1/kiosks").status_code == 401
    assert _login(client, "wrong password") == 401
    assert _login(client) == 302
    page = client.get("/")
    assert page.status_code == 200 and "自助机" in page.get_data(as_text=True)
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_login_without_csrf_is_refused(client: FlaskClient, librarian: str):
    r = client.post("/login", data={"username": "liu", "password": PASSWORD})
    assert r.status_code == 400


def test_login_rate_limited(client: FlaskClient, librarian: str):
    for _ in range(5):
        assert _login(client, "nope nope") == 401
    # Even the right password is refused while the user is throttled.
    assert _login(client) == 429


def test_the_monitors_own_refresh_does_not_keep_a_session_alive(
    client: FlaskClient, librarian: str, clock: FakeClock
):
    assert _login(client) == 302
    for _ in range(40):  # 40 minutes of refreshes with nobody at the screen
        clock.advance(minutes=1)
        refresh = client.get("/monitor/rows")
        if refresh.status_code != 200:
            break
    assert refresh.status_code == 302 and "/login" in refresh.headers["Location"]
    assert client.get("/").status_code == 302


def test_session_expires_when_idle(client: FlaskClient, librarian: str, clock: FakeClock):
    assert _login(client) == 302
    clock.advance(minutes=20)
    assert client.get("/").status_code == 200
    clock.advance(minutes=31)
    assert client.get("/").status_code == 302


def test_kiosk_reported_text_is_escaped(
    client: FlaskClient, librarian: str, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    evil = '<script>alert("x")</script>'
    k.heartbeat(clock(), last_error=evil, version="<b>1</b>")
    assert _login(client) == 302
    for path in ("/", "/kiosks/k1"):
        html = client.get(path).get_data(as_text=True)
        assert evil not in html and "&lt;script&gt;" in html
        assert "<b>1</b>" not in html


def test_resolve_exception_needs_csrf(
    client: FlaskClient, librarian: str, make_kiosk, library, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    k.checkout("SX99999", "S2026001", clock())
    k.push()
    assert _login(client) == 302
    page = client.get("/exceptions").get_data(as_text=True)
    assert "未知图书" in page and "SX99999" in page
    exc_id = re.search(r"/exceptions/(\d+)/resolve", page).group(1)
    assert client.post(f"/exceptions/{exc_id}/resolve", data={"note": "x"}).status_code == 400
    token = _csrf(client, "/exceptions")
    r = client.post(
        f"/exceptions/{exc_id}/resolve", data={"note": "book withdrawn", "csrf_token": token}
    )
    assert r.status_code == 302
    assert client.get("/api/v1/stats").json["exceptions_open"] == 0


def test_retry_after_catalog_fix(
    client: FlaskClient, central_db: CentralDB, librarian: str, make_kiosk, library, clock
):
    from db.models import Item, Title

    k: SimKiosk = make_kiosk("k1")
    k.checkout("SX77777", "S2026001", clock())
    k.push()
    with central_db.factory.begin() as s:
        title = s.query(Title).first()
        s.add(Item(barcode="SX77777", title=title))
    assert _login(client) == 302
    page = client.get("/exceptions").get_data(as_text=True)
    exc_id = re.search(r"/exceptions/(\d+)/retry", page).group(1)
    token = _csrf(client, "/exceptions")
    assert client.post(f"/exceptions/{exc_id}/retry", data={"csrf_token": token}).status_code == 302
    stats = client.get("/api/v1/stats").json
    assert stats["loans_open"] == 1 and stats["exceptions_open"] == 0


def test_api_with_monitor_token(client: FlaskClient, make_kiosk, library, clock: FakeClock):
    k: SimKiosk = make_kiosk("k1")
    silent: SimKiosk = make_kiosk("k2")
    k.heartbeat(clock(), backlog=3, scanner_connected=True, checkouts_today=2, returns_today=1)
    silent.heartbeat(clock() - dt.timedelta(hours=1))
    clock.advance(seconds=30)
    k.checkout("SX00001", "S2026001", clock())
    k.push()
    headers = {"Authorization": f"Bearer {MONITOR_TOKEN}"}
    assert client.get("/api/v1/kiosks", headers={"Authorization": "Bearer nope"}).status_code == 401
    data = client.get("/api/v1/kiosks", headers=headers).json
    rows = {r["kiosk_id"]: r for r in data["kiosks"]}
    assert rows["k1"]["online"] and rows["k1"]["backlog"] == 3 and not rows["k1"]["alert"]
    assert rows["k1"]["checkouts_today"] == 2 and rows["k1"]["heartbeat_age_s"] == 30
    clock.advance(seconds=700)
    data = client.get("/api/v1/kiosks", headers=headers).json
    assert all(r["alert"] and not r["online"] for r in data["kiosks"])
    stats = client.get("/api/v1/stats", headers=headers).json
    for key in (
        "loans_open",
        "checkouts_total",
        "returns_total",
        "events_total",
        "exceptions_open",
    ):
        assert isinstance(stats[key], int)
    assert stats["loans_open"] == 1 and stats["events_total"] == 1


def test_metrics_have_no_personal_data(client: FlaskClient, make_kiosk, library, clock):
    k: SimKiosk = make_kiosk("k1")
    k.heartbeat(clock(), backlog=4, scanner_connected=False)
    k.checkout("SX00001", "S2026001", clock())
    k.push()
    r = client.get("/metrics")
    assert r.status_code == 200 and r.mimetype == "text/plain"
    text = r.get_data(as_text=True)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    k1 = ("kiosk_id", "k1")
    assert samples["shuxiang_kiosk_outbox_pending_events", (k1,)] == 4
    assert samples["shuxiang_kiosk_scanner_connected", (k1,)] == 0
    assert samples["shuxiang_central_pushes_total", (k1, ("outcome", "ok"))] == 1
    assert ("shuxiang_kiosk_heartbeat_age_seconds", (k1,)) in samples
    assert samples["shuxiang_central_loans_open", ()] == 1
    assert "S2026001" not in text and "张" not in text
