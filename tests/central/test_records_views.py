"""The records pages over HTTP: the find box, the student/copy/title pages, edits by role, audited."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from central.compensation import change_copy, settle_case
from db.central_models import AuditEntry, Kiosk
from db.models import Item, Patron, Title
from kiosk.circulation.compensation import CaseAction, CompensationMode, CompensationPolicy
from kiosk.circulation.states import CopyEvent
from tests.central.conftest import CentralDB, SimKiosk
from tests.central.console_support import add_staff, csrf_token, signed_in
from tests.conftest import FakeClock


@pytest.fixture
def staff(central_db: CentralDB, clock: FakeClock, library: Any) -> dict[str, str]:
    return add_staff(central_db, clock)


def _id(central_db: CentralDB, model: Any, **where: str) -> int:
    column, value = next(iter(where.items()))
    with central_db.factory() as s:
        found = s.scalar(select(model.id).where(getattr(model, column) == value))
    assert found is not None
    return int(found)


def _text(response: Any) -> str:
    return str(response.get_data(as_text=True))


def _post(client: FlaskClient, page: str, action: str, **data: Any) -> Any:
    return client.post(action, data={"csrf_token": csrf_token(client, page), **data})


def _audit(central_db: CentralDB, action: str) -> list[AuditEntry]:
    with central_db.factory() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_the_find_box_is_on_every_page_and_lists_by_group(
    central_app: Flask, central_db: CentralDB, staff: dict[str, str]
):
    helper = signed_in(central_app, staff["helper"])
    monitor = _text(helper.get("/"))
    assert 'action="/find"' in monitor and "查找 姓名/班级/条码/书名/ISBN" in monitor
    page = _text(helper.get("/find?q=欧阳"))
    ouyang = _id(central_db, Patron, name="欧阳娜娜")
    assert f'href="/patrons/{ouyang}"' in page and "学生（1）" in page
    assert "馆藏册（" not in page
    by_class = _text(helper.get("/find?q=三年级2班"))
    assert "张小明" in by_class and "李华" in by_class
    books = _text(helper.get("/find?q=曹文轩&lang=en"))
    assert "Titles (2)" in books and "草房子" in books and "Students (" not in books
    assert "没有找到" in _text(helper.get("/find?q=没有这本书的书名&lang=zh"))


def test_an_exact_code_opens_its_record(
    central_app: Flask, central_db: CentralDB, staff: dict[str, str]
):
    client = signed_in(central_app, staff["helper"])
    li = _id(central_db, Patron, card_barcode="20260002")
    copy = _id(central_db, Item, barcode="SX00001")
    assert client.get("/find?q=20260002").headers["Location"] == f"/patrons/{li}"
    assert client.get("/find?q=sx00001").headers["Location"] == f"/items/{copy}"
    book = _id(central_db, Title, title="草房子")
    with central_db.factory() as s:
        isbn = s.scalar(select(Title.isbn13).where(Title.id == book))
    assert client.get(f"/find?q={isbn}").headers["Location"] == f"/titles/{book}"


def test_student_page_for_librarian_and_helper(
    central_app: Flask, central_db: CentralDB, staff: dict[str, str], make_kiosk, clock: FakeClock
):
    with central_db.factory.begin() as s:
        li = s.scalar(select(Patron).where(Patron.student_number == "S2026002"))
        assert li is not None
        li.parent_name, li.parent_phone = "李明", "13800138000"
    k: SimKiosk = make_kiosk("k1")
    k.checkout("SX00004", "S2026002", clock() - dt.timedelta(days=20))
    assert k.push().status_code == 200
    patron_id = _id(central_db, Patron, student_number="S2026002")
    librarian = _text(signed_in(central_app, staff["librarian"]).get(f"/patrons/{patron_id}"))
    assert "李华" in librarian and "三年级2班" in librarian
    assert "青铜葵花" in librarian and "SX00004" in librarian
    # Twenty days ago on a 14-day loan: due last week, overdue by the open days since.
    assert re.search(r'<strong class="error-text">\d+</strong>', librarian)
    assert "家长联系方式" in librarian and "13800138000" in librarian
    assert "停借原因" in librarian
    # Lend, return and renew happen on the desk page, with this student already there.
    assert f'href="/desk?patron={patron_id}"' in librarian
    helper = _text(signed_in(central_app, staff["helper"]).get(f"/patrons/{patron_id}"))
    assert "李华" in helper and "青铜葵花" in helper
    assert f'href="/desk?patron={patron_id}"' in helper
    # Helpers see no parents' contact and no edit.
    assert "13800138000" not in helper and "李明" not in helper and "家长联系方式" not in helper
    assert "停借原因" not in helper and "/block" not in helper
    assert signed_in(central_app, staff["helper"]).get("/patrons/999999").status_code == 404


def test_block_needs_a_reason_and_is_audited_and_pulled(
    central_app: Flask, central_db: CentralDB, staff: dict[str, str], make_kiosk
):
    patron_id = _id(central_db, Patron, student_number="S2026002")
    page = f"/patrons/{patron_id}"
    helper = signed_in(central_app, staff["helper"])
    assert _post(helper, page, f"{page}/block", reason="x").status_code == 403
    client = signed_in(central_app, staff["librarian"])
    empty = _post(client, page, f"{page}/block", reason="  ")
    assert empty.status_code == 400 and "请写明原因：学生会在自助机上看到。" in _text(empty)
    done = _post(client, page, f"{page}/block", reason="《草房子》遗失，请家长联系图书馆")
    assert done.status_code == 302
    shown = _text(client.get(page))
    assert "已停借" in shown and "《草房子》遗失，请家长联系图书馆" in shown
    assert ">恢复借阅</button>" in shown
    entries = _audit(central_db, "patron.block")
    assert [(e.username, e.role, e.subject) for e in entries] == [
        ("liu", "librarian", f"patron:{patron_id}")
    ]
    assert "20260002" not in str(entries[0].detail)
    k: SimKiosk = make_kiosk("k1")
    data = next(
        c["data"]
        for c in k.pull(0, 500).json["changes"]
        if c["entity"] == "patron" and c["key"] == "S2026002"
    )
    assert data["status"] == "blocked"
    assert data["block_reason"] == "《草房子》遗失，请家长联系图书馆"
    assert _post(client, page, f"{page}/unblock").status_code == 302
    after = _text(client.get(page))
    assert "已恢复借阅" in after and ">恢复借阅</button>" not in after and "已停借" not in after
    assert len(_audit(central_db, "patron.unblock")) == 1


def test_contact_form_checks_in_chinese_and_audits_field_names_only(
    central_app: Flask, central_db: CentralDB, staff: dict[str, str]
):
    patron_id = _id(central_db, Patron, student_number="S2026003")
    page = f"/patrons/{patron_id}"
    client = signed_in(central_app, staff["librarian"])
    bad = _post(
        client,
        page,
        f"{page}/contact",
        parent_name="王强",
        parent_phone="call me",
        parent_email="wang@",
    )
    assert bad.status_code == 400
    assert "电话号码只能包含数字" in _text(bad) and "这不是电子邮箱地址" in _text(bad)
    good = _post(
        client,
        page,
        f"{page}/contact",
        parent_name="王强",
        parent_phone="139 0000 1111",
        parent_email="wang@example.cn",
    )
    assert good.status_code == 302
    with central_db.factory() as s:
        patron = s.get(Patron, patron_id)
        assert patron is not None and patron.parent_phone == "139 0000 1111"
    (entry,) = _audit(central_db, "patron.contact")
    assert entry.detail == {"changed": ["parent_email", "parent_name", "parent_phone"]}
    helper = signed_in(central_app, staff["helper"])
    assert _post(helper, page, f"{page}/contact", parent_name="x").status_code == 403


def test_copy_page_says_where_it_is_and_edits(
    central_app: Flask, central_db: CentralDB, staff: dict[str, str], make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    k.checkout("SX00002", "S2026001", clock())
    assert k.push().status_code == 200
    lent = _id(central_db, Item, barcode="SX00002")
    shelf = _id(central_db, Item, barcode="SX00001")
    client = signed_in(central_app, staff["librarian"])
    page = _text(client.get(f"/items/{lent}"))
    assert "借阅人" in page and "张小明" in page and "应还" in page and "I287.45/C12" in page
    assert "中图法" in page
    english = _text(client.get(f"/items/{lent}?lang=en"))
    assert "On loan to" in english and "due " in english
    on_shelf = _text(client.get(f"/items/{shelf}?lang=zh"))
    assert "在架" in on_shelf and "Shelf I" in on_shelf
    form = f"/items/{shelf}"
    clash = _post(client, form, form, barcode="SX00003", location="Shelf I", call_number="I287")
    assert clash.status_code == 409 and "条码 SX00003 已经属于另一册书" in _text(clash)
    moved = _post(
        client, form, form, barcode="SX70001", location="二楼 A3", call_number="I287.45/C12"
    )
    assert moved.status_code == 302
    with central_db.factory() as s:
        item = s.get(Item, shelf)
        assert item is not None and (item.barcode, item.location) == ("SX70001", "二楼 A3")
    (entry,) = _audit(central_db, "item.edit")
    assert entry.detail == {
        "barcode": ["SX00001", "SX70001"],
        "location": ["Shelf I", "二楼 A3"],
    }
    helper = signed_in(central_app, staff["helper"])
    assert "修改这一册" not in _text(helper.get(form))
    assert _post(helper, form, form, barcode="SX70002").status_code == 403


def test_title_page_lists_copies_and_holds_and_adds_copies(
    central_app: Flask, central_db: CentralDB, staff: dict[str, str]
):
    book = _id(central_db, Title, title="青铜葵花")
    page = f"/titles/{book}"
    client = signed_in(central_app, staff["librarian"])
    shown = _text(client.get(page))
    assert "SX00004" in shown and "SX00005" in shown and "陈思远" in shown and "排队中" in shown
    too_many = _post(client, page, f"{page}/copies", count="500")
    assert too_many.status_code == 400 and "一次 1 到 60 册" in _text(too_many)
    not_a_number = _post(client, page, f"{page}/copies", count="两")
    assert not_a_number.status_code == 400
    added = _post(client, page, f"{page}/copies", count="2", location="三楼")
    assert added.status_code == 302
    flashed = _text(client.get(page))
    assert "已添加 2 册" in flashed
    with central_db.factory() as s:
        barcodes = set(s.scalars(select(Item.barcode).where(Item.title_id == book)))
    assert len(barcodes) == 4
    (entry,) = _audit(central_db, "item.add")
    assert sorted(entry.detail["barcodes"]) == sorted(barcodes - {"SX00004", "SX00005"})


def test_student_page_shows_compensation_owed_and_paid(
    central_app: Flask, central_db: CentralDB, staff: dict[str, str], make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    k.checkout("SX00001", "S2026002", clock())
    k.checkout("SX00004", "S2026002", clock())
    assert k.push().status_code == 200
    policy = CompensationPolicy(mode=CompensationMode.FIXED, fixed_fen=2550)
    with central_db.factory.begin() as s:
        for barcode in ("SX00001", "SX00004"):
            item = s.scalar(select(Item).where(Item.barcode == barcode))
            assert item is not None
            change = change_copy(
                s, item, CopyEvent.MARKED_LOST, at=clock(), by="liu", policy=policy
            )
            assert change.case is not None
        settle_case(s, change.case, CaseAction.PAY, at=clock(), by="liu")
    patron_id = _id(central_db, Patron, student_number="S2026002")
    page = _text(signed_in(central_app, staff["helper"]).get(f"/patrons/{patron_id}"))
    assert "赔偿" in page and "应赔" in page
    assert re.search(r"应赔 <strong[^>]*>¥25\.50</strong>\s*· 已缴 ¥25\.50", page), page
    assert "《草房子》" in page and "《青铜葵花》" in page
    copy = _id(central_db, Item, barcode="SX00001")
    item_page = _text(signed_in(central_app, staff["helper"]).get(f"/items/{copy}"))
    assert 'href="/copies/SX00001/state"' in item_page


def test_a_loan_ended_by_a_loss_reads_lost_and_kiosks_go_by_name(
    central_app: Flask, central_db: CentralDB, staff: dict[str, str], make_kiosk, clock: FakeClock
):
    """The student's and the copy's history: a copy marked lost while on loan ended that loan as
    lost (not "returned"); where it was lent reads as the kiosk's name, or 借还台 for the desk."""
    k: SimKiosk = make_kiosk("k1")
    with central_db.factory.begin() as s:
        row = s.get(Kiosk, "k1")
        assert row is not None
        row.name = "一楼大厅"
    lent = k.checkout("SX00001", "S2026002", clock())
    k.checkout("SX00004", "S2026002", clock())
    assert k.push().status_code == 200
    clock.advance(days=3)
    k.checkin(lent, clock())
    assert k.push().status_code == 200
    clock.advance(days=2)
    with central_db.factory.begin() as s:
        item = s.scalar(select(Item).where(Item.barcode == "SX00004"))
        assert item is not None
        change_copy(
            s, item, CopyEvent.MARKED_LOST, at=clock(), by="liu", policy=CompensationPolicy()
        )
    librarian = signed_in(central_app, staff["librarian"])
    patron = _text(librarian.get(f"/patrons/{_id(central_db, Patron, student_number='S2026002')}"))
    history = patron[patron.index('id="history"') :]
    # 草房子 came back on 28 Nov; 青铜葵花 was lost on 30 Nov (times in the library's zone).
    assert re.search(r"SX00001</a></td>\s*<td>[^<]*</td>\s*<td>2026年11月28日</td>", history)
    assert re.search(
        r"SX00004</a></td>\s*<td>[^<]*</td>\s*<td><span class=\"warn\">遗失</span> 2026年11月30日</td>",
        history,
    ), history
    lost_copy = _text(librarian.get(f"/items/{_id(central_db, Item, barcode='SX00004')}"))
    assert '<span class="warn">遗失</span> 2026年11月30日' in lost_copy
    assert '<td class="sub">一楼大厅</td>' in lost_copy
    english = _text(librarian.get(f"/items/{_id(central_db, Item, barcode='SX00004')}?lang=en"))
    assert '<span class="warn">Lost</span> 30 Nov 2026' in english
