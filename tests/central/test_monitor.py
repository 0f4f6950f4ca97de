"""The kiosk monitor: a backlog is an alarm only once it has waited past the push interval."""

from __future__ import annotations

import datetime as dt
import re

from flask.testing import FlaskClient

from central.auth import add_user
from central.monitor import BACKLOG_MARGIN_S, stats
from tests.central.conftest import MONITOR_TOKEN, CentralDB, SimKiosk
from tests.conftest import FakeClock

PASSWORD = "correct horse battery"
HEADERS = {"Authorization": f"Bearer {MONITOR_TOKEN}"}


def _row(client: FlaskClient, kiosk_id: str) -> dict:
    rows = client.get("/api/v1/kiosks", headers=HEADERS).json["kiosks"]
    return next(r for r in rows if r["kiosk_id"] == kiosk_id)


def test_a_backlog_between_pushes_is_no_alarm(
    client: FlaskClient, make_kiosk, library, clock: FakeClock
) -> None:
    k: SimKiosk = make_kiosk("k1")
    # Four minutes of normal use with a push every 300 s: the backlog grows at every beat.
    for minute, backlog in enumerate((5, 11, 18, 25)):
        k.heartbeat(
            clock(),
            backlog=backlog,
            oldest_pending_age_s=60.0 * minute + 10,
            next_push_in_s=300.0 - 60 * minute - 10,
            sync_interval_s=300,
        )
        clock.advance(seconds=60)
    row = _row(client, "k1")
    assert row["backlog"] == 25 and row["backlog_growing"]
    assert not row["alert"] and not row["backlog_overdue"] and row["alert_reasons"] == []
    # The next push was due 110 s after the last beat, which was 60 s ago.
    assert row["next_push_in_s"] == 50.0
    assert dt.datetime.fromisoformat(row["next_push_at"]) == clock() + dt.timedelta(seconds=50)
    # The push never comes: once the oldest event has waited past interval + margin, alarm.
    # The oldest event has waited 190 + 60 = 250 s so far.
    clock.advance(seconds=300 + BACKLOG_MARGIN_S - 250)
    assert not _row(client, "k1")["alert"]
    clock.advance(seconds=1)
    row = _row(client, "k1")
    assert row["backlog_overdue"] and row["alert"] and "backlog not pushed" in row["alert_reasons"]


def test_the_console_says_when_the_next_push_is_due_and_what_open_loans_count(
    client: FlaskClient, central_db: CentralDB, make_kiosk, library, clock: FakeClock
) -> None:
    k: SimKiosk = make_kiosk("k1")
    k.heartbeat(
        clock(), backlog=25, oldest_pending_age_s=240.0, next_push_in_s=60.0, sync_interval_s=300
    )
    with central_db.factory.begin() as session:
        add_user(session, "liu", PASSWORD, "librarian", clock())
    with central_db.factory() as session:
        totals = stats(session, clock(), 600)
    # Loans reach the central with a push: the 25 events on their way are counted beside it.
    assert totals["loans_open"] == 0 and totals["events_on_kiosks"] == 25
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    login = {"username": "liu", "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=login).status_code == 302
    html = client.get("/").get_data(as_text=True)
    # In the library's time (Asia/Shanghai), as the librarian reads a clock.
    due = clock() + dt.timedelta(seconds=60) + dt.timedelta(hours=8)
    assert f"约 {due:%H:%M} 上传" in html
    assert 'id="t-on-kiosks">25<' in html and "条事件在自助机上" in html
    assert 'class="alert"' not in html


def test_a_kiosk_that_reports_no_schedule_is_judged_by_its_last_push(
    client: FlaskClient, make_kiosk, library, clock: FakeClock
) -> None:
    k: SimKiosk = make_kiosk("k1")
    k.checkout("SX00001", "S2026001", clock())
    assert k.push().status_code == 200
    k.heartbeat(clock(), backlog=3)  # older kiosk software: no ages, no interval
    clock.advance(seconds=200)
    assert not _row(client, "k1")["alert"]
    clock.advance(seconds=300)
    k.heartbeat(clock(), backlog=3)
    row = _row(client, "k1")
    assert row["backlog_overdue"] and row["alert"]


def test_heartbeat_schedule_fields_are_checked(make_kiosk, library, clock: FakeClock) -> None:
    k: SimKiosk = make_kiosk("k1")
    assert k.heartbeat(clock(), next_push_in_s="soon").status_code == 400
    assert k.heartbeat(clock(), oldest_pending_age_s=-5).status_code == 400
    assert k.heartbeat(clock(), sync_interval_s=300).status_code == 200


def _signed_in(client: FlaskClient, central_db: CentralDB, clock: FakeClock) -> None:
    with central_db.factory.begin() as session:
        add_user(session, "liu", PASSWORD, "librarian", clock())
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    login = {"username": "liu", "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=login).status_code == 302


def test_a_kiosk_whose_database_refuses_writes_shows_in_its_monitor_cells(
    client: FlaskClient, central_db: CentralDB, make_kiosk, library, clock: FakeClock
) -> None:
    k: SimKiosk = make_kiosk("k1")
    _signed_in(client, central_db, clock)
    k.heartbeat(clock(), backlog=0)  # an older kiosk: no db_ok at all
    row = _row(client, "k1")
    assert row["db_ok"] is None and not row["alert"]
    assert 'data-db="down"' not in client.get("/").get_data(as_text=True)

    assert k.heartbeat(clock(), db_ok=False).status_code == 200
    row = _row(client, "k1")
    assert row["db_ok"] is False and row["alert"]
    assert row["alert_reasons"] == ["database not working"]
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'data-db="down">数据库故障<', html)
    assert 'class="alert"' in html

    assert k.heartbeat(clock(), db_ok=True).status_code == 200
    row = _row(client, "k1")
    assert row["db_ok"] is True and not row["alert"]
    assert 'data-db="down"' not in client.get("/").get_data(as_text=True)


def test_heartbeat_db_ok_must_be_true_false_or_null(make_kiosk, library, clock: FakeClock) -> None:
    k: SimKiosk = make_kiosk("k1")
    assert k.heartbeat(clock(), db_ok="yes").status_code == 400
    assert k.heartbeat(clock(), db_ok=None).status_code == 200
