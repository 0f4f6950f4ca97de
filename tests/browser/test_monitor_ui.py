"""The monitor in real Chromium: a kiosk whose database stops working shows in its cells as the
page refreshes itself (console.js), and clears when the kiosk reports it working again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from central.intake import record_heartbeat, register_kiosk
from tests.browser.test_console_import_ui import PASSWORD, SCREENSHOTS, central  # noqa: F401
from tests.conftest import FakeClock


def heartbeat(factory: Any, db_ok: bool) -> None:
    now = FakeClock()()
    with factory.begin() as s:
        record_heartbeat(s, "k1", {"clock": now.isoformat(), "db_ok": db_ok}, now)


def test_the_monitor_shows_a_kiosk_database_that_refuses_writes(
    page: Any,
    central: tuple[str, Any],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    base, factory = central
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with factory.begin() as s:
        register_kiosk(s, "k1", "图书馆一楼", FakeClock()())
    heartbeat(factory, True)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{base}/")
    page.fill("input[name=username]", "liu")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("tr[data-kiosk=k1], tr:has-text('k1')")
    assert page.locator("[data-db=down]").count() == 0
    heartbeat(factory, False)
    # Drawn by console.js from /api/v1/kiosks on its next refresh, not by a reload.
    page.wait_for_selector("tr[data-kiosk=k1] [data-db=down]", timeout=15_000)
    assert "数据库故障" in page.inner_text("tr[data-kiosk=k1]")
    page.screenshot(path=SCREENSHOTS / "monitor-db-down-1366.png")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.screenshot(path=SCREENSHOTS / "monitor-db-down-1920.png")
    heartbeat(factory, True)
    page.wait_for_selector("tr[data-kiosk=k1] [data-db=down]", state="detached", timeout=15_000)
