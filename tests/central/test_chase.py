"""The overdue chase at the central: the list by class, parents' e-mail through a real SMTP server
(aiosmtpd), never twice, never for a book returned since, the SMS export and the 催还单 PDF."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from central.chase import group_by_class, overdue_rows, run_chase, sms_csv
from central.chase_slips import class_slip_pdf
from central.mail import NullMailer, SmtpMailer
from db.central_models import NoticeStatus, OverdueNotice
from db.models import Patron
from kiosk.circulation.calendar import OpeningCalendar
from kiosk.circulation.overdue import ChasePolicy
from kiosk.config import MailSettings
from tests.central.conftest import MONITOR_TOKEN, CentralDB, SimKiosk
from tests.central.smtp_server import free_port

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
POLICY = ChasePolicy(
    kiosk_reminder_days=1,
    class_list_days=3,
    parents_days=5,
    long_overdue_days=20,
    calendar=OpeningCalendar(),
)
HINT = "请把书还到学校图书馆的自助借还机。"


def local(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), SHANGHAI).astimezone(
        dt.UTC
    )


# (student number, class, copy, checked out on) — due 14 days later at closing time.
LOANS = [
    ("S2026001", "三年级二班", "SX00001", "2026-11-02"),  # due Mon 11-16
    ("S2026002", "三年级二班", "SX00004", "2026-11-05"),  # due Thu 11-19
    ("S2026003", "四年级一班", "SX00006", "2026-11-03"),  # due Tue 11-17
    ("S2026005", "五年级三班", "SX00008", "2026-11-09"),  # due Mon 11-23
    ("S2026006", "Grade 5 Class 3", "SX00010", "2026-11-04"),  # due Wed 11-18
]
NOW = local("2026-11-25")  # Wednesday


def lend_all(kiosk: SimKiosk) -> dict[str, dict[str, Any]]:
    events = {}
    for student, _, copy, day in LOANS:
        events[copy] = kiosk.checkout(copy, student, local(day))
    kiosk.push()
    return events


def set_contacts(central_db: CentralDB) -> None:
    with central_db.factory.begin() as s:
        for number, mail, phone in [
            ("S2026001", "zhang.parent@example.cn", "13800000001"),
            ("S2026002", "", "+8613800000002"),
            ("S2026003", "wang.parent@example.cn", ""),
            ("S2026005", "chen.parent@example.cn", "13800000005"),
            ("S2026006", "", ""),
        ]:
            s.execute(
                update(Patron)
                .where(Patron.student_number == number)
                .values(parent_email=mail, parent_phone=phone, parent_name="")
            )


def open_days_between(due_at: dt.datetime, now: dt.datetime) -> int:
    """Walk the calendar day by day: the open days after the due day up to today."""
    cal = POLICY.calendar
    day, today, count = cal.local_date(due_at), cal.local_date(now), 0
    while day < today:
        day += dt.timedelta(days=1)
        count += cal.is_open_day(day)
    return count


def test_overdue_list_by_class_oldest_first(central_db, library, make_kiosk, client):
    kiosk = make_kiosk("k1")
    events = lend_all(kiosk)
    kiosk.checkin(events["SX00008"], local("2026-11-24"))  # returned yesterday
    kiosk.push()
    with central_db.factory() as s:
        rows = overdue_rows(s, POLICY, NOW)
    # Independently: every loan not returned, its due date 14 days after checkout.
    expected = []
    for _, class_name, copy, day in LOANS:
        if copy == "SX00008":
            continue
        due_at = local(day) + dt.timedelta(days=14)
        expected.append((class_name, copy, open_days_between(due_at, NOW)))
    order = {"三年级二班": 0, "四年级一班": 1, "Grade 5 Class 3": 2}
    expected.sort(key=lambda e: (order[e[0]], -e[2]))
    assert [(r.class_name, r.item_barcode, r.days_overdue) for r in rows] == expected
    assert [r.class_text for r in rows] == ["3-2", "3-2", "4-1", "5-3"]
    assert [g.label("zh") for g in group_by_class(rows)] == ["三年级2班", "四年级1班", "五年级3班"]

    # The same list as JSON, under the monitor token only.
    url = "/api/v1/reports/overdue?as_of=2026-11-25"
    assert client.get(url).status_code == 401
    reply = client.get(url, headers={"Authorization": f"Bearer {MONITOR_TOKEN}"})
    assert reply.status_code == 200
    body = reply.get_json()
    assert body["as_of"] == "2026-11-25"
    assert [(r["class"], r["item_barcode"], r["days_overdue"]) for r in body["rows"]] == [
        ("3-2", "SX00001", 7),
        ("3-2", "SX00004", 4),
        ("4-1", "SX00006", 6),
        ("5-3", "SX00010", 5),
    ]
    assert "20260001" not in reply.get_data(as_text=True)  # never a card number
    # A day before the return, the returned loan was still out (and overdue).
    earlier = client.get(
        "/api/v1/reports/overdue?as_of=2026-11-23",
        headers={"Authorization": f"Bearer {MONITOR_TOKEN}"},
    ).get_json()
    assert "SX00008" not in [r["item_barcode"] for r in earlier["rows"]]  # due that day
    # 王芳 brings 小王子 back on the 24th: gone from today's list, still on the 23rd's.
    kiosk.checkin(events["SX00006"], local("2026-11-24"))
    kiosk.push()
    token = {"Authorization": f"Bearer {MONITOR_TOKEN}"}
    today = client.get("/api/v1/reports/overdue", headers=token).get_json()
    assert "SX00006" not in [r["item_barcode"] for r in today["rows"]]
    assert today["as_of"] == "2026-11-25"
    on_23rd = client.get("/api/v1/reports/overdue?as_of=2026-11-23", headers=token).get_json()
    assert ("SX00006", 4) in [(r["item_barcode"], r["days_overdue"]) for r in on_23rd["rows"]]
    bad = client.get(
        "/api/v1/reports/overdue?as_of=25.11.2026",
        headers={"Authorization": f"Bearer {MONITOR_TOKEN}"},
    )
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_json()["message"]


def notices(central_db: CentralDB) -> list[tuple[str, str, str, str]]:
    with central_db.factory() as s:
        return sorted(
            (n.stage, n.channel, n.recipient, n.status) for n in s.scalars(select(OverdueNotice))
        )


def test_parents_notices_through_smtp_never_twice(central_db, library, make_kiosk, smtp):
    inbox, mail = smtp
    set_contacts(central_db)
    lend_all(make_kiosk("k1"))
    outcome = run_chase(
        central_db.factory,
        POLICY,
        SmtpMailer(mail),
        NOW,
        school="阳光小学",
        return_hint=HINT,
        record_sms=True,
    )
    # Parents' stage (5 open days): SX00001 (7), SX00006 (6), SX00010 (5, no contact).
    assert outcome.sent == 2 and not outcome.failed
    assert sorted(r for rcpts in inbox.recipients for r in rcpts) == [
        "wang.parent@example.cn",
        "zhang.parent@example.cn",
    ]
    by_to = {m["To"]: m for m in inbox.messages}
    zhang = by_to["zhang.parent@example.cn"]
    assert zhang["Subject"] == "【阳光小学】催还通知：《草房子》已超期7天"
    body = zhang.get_content()
    assert "张小明（三年级2班）" in body
    assert "《草房子》（图书条码 SX00001）" in body
    assert "应还日期是2026年11月16日" in body and "已经超期7天" in body
    assert HINT in body
    assert "20260001" not in body  # never the card number
    assert [r.item_barcode for r in outcome.plan.no_contact] == ["SX00010"]
    assert outcome.sms_recorded == []  # 李华's book is 4 days late: not the parents' stage yet

    # Again the same day: nothing is sent twice.
    again = run_chase(
        central_db.factory, POLICY, SmtpMailer(mail), NOW, school="阳光小学", return_hint=HINT
    )
    assert again.sent == 0 and len(inbox.messages) == 2
    assert notices(central_db) == [
        ("parents", "email", "wang.parent@example.cn", "sent"),
        ("parents", "email", "zhang.parent@example.cn", "sent"),
    ]


def test_a_book_returned_at_a_kiosk_between_runs_is_not_chased(
    central_db, library, make_kiosk, client, smtp
):
    inbox, mail = smtp
    set_contacts(central_db)
    k1 = make_kiosk("k1")
    events = lend_all(k1)
    # Monday: 王芳's book is 4 open days late, below the parents' stage.
    monday = local("2026-11-23")
    run_chase(central_db.factory, POLICY, SmtpMailer(mail), monday, school="S", return_hint=HINT)
    assert [m["To"] for m in inbox.messages] == ["zhang.parent@example.cn"]
    # Another kiosk takes 王芳's book back; its push is stored, but no worker has applied it:
    # the chase applies it first.
    k2 = SimKiosk("k2", _token(central_db, "k2"), client)
    k2.checkin(events["SX00006"], local("2026-11-24"))
    assert k2.push().status_code == 200
    outcome = run_chase(
        central_db.factory, POLICY, SmtpMailer(mail), NOW, school="S", return_hint=HINT
    )
    assert outcome.ledger_events == 1 and outcome.sent == 0
    assert [m["To"] for m in inbox.messages] == ["zhang.parent@example.cn"]


def _token(central_db: CentralDB, kiosk_id: str) -> str:
    from central.intake import register_kiosk

    with central_db.factory.begin() as s:
        _, token = register_kiosk(s, kiosk_id, kiosk_id, NOW)
    return token


def test_a_refused_delivery_is_tried_again_next_run(central_db, library, make_kiosk, smtp):
    inbox, mail = smtp
    set_contacts(central_db)
    lend_all(make_kiosk("k1"))
    down = MailSettings(
        host="127.0.0.1", port=free_port(), starttls=False, from_address="a@school.edu.cn"
    )
    first = run_chase(
        central_db.factory, POLICY, SmtpMailer(down), NOW, school="S", return_hint=HINT
    )
    assert first.sent == 0 and len(first.failed) == 2
    assert {status for *_, status in notices(central_db)} == {NoticeStatus.FAILED}
    second = run_chase(
        central_db.factory, POLICY, SmtpMailer(mail), NOW, school="S", return_hint=HINT
    )
    assert second.sent == 2 and len(inbox.messages) == 2
    # Without a mail server nothing is claimed: the parents wait for one.
    with central_db.factory.begin() as s:
        s.execute(OverdueNotice.__table__.delete())
    third = run_chase(central_db.factory, POLICY, NullMailer(), NOW, school="S", return_hint=HINT)
    assert third.plan.email_unavailable and third.plan.emails == [] and notices(central_db) == []


def test_dry_run_records_nothing(central_db, library, make_kiosk, smtp):
    inbox, mail = smtp
    set_contacts(central_db)
    lend_all(make_kiosk("k1"))
    outcome = run_chase(
        central_db.factory,
        POLICY,
        SmtpMailer(mail),
        NOW,
        school="S",
        return_hint=HINT,
        dry_run=True,
    )
    assert len(outcome.plan.emails) == 2 and outcome.sent == 0
    assert inbox.messages == [] and notices(central_db) == []


def test_sms_export_rows_and_spreadsheet_safety(central_db, library, make_kiosk):
    set_contacts(central_db)
    lend_all(make_kiosk("k1"))
    later = local("2026-11-27")  # 李华's book: 6 open days late, parents' stage
    outcome = run_chase(
        central_db.factory,
        POLICY,
        NullMailer(),
        later,
        school="阳光小学",
        return_hint=HINT,
        record_sms=True,
    )
    assert [r.item_barcode for r in outcome.sms_recorded] == ["SX00004"]
    text = sms_csv(outcome.sms_recorded, school="阳光小学")
    assert text.startswith("\ufeff家长电话,短信内容")
    # "+86…" would start a formula in Excel/WPS: kept as text.
    assert "'+8613800000002,【阳光小学】李华同学借阅的《" in text
    assert notices(central_db) == [("parents", "sms", "+8613800000002", "sent")]
    # Recorded once: the next export of the same day has nothing new.
    again = run_chase(
        central_db.factory,
        POLICY,
        NullMailer(),
        later,
        school="阳光小学",
        return_hint=HINT,
        record_sms=True,
    )
    assert again.sms_recorded == []


def pdf_text(data: bytes, tmp_path: Path) -> str:
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext missing: run scripts/system-deps.sh pdf"
    path = tmp_path / "slip.pdf"
    path.write_bytes(data)
    return subprocess.run(
        [pdftotext, "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_class_slip_pdf_reads_back(central_db, library, make_kiosk, tmp_path):
    lend_all(make_kiosk("k1"))
    with central_db.factory() as s:
        groups = group_by_class(
            r for r in overdue_rows(s, POLICY, NOW) if r.days_overdue >= POLICY.class_list_days
        )
    data = class_slip_pdf(groups, school="阳光小学", today=dt.date(2026, 11, 25), threshold_days=3)
    text = pdf_text(data, tmp_path)
    pages = text.split("\f")
    assert "阳光小学图书馆 催还单" in pages[0] and "三年级2班" in pages[0]
    assert "张小明" in pages[0] and "草房子" in pages[0] and "7天" in pages[0]
    assert "李华" in pages[0]  # 4 days: on the list from 3
    assert "四年级1班" in pages[1] and "王芳" in pages[1]
    assert "五年级3班" in pages[2] and "Emily Chen" in pages[2]
    assert "20260001" not in text


def test_notice_rows_are_one_per_loan_and_stage(central_db, library, make_kiosk):
    lend_all(make_kiosk("k1"))
    from sqlalchemy.exc import IntegrityError

    with central_db.factory() as s:
        loan_uuid = overdue_rows(s, POLICY, NOW)[0].loan_uuid
    row = dict(
        loan_uuid=loan_uuid,
        stage="parents",
        channel="email",
        recipient="x@example.cn",
        status="sent",
        at=NOW,
        days_overdue=7,
        batch="b",
        by_username="chase",
        error="",
    )
    with central_db.factory.begin() as s:
        s.add(OverdueNotice(**row))
    with pytest.raises(IntegrityError), central_db.factory.begin() as s:
        s.add(OverdueNotice(**{**row, "channel": "sms", "batch": "c"}))
    with central_db.factory() as s:
        assert s.scalar(select(func.count()).select_from(OverdueNotice)) == 1


def test_the_daily_run_waits_for_send_at_follows_the_ledger_and_runs_once(
    central_db, library, make_kiosk, client, smtp
):
    from central.chase_schedule import ChaseSchedule

    inbox, mail = smtp
    set_contacts(central_db)
    events = lend_all(make_kiosk("k1"))
    clock_at = [local("2026-11-25", 6)]
    schedule = ChaseSchedule(
        central_db.factory,
        POLICY,
        SmtpMailer(mail),
        lambda: clock_at[0],
        dt.time(7, 30),
        school="S",
        return_hint=HINT,
    )
    assert schedule.tick() is None  # 06:00: before send_at
    # The nightly push brought 王芳's return; no worker has applied it yet.
    k2 = SimKiosk("k2", _token(central_db, "k2"), client)
    k2.checkin(events["SX00006"], local("2026-11-24", 16))
    k2.push()
    clock_at[0] = local("2026-11-25", 8)
    outcome = schedule.tick()
    assert outcome is not None and outcome.ledger_events == 1
    assert [m["To"] for m in inbox.messages] == ["zhang.parent@example.cn"]
    clock_at[0] = local("2026-11-25", 15)
    assert schedule.tick() is None  # once a day
    clock_at[0] = local("2026-11-26", 8)
    assert schedule.tick() is not None and len(inbox.messages) == 1  # nothing new to send


def test_starttls_and_sign_in_as_schools_servers_want(smtp_tls, tmp_path):
    import dataclasses

    from central.mail import Letter

    inbox, mail = smtp_tls
    letter = Letter("parent@example.cn", "【阳光小学】催还通知：《草房子》已超期7天", "正文\n")
    [delivery] = SmtpMailer(mail).send([letter])
    assert delivery.error is None
    assert inbox.messages[0]["Subject"] == letter.subject
    # A server whose certificate nobody vouches for is not trusted with the password.
    [untrusted] = SmtpMailer(dataclasses.replace(mail, ca_file=None)).send([letter])
    assert untrusted.error is not None and "certificate" in untrusted.error.lower()
    (tmp_path / "wrong").write_text("not the password\n")
    wrong = dataclasses.replace(mail, password_file=tmp_path / "wrong")
    [refused] = SmtpMailer(wrong).send([letter])
    assert refused.error is not None and "sign-in" in refused.error
    assert len(inbox.messages) == 1
