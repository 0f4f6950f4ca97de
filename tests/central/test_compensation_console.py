"""The console's lost/damaged pages: a librarian marks a lent copy lost, records the payment and
prints the receipt; a helper sees but changes nothing; every change is audited."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from central.app import create_central_app
from db.central_models import AuditEntry, CompensationCase
from db.models import Item, Title
from kiosk.config import Settings, with_overrides
from tests.central.conftest import CentralDB, SimKiosk, add_kiosk, drain_ledger
from tests.central.console_support import add_staff, signed_in
from tests.conftest import FakeClock

SCHOOL = "北京市书香实验小学"


@pytest.fixture
def app(central_settings: Settings, central_db: CentralDB, clock: FakeClock, library) -> Flask:
    settings = with_overrides(central_settings, school={"name": SCHOOL})
    app = create_central_app(settings, engine=central_db.engine, clock=clock)
    app.config["TESTING"] = True
    add_staff(central_db, clock)
    with central_db.factory.begin() as s:
        item = s.scalar(select(Item).where(Item.barcode == "SX00001"))
        assert item is not None
        s.get(Title, item.title_id).price_fen = 2550  # type: ignore[union-attr]
    return app


def lend(app: Flask, central_db: CentralDB, clock: FakeClock, barcode: str = "SX00001") -> SimKiosk:
    kiosk = SimKiosk(
        "kiosk-1",
        add_kiosk(central_db, "kiosk-1", clock),
        app.test_client(),
        after_push=lambda: drain_ledger(central_db.factory, clock),
    )
    kiosk.checkout(barcode, "S2026002", clock())
    assert kiosk.push().status_code == 200
    return kiosk


def token(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page) or re.search(
        r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', page
    )
    assert match, page
    return match.group(1)


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "receipt.pdf"
    path.write_bytes(data)
    pdftotext = shutil.which("pdftotext")
    assert pdftotext, "pdftotext missing: run scripts/system-deps.sh pdf"
    return subprocess.run(
        [pdftotext, str(path), "-"], capture_output=True, check=True, timeout=60
    ).stdout.decode()


def test_librarian_marks_lost_records_payment_and_prints_the_receipt(
    app, central_db, clock, tmp_path
):
    kiosk = lend(app, central_db, clock)
    librarian = signed_in(app, "liu")
    page = librarian.get("/copies/SX00001/state").get_data(as_text=True)
    assert "标记遗失" in page and "李华" in page and "¥25.50" in page
    response = librarian.post(
        "/copies/SX00001/state",
        data={
            "operation": "marked_lost",
            "note": "家长说丢在公交车上",
            "csrf_token": token(librarian, "/copies/SX00001/state"),
        },
    )
    assert response.status_code == 302
    case_url = response.headers["Location"]
    assert re.fullmatch(r"/compensation/\d+", case_url)
    case_page = librarian.get(case_url).get_data(as_text=True)
    assert "¥25.50" in case_page and "待缴" in case_page and "登记缴款" in case_page
    assert "免除" in case_page  # librarians may waive
    response = librarian.post(
        f"{case_url}/settle",
        data={"action": "pay", "note": "现金", "csrf_token": token(librarian, case_url)},
    )
    assert response.status_code == 302
    assert "已缴" in librarian.get(case_url).get_data(as_text=True)
    receipt = librarian.get(f"{case_url}/receipt.pdf")
    assert receipt.status_code == 200 and receipt.mimetype == "application/pdf"
    text = pdf_text(receipt.data, tmp_path)
    for expected in (
        SCHOOL,
        "图书赔偿收据",
        "李华",
        # The class as the console writes every class, whatever the roster wrote (三年级二班).
        "三年级2班",
        "SX00001",
        "¥25.50 元",
        "已缴",
        "liu",
        "现金",
    ):
        assert expected in text, expected
    assert "20260002" not in text  # never the card number
    with central_db.factory() as s:
        case = s.scalar(select(CompensationCase))
        assert case is not None and case.status == "paid"
        actions = [a for (a,) in s.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
        assert {"item.lost", "compensation.open", "compensation.paid"} <= set(actions)
        assert all("20260002" not in str(e.detail) for e in s.scalars(select(AuditEntry)))
    # The kiosk learns the copy is lost on its next pull.
    changes = kiosk.pull().get_json()["changes"]
    item = next(c for c in changes if c["entity"] == "item" and c["key"] == "SX00001")
    assert item["data"]["status"] == "lost"


def test_a_helper_sees_the_copy_and_the_case_but_changes_and_prints_nothing(app, central_db, clock):
    lend(app, central_db, clock)
    librarian = signed_in(app, "liu")
    response = librarian.post(
        "/copies/SX00001/state",
        data={"operation": "marked_lost", "csrf_token": token(librarian, "/copies/SX00001/state")},
    )
    case_url = response.headers["Location"]
    helper = signed_in(app, "xiaoming", address="10.1.2.4")
    page = helper.get("/copies/SX00001/state").get_data(as_text=True)
    assert "遗失" in page and "标记遗失" not in page and "注销" not in page
    assert (
        helper.post(
            "/copies/SX00001/state",
            data={"operation": "found", "csrf_token": token(helper, "/copies/SX00001/state")},
        ).status_code
        == 403
    )
    case_page = helper.get(case_url).get_data(as_text=True)
    assert "登记缴款" not in case_page and "免除" not in case_page and "打印收据" not in case_page
    assert helper.get(f"{case_url}/receipt.pdf").status_code == 403
    assert (
        helper.post(
            f"{case_url}/settle", data={"action": "waive", "csrf_token": token(helper, case_url)}
        ).status_code
        == 403
    )
    with central_db.factory() as s:
        assert s.scalar(select(Item.status).where(Item.barcode == "SX00001")) == "lost"
        assert s.scalar(select(CompensationCase.status)) == "open"


def test_a_refused_change_says_why_and_changes_nothing(app, central_db, clock):
    librarian = signed_in(app, "liu")
    response = librarian.post(
        "/copies/SX00002/state",
        data={"operation": "repaired", "csrf_token": token(librarian, "/copies/SX00002/state")},
        follow_redirects=True,
    )
    assert "“在架”的书不能这样更改" in response.get_data(as_text=True)
    with central_db.factory() as s:
        assert s.scalar(select(Item.status).where(Item.barcode == "SX00002")) == "available"


def test_the_pages_in_english(app, central_db, clock):
    lend(app, central_db, clock)
    librarian = signed_in(app, "liu")
    page = librarian.get("/copies/SX00001/state?lang=en").get_data(as_text=True)
    assert "Mark lost" in page and "On loan to" in page
    assert "Lost and damaged books" in librarian.get("/compensation?lang=en").get_data(as_text=True)
