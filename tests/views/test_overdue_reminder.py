"""The chase's kiosk reminder at sign-in: its threshold ([chase] kiosk_reminder_days) and wording."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.app import create_app
from kiosk.views.wording import ui_strings
from tests.conftest import make_settings


@pytest.fixture
def client(tmp_path, engine, clock, demo_library):
    settings = make_settings(tmp_path, chase={"kiosk_reminder_days": 3, "class_list_days": 7})
    return create_app(settings, engine=engine, clock=clock).test_client()


def sign_in(client, card):
    response = client.post("/api/scan", json={"code": card})
    assert response.status_code == 200, response.data
    return response.get_json()


def test_reminder_from_its_threshold_counting_open_days(client, clock):
    sign_in(client, "20260001")
    client.post("/api/scan", json={"code": "SX00001"})  # due Wed 2026-12-09, closing time
    clock.now = dt.datetime(2026, 12, 11, 2, 0, tzinfo=dt.UTC)  # Fri: 2 open days late
    loan = sign_in(client, "20260001")["patron"]["loans"][0]
    assert (loan["days_overdue"], loan["remind"]) == (2, False)
    # Sat and Sun are not open days ([chase] count_closed_days = false): Monday is day 3.
    clock.now = dt.datetime(2026, 12, 14, 2, 0, tzinfo=dt.UTC)
    loan = sign_in(client, "20260001")["patron"]["loans"][0]
    assert (loan["days_overdue"], loan["remind"]) == (3, True)


def test_reminder_wording():
    zh = ui_strings("zh")["overdue_reminder_other"].format(title="草房子", n=3)
    assert zh == "《草房子》已经超期3天了，请尽快归还。"
    en = ui_strings("en")["overdue_reminder_other"].format(title="草房子", n=3)
    assert en == "“草房子” is 3 days late. Please bring it back soon."
