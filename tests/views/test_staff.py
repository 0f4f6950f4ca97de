"""The staff PIN: throttled per client with a slower backstop for everyone, and never short."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

import run_kiosk
from kiosk.app import create_app
from kiosk.staffgate import MIN_PIN_DIGITS, generate_pin, pin_problem
from tests.conftest import make_settings

PIN = "246810"


@pytest.fixture
def pin_file(tmp_path: Path) -> Path:
    path = tmp_path / "staff_pin"
    path.write_text(PIN + "\n", encoding="utf-8")
    return path


@pytest.fixture
def app(tmp_path, engine, clock, demo_library, pin_file) -> Flask:
    settings = make_settings(tmp_path, kiosk={"language": "en", "staff_pin_file": str(pin_file)})
    return create_app(settings, engine=engine, clock=clock)


def client_at(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def try_pin(client: FlaskClient, pin: str, lang: str = "en") -> int:
    return client.post(f"/status/login?lang={lang}", data={"pin": pin}).status_code


def test_wrong_pins_from_one_client_do_not_lock_out_the_kiosk_screen(app: Flask):
    remote = client_at(app, "192.168.1.50")
    for _ in range(5):
        assert try_pin(remote, "000000") == 401
    assert try_pin(remote, PIN) == 429  # that client waits, even with the right PIN
    # The librarian at the kiosk's own screen (loopback) is not locked out by it.
    assert try_pin(client_at(app, "127.0.0.1"), PIN) == 303


def test_the_backstop_slows_guessing_for_everyone_but_not_for_long(app: Flask):
    app.config["STAFF_PIN_FAILURES_PER_ADDRESS"] = "100 per minute"
    app.config["STAFF_PIN_FAILURES_EVERYWHERE"] = "3 per 2 seconds"
    for n in range(3):
        assert try_pin(client_at(app, f"192.168.1.{n}"), "000000") == 401
    screen = client_at(app, "127.0.0.1")
    refused = screen.post("/status/login?lang=zh", data={"pin": PIN})
    assert refused.status_code == 429
    assert "密码错误次数太多" in refused.get_data(as_text=True)
    # The window moves on: the librarian is back in once the oldest failures age out.
    deadline = time.monotonic() + 10
    while try_pin(screen, PIN) == 429:
        assert time.monotonic() < deadline, "the backstop never let the right PIN through"
        time.sleep(0.25)
    assert "Books borrowed" in screen.get("/status").get_data(as_text=True)


def test_right_pins_are_not_counted(app: Flask):
    app.config["STAFF_PIN_FAILURES_EVERYWHERE"] = "2 per hour"
    screen = client_at(app, "127.0.0.1")
    for _ in range(4):
        assert try_pin(screen, PIN) == 303


def test_the_pin_rule():
    assert pin_problem("12345") == f"use at least {MIN_PIN_DIGITS} digits"
    assert pin_problem("123456") is None
    assert pin_problem("12345a") and pin_problem("１２３４５６")  # full-width digits too
    assert all(pin_problem(generate_pin()) is None for _ in range(500))


def test_a_short_pin_file_switches_the_staff_page_off(tmp_path, engine, pin_file):
    pin_file.write_text("4711\n", encoding="utf-8")
    settings = make_settings(tmp_path, kiosk={"staff_pin_file": str(pin_file)})
    client = create_app(settings, engine=engine).test_client()
    page = client.get("/status?lang=en")
    html = page.get_data(as_text=True)
    assert "too short" in html and "set-staff-pin" in html and 'name="pin"' not in html
    assert client.post("/status/login", data={"pin": "4711"}).status_code == 503
    assert "密码太短" in client.get("/status?lang=zh").get_data(as_text=True)


def config_with_pin_file(tmp_path: Path, pin_file: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "kiosk.sqlite3"}"\n'
        f'[kiosk]\nstaff_pin_file = "{pin_file}"\n',
        encoding="utf-8",
    )
    return config


def test_set_staff_pin_refuses_a_five_digit_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    pin_file = tmp_path / "var" / "staff_pin"
    config = config_with_pin_file(tmp_path, pin_file)
    monkeypatch.setattr("sys.stdin", io.StringIO("12345\n"))
    assert run_kiosk.main(["set-staff-pin", "--config", str(config)]) == 2
    assert "at least 6 digits" in capsys.readouterr().err
    assert not pin_file.exists()
    monkeypatch.setattr("sys.stdin", io.StringIO("135792\n"))
    assert run_kiosk.main(["set-staff-pin", "--config", str(config)]) == 0
    assert pin_file.read_text(encoding="utf-8") == "135792\n"
    assert pin_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in pin_file.parent.iterdir()] == ["staff_pin"]  # no temporary left


def test_set_staff_pin_can_make_one_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    pin_file = tmp_path / "staff_pin"
    config = config_with_pin_file(tmp_path, pin_file)
    assert run_kiosk.main(["set-staff-pin", "--generate", "--config", str(config)]) == 0
    pin = pin_file.read_text(encoding="utf-8").strip()
    assert pin_problem(pin) is None and pin in capsys.readouterr().out


def test_set_staff_pin_needs_a_pin_file_configured(tmp_path: Path):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "kiosk.sqlite3"}"\n', encoding="utf-8")
    assert run_kiosk.main(["set-staff-pin", "--generate", "--config", str(config)]) == 2
