"""Reserving a book from the public catalogue on a phone: 360x800 in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from db.models import Hold, Item, ItemStatus, Patron, Title
from kiosk.services.demo import isbn13_for, seed_demo_library
from kiosk.services.opac_pin import hash_pin
from tests.browser.central_server import served_central
from tests.browser.test_kiosk_ui import SCREENSHOTS
from tests.browser.test_opac import PHONE, no_sideways_scroll, phone  # noqa: F401  (fixture)
from tests.conftest import FakeClock

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=5000)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PIN = "482913"


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[str, Any, int]]:
    """A central with OPAC holds on and the demo library; 窗边的小豆豆's one copy is out and
    张小明 (card 20260001) has a PIN."""
    with served_central(tmp_path, FakeClock(), opac={"holds": True}) as central:
        with central.factory.begin() as session:
            seed_demo_library(session, central.clock())
            session.scalars(
                select(Item).where(Item.barcode == "SX00010")
            ).one().status = ItemStatus.ON_LOAN
            patron = session.scalars(select(Patron).where(Patron.card_barcode == "20260001")).one()
            patron.opac_pin_hash = hash_pin(PIN)
            title_id = session.scalars(select(Title.id).where(Title.isbn13 == isbn13_for(5))).one()
        yield central.url, central.factory, title_id


def test_reserving_on_a_phone(central: tuple[str, Any, int], phone: Any) -> None:  # noqa: F811
    base, factory, title_id = central
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = phone
    page.goto(f"{base}/opac/titles/{title_id}")
    form = page.locator(".hold-form")
    expect(form).to_contain_text("预约")
    no_sideways_scroll(page)
    page.screenshot(path=SCREENSHOTS / "opac-hold-form-360x800.png", full_page=True)

    # A wrong PIN: one sentence, nothing about the student.
    page.fill("#hold-who", "20260001")
    page.fill("#hold-secret", "000000")
    form.locator("button[type=submit]").tap()
    expect(page.locator(".hold-message")).to_contain_text("卡号或密码不对")
    expect(page.locator("body")).not_to_contain_text("张小明")
    page.screenshot(path=SCREENSHOTS / "opac-hold-wrong-360x800.png", full_page=True)

    page.locator(".back a").tap()
    page.fill("#hold-who", "20260001")
    page.fill("#hold-secret", PIN)
    button = page.locator(".hold-form button[type=submit]")
    box = button.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    assert box["height"] >= 44, "the reserve button is too small to tap"
    button.tap()
    message = page.locator(".hold-message")
    expect(message).to_contain_text("已预约")
    expect(message).to_contain_text("服务台的预约书架")
    expect(page.locator("h1")).to_have_text("窗边的小豆豆")
    no_sideways_scroll(page)
    assert page.evaluate("document.scripts.length") == 0
    page.screenshot(path=SCREENSHOTS / "opac-hold-placed-360x800.png", full_page=True)
    with factory() as session:
        assert session.scalars(select(Hold.status).where(Hold.title_id == title_id)).all() == [
            "waiting"
        ]
