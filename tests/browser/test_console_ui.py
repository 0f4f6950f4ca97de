"""The console's frame walked in real Chromium, Chinese and English, at the school PC's
1366x768 and at 1920x1080: the monitor refreshing in the page's language, the exceptions,
search, import, audit and not-allowed pages, for an admin and a helper."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.audit import record
from central.auth import add_user
from central.conflicts import ensure_exception
from central.events import IncomingEvent
from central.intake import register_kiosk
from central.ledger import Ledger
from kiosk.clock import format_iso_time
from kiosk.services.demo import seed_demo_library
from tests.browser.central_server import served_central, sign_in
from tests.central.console_support import PASSWORD
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
SIZES = {"1366x768": (1366, 768), "1920x1080": (1920, 1080)}


@pytest.fixture
def central(tmp_path: Path) -> Iterator[str]:
    """A central with the demo library, a kiosk that reported a minute ago, an exception,
    an admin and a helper; served on a free port by a thread."""
    clock = FakeClock()
    now = clock()
    with served_central(tmp_path, clock) as central:
        factory = central.factory
        with factory.begin() as s:
            seed_demo_library(s, now)
            add_user(s, "wang", PASSWORD, "admin", now)
            add_user(s, "xiaoming", PASSWORD, "helper", now)
            row, _ = register_kiosk(s, "k1", "一楼大厅", now)
            row.heartbeat_at = now - dt.timedelta(minutes=1)
            row.scanner_connected = True
            row.backlog = 3
            row.next_push_at = now + dt.timedelta(minutes=2)
            row.reported_last_sync_at = now - dt.timedelta(minutes=4)
            row.checkouts_today, row.returns_today = 12, 7
            ensure_exception(
                s,
                kind="unknown_item",
                dedup_key="unknown-item:x",
                subject="event:x",
                kiosks=["k1"],
                details={"item_barcode": "SX99999"},
                now=now,
            )
            register_kiosk(s, "k2", "二楼阅览室", now)
            s.flush()
            # 李华 borrowed SX00010 at k1 and 王芳 at k2 before they synced: a double checkout.
            for n, (kiosk_id, student, minutes) in enumerate(
                (("k1", "S2026002", 50), ("k2", "S2026003", 40)), start=1
            ):
                at = now - dt.timedelta(minutes=minutes)
                body = {
                    "event_id": str(uuid.uuid4()),
                    "kind": "checkout",
                    "kiosk_id": kiosk_id,
                    "epoch": "e",
                    "sequence": n,
                    "recorded_at": format_iso_time(at),
                    "loan_uuid": str(uuid.uuid4()),
                    "item_barcode": "SX00010",
                    "student_number": student,
                    "checked_out_at": format_iso_time(at),
                    "due_at": format_iso_time(at + dt.timedelta(days=14)),
                }
                Ledger(s, now).apply_all([IncomingEvent.parse(body)])
            record(
                s,
                at=now - dt.timedelta(hours=1),
                username="wang",
                role="admin",
                address="192.168.1.20",
                action="import.students",
                subject="file:名单.xlsx",
                detail={"added": 2},
            )
        yield central.url


def shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=SCREENSHOTS / f"console-{name}-{size}.png")


def test_an_admin_walks_the_console_in_chinese_then_english(page: Any, central: str):
    base = central
    sign_in(page, base, "wang")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    nav = str(page.locator("nav ul.pages").text_content()).split()
    assert {"自助机", "同步异常", "导入", "用户", "操作日志"} <= set(nav)
    row = page.locator("#kiosks tbody tr").first
    assert "一楼大厅" in row.inner_text() and "在线" in row.inner_text()
    # Times in Shanghai: the last sync was at 09:56 local (01:56 UTC).
    assert "2026年11月25日 周三 09:56" in row.inner_text()
    stamp = page.locator("#refreshed").inner_text()
    # console.js refreshes the rows from the server: same language, same times.
    page.wait_for_function(
        "s => document.getElementById('refreshed').textContent !== s", arg=stamp, timeout=9000
    )
    assert "在线" in row.inner_text() and "09:56" in page.locator("#kiosks tbody").inner_text()
    assert page.locator("#refreshed").inner_text().startswith("已更新")
    shoot(page, "monitor-zh")
    for path, name, heading in (
        ("/exceptions", "exceptions", "同步异常"),
        ("/kiosks/k1", "kiosk", "自助机 一楼大厅"),
        ("/search?q=草房子", "search", "查找"),
        ("/imports", "import", "导入学生名单或馆藏目录"),
        ("/users", "users", "控制台用户"),
        ("/audit", "audit", "操作日志"),
    ):
        page.goto(base + path)
        assert page.locator("h1").inner_text().startswith(heading), path
        shoot(page, f"{name}-zh")
        if name == "exceptions":
            story = page.locator("li.exception", has_text="王芳").first
            assert "借给了 李华 (三年级2班)" in story.inner_text()
            story.locator("button", has_text="在李华手里").click()
            page.wait_for_url(f"{base}/exceptions")
            assert "已处理：各自助机下次同步时会更新。" in page.locator("p.flash").inner_text()
            assert page.locator("li.exception", has_text="王芳").count() == 0
            page.goto(f"{base}/exceptions?status=all")
            shoot(page, "exceptions-settled-zh")
    audit_rows = page.locator("table.audit tbody").inner_text()
    assert "user.sign_in" in audit_rows and "import.students" in audit_rows

    page.click("a.language")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Audit log"
    page.goto(f"{base}/")
    assert "Wed 25 Nov 2026 09:56" in page.locator("#kiosks tbody").inner_text()
    shoot(page, "monitor-en")
    for path, name in (
        ("/exceptions?status=all", "exceptions"),
        ("/kiosks/k1", "kiosk"),
        ("/search?q=草房子", "search"),
        ("/imports", "import"),
        ("/users", "users"),
        ("/audit", "audit"),
    ):
        page.goto(base + path)
        shoot(page, f"{name}-en")
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{base}/login")
    assert page.locator("h1").inner_text() == "Sign in"
    shoot(page, "login-en")
    page.click("a.language")
    assert page.locator("h1").inner_text() == "登录"
    shoot(page, "login-zh")


def test_a_helper_sees_only_what_a_helper_may_do(page: Any, central: str):
    base = central
    sign_in(page, base, "xiaoming")
    nav = str(page.locator("nav ul.pages").text_content()).split()
    assert {"自助机", "同步异常"} <= set(nav) and not {"导入", "用户", "操作日志"} & set(nav)
    page.goto(f"{base}/exceptions")
    assert page.locator("button:has-text('标记为已处理')").count() == 0
    page.goto(f"{base}/audit")
    assert page.locator("h1").inner_text() == "没有权限"
    assert "您的角色（学生图管员）不能查看操作日志。" in page.locator("main").inner_text()
    shoot(page, "forbidden-zh")
    page.goto(f"{base}/audit?lang=en")
    shoot(page, "forbidden-en")


def test_the_import_result_and_an_expired_form_in_both_languages(
    page: Any, central: str, tmp_path: Path
):
    from tests.browser.test_console_import_ui import roster

    base = central
    sign_in(page, base, "wang")
    for lang, heading in (("zh", "试运行结果"), ("en", "Dry run result")):
        page.goto(f"{base}/imports?lang={lang}")
        page.set_input_files("input[name=file]", str(roster(tmp_path / f"名单-{lang}.xlsx")))
        page.click("form.upload button[type=submit]")
        page.wait_for_selector("h1")
        assert page.locator("h1").inner_text().startswith(heading)
        shoot(page, f"import-result-{lang}")
        # A form whose security token was tampered with: the page says why and what to do.
        page.goto(f"{base}/exceptions?lang={lang}")
        page.evaluate(
            "document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = 'x')"
        )
        page.locator("form.signout button").click()
        page.wait_for_selector("section.login h1")
        expected = "表单已失效" if lang == "zh" else "This form has expired"
        assert page.locator("section.login h1").inner_text() == expected
        shoot(page, f"form-refused-{lang}")


# The text width of the find box's hint beside the room its input has inside its padding.
HINT_AND_ROOM = """(() => {
  const input = document.querySelector("header input[name=q]");
  const style = getComputedStyle(input);
  const context = document.createElement("canvas").getContext("2d");
  context.font = style.font;
  const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return [context.measureText(input.placeholder).width, room];
})()"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_bar_keeps_to_one_line_with_a_long_signed_in_label(
    console: Any, tmp_path: Path, lang: str
):
    """At 1366x768 with "librarian (admin)" signed in: the pages on one line beside the find
    box, whose whole hint shows, and the account on the same row."""
    with served_central(tmp_path, FakeClock()) as central:
        with central.factory.begin() as s:
            add_user(s, "librarian", PASSWORD, "admin", central.clock())
        sign_in(console, central.url, "librarian", f"/?lang={lang}")
        tops = console.evaluate(
            "[...document.querySelectorAll('nav ul.pages > li')].map(e => e.offsetTop)"
        )
        assert len(set(tops)) == 1, tops
        hint, room = console.evaluate(HINT_AND_ROOM)
        assert hint <= room, (hint, room)
        boxes = [
            console.locator(selector).bounding_box()
            for selector in ("nav ul.pages", "header .search-box", "header .account")
        ]
        # One row: each part's vertical middle within a few pixels of the others'.
        middles = [box["y"] + box["height"] / 2 for box in boxes]
        assert max(middles) - min(middles) < 8, middles
        assert console.locator(".who").inner_text().split() == [
            "librarian",
            "(管理员)" if lang == "zh" else "(admin)",
        ]
        console.screenshot(path=tmp_path / f"bar-{lang}.png")
