"""The records pages in real Chromium: find a student by two characters, block the card with a
reason, and a kiosk that pulls refuses the card with that reason; screenshots of every page."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.auth import add_user
from central.desk import check_out
from central.intake import register_kiosk
from db.engine import make_engine, make_session_factory
from db.migrate import upgrade
from db.models import Item, Patron, Title
from kiosk.app import create_app
from kiosk.policies import loan_policy
from kiosk.services.demo import seed_demo_library
from kiosk.sync.client import CentralClient
from kiosk.sync.pull import pull_changes
from tests.browser.central_server import ServedCentral, served_central, sign_in
from tests.central.conftest import drain_ledger
from tests.central.console_support import PASSWORD
from tests.conftest import FakeClock, make_settings

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
SIZES = {"1366x768": (1366, 768), "1920x1080": (1920, 1080)}


@pytest.fixture
def central(tmp_path: Path) -> Iterator[ServedCentral]:
    """The central with the demo library, a librarian and a helper."""
    with served_central(tmp_path, FakeClock()) as central:
        with central.factory.begin() as s:
            add_user(s, "liu", PASSWORD, "librarian", central.clock())
            add_user(s, "xiaoming", PASSWORD, "helper", central.clock())
            seed_demo_library(s, central.clock())
        yield central


@pytest.fixture
def kiosk_token(central: ServedCentral) -> str:
    """The token of kiosk k1, registered at the central."""
    with central.factory.begin() as s:
        _, token = register_kiosk(s, "k1", "k1", central.clock())
    return token


def _shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def _kiosk_scan(tmp_path: Path, central: ServedCentral, token: str, card: str) -> dict[str, Any]:
    """Pull everything new into a kiosk's own database, then scan `card` at that kiosk."""
    settings = make_settings(tmp_path, kiosk={"id": "k1", "language": "zh"})
    engine = make_engine(settings.database.path)
    upgrade(engine)
    factory = make_session_factory(engine)
    pull_changes(factory, CentralClient(central.url, "k1", token, 5.0))
    app = create_app(settings, engine=engine, clock=FakeClock())
    reply = app.test_client().post("/api/scan", json={"code": card}).get_json()
    engine.dispose()
    assert isinstance(reply, dict)
    return reply


def test_find_a_student_by_two_characters_block_and_the_kiosk_refuses(
    console: Any, central: ServedCentral, kiosk_token: str, tmp_path: Path
):
    before = _kiosk_scan(tmp_path, central, kiosk_token, "20260004")
    assert before["action"] == "signed_in"
    base = central.url
    sign_in(console, base, "liu")
    box = console.locator("header input[name=q]")
    box.fill("欧阳")
    box.press("Enter")
    console.wait_for_url(re.compile(r"/find\?q="))
    assert console.locator("#found-students").inner_text().startswith("学生（1）")
    _shoot(console, "records-find-students-zh-1366x768")
    console.click("text=欧阳娜娜")
    console.wait_for_url(re.compile(r"/patrons/\d+$"))
    assert console.locator("h1").inner_text().startswith("欧阳娜娜")
    reason = "《草房子》遗失，请家长来图书馆"
    console.fill("input[name=reason]", reason)
    console.click("button:has-text('停借')")
    console.wait_for_selector(".blocked-reason")
    assert "已停借。自助机下次同步后会拒绝这张卡。" in console.locator(".flash").inner_text()
    assert reason in console.locator(".blocked-reason").inner_text()
    _shoot(console, "records-patron-blocked-zh-1366x768")
    after = _kiosk_scan(tmp_path, central, kiosk_token, "20260004")
    assert after["action"] == "refused" and after["reason"] == "card_blocked"
    assert after["message"] == f"你的借书卡暂停借书（{reason}）。请找图书管理员。"


def test_screenshots_of_every_records_page(console: Any, central: ServedCentral, tmp_path: Path):
    """Every records page at both sizes in both languages, for a person to look at."""
    # Something on loan (overdue) and held, so every section of the pages has rows.
    with central.factory.begin() as s:
        patron = s.scalar(select(Patron).where(Patron.student_number == "S2026002"))
        item = s.scalar(select(Item).where(Item.barcode == "SX00001"))
        assert patron is not None and item is not None
        patron.parent_name, patron.parent_phone = "李明", "138 0013 8000"
        lent_at = FakeClock()() - dt.timedelta(days=20)
        policy = loan_policy(make_settings(tmp_path))
        assert check_out(s, patron, item, policy, lent_at).action == "checked_out"
        li, copy = patron.id, item.id
        book = s.scalar(select(Title.id).where(Title.title == "青铜葵花"))
    drain_ledger(central.factory, FakeClock())
    base = central.url
    sign_in(console, base, "liu")
    pages = {
        "find": "/find?q=曹",
        "patron": f"/patrons/{li}",
        "item": f"/items/{copy}",
        "title": f"/titles/{book}",
    }
    for size, (width, height) in SIZES.items():
        console.set_viewport_size({"width": width, "height": height})
        for language in ("zh", "en"):
            for name, path in pages.items():
                joiner = "&" if "?" in path else "?"
                console.goto(f"{base}{path}{joiner}lang={language}")
                # Nothing wider than the window: the school PC must not scroll sideways.
                overflow = console.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, (name, size, language, overflow)
                _shoot(console, f"records-{name}-{language}-{size}")
    console.goto(f"{base}/titles/{book}?lang=zh")
    assert "陈思远" in console.locator("#holds ~ table, section:has(#holds)").first.inner_text()
    console.set_viewport_size({"width": 1366, "height": 768})
    console.context.clear_cookies()
    sign_in(console, base, "xiaoming")
    console.goto(f"{base}/patrons/{li}?lang=zh")
    assert console.locator("text=家长联系方式").count() == 0
    assert console.locator("input[name=reason]").count() == 0
    _shoot(console, "records-patron-helper-zh-1366x768")
