"""The kiosk port: loopback unless allowed, a per-kiosk secret then, Host and Origin checks always."""

from __future__ import annotations

import pytest

from kiosk.app import create_app
from kiosk.browser import launch_url
from kiosk.config import ConfigError
from kiosk.remote import PAIRING_PARAM, SECRET_COOKIE, SECRET_HEADER
from tests.conftest import make_settings

SECRET = "0123456789abcdef0123456789abcdef"
LAN = {"REMOTE_ADDR": "192.168.1.20"}


def remote_settings(tmp_path, **server):
    (tmp_path / "kiosk_secret").write_text(SECRET + "\n")
    return make_settings(
        tmp_path,
        server={"host": "0.0.0.0", "allow_remote": True, "secret_file": "kiosk_secret", **server},
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]"])
def test_loopback_binds_need_nothing_more(tmp_path, host):
    assert make_settings(tmp_path, server={"host": host}).server.host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "kiosk.school.example"])
def test_a_non_loopback_bind_is_refused_unless_allowed(tmp_path, host):
    with pytest.raises(ConfigError) as refused:
        make_settings(tmp_path, server={"host": host})
    assert any(p.startswith("server.host:") and "allow_remote" in p for p in refused.value.problems)


def test_allow_remote_needs_a_real_secret_file(tmp_path):
    with pytest.raises(ConfigError) as refused:
        make_settings(tmp_path, server={"host": "0.0.0.0", "allow_remote": True})
    assert refused.value.problems == [
        "server.secret_file: required when server.allow_remote is true"
    ]
    (tmp_path / "short").write_text("1234\n")
    for name in ("missing", "short"):
        with pytest.raises(ConfigError) as refused:
            make_settings(
                tmp_path, server={"host": "0.0.0.0", "allow_remote": True, "secret_file": name}
            )
        assert refused.value.problems[0].startswith("server.secret_file:")
    assert remote_settings(tmp_path).server.allow_remote is True


@pytest.fixture
def local_client(tmp_path, engine, clock, demo_library):
    return create_app(make_settings(tmp_path), engine=engine, clock=clock).test_client()


@pytest.fixture
def remote_client(tmp_path, engine, clock, demo_library):
    return create_app(remote_settings(tmp_path), engine=engine, clock=clock).test_client()


def signed_in(client, **kwargs):
    return client.get("/api/session", **kwargs).get_json()["active"]


def test_another_sites_page_cannot_scan(local_client):
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://localhost:9999"},  # another port is another origin
        {"Origin": "http://localhost", "Sec-Fetch-Site": "same-site"},
    ):
        response = local_client.post("/api/scan", json={"code": "20260001"}, headers=headers)
        assert response.status_code == 403 and response.get_json()["error"] == "cross_origin"
        assert signed_in(local_client) is False
    response = local_client.post(
        "/kiosk/session/forget",
        json={"reason": "idle_timeout"},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status_code == 403
    # The kiosk page itself, and tools that send no Origin, are served.
    response = local_client.post(
        "/api/scan", json={"code": "20260001"}, headers={"Origin": "http://localhost"}
    )
    assert response.status_code == 200 and signed_in(local_client) is True
    # The staff page's own form, as Chromium sends it under Referrer-Policy: no-referrer.
    response = local_client.post(
        "/kiosk/session/forget",
        json={"reason": "idle_timeout"},
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 200 and signed_in(local_client) is False


def test_a_rebound_host_name_reads_nothing(local_client):
    local_client.post("/api/scan", json={"code": "20260001"})
    response = local_client.get("/api/session", headers={"Host": "evil.example"})
    assert response.status_code == 403 and response.get_json()["error"] == "bad_host"
    assert "小明" not in response.get_data(as_text=True)
    assert local_client.get("/", headers={"Host": "evil.example:8080"}).status_code == 403
    assert local_client.get("/", headers={"Host": "127.0.0.1:8080"}).status_code == 200


def test_remote_api_and_stream_need_the_secret(remote_client):
    for method, path in (
        ("POST", "/api/scan"),
        ("GET", "/api/session"),
        ("GET", "/events"),
        ("GET", "/api/status"),
        ("POST", "/kiosk/session/forget"),
    ):
        response = remote_client.open(
            path, method=method, json={"code": "20260001"}, environ_base=LAN
        )
        assert response.status_code == 401, path
        assert response.get_json()["error"] == "kiosk_secret_required"
    assert signed_in(remote_client, headers={SECRET_HEADER: SECRET}, environ_base=LAN) is False
    wrong = remote_client.post(
        "/api/scan",
        json={"code": "20260001"},
        environ_base=LAN,
        headers={SECRET_HEADER: SECRET[:-1] + "x"},
    )
    assert wrong.status_code == 401
    right = remote_client.post(
        "/api/scan", json={"code": "20260001"}, environ_base=LAN, headers={SECRET_HEADER: SECRET}
    )
    assert right.status_code == 200 and right.get_json()["action"] == "signed_in"


def test_remote_page_pairs_once_through_the_launcher_url(remote_client):
    assert remote_client.get("/", environ_base=LAN).status_code == 403
    wrong = remote_client.get(f"/?{PAIRING_PARAM}=guess&lang=en", environ_base=LAN)
    assert wrong.status_code == 403 and remote_client.get_cookie(SECRET_COOKIE) is None
    paired = remote_client.get(f"/?{PAIRING_PARAM}={SECRET}&lang=en", environ_base=LAN)
    assert paired.status_code == 303 and paired.headers["Location"] == "/?lang=en"
    cookie = remote_client.get_cookie(SECRET_COOKIE)
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    assert remote_client.get("/?lang=en", environ_base=LAN).status_code == 200
    assert signed_in(remote_client, environ_base=LAN) is False  # the cookie opens the API


def test_the_page_opened_on_this_machine_gets_the_secret(remote_client):
    assert remote_client.get("/api/session").status_code == 401  # loopback needs it too
    assert remote_client.get("/").status_code == 200
    assert remote_client.get_cookie(SECRET_COOKIE).value == SECRET
    assert remote_client.post("/api/scan", json={"code": "20260001"}).status_code == 200


def test_launcher_opens_a_lan_address_with_the_secret(tmp_path):
    local = make_settings(tmp_path)
    assert launch_url(local) == "http://127.0.0.1:8080/"
    # Listening everywhere: the browser on this machine still uses loopback, no secret in sight.
    assert launch_url(remote_settings(tmp_path)) == "http://127.0.0.1:8080/"
    lan = remote_settings(tmp_path, host="192.168.1.5")
    assert launch_url(lan) == f"http://192.168.1.5:8080/?{PAIRING_PARAM}={SECRET}"
