"""Holds at the kiosk in real Chromium: a hold placed for the signed-in student shows at sign-in,
ready and waiting holds are cancelled there by touch, in Chinese and in English.

The reserve itself is the search screen's button (POST /api/holds); here the page's own fetch
sends it, as that button does.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from kiosk.services.demo import isbn13_for
from tests.browser import KioskServer
from tests.browser.test_kiosk_ui import expect, open_kiosk, screen, shots, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

WORDS = {
    "zh": {
        "hello": "张同学，你好！",
        "hello_nana": "欧阳同学，你好！",
        "placed": "已预约《昆虫记》",
        "waiting": "已预约：等有人还书",
        "kept": "为你保留到",
        "cancel": "取消预约",
        "cancelled_ready": "《窗边的小豆豆》的预约已取消。",
        "cancelled_waiting": "《昆虫记》的预约已取消。",
    },
    "en": {
        "hello": "Hello, 张同学!",
        "hello_nana": "Hello, 欧阳同学!",
        "placed": "Reserved: 昆虫记.",
        "waiting": "Reserved: waiting for a copy to come back",
        "kept": "Kept for you until",
        "cancel": "Cancel reservation",
        "cancelled_ready": "Your reservation for 窗边的小豆豆 is cancelled.",
        "cancelled_waiting": "Your reservation for 昆虫记 is cancelled.",
    },
}


def title_id(kiosk: KioskServer, isbn13: str) -> int:
    with sqlite3.connect(kiosk.directory / "kiosk.sqlite3") as db:
        (found,) = db.execute("SELECT id FROM titles WHERE isbn13 = ?", (isbn13,)).fetchone()
    return int(found)


def reserve_from_page(page: Any, title: int) -> dict[str, Any]:
    reply: dict[str, Any] = page.evaluate(
        """async (titleId) => {
            const response = await fetch("/api/holds", {
                method: "POST",
                headers: {"Content-Type": "application/json",
                          "X-Kiosk-Language": document.documentElement.lang.slice(0, 2)},
                body: JSON.stringify({title_id: titleId}),
            });
            return await response.json();
        }""",
        title,
    )
    return reply


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_reserve_then_cancel_at_sign_in(start_kiosk: Any, page: Any, lang: str) -> None:
    kiosk = start_kiosk(language=lang)
    words = WORDS[lang]
    open_kiosk(page, kiosk)
    # 昆虫记's only copy is out (王芳 has it): 小明 reserves it.
    sign_in(page, kiosk, "20260001", words["hello"])
    reply = reserve_from_page(page, title_id(kiosk, isbn13_for(8)))
    assert reply["ok"] is True and reply["message"].startswith(words["placed"])
    page.click("#session-done")
    expect(screen(page, "done")).to_be_visible()
    page.click("#done-ok")

    # At his next sign-in the hold is there, waiting, with a Cancel button.
    sign_in(page, kiosk, "20260001", words["hello"])
    holds = page.locator("#hold-list > li")
    expect(holds).to_have_count(1)
    expect(holds.first.locator(".hold-title")).to_have_text("昆虫记")
    expect(holds.first).to_contain_text(words["waiting"])
    expect(page.locator("#holds-ready")).to_be_hidden()
    shots(page, "hold-waiting", "#session-done")
    holds.first.locator("button").click()
    expect(page.locator("#banner")).to_have_text(words["cancelled_waiting"])
    expect(page.locator("#holds")).to_be_hidden()
    page.click("#session-done")
    page.click("#done-ok")

    # 娜娜's copy of 窗边的小豆豆 waits on the hold shelf; she no longer wants it.
    sign_in(page, kiosk, "20260004", words["hello_nana"])
    ready = page.locator("#hold-list > li.hold-ready")
    expect(ready).to_have_count(1)
    expect(page.locator("#holds-ready")).to_be_visible()
    expect(ready).to_contain_text(words["kept"])
    expect(ready.locator("button")).to_have_text(words["cancel"])
    shots(page, "hold-ready", "#session-done")
    ready.locator("button").click()
    expect(page.locator("#banner")).to_have_text(words["cancelled_ready"])
    expect(page.locator("#hold-list > li")).to_have_count(0)
    shots(page, "hold-cancelled", "#session-done")
    # Nobody else waits: the copy goes back to the open shelf.
    with sqlite3.connect(kiosk.directory / "kiosk.sqlite3") as db:
        (status,) = db.execute("SELECT status FROM items WHERE barcode = 'SX00010'").fetchone()
    assert status == "available"
