"""The hold-shelf list with hundreds of rows in real Chromium: a page of each section, its total,
and "next" to the following rows. Screenshots at 1366x768 (zh) and 1920x1080 (en)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.central_server import ServedCentral, sign_in
from tests.browser.test_desk_ui import central  # noqa: F401 - the fixture
from tests.central.test_hold_shelf_pages import fill_shelf

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


def test_the_librarian_pages_through_the_to_pull_list(
    central: ServedCentral,  # noqa: F811 - the fixture imported above
    page: Any,
) -> None:
    with central.factory.begin() as s:
        fill_shelf(s, central.clock())
    SCREENSHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in(page, central.url, "liu", "/hold-shelf")
    assert "需从书架取下的书（121）" in page.inner_text("#to-pull")
    first = page.inner_text("table.hold-shelf >> nth=0")
    assert "A000" in first and "A049" in first and "A050" not in first
    page.screenshot(path=str(SCREENSHOTS / "hold-shelf-pages-1366-zh.png"))
    page.click("a[href*='pull_page=2']")
    page.wait_for_url("**/hold-shelf?pull_page=2*")
    second = page.inner_text("table.hold-shelf >> nth=0")
    assert "A050" in second and "A099" in second and "A049" not in second
    assert "第 51–100 条，共 121 条；第 2 / 3 页" in page.inner_text("main")
    page.screenshot(path=str(SCREENSHOTS / "hold-shelf-pages-2-1366-zh.png"))
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{central.url}/hold-shelf?shelf_page=2&lang=en")
    assert "51–70 of 70, page 2 of 2" in page.inner_text("main")
    page.screenshot(path=str(SCREENSHOTS / "hold-shelf-pages-1920-en.png"), full_page=True)
