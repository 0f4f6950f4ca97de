"""A librarian's day across the console, walked in real Chromium in Chinese and again in English.

A librarian (liu) and a student helper (xiaoming, 学生图管员) share the desk of a real central
served by waitress; two real kiosk apps on their own SQLite files sync with it through their own
sync client (tests/central/test_holds_offline.py's fixtures). The helper finds a student by two
characters and lends two books, takes one back; the librarian marks the other lost, records the
payment and prints the receipt; the helper reserves a book for a second student and sees it on
the hold shelf once it is returned; its time there runs out; the librarian prints a label sheet
and a class's cards and settles a double checkout made by the two kiosks offline. After each
part a kiosk's next pull shows the state the console left. Along the way the helper is shown
only what a helper may do, and the URLs of the rest answer 403.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.labels import LAYOUTS
from central.worker import LedgerWorker
from db.central_models import AuditEntry, SyncException
from db.models import Hold, HoldStatus, Item, ItemStatus, Loan, Patron
from kiosk.policies import hold_policy
from kiosk.services.demo import isbn13_for
from tests.browser.test_desk_ui import wedge
from tests.central.conftest import (  # noqa: F401 - fixtures, used by name
    CentralDB,
    central_db,
    central_settings,
    drain_ledger,
    library,
)
from tests.central.console_support import PASSWORD, add_staff
from tests.central.test_holds_offline import (  # noqa: F401 - fixtures, used by name
    Kiosk,
    central_url,
    make_kiosk,
)
from tests.central.test_labels import decoded_positions, rasterise
from tests.conftest import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots" / "walk"
VIEWPORT = {"width": 1366, "height": 768}

# The demo library (kiosk/services/demo.py).
ZHANG, LI, WANG = "20260001", "20260002", "20260003"  # 张小明, 李华 (三年级二班), 王芳
PARENT_PHONE = "13912345678"  # 张小明's mother's phone: for librarians' eyes only
CAOFANGZI, PRINCE, TOTTO = (
    "SX00001",
    "SX00006",
    "SX00010",
)  # 草房子, 小王子, 窗边的小豆豆 (one copy)


@dataclass(frozen=True)
class Words:
    """What the walk reads on the screens, in the language it walks in."""

    lang: str
    lent: str
    shelved: str
    to_hold_shelf: str
    reserved: str
    case_paid: str
    receipt_link: str
    li_has_it: str


WORDS = {
    "zh": Words(
        lang="zh",
        lent="已借出：《{title}》，",
        shelved="放回书架",
        to_hold_shelf="放到预约架：李华 (三年级2班)",
        reserved="已预约",
        case_paid="已缴",
        receipt_link="打印收据",
        li_has_it="在李华手里",
    ),
    "en": Words(
        lang="en",
        lent="Borrowed: {title}.",
        shelved="Put it back on the shelf",
        to_hold_shelf="Put it on the hold shelf: 李华 (Grade 3 Class 2)",
        reserved="Reserved",
        case_paid="Paid",
        receipt_link="Print receipt (PDF)",
        li_has_it="李华 has it",
    ),
}


@dataclass
class Day:
    url: str
    central: CentralDB
    clock: FakeClock
    settings: Any
    first: Kiosk
    second: Kiosk
    tmp_path: Path

    def pull(self, kiosk: Kiosk) -> None:
        """The kiosk's next sync, at the central's time."""
        kiosk.clock.now = self.clock()
        assert kiosk.sync(self.url).ok

    def drain(self) -> None:
        drain_ledger(self.central.factory, self.clock)


@pytest.fixture
def day(
    central_url: str,  # noqa: F811
    central_db: CentralDB,  # noqa: F811
    central_settings: Any,  # noqa: F811
    make_kiosk: Any,  # noqa: F811
    clock: FakeClock,
    tmp_path: Path,
) -> Iterator[Day]:
    """The demo library at the central, its staff, two kiosks that have pulled it, and 王芳
    borrowing 窗边的小豆豆 at kiosk 1 (pushed and applied)."""
    add_staff(central_db, clock)
    with central_db.factory.begin() as s:
        zhang = s.scalar(select(Patron).where(Patron.card_barcode == ZHANG))
        assert zhang is not None
        zhang.parent_phone = PARENT_PHONE
    first, second = make_kiosk("kiosk-1"), make_kiosk("kiosk-2")
    day = Day(central_url, central_db, clock, central_settings, first, second, tmp_path)
    for kiosk in (first, second):
        day.pull(kiosk)
    lend_at_kiosk(first, WANG, TOTTO)
    day.pull(first)
    day.drain()
    yield day


def lend_at_kiosk(kiosk: Kiosk, card: str, barcode: str) -> None:
    kiosk.scan(card)
    answer = kiosk.scan(barcode)
    assert answer["action"] == "checked_out", {k: v for k, v in answer.items() if v}
    kiosk.client.post("/api/session/end")


def kiosk_item(kiosk: Kiosk, barcode: str) -> tuple[str, list[tuple[str, str, bool]]]:
    """The copy's status at the kiosk and its loans: (student number, where, ended)."""
    with kiosk.factory() as s:
        status = s.scalar(select(Item.status).where(Item.barcode == barcode))
        loans = s.execute(
            select(Patron.student_number, Loan.kiosk_id, Loan.returned_at)
            .join(Loan, Loan.patron_id == Patron.id)
            .join(Item, Item.id == Loan.item_id)
            .where(Item.barcode == barcode)
            .order_by(Loan.checked_out_at)
        ).all()
    return str(status), [(n, k, r is not None) for n, k, r in loans]


def kiosk_holds(kiosk: Kiosk, card: str) -> list[str]:
    with kiosk.factory() as s:
        return [
            str(status)
            for status in s.scalars(
                select(Hold.status).join(Patron).where(Patron.card_barcode == card)
            )
        ]


def open_browser(chromium: Any, day: Day, username: str, path: str, lang: str) -> Any:
    """A signed-in browser of its own (cookies, language); any JavaScript error fails the test."""
    context = chromium.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    sign_in(page, day, username, f"{path}?lang={lang}")
    return page


def sign_in(page: Any, day: Day, username: str, path: str) -> None:
    """Sign in on the way to `path` (the console signs out a browser idle for 30 minutes)."""
    page.goto(f"{day.url}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(f"{day.url}{path.split('?')[0]}")))


def shoot(page: Any, name: str, lang: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-{lang}.png", full_page=True)


def pdf_text(pdf: bytes, tmp_path: Path, name: str) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is missing: run scripts/system-deps.sh pdf")
    path = tmp_path / name
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, check=True, timeout=60
    ).stdout.decode()


def download_labels(page: Any, tmp_path: Path, name: str) -> list[Any]:
    """Click "Download PDF" on the label page; the PDF's pages as images for the decoder."""
    with page.expect_download(timeout=60_000) as info:
        page.click("form.labels-form button.primary", no_wait_after=True)
    folder = tmp_path / name
    folder.mkdir()
    return rasterise(Path(info.value.path()).read_bytes(), folder)


def csrf_of(page: Any) -> str:
    return str(page.locator("input[name=csrf_token]").first.get_attribute("value"))


def status_of(page: Any, method: str, path: str, csrf: str, data: dict[str, str] | None = None):
    """The status a signed-in browser gets for `path` (its own cookies, the page's CSRF token)."""
    url = re.sub(r"^(https?://[^/]+).*$", r"\1", page.url) + path
    if method == "GET":
        return page.request.get(url, max_redirects=0).status
    form = {"csrf_token": csrf, **(data or {})}
    return page.request.post(url, form=form, max_redirects=0).status


@pytest.mark.parametrize("central_db", ["sqlite"], indirect=True)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_librarian_and_a_helper_walk_through_a_day(
    chromium: Any, day: Day, lang: str, tmp_path: Path
):
    words = WORDS[lang]
    helper = open_browser(chromium, day, "xiaoming", "/desk", lang)
    librarian = open_browser(chromium, day, "liu", "/", lang)

    # The helper finds 张小明 by two characters of his name and lends him two books.
    wedge(helper, "小明")
    assert "张小明" in helper.inner_text("#desk-patron-name")
    assert wedge(helper, CAOFANGZI).startswith(words.lent.format(title="草房子"))
    assert wedge(helper, PRINCE).startswith(words.lent.format(title="小王子"))
    shoot(helper, "desk-lent", lang)
    # He brings 草房子 back: a book scanned on its own is a return, and it goes to the shelf.
    with helper.expect_navigation():
        helper.keyboard.press("Escape")
    returned = wedge(helper, CAOFANGZI)
    assert "草房子" in returned and words.shelved in returned

    # 小王子 is lost. The librarian finds 张小明 by the same two characters in the find box,
    # opens his 小王子 and marks it lost on the copy's state page, then records the payment.
    librarian.fill("form.find-box input[name=q]", "小明")
    with librarian.expect_navigation():
        librarian.press("form.find-box input[name=q]", "Enter")
    with librarian.expect_navigation():
        librarian.click("main a:has-text('张小明')")
    assert PRINCE in librarian.inner_text("main")
    with librarian.expect_navigation():
        librarian.click(f"main a:has-text('{PRINCE}')")
    with librarian.expect_navigation():
        librarian.click(f"a[href='/copies/{PRINCE}/state']")
    assert "张小明" in librarian.inner_text("dl.facts")
    librarian.fill("form.desk-ops input[name=note]", "家长说丢在公交车上")
    librarian.click("button[value=marked_lost]")
    librarian.wait_for_url(re.compile(r"/compensation/\d+$"))
    case_url = librarian.url
    librarian.fill("form.settle input[name=note]", "现金")
    librarian.click("button[value=pay]")
    librarian.wait_for_url(case_url)
    assert words.case_paid in librarian.inner_text("h1")
    shoot(librarian, "case-paid", lang)
    receipt_link = librarian.get_by_text(words.receipt_link)
    receipt = librarian.request.get(f"{day.url}{receipt_link.get_attribute('href')}")
    assert receipt.status == 200 and receipt.headers["content-type"] == "application/pdf"
    text = pdf_text(receipt.body(), tmp_path, "receipt.pdf")
    for expected in ("张小明", "三年级2班", "《小王子》", PRINCE, "已缴"):
        assert expected in text, expected
    # From the case to the student's page: the case is there beside his loans.
    librarian.click("dl.facts a:has-text('张小明')")
    librarian.wait_for_url(re.compile(r"/patrons/\d+$"))
    assert "《小王子》" in librarian.inner_text("main") and PRINCE in librarian.inner_text("main")
    student_path = librarian.url.removeprefix(day.url)
    assert librarian.input_value("#contact ~ form input[name=parent_phone]") == PARENT_PHONE

    # The helper may look at the case but not settle, waive or print it, nor change the copy.
    helper.goto(case_url)
    assert helper.locator("form.settle").count() == 0
    assert helper.get_by_text(words.receipt_link).count() == 0
    helper.goto(f"{day.url}/copies/{PRINCE}/state")
    assert helper.locator("form.desk-ops").count() == 0
    csrf = csrf_of(helper)
    case_path = case_url.removeprefix(day.url)
    assert status_of(helper, "POST", f"{case_path}/settle", csrf, {"action": "waive"}) == 403
    assert status_of(helper, "GET", f"{case_path}/receipt.pdf", csrf) == 403
    assert status_of(helper, "POST", f"/copies/{PRINCE}/state", csrf, {"event": "found"}) == 403
    # The student's page without parents' contact or the block form; their URLs refuse.
    helper.goto(f"{day.url}{student_path}")
    assert "张小明" in helper.inner_text("h1")
    assert helper.locator("#contact").count() == 0 and PARENT_PHONE not in helper.content()
    assert helper.locator("form.block-form").count() == 0
    for action in ("contact", "block"):
        form = {"parent_phone": "110", "reason": "x"}
        assert status_of(helper, "POST", f"{student_path}/{action}", csrf, form) == 403, action

    # Kiosk 2's next pull: 草房子 back on the shelf, 小王子 lost, both desk loans ended.
    day.pull(day.second)
    assert kiosk_item(day.second, CAOFANGZI) == ("available", [("S2026001", "desk", True)])
    assert kiosk_item(day.second, PRINCE) == ("lost", [("S2026001", "desk", True)])
    refused = day.second.scan(PRINCE)
    assert refused["action"] != "checked_out"

    # 李华 reserves 窗边的小豆豆, which 王芳 borrowed at kiosk 1; 王芳 brings it to the desk.
    with helper.expect_navigation():
        helper.goto(f"{day.url}/desk")
    wedge(helper, LI)
    helper.fill("#desk-find", "窗边")
    with helper.expect_navigation():
        helper.press("#desk-find", "Enter")
    with helper.expect_navigation():
        helper.click(".desk-choices button")
    assert words.reserved in helper.inner_text(".desk-hold-outcome")
    with helper.expect_navigation():
        helper.keyboard.press("Escape")
    assert words.to_hold_shelf in wedge(helper, TOTTO)
    helper.goto(f"{day.url}/hold-shelf")
    waiting = helper.inner_text("table.hold-shelf >> nth=-1")
    assert TOTTO in waiting and "李华" in waiting
    shoot(helper, "hold-shelf", lang)
    day.pull(day.first)
    assert kiosk_item(day.first, TOTTO)[0] == ItemStatus.ON_HOLD_SHELF
    assert kiosk_holds(day.first, LI) == [HoldStatus.READY]

    # Nobody comes for it: past its days on the shelf the sweep expires the hold.
    day.clock.advance(days=8)
    LedgerWorker(
        day.central.factory,
        day.clock,
        threading.Event(),
        hold_policy=hold_policy(day.settings),
    ).sweep_once()
    # A new day: both sign in again.
    sign_in(helper, day, "xiaoming", "/hold-shelf")
    assert helper.locator("table.hold-shelf").count() > 0
    assert TOTTO not in helper.inner_text("main")
    for kiosk in (day.first, day.second):
        day.pull(kiosk)
        assert kiosk_item(kiosk, TOTTO)[0] == ItemStatus.AVAILABLE
        assert kiosk_holds(kiosk, LI) == [HoldStatus.EXPIRED]

    # Labels for 草房子's three copies on a fresh 3x10 sheet, and the cards of 三年级二班.
    sign_in(librarian, day, "liu", "/labels")
    librarian.check("input[name=what][value=title]")
    librarian.fill("input[name=isbn]", isbn13_for(1))
    librarian.check("input[name=kind][value=accession]")
    librarian.select_option("select[name=layout]", "a4-3x10")
    librarian.fill("input[name=start]", "1")
    pages = download_labels(librarian, tmp_path, "labels")
    assert decoded_positions(pages, LAYOUTS["a4-3x10"]) == {
        (0, 1): "SX00001",
        (0, 2): "SX00002",
        (0, 3): "SX00003",
    }
    librarian.goto(f"{day.url}/labels")
    librarian.check("input[name=what][value=class]")
    librarian.select_option("select[name=class_key]", "3-2")
    librarian.fill("input[name=start]", "1")
    pages = download_labels(librarian, tmp_path, "cards")
    assert decoded_positions(pages, LAYOUTS["cards-cr80"]) == {(0, 1): ZHANG, (0, 2): LI}

    # Both kiosks lend 窗边的小豆豆 while neither has synced: 李华 first, 王芳 ten minutes later.
    for kiosk in (day.first, day.second):
        kiosk.clock.now = day.clock()
    lend_at_kiosk(day.first, LI, TOTTO)
    for c in (day.first.clock, day.second.clock, day.clock):
        c.advance(minutes=10)
    lend_at_kiosk(day.second, WANG, TOTTO)
    assert day.first.sync(day.url).ok and day.second.sync(day.url).ok
    day.drain()
    # Twenty minutes later the librarian reads it in words and chooses: 李华 has it.
    day.clock.advance(minutes=20)
    librarian.goto(f"{day.url}/exceptions")
    told = librarian.inner_text("main")
    assert "窗边的小豆豆" in told and "李华" in told and "王芳" in told
    shoot(librarian, "double-checkout", lang)
    with librarian.expect_navigation():
        librarian.get_by_role("button", name=words.li_has_it).click()
    with day.central.factory() as s:
        exceptions = list(s.scalars(select(SyncException)))
        assert [e.kind for e in exceptions] == ["double_checkout"], [
            (
                e.kind,
                e.details["earlier"]["student_number"],
                e.details["later"]["student_number"],
                e.status,
                e.resolved_by,
            )
            for e in exceptions
        ]
        exception = exceptions[0]
        assert exception is not None and exception.status == "resolved"
        assert exception.resolved_by == "liu"
    for kiosk in (day.first, day.second):
        day.pull(kiosk)
        status, loans = kiosk_item(kiosk, TOTTO)
        assert status == ItemStatus.ON_LOAN
        assert [(n, k) for n, k, ended in loans if not ended] == [("S2026002", "console")]

    # What the helper has no business with: no buttons, and the URLs answer 403.
    helper.goto(f"{day.url}/exceptions")
    assert helper.locator("form.settle").count() == 0
    nav = helper.inner_text("nav ul.pages")
    for page_path in ("/labels", "/reports", "/overdue", "/audit", "/rollover"):
        assert helper.locator(f"nav a[href^='{page_path}']").count() == 0, page_path
        assert status_of(helper, "GET", page_path, csrf) == 403, page_path
    assert nav  # the helper's own pages are there
    assert status_of(helper, "GET", "/reports/popular/download.csv", csrf) == 403
    assert status_of(helper, "POST", "/overdue/sms.csv", csrf) == 403
    assert status_of(helper, "POST", "/labels/pdf", csrf) == 403

    # Every change is in the audit log under the person who made it.
    with day.central.factory() as s:
        actions = {(e.username, e.action) for e in s.scalars(select(AuditEntry))}
    for expected in (
        ("xiaoming", "loan.checkout"),
        ("xiaoming", "loan.return"),
        ("xiaoming", "hold.place"),
        ("liu", "item.lost"),
        ("liu", "compensation.paid"),
        ("liu", "labels.print"),
        ("liu", "exception.settle"),
    ):
        assert expected in actions, expected
    for page in (helper, librarian):
        assert not page.js_errors, page.js_errors
        page.context.close()
