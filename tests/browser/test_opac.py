"""The public catalogue (/opac) on a phone: 360x800 in headless Chromium, screenshots looked at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.services.demo import seed_demo_library
from tests.browser.central_server import served_central
from tests.browser.test_kiosk_ui import SCREENSHOTS
from tests.conftest import FakeClock

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=5000)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PHONE = {"width": 360, "height": 800}


@pytest.fixture
def central_url(tmp_path: Path) -> Iterator[str]:
    """A central server with the demo library, over real HTTP on a free port."""
    with served_central(tmp_path, FakeClock()) as central:
        with central.factory.begin() as session:
            seed_demo_library(session, central.clock())
        yield central.url


@pytest.fixture
def phone(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    yield page
    context.close()


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


def test_opac_on_a_phone(central_url: str, phone: Any) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = phone
    page.goto(central_url + "/opac")
    expect(page.locator("h1, .intro").first).to_be_visible()
    no_sideways_scroll(page)
    page.screenshot(path=SCREENSHOTS / "opac-start-360x800.png")

    # Typed on the phone's own keyboard, sent by the form: no JavaScript on the page.
    page.fill("#q", "曹文轩")
    page.tap("button[type=submit]")
    results = page.locator(".results > li")
    expect(results).to_have_count(2)
    expect(results.first.locator(".title")).to_have_text("草房子")
    expect(results.first.locator(".shelves")).to_contain_text("在架 3 本 / 共 3 本")
    no_sideways_scroll(page)
    box = page.locator("button[type=submit]").bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    assert box["height"] >= 44, "the search button is too small to tap"
    page.screenshot(path=SCREENSHOTS / "opac-results-360x800.png", full_page=True)

    results.first.locator(".title").tap()
    expect(page.locator("h1")).to_have_text("草房子")
    expect(page.locator(".facts")).to_contain_text("I287.45/C12")
    expect(page.locator(".shelves")).to_contain_text("Shelf I")
    no_sideways_scroll(page)
    page.screenshot(path=SCREENSHOTS / "opac-title-360x800.png", full_page=True)

    page.goto(central_url + "/opac?q=" + "量子力学")
    expect(page.locator(".empty")).to_contain_text("没有找到")
    assert page.evaluate("document.scripts.length") == 0
