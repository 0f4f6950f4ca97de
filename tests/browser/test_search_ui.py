"""The find-a-book screen walked by touch in headless Chromium, in Chinese and English.

Screenshots go to test-artifacts/screenshots/search-*.png. Every wait is bounded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kiosk.services.demo import isbn13_for
from tests.browser import KioskServer
from tests.browser.test_kiosk_ui import (
    SCREENSHOTS,
    assert_no_trace,
    assert_touch_targets,
    open_kiosk,
    screen,
)

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=5000)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

SIZES = ((1024, 768), (1080, 1920))
IDLE_TIMEOUT_S = 12


@pytest.fixture
def touch_page(chromium: Any) -> Iterator[Any]:
    """A touch-screen browser context at 1024x768; a JavaScript error fails the test."""
    context = chromium.new_context(viewport={"width": 1024, "height": 768}, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(5000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the kiosk page: {errors}"


def tap_keys(page: Any, text: str) -> None:
    for char in text:
        page.tap(f"#search [data-search-key='{char}']")


def results(page: Any) -> Any:
    return page.locator("#search-results > li")


def sign_in(page: Any, kiosk: KioskServer, card: str) -> None:
    kiosk.scanner.scan(card)
    expect(screen(page, "session")).to_be_visible()
    expect(page.locator("#greeting")).not_to_be_empty()


def assert_fully_visible(page: Any, *selectors: str) -> None:
    """Each element lies wholly inside the viewport (nothing to scroll to reach it)."""
    size = page.viewport_size
    for selector in selectors:
        box = page.locator(selector).first.bounding_box()
        assert box is not None, f"{selector} is not shown"
        inside = (
            box["x"] >= 0
            and box["y"] >= 0
            and box["x"] + box["width"] <= size["width"]
            and box["y"] + box["height"] <= size["height"]
        )
        assert inside, f"{selector} is not fully on screen at {size}: {box}"


def shots(page: Any, name: str, lang: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        assert_touch_targets(page)
        assert_fully_visible(
            page,
            "#search-close",
            "#search-display",
            "#search-delete",
            "#search-clear",
            "[data-search-key='q']",
            "[data-search-key='0']",
            "#search-results > li",
        )
        page.screenshot(path=SCREENSHOTS / f"search-{name}-{width}x{height}-{lang}.png")
    page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})


@pytest.mark.parametrize(
    ("lang", "open_label", "on_shelf", "all_out", "reserve"),
    [
        ("zh", "找书", "在架 2 本", "全部借出", "预约"),
        ("en", "Find a book", "2 on the shelf", "All out on loan", "Reserve"),
    ],
)
def test_find_a_book_by_touch(
    start_kiosk: Callable[..., KioskServer],
    touch_page: Any,
    lang: str,
    open_label: str,
    on_shelf: str,
    all_out: str,
    reserve: str,
) -> None:
    page = touch_page
    kiosk = start_kiosk(language=lang)
    open_kiosk(page, kiosk)
    history_length = page.evaluate("history.length")

    # From the idle screen: pinyin initials, as they are typed.
    expect(page.locator("#search-open")).to_have_text(open_label)
    page.tap("#search-open")
    expect(page.locator("#search")).to_be_visible()
    tap_keys(page, "xwz")
    expect(page.locator("#search-display")).to_have_text("xwz")
    expect(results(page).first.locator(".result-title")).to_have_text("小王子")
    expect(results(page).first.locator(".result-available")).to_have_text(on_shelf)
    expect(results(page).first.locator(".result-call")).to_contain_text("I565.88/S45")
    expect(results(page).first.locator(".result-shelf")).to_have_text("Shelf I")
    shots(page, "pinyin", lang)

    # Digits: an ISBN, then back to nothing.
    page.tap("#search-clear")
    expect(results(page)).to_have_count(0)
    tap_keys(page, isbn13_for(1))
    expect(results(page)).to_have_count(1)
    expect(results(page).first.locator(".result-title")).to_have_text("草房子")
    for _ in range(13):
        page.tap("#search-delete")
    expect(page.locator("#search-display")).to_have_text("")
    expect(results(page)).to_have_count(0)

    # A book that is out: nobody is signed in, so nothing to reserve.
    tap_keys(page, "kcj")
    expect(results(page).first.locator(".result-title")).to_have_text("昆虫记")
    expect(results(page).first.locator(".result-available")).to_have_text(all_out)
    expect(results(page).first.locator(".result-reserve")).to_have_count(0)
    page.tap("#search-close")
    expect(page.locator("#search")).to_be_hidden()
    assert_no_trace(page, "昆虫记", "kcj")

    # Signed in, the same book offers 预约 / Reserve; a book on the shelf does not.
    sign_in(page, kiosk, "20260004")
    expect(page.locator("#search-open")).to_be_visible()
    page.tap("#search-open")
    tap_keys(page, "kcj")
    expect(results(page).first.locator(".result-reserve")).to_have_text(reserve)
    shots(page, "signed-in-out-on-loan", lang)
    page.tap("#search-clear")
    tap_keys(page, "xwz")
    expect(results(page).first.locator(".result-title")).to_have_text("小王子")
    expect(results(page).first.locator(".result-reserve")).to_have_count(0)

    # Done ends the session and the search with it.
    page.tap("#search-close")
    page.tap("#session-done")
    expect(screen(page, "done")).to_be_visible()
    expect(page.locator("#search-open")).to_be_hidden()
    assert_no_trace(page, "小王子", "xwz")
    assert page.evaluate("history.length") == history_length


def test_idle_timeout_wipes_the_search(
    start_kiosk: Callable[..., KioskServer], touch_page: Any
) -> None:
    page = touch_page
    kiosk = start_kiosk(idle_timeout_s=IDLE_TIMEOUT_S)
    open_kiosk(page, kiosk)
    history_length = page.evaluate("history.length")

    # From the idle screen: the search closes itself after the idle timeout without a touch.
    page.tap("#search-open")
    tap_keys(page, "cfz")
    expect(results(page).first).to_contain_text("草房子")
    expect(page.locator("#search")).to_be_hidden(timeout=(IDLE_TIMEOUT_S + 5) * 1000)
    expect(page.locator("#search-display")).to_have_text("")
    expect(results(page)).to_have_count(0)
    assert_no_trace(page, "草房子", "cfz")

    # Signed in: the session's timeout ends the search too, with the student.
    sign_in(page, kiosk, "20260001")
    page.tap("#search-open")
    tap_keys(page, "xyj")
    expect(results(page).first).to_contain_text("西游记")
    expect(screen(page, "idle")).to_be_visible(timeout=(IDLE_TIMEOUT_S + 8) * 1000)
    expect(page.locator("#search")).to_be_hidden()
    assert_no_trace(page, "西游记", "xyj", "小明")

    # Nothing was pushed to history; Back and Forward bring back nothing of it.
    assert page.evaluate("history.length") == history_length
    page.go_back()
    page.go_forward()
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    expect(page.locator("#search")).to_be_hidden()
    assert_no_trace(page, "西游记", "草房子")
    assert re.search(r"<output[^>]*search-display[^>]*></output>", page.content())
