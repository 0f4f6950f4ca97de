"""The desk walked in real Chromium with the keyboard only, as a wedge scanner types: a helper lends
two books, takes one back, reserves the other for a second student, returns it to the hold
shelf, and the copy's time there runs out. Screenshots at 1366x768 and 1920x1080, zh and en."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.auth import add_user
from central.worker import LedgerWorker
from db.models import Hold, HoldStatus, Item, ItemStatus, Loan
from kiosk.policies import hold_policy
from kiosk.services.demo import seed_demo_library
from tests.browser.central_server import ServedCentral, served_central, sign_in
from tests.central.console_support import PASSWORD
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
SIZES = {"1366": {"width": 1366, "height": 768}, "1920": {"width": 1920, "height": 1080}}


@pytest.fixture
def central(tmp_path: Path) -> Iterator[ServedCentral]:
    """The central with the demo library, a helper and a librarian."""
    with served_central(tmp_path, FakeClock()) as central:
        with central.factory.begin() as s:
            seed_demo_library(s, central.clock())
            add_user(s, "xiaoming", PASSWORD, "helper", central.clock())
            add_user(s, "liu", PASSWORD, "librarian", central.clock())
        yield central


def wedge(page: Any, code: str) -> str:
    """Type `code` and Enter wherever the focus is, as a keyboard-wedge scanner does; the text
    of what the scan did."""
    with page.expect_navigation():
        page.keyboard.type(code)
        page.keyboard.press("Enter")
    # The scan field has the focus again, ready for the next scan.
    assert page.evaluate("document.activeElement.id") == "desk-code"
    return str(page.inner_text("#desk-result")) if page.query_selector("#desk-result") else ""


def shots(page: Any, name: str) -> None:
    """The page at both sizes, in Chinese and English (the language is switched and back)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    here = page.url
    for lang in ("zh", "en"):
        joiner = "&" if "?" in here else "?"
        page.goto(f"{here}{joiner}lang={lang}")
        for size, viewport in SIZES.items():
            page.set_viewport_size(viewport)
            page.screenshot(path=SCREENSHOTS / f"desk-{name}-{lang}-{size}.png", full_page=True)
    page.goto(f"{here}{'&' if '?' in here else '?'}lang=zh")
    page.set_viewport_size(SIZES["1366"])


def item_status(central: ServedCentral, barcode: str) -> str:
    with central.factory() as s:
        return str(s.scalar(select(Item.status).where(Item.barcode == barcode)))


def test_a_helper_at_the_desk_lends_returns_reserves_and_the_hold_expires(
    page: Any, central: ServedCentral
):
    page.set_viewport_size(SIZES["1366"])
    sign_in(page, central.url, "xiaoming", "/desk")
    assert page.evaluate("document.activeElement.id") == "desk-code"

    # Students without their card are looked for by class ...
    assert "张小明" in wedge(page, "三年级二班")
    shots(page, "find-student")
    # ... or by name: two characters find 张小明. Then two books: no mouse, only what
    # the keyboard and the scanner type.
    wedge(page, "小明")
    assert "张小明" in page.inner_text("#desk-patron-name")
    assert wedge(page, "SX00001").startswith("已借出：《草房子》，还书日期：2026年12月9日。")
    assert wedge(page, "SX00010").startswith("已借出：《窗边的小豆豆》")
    assert "在借图书（2）" in page.inner_text(".desk-patron")
    shots(page, "lent")

    # Esc: the next student; a book scanned on its own comes back and goes to the shelf.
    with page.expect_navigation():
        page.keyboard.press("Escape")
    assert page.query_selector(".desk-patron") is None
    returned = wedge(page, "SX00001")
    assert "草房子" in returned and "放回书架" in returned
    assert item_status(central, "SX00001") == ItemStatus.AVAILABLE

    # 李华 reserves 窗边的小豆豆, which 张小明 has.
    wedge(page, "20260002")
    page.fill("#desk-find", "窗边")
    with page.expect_navigation():
        page.press("#desk-find", "Enter")
    with page.expect_navigation():
        page.click(".desk-choices button")
    assert "已预约" in page.inner_text(".desk-hold-outcome")
    assert "窗边的小豆豆" in page.inner_text(".desk-holds")
    shots(page, "reserved")

    # 张小明 brings it back: it goes to the hold shelf for 李华.
    with page.expect_navigation():
        page.keyboard.press("Escape")
    back = wedge(page, "SX00010")
    assert "放到预约架：李华 (三年级2班)" in back
    shots(page, "to-hold-shelf")
    assert item_status(central, "SX00010") == ItemStatus.ON_HOLD_SHELF

    page.goto(f"{central.url}/hold-shelf")
    waiting = page.inner_text("table.hold-shelf >> nth=-1")
    assert "SX00010" in waiting and "李华" in waiting
    # 陈思远 waits for 青铜葵花 while its copies stand on the open shelf: pull one.
    assert "青铜葵花" in page.inner_text("table.hold-shelf >> nth=0")
    shots(page, "hold-shelf")

    # Nobody comes for five open days; the sweep expires the hold and the copy is reshelved.
    central.clock.advance(days=8)
    LedgerWorker(
        central.factory,
        central.clock,
        threading.Event(),
        hold_policy=hold_policy(central.settings),
    ).sweep_once()
    with central.factory() as s:
        hold = s.scalar(
            select(Hold).join(Item, Item.id == Hold.item_id).where(Item.barcode == "SX00010")
        )
        assert hold is not None and hold.status == HoldStatus.EXPIRED
    assert item_status(central, "SX00010") == ItemStatus.AVAILABLE
    sign_in(page, central.url, "liu", "/hold-shelf")
    assert "SX00010" not in page.inner_text("main")
    with central.factory() as s:
        assert s.scalar(select(Loan.kiosk_id).distinct()) == "desk"
