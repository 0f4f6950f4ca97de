"""A full disk at the kiosk, as the student sees it: sent to the desk, nobody signed in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser import ROOT, KioskServer
from tests.faults import FullDisk, tiny_tmpfs

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=5000)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
GO_TO_DESK = {
    "zh": "本机暂时无法记录借还，请到服务台办理。",
    "en": "The kiosk can't record loans right now — please go to the desk.",
}


def open_kiosk(page: Any, kiosk: KioskServer, lang: str) -> None:
    page.goto(f"{kiosk.url}?lang={lang}")
    body = page.locator("body")
    expect(body).to_have_attribute("data-ready", "1")
    expect(body).to_have_attribute("data-link", "up")


def keypad_type(page: Any, code: str) -> None:
    page.click("#keypad-open")
    for char in code:
        page.click(f"#keys-digits .key[data-key='{char}']")
    page.click("#keypad-ok")


def expect_sent_to_desk(page: Any, lang: str) -> None:
    banner = page.locator("#banner")
    expect(banner).to_have_text(GO_TO_DESK[lang])
    expect(banner).to_have_class(re.compile("banner-refused"))
    expect(page.locator("body")).to_have_attribute("data-sound", re.compile("^refused:"))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_full_disk_sends_the_student_to_the_desk(
    tmp_path: Path, seeded_database: Path, page: Any, lang: str
) -> None:
    with tiny_tmpfs(tmp_path / "kiosk", size="32m") as directory:
        kiosk = KioskServer(directory, seeded_database)
        disk = FullDisk(directory / "kiosk.sqlite3")
        try:
            kiosk.start()
            open_kiosk(page, kiosk, lang)
            disk.fill()

            # A card typed on the keypad (POST /api/scan answers 503) ...
            keypad_type(page, "20260001")
            expect_sent_to_desk(page, lang)
            expect(page.locator("#screen-idle")).to_be_visible()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOTS / f"write-fault-idle-{lang}.png")
            # ... and one from the serial scanner (drawn from the event stream) sign nobody in.
            sound = page.locator("body").get_attribute("data-sound")
            kiosk.scanner.scan("20260002")
            expect(page.locator("body")).not_to_have_attribute("data-sound", sound)
            expect_sent_to_desk(page, lang)
            expect(page.locator("#screen-idle")).to_be_visible()
            assert kiosk.get("/api/session") == {"active": False}

            disk.free()
            kiosk.scanner.scan("20260001")
            expect(page.locator("#screen-session")).to_be_visible()

            # Signed in, the disk fills again: the book is not lent, the student stays.
            disk.fill()
            kiosk.scanner.scan("SX00001")
            expect_sent_to_desk(page, lang)
            expect(page.locator("#scan-list > li").first).to_have_text(GO_TO_DESK[lang])
            expect(page.locator("#screen-session")).to_be_visible()
            page.screenshot(path=SCREENSHOTS / f"write-fault-session-{lang}.png")
            assert kiosk.get("/api/session")["active"] is True
            disk.free()
            kiosk.scanner.scan("SX00001")
            expect(page.locator("#scan-list > li").first).to_contain_text("草房子")
        finally:
            kiosk.close()
