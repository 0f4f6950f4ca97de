"""The console's overdue chase page (/overdue): the list, "send parents' notices now" (audited),
the SMS export and the class lists, through the real sign-in and a real SMTP server."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from central.app import create_central_app
from db.central_models import AuditEntry, OverdueNotice
from db.models import Patron
from kiosk.config import with_overrides
from tests.central.console_support import add_staff, csrf_token, signed_in
from tests.central.test_chase import lend_all, local, pdf_text


@pytest.fixture
def chase_app(central_settings, central_db, clock, smtp):
    _, mail = smtp
    settings = with_overrides(
        central_settings,
        chase={"class_list_days": 3, "parents_days": 5, "long_overdue_days": 7},
        mail={
            "host": mail.host,
            "port": mail.port,
            "starttls": False,
            "from_address": mail.from_address,
        },
        school={"name": "阳光小学"},
    )
    clock.now = local("2026-11-25")
    app = create_central_app(settings, engine=central_db.engine, clock=clock)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def overdue_library(central_db, library, make_kiosk, clock):
    add_staff(central_db, clock)
    with central_db.factory.begin() as s:
        s.execute(
            update(Patron)
            .where(Patron.student_number == "S2026001")
            .values(parent_email="zhang.parent@example.cn")
        )
        s.execute(
            update(Patron).where(Patron.student_number == "S2026003").values(parent_phone="139")
        )
    lend_all(make_kiosk("k1"))


def test_overdue_page_in_chinese_and_english(chase_app, overdue_library):
    client = signed_in(chase_app, "liu")
    page = client.get("/overdue").get_data(as_text=True)
    assert "超期催还" in page and "三年级2班" in page and "《草房子》" in page
    assert "立即发送家长通知" in page and "待发邮件 1 封" in page
    # SX00001 is 7 open days late: long overdue here, with the way to the loss case.
    assert "长期未还" in page
    assert page.index("三年级2班") < page.index("四年级1班") < page.index("五年级3班")
    english = client.get("/overdue?lang=en").get_data(as_text=True)
    assert "Overdue chase" in english and "Grade 3 Class 2" in english
    assert "20260001" not in page  # never a card number


def test_helpers_may_not_chase(chase_app, overdue_library):
    helper = signed_in(chase_app, "xiaoming")
    assert helper.get("/overdue").status_code == 403
    token = csrf_token(helper, "/")
    assert helper.post("/overdue/send", data={"csrf_token": token}).status_code == 403


def test_send_now_is_audited_and_never_twice(chase_app, overdue_library, central_db, smtp):
    inbox, _ = smtp
    client = signed_in(chase_app, "liu")
    token = csrf_token(client, "/overdue")
    response = client.post("/overdue/send", data={"csrf_token": token})
    assert response.status_code == 302
    assert [m["To"] for m in inbox.messages] == ["zhang.parent@example.cn"]
    assert "《草房子》已超期7天" in inbox.messages[0]["Subject"]
    assert "家长邮件已发送 1 封，失败 0 封。" in client.get("/overdue").get_data(as_text=True)
    client.post("/overdue/send", data={"csrf_token": token})
    assert len(inbox.messages) == 1
    with central_db.factory() as s:
        actions = [a.action for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions.count("chase.send") == 2
        notice = s.scalar(select(OverdueNotice))
        assert notice is not None and notice.by_username == "liu"
    # Without the CSRF token nothing is sent.
    assert client.post("/overdue/send").status_code == 400


def test_sms_export_and_class_list(chase_app, overdue_library, central_db, tmp_path):
    client = signed_in(chase_app, "liu")
    token = csrf_token(client, "/overdue")
    csv_reply = client.post("/overdue/sms.csv", data={"csrf_token": token})
    assert csv_reply.mimetype == "text/csv"
    text = csv_reply.get_data().decode("utf-8-sig")
    assert text.splitlines()[1].startswith("139,【阳光小学】王芳同学借阅的《")
    assert client.post("/overdue/sms.csv", data={"csrf_token": token}).status_code == 302

    pdf = client.post("/overdue/slips.pdf", data={"csrf_token": token, "class": "3-2"})
    assert pdf.mimetype == "application/pdf"
    slip = pdf_text(pdf.get_data(), tmp_path)
    assert "三年级2班" in slip and "张小明" in slip and "四年级" not in slip
    with central_db.factory() as s:
        stages = sorted((n.stage, n.channel) for n in s.scalars(select(OverdueNotice)))
    assert stages == [("class_list", "print"), ("class_list", "print"), ("parents", "sms")]


def test_overdue_json_needs_the_token_or_export(chase_app, overdue_library):
    url = "/api/v1/reports/overdue?as_of=2026-11-25"
    assert signed_in(chase_app, "xiaoming").get(url).status_code == 401  # helpers export nothing
    rows = signed_in(chase_app, "liu").get(url).get_json()["rows"]
    assert [r["item_barcode"] for r in rows][:2] == ["SX00001", "SX00004"]
