"""The touch-screen kiosk end to end: the real server, a pty scanner, headless Chromium.

Every wait is bounded (Playwright's expect, or wait_for); nothing asserts how long anything
took. Screenshots of every screen in both languages go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from kiosk.browser import chromium_command
from kiosk.services.demo import isbn13_for
from tests.browser import ROOT, STAFF_PIN, KioskServer, wait_for

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
expect.set_options(timeout=5000)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
VIEWPORTS = ((1024, 768), (1080, 1920), (1920, 1080))
# 4 s of screen time left at most before the "Still here?" countdown should have shown.
IDLE_TIMEOUT_S = 12


# --- helpers -------------------------------------------------------------------------------------


def open_kiosk(page: Any, kiosk: KioskServer, lang: str | None = None) -> None:
    """Load the kiosk page and wait until its event stream is open (serial scans reach it)."""
    page.goto(kiosk.url + (f"?lang={lang}" if lang else ""))
    body = page.locator("body")
    expect(body).to_have_attribute("data-ready", "1")
    expect(body).to_have_attribute("data-link", "up")


def screen(page: Any, name: str) -> Any:
    return page.locator(f"#screen-{name}")


def scan_lines(page: Any) -> Any:
    return page.locator("#scan-list > li")


def sign_in(page: Any, kiosk: KioskServer, card: str, greeting: str) -> None:
    kiosk.scanner.scan(card)
    expect(page.locator("#greeting")).to_have_text(greeting)


def page_language(page: Any) -> str:
    tag: str = page.evaluate("document.documentElement.lang")
    return tag.split("-")[0]


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-{page_language(page)}.png")


def shots(page: Any, name: str, primary: str) -> None:
    """Screenshot the current screen at every supported size, checking on each that the touch
    targets are big enough, that the state's `primary` button is wholly on screen, and that
    every list cut off by its box says so."""
    page.wait_for_load_state("load")  # stylesheets in, so sizes are the real ones
    for width, height in VIEWPORTS:
        page.set_viewport_size({"width": width, "height": height})
        assert_touch_targets(page)
        assert_in_viewport(page, primary)
        assert_cut_off_lists_say_so(page)
        shot(page, f"{name}-{width}x{height}")
    page.set_viewport_size({"width": VIEWPORTS[0][0], "height": VIEWPORTS[0][1]})


def assert_in_viewport(page: Any, selector: str) -> None:
    """`selector` is visible and wholly inside the window, not hidden under another layer."""
    button = page.locator(selector)
    expect(button).to_be_visible()
    box = button.evaluate(
        """(e) => { const r = e.getBoundingClientRect();
                    const top = document.elementFromPoint((r.left + r.right) / 2,
                                                          (r.top + r.bottom) / 2);
                    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,
                            w: innerWidth, h: innerHeight, onTop: e.contains(top)}; }"""
    )
    size = f"{box['w']}x{box['h']}"
    assert box["left"] >= 0 and box["top"] >= 0, f"{selector} starts off screen at {size}: {box}"
    assert box["right"] <= box["w"] and box["bottom"] <= box["h"], (
        f"{selector} runs off screen at {size}: {box}"
    )
    assert box["onTop"], f"{selector} is covered by something else at {size}"


def assert_cut_off_lists_say_so(page: Any) -> None:
    silent = page.evaluate(
        """() => [...document.querySelectorAll('[data-scrolls]')]
            .filter((e) => e.getClientRects().length > 0)
            .filter((e) => e.scrollHeight - e.clientHeight - e.scrollTop > 2 && !e.dataset.more)
            .map((e) => e.id || e.className)"""
    )
    assert silent == [], f"lists cut off with no sign that they scroll: {silent}"


def assert_touch_targets(page: Any) -> None:
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, a, .key')]
            .filter((e) => e.getClientRects().length > 0)
            .map((e) => { const r = e.getBoundingClientRect();
                          return {text: e.textContent.trim(), w: r.width, h: r.height}; })
            .filter((r) => r.w < 48 || r.h < 48)"""
    )
    assert small == [], f"touch targets under 48 px: {small}"


def assert_no_trace(page: Any, *secrets: str) -> None:
    html = page.content()
    for secret in secrets:
        assert secret not in html, f"{secret!r} is still in the page"


def keypad_type(page: Any, code: str) -> None:
    """Type `code` on the on-screen keypad and press OK."""
    page.click("#keypad-open")
    expect(page.locator("#keypad")).to_be_visible()
    for char in code:
        letters_shown = page.locator("#keys-letters").is_visible()
        if char.isalpha() and not letters_shown:
            page.click("#keypad-letters")
        elif char.isdigit() and letters_shown:
            page.click("#keypad-digits")
        page.click(f".key[data-key='{char}']")
    expect(page.locator("#keypad-display")).to_have_text(code)
    page.click("#keypad-ok")


def wedge_type(page: Any, text: str, gap_ms: float = 4) -> None:
    """Type `text` as key events stamped `gap_ms` apart, as a keyboard-wedge scanner (or, slowly,
    a child) types it. The stamps go with the events through the DevTools protocol, so a busy
    test machine that delivers them late cannot turn a scanner's burst into slow typing."""
    cdp = page.context.new_cdp_session(page)
    start_s = time.time()
    try:
        for i, char in enumerate(text.replace("\n", "\r")):
            at_s = start_s + i * gap_ms / 1000
            key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}
            if char != "\r":
                key = {"key": char, "text": char}
            cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", "timestamp": at_s, **key})
            cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", "timestamp": at_s, **key})
    finally:
        cdp.detach()


def expect_sound(page: Any, kind: str) -> None:
    expect(page.locator("body")).to_have_attribute("data-sound", re.compile(f"^{kind}:"))


# --- signing in and borrowing --------------------------------------------------------------------


def test_serial_sign_in_greets_by_surname_only(kiosk: KioskServer, page: Any) -> None:
    open_kiosk(page, kiosk)
    expect(screen(page, "idle")).to_be_visible()
    expect(page.locator("#screen-idle h1")).to_have_text("请刷学生卡借书")
    sign_in(page, kiosk, "20260004", "欧阳同学，你好！")
    expect(screen(page, "session")).to_be_visible()
    expect(page.locator("#count-books")).to_have_text("你现在没有借图书馆的书。")
    expect(page.locator("#count-may")).to_have_text("还可以借 3 本。")
    # A book waiting on the hold shelf for her.
    expect(page.locator("#hold-list .hold-title")).to_have_text("窗边的小豆豆")
    expect_sound(page, "ok")
    assert_no_trace(page, "欧阳娜娜", "娜娜", "20260004")


def test_borrow_three_books_one_refused_then_done(kiosk: KioskServer, page: Any) -> None:
    open_kiosk(page, kiosk, "en")
    sign_in(page, kiosk, "20260001", "Hello, 张同学!")
    kiosk.scanner.scan(isbn13_for(1))  # 草房子, by the ISBN on its cover
    expect(scan_lines(page).first).to_contain_text("草房子")
    expect(scan_lines(page).first).to_contain_text("Borrowed — due")
    kiosk.scanner.scan("SX00004")  # 青铜葵花: one copy may go, the other is kept for a hold
    expect(scan_lines(page).first).to_contain_text("青铜葵花")
    expect(scan_lines(page).first).to_contain_text("Borrowed — due")
    kiosk.scanner.scan("SX00005")
    refused = scan_lines(page).first
    expect(refused).to_have_class(re.compile("line-refused"))
    expect(refused).to_contain_text(
        "This book is reserved for another student — please give it to the librarian."
    )
    expect_sound(page, "refused")
    expect(scan_lines(page)).to_have_count(3)
    expect(page.locator("#loan-list > li")).to_have_count(2)
    expect(page.locator("#count-may")).to_have_text("You may borrow 1 more.")

    page.click("#session-done")
    expect(screen(page, "done")).to_be_visible()
    expect(page.locator("#done-title")).to_have_text("Goodbye, 张同学!")
    expect(page.locator("#done-list > li")).to_have_count(2)
    expect(page.locator("#done-list")).to_contain_text("草房子")
    expect(page.locator("#done-list")).to_contain_text("青铜葵花")
    wait_for(lambda: kiosk.get("/api/session") == {"active": False}, "the session to end")
    # The goodbye goes back to the start by itself.
    expect(screen(page, "idle")).to_be_visible(timeout=15000)
    assert_no_trace(page, "张同学", "草房子", "青铜葵花")


def test_renew_and_return_buttons(kiosk: KioskServer, page: Any) -> None:
    open_kiosk(page, kiosk, "en")
    sign_in(page, kiosk, "20260002", "Hello, 李同学!")
    loan = page.locator("#loan-list > li", has_text="夏洛的网")
    old_due = loan.locator(".loan-due").inner_text()
    kiosk.scanner.scan("SX00011")  # she has it already: renew or return?
    line = scan_lines(page).first
    expect(line).to_contain_text("You already have 夏洛的网")
    expect_sound(page, "ask")
    line.get_by_role("button", name="Renew").click()
    expect(scan_lines(page).first).to_contain_text("Renewed — now due")
    expect(scan_lines(page)).to_have_count(1)  # the answer replaced the question
    expect(loan.locator(".loan-due")).not_to_have_text(old_due)

    kiosk.scanner.scan("SX00011")
    scan_lines(page).first.get_by_role("button", name="Return").click()
    expect(scan_lines(page).first).to_contain_text("Returned")
    expect(scan_lines(page).first).to_contain_text("Put it in the return box.")
    expect(page.locator("#loan-list > li")).to_have_count(0)


def test_return_without_a_card(kiosk: KioskServer, page: Any) -> None:
    open_kiosk(page, kiosk)
    kiosk.scanner.scan("SX00014")  # 昆虫记, six days overdue
    expect(screen(page, "returns")).to_be_visible()
    line = page.locator("#return-list > li").first
    expect(line).to_contain_text("昆虫记")
    expect(line).to_contain_text("已归还")
    expect(line).to_contain_text("请放进还书箱。")
    expect(line.locator(".tag-overdue")).to_have_text(re.compile(r"超期 \d+ 天"))

    # A book someone is waiting for goes to the hold shelf.
    sign_in(page, kiosk, "20260001", "张同学，你好！")
    kiosk.scanner.scan("SX00004")
    expect(scan_lines(page).first).to_contain_text("青铜葵花")
    page.click("#session-done")
    expect(screen(page, "done")).to_be_visible()
    wait_for(lambda: kiosk.get("/api/session") == {"active": False}, "the session to end")
    kiosk.scanner.scan("SX00004")
    expect(screen(page, "returns")).to_be_visible()
    line = page.locator("#return-list > li").first
    expect(line).to_contain_text("青铜葵花")
    expect(line).to_contain_text("请放到预约书架上")
    assert_no_trace(page, "张同学")
    page.click("#returns-done")
    expect(screen(page, "idle")).to_be_visible()
    assert_no_trace(page, "昆虫记", "青铜葵花")


def test_renewal_is_offered_only_when_it_moves_the_due_date(kiosk: KioskServer, page: Any) -> None:
    open_kiosk(page, kiosk)
    sign_in(page, kiosk, "20260001", "张同学，你好！")
    # Nothing borrowed yet: the list says so kindly instead of staying blank.
    expect(page.locator("#loans-empty")).to_have_text("这里还没有书——借的书会显示在这里。")
    kiosk.scanner.scan("SX00001")
    expect(scan_lines(page).first).to_contain_text("借好了")
    expect(page.locator("#loans-empty")).to_be_hidden()
    kiosk.scanner.scan("SX00001")  # the same book again, a minute after borrowing it
    line = scan_lines(page).first
    expect(line).to_contain_text("起可以续借，现在可以归还。")
    expect(line.get_by_role("button", name="续借")).to_have_count(0)
    expect(line.get_by_role("button", name="归还")).to_be_visible()
    # One date style on the screen: the sentence writes the day as the lists do.
    due = page.locator("#loan-list .loan-due").first.inner_text().removesuffix("到期")
    assert re.fullmatch(r"\d+月\d+日周.", due), due
    expect(page.locator("#banner")).to_contain_text(re.compile(r"\d+月\d+日周.起可以续借"))
    assert not re.search(r"\d{4}-\d{2}-\d{2}", page.locator("main").inner_text())
    # "。" is never followed by a stray space.
    assert "。 " not in page.locator("#screen-session").inner_text()


def test_a_book_that_is_not_on_loan_and_a_typed_number_get_calm_answers(
    kiosk: KioskServer, page: Any
) -> None:
    open_kiosk(page, kiosk)
    kiosk.scanner.scan("SX00001")  # on the shelf: never lent
    expect(page.locator("#banner")).to_have_text("这本书没有被借出，请放回书架或放进还书箱。")
    expect(page.locator("#banner")).not_to_have_class(re.compile("banner-refused"))
    expect(page.locator("#return-list > li").first).not_to_have_class(re.compile("line-refused"))
    expect_sound(page, "info")
    page.click("#returns-done")
    # A typed number nobody knows: check it and type it again, not "scan again".
    keypad_type(page, "XYZ1")
    expect(page.locator("#banner")).to_have_text("没有找到这个号码，请检查后重新输入。")
    # The same code from a scanner is asked to be scanned again.
    wedge_type(page, "XYZ1\n")
    expect(page.locator("#banner")).to_have_text("抱歉，无法识别这个条码，请再扫描一次。")


def test_a_long_list_says_it_scrolls(kiosk: KioskServer, page: Any) -> None:
    open_kiosk(page, kiosk)
    sign_in(page, kiosk, "20260005", "陈同学，你好！")
    for code in ("SX00006", "SX00008", "SX00009", "SX00006"):
        kiosk.scanner.scan(code)
    expect(scan_lines(page)).to_have_count(4)
    column = page.locator("#screen-session .column").first
    # At 1024x768 the third card is cut off by the column's edge: the column says so.
    assert column.evaluate("(e) => e.scrollHeight > e.clientHeight")
    expect(column).to_have_attribute("data-more", re.compile("下面还有"))
    shot(page, "scroll-hint-1024x768")
    column.evaluate("(e) => { e.scrollTop = e.scrollHeight; }")
    expect(column).not_to_have_attribute("data-more", re.compile("."))


# --- ending sessions -----------------------------------------------------------------------------


def test_idle_timeout_leaves_no_trace(start_kiosk: Callable[..., KioskServer], page: Any) -> None:
    kiosk = start_kiosk(idle_timeout_s=IDLE_TIMEOUT_S)
    open_kiosk(page, kiosk)
    history_length = page.evaluate("history.length")
    sign_in(page, kiosk, "20260001", "张同学，你好！")
    kiosk.scanner.scan("SX00001")
    expect(scan_lines(page).first).to_contain_text("草房子")

    # The countdown shows in the last seconds; "Still here?" keeps the session going.
    still_here = page.locator("#still-here")
    expect(still_here).to_be_visible(timeout=IDLE_TIMEOUT_S * 1000)
    expect(page.locator("#still-here-count")).to_have_text(re.compile(r"^\d+ 秒后自动退出$"))
    assert_in_viewport(page, "#still-here-yes")
    shot(page, "countdown-1024x768")
    page.click("#still-here-yes")
    expect(still_here).to_be_hidden()
    wait_for(
        lambda: kiosk.get("/api/session").get("expires_in_s", 0) > 10,
        "the server to restart the idle clock",
    )

    # An open keypad with half a number typed does not keep the student signed in.
    page.click("#keypad-open")
    page.click(".key[data-key='2']")
    page.click(".key[data-key='0']")
    expect(page.locator("#keypad-display")).to_have_text("20")
    expect(screen(page, "idle")).to_be_visible(timeout=(IDLE_TIMEOUT_S + 5) * 1000)
    expect(page.locator("#keypad")).to_be_hidden()
    expect(still_here).to_be_hidden()
    expect(page.locator("#keypad-display")).to_have_text("")
    expect(page.locator("#banner")).to_have_text("你已退出。下次见！")
    assert_no_trace(page, "张同学", "草房子", "SX00001")
    assert kiosk.get("/api/session") == {"active": False}

    # History: no entry was pushed, and Back/Forward bring back nothing of the student.
    assert page.evaluate("history.length") == history_length
    page.go_back()
    assert_no_trace(page, "张同学", "草房子")
    page.go_forward()
    expect(page.locator("body")).to_have_attribute("data-ready", "1")
    expect(screen(page, "idle")).to_be_visible()
    assert_no_trace(page, "张同学", "草房子")

    # The same countdown in English, for the screenshots.
    open_kiosk(page, kiosk, "en")
    sign_in(page, kiosk, "20260006", "Hello, Emily!")
    expect(still_here).to_be_visible(timeout=IDLE_TIMEOUT_S * 1000)
    expect(page.locator("#still-here-count")).to_have_text(
        re.compile(r"^Signing you out in \d+ s$")
    )
    shot(page, "countdown-1024x768")
    expect(screen(page, "idle")).to_be_visible(timeout=(IDLE_TIMEOUT_S + 5) * 1000)
    assert_no_trace(page, "Emily")


def test_another_card_ends_the_first_session(kiosk: KioskServer, page: Any) -> None:
    open_kiosk(page, kiosk, "en")
    sign_in(page, kiosk, "20260001", "Hello, 张同学!")
    kiosk.scanner.scan("SX00001")
    expect(scan_lines(page).first).to_contain_text("草房子")
    sign_in(page, kiosk, "20260006", "Hello, Emily!")
    expect(page.locator("#banner")).to_have_text(
        "Hello, Emily! (The previous student has been signed out.)"
    )
    expect(scan_lines(page)).to_have_count(0)
    expect(page.locator("#loan-list > li")).to_have_count(0)
    assert_no_trace(page, "张同学", "草房子")


# --- how codes get in ----------------------------------------------------------------------------


def test_keyboard_wedge_bursts_are_scans_and_slow_typing_is_not(
    kiosk: KioskServer, page: Any
) -> None:
    open_kiosk(page, kiosk, "en")
    # Nothing has focus: a wedge scanner types into the page itself.
    assert page.evaluate("document.activeElement === document.body")
    wedge_type(page, "20260001\n")
    expect(page.locator("#greeting")).to_have_text("Hello, 张同学!")
    expect(page.locator("#banner")).to_have_text("Hello, 张同学! Scan a book to borrow it.")

    # A child typing a book number by hand, then a real scan of another book.
    wedge_type(page, "SX00006\n", gap_ms=150)
    wedge_type(page, "SX00008\n")
    expect(scan_lines(page).first).to_contain_text("西游记")
    expect(scan_lines(page)).to_have_count(1)
    loans = kiosk.get("/api/session")["patron"]["loans"]
    assert [loan["item_barcode"] for loan in loans] == ["SX00008"]

    # The same screen as a serial scan of the same kind of code.
    kiosk.scanner.scan("SX00009")
    expect(scan_lines(page)).to_have_count(2)
    serial, wedge = scan_lines(page).nth(0), scan_lines(page).nth(1)
    assert serial.get_attribute("class") == wedge.get_attribute("class")
    assert serial.inner_text() == wedge.inner_text()


def test_language_switch(kiosk: KioskServer, page: Any) -> None:
    open_kiosk(page, kiosk)
    expect(page.locator("#screen-idle h1")).to_have_text("请刷学生卡借书")
    page.click("#lang-toggle")
    expect(page.locator("#screen-idle h1")).to_have_text("Scan your student card to borrow")
    expect(page.locator("#screen-idle h2")).to_have_text("Scan a book to return it")
    expect(page.locator("#lang-toggle")).to_have_text("中文")
    assert page.evaluate("document.documentElement.lang") == "en"
    # The event stream reconnects in the new language: serial replies arrive in English.
    expect(page.locator("body")).to_have_attribute("data-link", "up")
    sign_in(page, kiosk, "20260001", "Hello, 张同学!")
    expect(page.locator("#banner")).to_have_text("Hello, 张同学! Scan a book to borrow it.")
    kiosk.scanner.scan("9780306406157")  # a real ISBN this library doesn't own
    expect(scan_lines(page).first).to_contain_text("This book isn't in our library's list.")

    # Back to Chinese: the sentences already on screen change too.
    page.click("#lang-toggle")
    expect(scan_lines(page).first).to_contain_text("图书馆里查不到这本书，请交给图书管理员。")
    expect(page.locator("#greeting")).to_have_text("张同学，你好！")
    page.click("#lang-toggle")
    expect(page.locator("#greeting")).to_have_text("Hello, 张同学!")
    # The next student starts in the kiosk's own language again.
    page.click("#session-done")
    page.click("#done-ok")
    expect(page.locator("#screen-idle h1")).to_have_text("请刷学生卡借书")


# --- things going wrong --------------------------------------------------------------------------


def test_scanner_unplug_shows_a_calm_indicator_and_keypad_still_works(
    kiosk: KioskServer, page: Any
) -> None:
    open_kiosk(page, kiosk)
    indicator = page.locator("#scanner-off")
    expect(indicator).to_be_hidden()
    kiosk.scanner.unplug()
    expect(indicator).to_be_visible()
    expect(indicator).to_have_text("扫描器没有连接——请告诉图书管理员")
    # Returns by keypad still work while the scanner is away.
    keypad_type(page, "SX00014")
    expect(screen(page, "returns")).to_be_visible()
    expect(page.locator("#return-list > li").first).to_contain_text("昆虫记")
    kiosk.scanner.plug()
    expect(indicator).to_be_hidden()
    sign_in(page, kiosk, "20260001", "张同学，你好！")


def test_page_survives_a_server_restart(kiosk: KioskServer, page: Any) -> None:
    open_kiosk(page, kiosk)
    sign_in(page, kiosk, "20260001", "张同学，你好！")
    kiosk.stop()
    expect(page.locator("#link-off")).to_be_visible()
    expect(page.locator("#link-off")).to_have_text("正在连接图书馆电脑……")
    # A number typed while the server is away gets a friendly answer, not a dead screen.
    keypad_type(page, "SX00001")
    expect(page.locator("#banner")).to_have_text(
        "借还机连不上图书馆电脑，请稍后再试。", timeout=10000
    )
    expect_sound(page, "refused")
    kiosk.start()
    expect(page.locator("#link-off")).to_be_hidden(timeout=15000)
    # The restarted server has forgotten the student, so the page forgets them too.
    expect(screen(page, "idle")).to_be_visible()
    assert_no_trace(page, "张同学")
    sign_in(page, kiosk, "20260002", "李同学，你好！")


def test_unknown_codes_and_server_errors_get_a_friendly_message(
    kiosk: KioskServer, page: Any
) -> None:
    open_kiosk(page, kiosk)
    wedge_type(page, "hello?\n")
    expect(page.locator("#banner")).to_have_text("抱歉，无法识别这个条码，请再扫描一次。")
    expect(page.locator("#banner")).to_have_class(re.compile("banner-refused"))
    expect(screen(page, "idle")).to_be_visible()

    page.route("**/api/scan", lambda route: route.fulfill(status=500, body="boom"))
    keypad_type(page, "SX00014")
    expect(page.locator("#banner")).to_have_text("抱歉，出了点问题，请再试一次。")
    page.unroute("**/api/scan")
    keypad_type(page, "SX00014")
    expect(page.locator("#return-list > li").first).to_contain_text("昆虫记")


# --- every screen, both languages ----------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_screenshots_of_every_screen(
    start_kiosk: Callable[..., KioskServer], page: Any, lang: str
) -> None:
    kiosk = start_kiosk(language=lang)
    open_kiosk(page, kiosk)
    shots(page, "idle", "#keypad-open")
    page.click("#keypad-open")
    for char in "2026":
        page.click(f".key[data-key='{char}']")
    shots(page, "keypad", "#keypad-ok")
    page.click("#keypad-letters")
    shots(page, "keypad-letters", "#keypad-ok")
    page.click("#keypad-close")

    # 王芳 has an overdue book, so she can't borrow.
    kiosk.scanner.scan("20260003")
    expect(page.locator("#loan-list > li.loan-overdue")).to_have_count(1)
    # The chase's kiosk reminder ([chase] kiosk_reminder_days, 1 by default).
    reminder = {
        "zh": r"^《昆虫记》已经超期\d+天了，请尽快归还。$",
        "en": r"^“昆虫记” is \d+ days? late\. Please bring it back soon\.$",
    }[lang]
    expect(page.locator("#loan-list .loan-reminder")).to_have_text(re.compile(reminder))
    kiosk.scanner.scan("SX00001")
    expect(scan_lines(page)).to_have_count(1)
    shots(page, "signed-in-overdue", "#session-done")

    # 娜娜 has a hold ready; she borrows, is refused one, and rescans one she has.
    kiosk.scanner.scan("20260004")
    expect(page.locator("#hold-list > li")).to_have_count(1)
    for code in ("SX00006", "SX00004", "SX00005", "SX00006"):
        kiosk.scanner.scan(code)
    expect(scan_lines(page)).to_have_count(4)
    # Borrowed a minute ago: renewing would not move the due date, so only Return is offered.
    expect(scan_lines(page).first.locator("button")).to_have_count(1)
    shots(page, "signed-in", "#session-done")

    page.click("#session-done")
    expect(screen(page, "done")).to_be_visible()
    shots(page, "done", "#done-ok")
    page.click("#done-ok")
    wait_for(lambda: kiosk.get("/api/session") == {"active": False}, "the session to end")

    for code in ("SX00006", "SX00004", "SX00014"):
        kiosk.scanner.scan(code)
    expect(page.locator("#return-list > li")).to_have_count(3)
    shots(page, "returns", "#returns-done")
    page.click("#returns-done")

    wedge_type(page, "hello?\n")
    expect(page.locator("#banner")).not_to_be_empty()
    shots(page, "unknown-code", "#keypad-open")

    kiosk.scanner.unplug()
    expect(page.locator("#scanner-off")).to_be_visible()
    shots(page, "scanner-off", "#keypad-open")
    kiosk.scanner.plug()
    expect(page.locator("#scanner-off")).to_be_hidden()

    page.goto(kiosk.url + "status")
    expect(page.locator("#pin")).to_be_visible()
    shots(page, "staff-login", "#pin-pad .key-ok")
    page.click("#pin-pad .key[data-key='1']")
    page.click("#pin-pad .key-ok")
    expect(page.locator(".staff-alert")).to_be_visible()
    shots(page, "staff-login-wrong-pin", "#pin-pad .key-ok")
    for char in STAFF_PIN:
        page.click(f"#pin-pad .key[data-key='{char}']")
    page.click("#pin-pad .key-ok")
    expect(page.locator("#card-today")).to_be_visible()
    shots(page, "staff-status", "#staff-sign-out")

    open_kiosk(page, kiosk)
    kiosk.stop()
    expect(page.locator("#link-off")).to_be_visible()
    shots(page, "connection-lost", "#keypad-open")


# --- the launcher --------------------------------------------------------------------------------


def test_browser_launcher_prints_a_locked_down_policy(tmp_path: Any) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[server]\nhost = "127.0.0.1"\nport = 8123\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "run_kiosk.py", "browser", "--print-policy", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    policy = json.loads(result.stdout)
    assert policy["URLBlocklist"] == ["*"]
    assert policy["URLAllowlist"] == ["http://127.0.0.1:8123"]
    assert policy["DeveloperToolsAvailability"] == 2
    assert policy["DownloadRestrictions"] == 3
    command = chromium_command("http://127.0.0.1:8123/", tmp_path / "profile")
    assert command[0] == "/usr/bin/chromium" and command[-1] == "http://127.0.0.1:8123/"
    for flag in (
        "--kiosk",
        "--noerrdialogs",
        "--overscroll-history-navigation=0",
        "--no-first-run",
    ):
        assert flag in command
    assert f"--user-data-dir={tmp_path / 'profile'}" in command
