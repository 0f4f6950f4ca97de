"""Every console page in real Chromium at the school PC's 1366x768 and at 1920x1080, in Chinese and
in English: nothing wider than the window, the page's heading on screen, the navigation on one
line. The screenshots land in screenshots/console/ (git-ignored) to be looked at.

The central has a day's worth of things to show: desk loans (some overdue), a lost copy with
its compensation case, students waiting for holds, a double checkout from two real kiosks
(tests/browser/test_librarian_day.py's set-up), the audit log those made.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.compensation import change_copy
from central.desk import check_out
from central.reports.run import REPORT_NAMES
from db.central_models import CompensationCase
from db.central_models import Kiosk as CentralKiosk
from db.models import Item, Patron, Title
from kiosk.circulation.compensation import CompensationPolicy
from kiosk.circulation.states import CopyEvent
from kiosk.policies import loan_policy
from tests.browser.test_librarian_day import (  # noqa: F401 - fixtures, used by name
    TOTTO,
    Day,
    central_db,
    central_settings,
    central_url,
    day,
    lend_at_kiosk,
    library,
    make_kiosk,
    sign_in,
)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots" / "console"
SIZES = {"1366x768": {"width": 1366, "height": 768}, "1920x1080": {"width": 1920, "height": 1080}}


def fill_the_day(today: Day) -> dict[str, str]:
    """Loans at the desk a fortnight and more ago (some overdue now), a lost copy with its case,
    a double checkout by the two kiosks; the paths of the records pages that show them."""
    settings, factory, clock = today.settings, today.central.factory, today.clock
    with factory.begin() as s:

        def patron(card: str) -> Patron:
            found = s.scalar(select(Patron).where(Patron.card_barcode == card))
            assert found is not None
            return found

        def item(barcode: str) -> Item:
            found = s.scalar(select(Item).where(Item.barcode == barcode))
            assert found is not None
            return found

        for card, barcode in (
            ("20260001", "SX00001"),
            ("20260001", "SX00006"),
            ("20260004", "SX00011"),
            ("20260008", "SX00013"),
            ("20260006", "SX00017"),
        ):
            assert check_out(s, patron(card), item(barcode), loan_policy(settings), clock()).changed
    clock.advance(days=20)
    with factory.begin() as s:
        lost = s.scalar(select(Item).where(Item.barcode == "SX00006"))
        assert lost is not None
        change_copy(
            s, lost, CopyEvent.MARKED_LOST, at=clock(), by="liu", policy=CompensationPolicy()
        )
        for kiosk_id, name in (("kiosk-1", "一楼大厅"), ("kiosk-2", "二楼阅览室")):
            row = s.get(CentralKiosk, kiosk_id)
            assert row is not None
            row.name = name
    # Two kiosks lend the same copy of 夏洛的网 before either synced.
    for kiosk in (today.first, today.second):
        today.pull(kiosk)
    lend_at_kiosk(today.first, "20260005", "SX00012")
    lend_at_kiosk(today.second, "20260002", "SX00012")
    assert today.first.sync(today.url).ok and today.second.sync(today.url).ok
    today.drain()
    with factory() as s:
        case = s.scalar(select(CompensationCase))
        title = s.scalar(select(Title).join(Item).where(Item.barcode == TOTTO))
        assert case is not None and title is not None
        return {
            "student": f"/patrons/{patron_id(s, '20260001')}",
            "copy": f"/items/{item_id(s, 'SX00006')}",
            "title": f"/titles/{title.id}",
            "case": f"/compensation/{case.id}",
        }


def patron_id(s: Any, card: str) -> int:
    return int(s.scalar(select(Patron.id).where(Patron.card_barcode == card)))


def item_id(s: Any, barcode: str) -> int:
    return int(s.scalar(select(Item.id).where(Item.barcode == barcode)))


def console_pages(records: dict[str, str]) -> dict[str, str]:
    """name → path of every console page a librarian or an admin opens."""
    pages = {
        "monitor": "/",
        "kiosk": "/kiosks/kiosk-1",
        "exceptions": "/exceptions",
        "search": "/search?q=草房子",
        "find": "/find?q=小明",
        "find-class": "/find?q=三年级2班",
        "student": records["student"],
        "copy": records["copy"],
        "copy-state": "/copies/SX00006/state",
        "title": records["title"],
        "desk": f"/desk?patron={records['student'].rsplit('/', 1)[1]}",
        "hold-shelf": "/hold-shelf",
        "compensation-case": records["case"],
        "compensation-list": "/compensation?status=all",
        "labels": "/labels",
        "reports": "/reports",
        **{f"report-{name}": f"/reports/{name}" for name in REPORT_NAMES},
        "overdue": "/overdue",
        "rollover": "/rollover",
        "imports": "/imports",
        "audit": "/audit",
        "users": "/users",
    }
    return pages


def check_and_shoot(page: Any, name: str, lang: str) -> list[str]:
    """Screenshots at both sizes; what does not fit (empty when all is well)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=SCREENSHOTS / f"{name}-{lang}-{size}.png", full_page=True)
        where = f"{name} {lang} {size}"
        if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
            problems.append(f"{where}: wider than the window")
        if not page.locator("h1").first.is_visible():
            problems.append(f"{where}: no visible heading")
        # The navigation on one line: every link's top edge at the same height.
        tops = page.evaluate(
            "[...document.querySelectorAll('nav ul.pages > li')].map(e => e.offsetTop)"
        )
        if len(set(tops)) > 1:
            problems.append(f"{where}: the navigation wraps onto {len(set(tops))} lines")
    return problems


@pytest.mark.parametrize("central_db", ["sqlite"], indirect=True)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_console_page_fits_both_screens(
    chromium: Any,
    day: Day,  # noqa: F811
    lang: str,
):
    records = fill_the_day(day)
    context = chromium.new_context(viewport=SIZES["1366x768"])
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{day.url}/login?lang={lang}")
    problems = check_and_shoot(page, "login", lang)
    sign_in(page, day, "wang", f"/?lang={lang}")
    # The grouped pages open on keyboard focus and on hover, over the page, inside the window.
    users = page.locator("nav a[href='/users']")
    page.mouse.move(0, 400)
    assert not users.is_visible()
    page.locator("nav li.group .group-name").last.focus()
    assert users.is_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "/"
    problems += check_and_shoot(page, "nav-open-by-keyboard", lang)
    page.evaluate("document.activeElement.blur()")
    page.mouse.move(0, 400)
    assert not users.is_visible()
    page.locator("nav li.group .group-name").first.hover()
    assert page.locator("nav a[href='/labels']").is_visible()
    for name, path in console_pages(records).items():
        response = page.goto(f"{day.url}{path}")
        assert response is not None and response.status == 200, (name, path)
        problems += check_and_shoot(page, name, lang)
        if lang == "zh":
            # The page speaks Chinese: its heading has Chinese in it.
            heading = page.locator("h1").first.inner_text()
            assert re.search(r"[\u4e00-\u9fff]", heading), (name, heading)
    context.close()
    assert not problems, problems
    assert not errors, errors
