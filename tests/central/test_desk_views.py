"""The desk page and the hold shelf in the console: scans, renewals, holds, audit, each role."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from central.views.desk import KIOSK_SENTENCES, sentence_for
from db.central_models import AuditEntry
from db.models import Hold, HoldStatus, Item, ItemStatus, Loan, Patron
from kiosk.circulation.rules import Refusal
from kiosk.views.wording import _MESSAGES as KIOSK_MESSAGES
from tests.central.conftest import CentralDB
from tests.central.console_support import add_staff, csrf_token, signed_in
from tests.conftest import FakeClock

# In the demo library: 张小明 S2026001 card 20260001, 李华 20260002, 陈思远 20260005 waits for
# 青铜葵花 (SX00004-5); 草房子 SX00001-3; 窗边的小豆豆 is one copy, SX00010; 赵磊's card is blocked.


def test_the_desk_repeats_the_kiosk_s_own_sentences():
    for key, sentence in KIOSK_SENTENCES.items():
        assert KIOSK_MESSAGES[key] == sentence, key


@pytest.fixture
def staff(central_db: CentralDB, library: Any, clock: FakeClock) -> dict[str, str]:
    return add_staff(central_db, clock)


@pytest.fixture
def helper(central_app: Flask, staff: dict[str, str]) -> FlaskClient:
    return signed_in(central_app, staff["helper"])


def scan(browser: FlaskClient, code: str, patron: int | None = None) -> str:
    """Type `code` and Enter in the scan field; the page the redirect lands on."""
    data: dict[str, Any] = {"code": code, "csrf_token": csrf_token(browser, "/desk")}
    if patron is not None:
        data["patron"] = patron
    response = browser.post("/desk/scan", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser.get(response.headers["Location"]).get_data(as_text=True)


def post(browser: FlaskClient, url: str, **data: Any) -> str:
    data["csrf_token"] = csrf_token(browser, "/desk")
    response = browser.post(url, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser.get(response.headers["Location"]).get_data(as_text=True)


def patron_id(central_db: CentralDB, number: str) -> int:
    with central_db.factory() as s:
        found = s.scalar(select(Patron.id).where(Patron.student_number == number))
        assert found is not None
        return found


def result_text(page: str) -> str:
    match = re.search(r'<div class="desk-result[^"]*"[^>]*>(.*?)</div>', page, re.S)
    assert match, page
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def audit_actions(central_db: CentralDB) -> list[tuple[str, str, str]]:
    with central_db.factory() as s:
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.username, AuditEntry.subject).order_by(
                AuditEntry.id
            )
        )
        return [tuple(r) for r in rows if r[0].startswith(("loan.", "hold."))]


def test_a_helper_lends_two_books_and_takes_one_back(helper: FlaskClient, central_db: CentralDB):
    page = scan(helper, "20260001")
    zhang = patron_id(central_db, "S2026001")
    assert "张小明" in page and "还可借 3 本" in page and 'name="patron" value' in page
    page = scan(helper, "SX00001", zhang)
    assert "《草房子》" in result_text(page)
    page = scan(helper, "SX00006", zhang)
    assert "《小王子》" in result_text(page)
    assert "在借图书（2）" in page and "还可借 1 本" in page
    # Next student; a book scanned on its own is a return, and says where it goes.
    page = scan(helper, "SX00001")
    assert result_text(page) == "已还：《草房子》。 放回书架"
    with central_db.factory() as s:
        loans = s.scalars(select(Loan).order_by(Loan.id)).all()
        assert [(loan.kiosk_id, loan.returned_at is None) for loan in loans] == [
            ("desk", False),
            ("desk", True),
        ]
        assert s.scalar(select(Item.status).where(Item.barcode == "SX00001")) == "available"
    actions = audit_actions(central_db)
    assert [a for a, _, _ in actions] == ["loan.checkout", "loan.checkout", "loan.return"]
    assert {who for _, who, _ in actions} == {"xiaoming"}


def test_a_return_a_student_waits_for_goes_to_the_hold_shelf_for_them(
    helper: FlaskClient, central_db: CentralDB
):
    li = patron_id(central_db, "S2026002")
    scan(helper, "20260002")
    scan(helper, "SX00004", li)
    page = scan(helper, "SX00004")
    assert result_text(page) == "已还：《青铜葵花》。 放到预约架：陈思远 (五年级3班)"
    # 陈思远's hold now has a copy: the hold shelf lists it as waiting for them.
    shelf = helper.get("/hold-shelf").get_data(as_text=True)
    waiting = shelf[shelf.index('id="waiting"') :]
    assert "SX00004" in waiting and "陈思远" in waiting


def test_the_desk_refuses_in_the_kiosk_s_words(helper: FlaskClient, central_db: CentralDB):
    zhang = patron_id(central_db, "S2026001")
    scan(helper, "20260001")
    scan(helper, "SX00001", zhang)
    page = scan(helper, "20260009")
    assert "借书证已停用" in page and "demo: lost book to pay for" in page
    zhao = patron_id(central_db, "S2026009")
    page = scan(helper, "SX00002", zhao)
    assert 'class="desk-result refused"' in page
    assert result_text(page) == "借书前请先找图书管理员处理你的账户。"
    # Someone else's book: the kiosk's sentence, from the kiosk's catalog.
    li = patron_id(central_db, "S2026002")
    other = result_text(scan(helper, "SX00001", li))
    assert other == "这本书还在别的同学名下，请交给图书管理员。"
    assert not audit_actions(central_db)[1:]
    # A code nobody has; an empty scan.
    assert result_text(scan(helper, "NOSUCH1")) == "没有这个条码的学生证或图书：NOSUCH1"
    assert result_text(scan(helper, "")) == "请扫描学生证或图书。"


def test_renewing_from_the_student_s_list(
    central_app: Flask, staff: dict[str, str], central_db: CentralDB, clock: FakeClock
):
    helper = signed_in(central_app, staff["helper"])
    zhang = patron_id(central_db, "S2026001")
    scan(helper, "20260001")
    scan(helper, "SX00001", zhang)
    page = post(helper, "/desk/renew", patron=zhang, item="SX00001")
    assert result_text(page) == "这本书2026年12月6日起可以续借。"
    with central_db.factory() as s:
        due = s.scalar(select(Loan.due_at))
        assert due is not None
    clock.now = due
    # A sign-in lasts a working day at most: the next day's helper signs in again.
    helper = signed_in(central_app, staff["helper"])
    page = post(helper, "/desk/renew", patron=zhang, item="SX00001")
    assert result_text(page) == "已续借：《草房子》，新的还书日期：2026年12月23日。"
    with central_db.factory() as s:
        assert s.scalar(select(Loan.renewals)) == 1
    assert [a for a, _, _ in audit_actions(central_db)] == ["loan.checkout", "loan.renew"]
    # The same book scanned again for the same student: renew or return, with both buttons.
    page = scan(helper, "SX00001", zhang)
    assert 'action="/desk/return"' in page
    page = post(helper, "/desk/return", patron=zhang, item="SX00001")
    assert "已还：《草房子》" in result_text(page) and "张小明" in page


def test_holds_placed_and_cancelled_at_the_desk(helper: FlaskClient, central_db: CentralDB):
    zhang, li = patron_id(central_db, "S2026001"), patron_id(central_db, "S2026002")
    scan(helper, "20260001")
    scan(helper, "SX00010", zhang)
    page = helper.get(f"/desk?patron={li}&find=窗边").get_data(as_text=True)
    assert "窗边的小豆豆" in page
    with central_db.factory() as s:
        title_id = s.scalar(select(Item.title_id).where(Item.barcode == "SX00010"))
    page = post(helper, "/desk/holds", patron=li, title=title_id)
    assert "已预约 《窗边的小豆豆》" in page and "预约（1）" in page
    # A title on the shelf is not reserved: the desk says where it stands.
    with central_db.factory() as s:
        on_shelf = s.scalar(select(Item.title_id).where(Item.barcode == "SX00006"))
    page = post(helper, "/desk/holds", patron=li, title=on_shelf)
    assert "就在书架上" in page
    with central_db.factory() as s:
        hold = s.scalar(select(Hold).where(Hold.patron_id == li))
        assert hold is not None and hold.status == HoldStatus.WAITING
        hold_id = hold.id
    # The copy comes back: the desk sends it to the hold shelf for 李华.
    page = scan(helper, "SX00010")
    assert "放到预约架：李华 (三年级2班)" in result_text(page)
    page = post(helper, f"/desk/holds/{hold_id}/cancel", patron=li)
    assert "已取消 《窗边的小豆豆》 的预约" in page
    with central_db.factory() as s:
        assert s.get(Hold, hold_id).status == HoldStatus.CANCELLED
        # Nobody else waits: the copy goes back to the open shelf.
        assert s.scalar(select(Item.status).where(Item.barcode == "SX00010")) == (
            ItemStatus.AVAILABLE
        )
    assert [a for a, _, _ in audit_actions(central_db)] == [
        "loan.checkout",
        "hold.place",
        "loan.return",
        "hold.cancel",
    ]


def test_the_hold_shelf_lists_what_to_pull_what_waits_and_what_expires(
    central_app: Flask, staff: dict[str, str], central_db: CentralDB, clock: FakeClock
):
    helper = signed_in(central_app, staff["helper"])
    shelf = helper.get("/hold-shelf").get_data(as_text=True)
    to_pull = shelf[shelf.index('id="to-pull"') : shelf.index('id="expiring"')]
    # 陈思远 waits for 青铜葵花 while both copies stand on the shelf.
    assert "青铜葵花" in to_pull and "陈思远" in to_pull and "SX00004" in to_pull
    page = scan(helper, "SX00005")
    assert result_text(page) == "《青铜葵花》 有学生在等这本书。 放到预约架：陈思远 (五年级3班)"
    shelf = helper.get("/hold-shelf").get_data(as_text=True)
    assert "没有需要取下的书" in shelf
    waiting = shelf[shelf.index('id="waiting"') :]
    assert "SX00005" in waiting and "陈思远" in waiting
    assert "今天没有到期的预约书" in shelf
    # Set aside on Wednesday 25 November; five open days: its time is up on Wednesday 2 December.
    clock.advance(days=7)
    helper = signed_in(central_app, staff["helper"])
    shelf = helper.get("/hold-shelf").get_data(as_text=True)
    expiring = shelf[shelf.index('id="expiring"') : shelf.index('id="waiting"')]
    assert "SX00005" in expiring
    clock.advance(hours=10)
    helper = signed_in(central_app, staff["helper"])
    shelf = helper.get("/hold-shelf?lang=en").get_data(as_text=True)
    assert "Time is up: it passes on at the next sweep" in shelf


def test_a_student_without_a_card_is_found_by_name(helper: FlaskClient, central_db: CentralDB):
    # Two characters of one student's name: straight to them.
    page = scan(helper, "思远")
    assert '<h2 id="desk-patron-name">陈思远' in page
    # A class: the desk lists its students to choose from.
    page = scan(helper, "三年级二班")
    assert result_text(page).startswith("与“三年级二班”相符的学生：请选择。")
    zhang, li = patron_id(central_db, "S2026001"), patron_id(central_db, "S2026002")
    assert f'href="/desk?patron={zhang}">张小明</a>' in page
    assert f'href="/desk?patron={li}">李华</a>' in page
    assert "desk-patron-name" not in page


def test_a_copy_marked_lost_that_turns_up_stays_at_the_desk(
    helper: FlaskClient, central_db: CentralDB
):
    with central_db.factory.begin() as s:
        copy = s.scalar(select(Item).where(Item.barcode == "SX00006"))
        assert copy is not None
        copy.status = ItemStatus.LOST
    page = scan(helper, "SX00006")
    assert (
        result_text(page)
        == "《小王子》 没有借出。 请留在借还台：这册书已登记为遗失、注销或维修中。 遗失、找到、损坏、注销…"
    )
    # The copy's state page is a click away (the loss flow: found, in repair, withdrawn).
    assert 'id="desk-copy-state" href="/copies/SX00006/state"' in page
    shelf_copy = scan(helper, "SX00001")
    assert "desk-copy-state" not in shelf_copy
    with central_db.factory() as s:
        assert s.scalar(select(Item.status).where(Item.barcode == "SX00006")) == ItemStatus.LOST


def test_every_outcome_has_words(central_app: Flask):
    """Each refusal the rules can give, after a scan or a renewal, is a sentence, never an error."""
    with central_app.test_request_context("/desk?lang=en"):
        for action in ("refused", "renew_or_return", "unknown"):
            for refusal in [*Refusal, None]:
                last = {"action": action, "refusal": refusal, "title": "草房子", "code": "X1"}
                assert sentence_for(last, "en"), (action, refusal)
