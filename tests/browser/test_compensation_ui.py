"""Lost and damaged books walked in real Chromium (zh and en, 1366x768 and 1920x1080): a copy lent
at the desk is marked lost, the payment recorded, the receipt printed, and a kiosk's next pull
shows the copy lost; a helper sees it all and changes nothing. Screenshots land in screenshots/ (git-ignored) and are looked at."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.auth import add_user
from central.compensation import change_copy
from central.desk import check_out
from central.intake import register_kiosk
from db.central_models import CompensationCase
from db.engine import make_engine, make_session_factory
from db.migrate import upgrade
from db.models import Item, Loan, Patron, Title
from kiosk.circulation.compensation import CompensationPolicy
from kiosk.circulation.states import CopyEvent
from kiosk.policies import loan_policy
from kiosk.services.demo import seed_demo_library
from kiosk.sync.client import CentralClient
from kiosk.sync.worker import sync_once
from tests.browser.central_server import served_central, sign_in
from tests.central.console_support import PASSWORD
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
SIZES = {"1366": {"width": 1366, "height": 768}, "1920": {"width": 1920, "height": 1080}}
SCHOOL = "北京市书香实验小学"


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The central with the demo library, a librarian and a helper, and 《草房子》 lent to 李华
    at the desk; served on a free port by a thread."""
    clock = FakeClock()
    with served_central(tmp_path, clock, school={"name": SCHOOL}) as central:
        factory = central.factory
        with factory.begin() as s:
            seed_demo_library(s, clock())
            add_user(s, "liu", PASSWORD, "librarian", clock())
            add_user(s, "xiaoming", PASSWORD, "helper", clock())
        with factory.begin() as s:
            copy = s.scalar(select(Item).where(Item.barcode == "SX00001"))
            student = s.scalar(select(Patron).where(Patron.student_number == "S2026002"))
            assert copy is not None and student is not None
            s.get(Title, copy.title_id).price_fen = 2550  # type: ignore[union-attr]
            assert check_out(s, student, copy, loan_policy(central.settings), clock()).changed
        clock.advance(days=3)
        yield central.url, factory


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=SCREENSHOTS / f"{name}-{size}.png")


def fits_the_width(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_librarian_marks_a_lent_copy_lost_records_payment_and_prints_the_receipt(
    chromium: Any, central: tuple[str, Any], tmp_path: Path
):
    base, factory = central
    context = chromium.new_context(viewport=SIZES["1366"])
    page = context.new_page()
    page.set_default_timeout(5000)
    sign_in(page, base, "liu", "/copies/SX00001/state")
    assert "李华" in page.inner_text("dl.facts")
    shoot(page, "loss-copy-on-loan-zh")
    page.fill("form.desk-ops input[name=note]", "家长说丢在公交车上")
    page.click("button[value=marked_lost]")
    page.wait_for_url(f"{base}/compensation/*")
    case_url = page.url
    assert "¥38.25" not in page.inner_text("main")  # factor 1.0 by default: the price itself
    assert "¥25.50" in page.inner_text("dl.facts")
    assert "待缴" in page.inner_text("h1")
    shoot(page, "loss-case-open-zh")
    page.fill("form.settle input[name=note]", "现金")
    page.click("button[value=pay]")
    page.wait_for_url(case_url)
    assert "已缴" in page.inner_text("h1")
    assert "已登记" in page.inner_text("p.flash")
    assert fits_the_width(page)
    shoot(page, "loss-case-paid-zh")
    page.goto(f"{case_url}?lang=en")
    assert "Paid" in page.inner_text("h1") and "Print receipt (PDF)" in page.inner_text("main")
    shoot(page, "loss-case-paid-en")
    page.goto(f"{base}/copies/SX00001/state")
    assert "Lost" in page.inner_text("dl.facts") and "Found" in page.inner_text("form.desk-ops")
    shoot(page, "loss-copy-lost-en")
    page.goto(f"{base}/compensation?status=all&lang=zh")
    assert "李华" in page.inner_text("table.cases")
    assert fits_the_width(page)
    shoot(page, "loss-list-zh")

    receipt = page.request.get(f"{case_url}/receipt.pdf")
    assert receipt.status == 200 and receipt.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(receipt.body())
    text = subprocess.run(
        [shutil.which("pdftotext") or "pdftotext", str(pdf), "-"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for expected in (SCHOOL, "李华", "三年级2班", "《草房子》", "SX00001", "¥25.50 元", "已缴"):
        assert expected in text, expected
    # The receipt as a picture, to look at.
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "110",
            "-singlefile",
            str(pdf),
            str(SCREENSHOTS / "loss-receipt"),
        ],
        check=True,
        timeout=60,
    )
    with factory() as s:
        case = s.scalar(select(CompensationCase))
        assert case is not None and (case.status, case.settled_by) == ("paid", "liu")
    context.close()

    # A kiosk, after its next pull, shows the copy lost and the desk's loan ended.
    with factory.begin() as s:
        _, token = register_kiosk(s, "kiosk-1", "kiosk-1", FakeClock()())
    engine = make_engine(tmp_path / "kiosk.sqlite3")
    upgrade(engine)
    kiosk_db = make_session_factory(engine)
    assert sync_once(kiosk_db, CentralClient(base, "kiosk-1", token, 5.0), 200, FakeClock()).ok
    with kiosk_db() as s:
        assert s.scalar(select(Item.status).where(Item.barcode == "SX00001")) == "lost"
        loan = s.scalar(select(Loan).join(Item).where(Item.barcode == "SX00001"))
        assert loan is not None and loan.kiosk_id == "desk" and loan.returned_at is not None
    engine.dispose()


def test_a_helper_sees_the_case_but_has_no_buttons(chromium: Any, central: tuple[str, Any]):
    base, factory = central
    with factory.begin() as s:
        item = s.scalar(select(Item).where(Item.barcode == "SX00001"))
        assert item is not None
        change = change_copy(
            s, item, CopyEvent.MARKED_LOST, at=FakeClock()(), by="liu", policy=CompensationPolicy()
        )
        s.flush()
        assert change.case is not None
        case_id = change.case.id
    context = chromium.new_context(viewport=SIZES["1366"])
    page = context.new_page()
    page.set_default_timeout(5000)
    sign_in(page, base, "xiaoming", f"/compensation/{case_id}")
    assert page.locator("form.settle").count() == 0
    assert page.locator("text=打印收据").count() == 0
    shoot(page, "loss-case-helper-zh")
    page.goto(f"{base}/copies/SX00001/state")
    assert page.locator("form.desk-ops").count() == 0
    context.close()
