"""The report pages in real Chromium: each report at 1366x768 and 1920x1080, Chinese and English, chart shown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.auth import add_user
from tests.browser.central_server import served_central, sign_in
from tests.central.console_support import PASSWORD
from tests.central.report_history import build_history
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots" / "reports"
PAGES = [
    ("class-ranking", "period=2026-T1"),
    ("popular", "period=2026-2027"),
    ("new-books", "since=2026-09-01"),
    ("circulation", "from=2026-09-01&to=2027-03-31&by=month"),
    ("year-summary", "period=2026-2027"),
]


@pytest.fixture
def central(tmp_path: Path) -> Iterator[str]:
    clock = FakeClock(dt.datetime(2027, 3, 31, 4, 0, tzinfo=dt.UTC))
    with served_central(tmp_path, clock) as central:
        with central.factory.begin() as s:
            add_user(s, "liu", PASSWORD, "librarian", clock())
            build_history(s, loans=1500, visits=800, students_per_class=12)
        yield central.url


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1920, 1080)])
def test_report_pages(chromium: Any, central: str, width: int, height: int):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(10000)
    refused: list[str] = []
    page.on(
        "console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None
    )
    try:
        sign_in(page, central, "liu", "/reports")
        assert page.locator("a.report-name").count() == 5
        for lang in ("zh", "en"):
            for name, query in PAGES:
                page.goto(f"{central}/reports/{name}?{query}&lang={lang}")
                assert page.locator("table.report").first.is_visible()
                if name != "new-books":
                    chart = page.locator("img.chart")
                    chart.wait_for()
                    page.wait_for_function("document.querySelector('img.chart').complete")
                    assert chart.evaluate("img => img.naturalWidth") > 0
                page.screenshot(
                    path=SCREENSHOTS / f"{name}-{lang}-{width}x{height}.png", full_page=False
                )
    finally:
        context.close()
    assert not refused, refused
