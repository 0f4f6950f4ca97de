"""The console's records services: find anything, the record pages, and edits kiosks then pull."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from central import records
from central.records import Contact, CopyChanges, EditOutcome, RecordKind, RecordRef
from db.models import Item, Patron, PatronStatus, Title
from kiosk.circulation.barcodes import BarcodeRules
from kiosk.circulation.overdue import ChasePolicy
from kiosk.search.query import search_titles
from kiosk.services.demo import isbn13_for
from tests.central.conftest import CentralDB, SimKiosk
from tests.conftest import FakeClock

POLICY = ChasePolicy()
RULES = BarcodeRules(item_pattern=r"[A-Z]{1,4}\d{4,10}")


def _id(session: Any, model: Any, **where: str) -> int:
    column, value = next(iter(where.items()))
    found = session.scalar(select(model.id).where(getattr(model, column) == value))
    assert found is not None
    return int(found)


def _pulled(k: SimKiosk, entity: str) -> dict[str, dict[str, Any]]:
    """The latest data of each `entity` key a kiosk pulling from scratch receives."""
    out: dict[str, dict[str, Any]] = {}
    since = 0
    while True:
        body = k.pull(since, 500).json
        for change in body["changes"]:
            if change["entity"] == entity:
                out[change["key"]] = change
        since = body["next_since"]
        if not body["more"]:
            return out


# --- find ---------------------------------------------------------------------------------------


def test_find_lists_students_by_two_chinese_characters(central_db: CentralDB, library):
    with central_db.factory() as s:
        found = records.find(s, "欧阳")
    assert found.exact is None
    assert [h.name for h in found.students] == ["欧阳娜娜"]
    assert not found.copies


@pytest.mark.parametrize("query", ["三年级2班", "3-2", "三年级二班"])
def test_find_lists_a_class(central_db: CentralDB, library, query: str):
    with central_db.factory() as s:
        found = records.find(s, query)
    assert found.exact is None
    assert sorted(h.name for h in found.students) == ["张小明", "李华"]


def test_exact_codes_open_the_record(central_db: CentralDB, library):
    with central_db.factory() as s:
        li = _id(s, Patron, card_barcode="20260002")
        copy = _id(s, Item, barcode="SX00001")
        book = _id(s, Title, isbn13=isbn13_for(1))
        isbn = isbn13_for(1)
        hyphenated = f"{isbn[:3]}-{isbn[3:4]}-{isbn[4:7]}-{isbn[7:12]}-{isbn[12]}"
        assert records.find(s, "20260002").exact == RecordRef(RecordKind.PATRON, li)
        assert records.find(s, " s2026002 ").exact == RecordRef(RecordKind.PATRON, li)
        # Lower case and full width, as a wedge scanner under a Chinese input method types it.
        assert records.find(s, "ｓｘ00001").exact == RecordRef(RecordKind.ITEM, copy)
        assert records.find(s, hyphenated).exact == RecordRef(RecordKind.TITLE, book)


def test_find_groups_copies_and_titles(central_db: CentralDB, library):
    with central_db.factory() as s:
        by_barcode = records.find(s, "sx0000")
        by_author = records.find(s, "曹文轩")
        by_call = records.find(s, "I287.45")
        nothing = records.find(s, "没有这本书的书名")
    assert by_barcode.exact is None
    assert [c.barcode for c in by_barcode.copies] == [f"SX0000{i}" for i in range(1, 10)]
    assert by_barcode.copies[0].title == "草房子"
    assert {t.title for t in by_author.titles} == {"草房子", "青铜葵花"}
    assert not by_author.students and not by_author.copies
    assert {t.title for t in by_call.titles} >= {"草房子", "青铜葵花"}
    assert nothing.empty


# --- record pages -------------------------------------------------------------------------------


def test_patron_record_shows_loans_overdue_history_and_holds(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    start = clock()
    first = k.checkout("SX00001", "S2026002", start)
    k.checkout("SX00004", "S2026002", start + dt.timedelta(minutes=1))
    k.checkin(first, start + dt.timedelta(days=2))
    assert k.push().status_code == 200
    # Sixteen days later the 14-day loan is two days overdue (due at closing time).
    now = start + dt.timedelta(days=16, hours=6)
    with central_db.factory() as s:
        li = _id(s, Patron, student_number="S2026002")
        record = records.patron_record(s, li, POLICY, now)
        assert record is not None
        assert [(line.title, line.barcode) for line in record.loans] == [("青铜葵花", "SX00004")]
        assert record.loans[0].days_overdue == 2 and record.overdue == 1
        assert [line.barcode for line in record.history.loans] == ["SX00001"]
        assert record.history.total == 1 and record.history.pages == 1
        assert record.history.loans[0].returned_at == start + dt.timedelta(days=2)
        chen = _id(s, Patron, student_number="S2026005")
        waiting = records.patron_record(s, chen, POLICY, now)
        assert waiting is not None
        assert [(h.title, h.status) for h in waiting.holds] == [("青铜葵花", "waiting")]
        assert records.patron_record(s, 999_999, POLICY, now) is None


def test_history_is_paged_newest_first(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    at = clock()
    for n in range(records.HISTORY_PAGE + 5):
        loan = k.checkout("SX00010", "S2026003", at + dt.timedelta(hours=2 * n))
        k.checkin(loan, at + dt.timedelta(hours=2 * n + 1))
    assert k.push().status_code == 200
    with central_db.factory() as s:
        wang = _id(s, Patron, student_number="S2026003")
        first = records.patron_record(s, wang, POLICY, at)
        second = records.patron_record(s, wang, POLICY, at, history_page=2)
        beyond = records.patron_record(s, wang, POLICY, at, history_page=99)
        copy = records.item_record(s, _id(s, Item, barcode="SX00010"), POLICY, at)
    assert first and second and beyond and copy
    assert first.history.pages == 2 and first.history.total == records.HISTORY_PAGE + 5
    times = [line.checked_out_at for line in [*first.history.loans, *second.history.loans]]
    assert times == sorted(times, reverse=True) and len(set(times)) == records.HISTORY_PAGE + 5
    assert beyond.history.page == 2
    assert copy.history.total == records.HISTORY_PAGE + 5
    assert {line.patron_name for line in copy.history.loans} == {"王芳"}


def test_item_and_title_records_say_where_each_copy_is(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    k.checkout("SX00002", "S2026001", clock())
    assert k.push().status_code == 200
    with central_db.factory() as s:
        lent = records.item_record(s, _id(s, Item, barcode="SX00002"), POLICY, clock())
        shelf = records.item_record(s, _id(s, Item, barcode="SX00003"), POLICY, clock())
        book = records.title_record(s, _id(s, Title, title="草房子"), POLICY, clock())
        held = records.title_record(s, _id(s, Title, title="青铜葵花"), POLICY, clock())
    assert lent and shelf and book and held
    assert lent.loan is not None and lent.loan.patron_name == "张小明"
    assert lent.item.status == "on_loan" and lent.title.call_number == "I287.45/C12"
    assert shelf.loan is None and shelf.hold is None and shelf.item.status == "available"
    assert [(c.barcode, c.patron_name) for c in book.copies] == [
        ("SX00001", None),
        ("SX00002", "张小明"),
        ("SX00003", None),
    ]
    assert book.on_shelf == 2 and not book.holds
    assert [(h.patron_name, h.status) for h in held.holds] == [("陈思远", "waiting")]


# --- edits --------------------------------------------------------------------------------------


def test_block_with_reason_reaches_kiosks(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    with central_db.factory() as s:
        li = _id(s, Patron, student_number="S2026002")
        assert records.block_patron(s, li, "   ", clock()) is EditOutcome.REASON_REQUIRED
        assert records.block_patron(s, 999_999, "x", clock()) is EditOutcome.NOT_FOUND
        outcome = records.block_patron(s, li, " 《草房子》 遗失未赔 ", clock())
        s.commit()
    assert outcome is EditOutcome.DONE
    pulled = _pulled(k, "patron")["S2026002"]["data"]
    assert pulled["status"] == "blocked" and pulled["block_reason"] == "《草房子》 遗失未赔"
    with central_db.factory() as s:
        assert records.block_patron(s, li, "《草房子》 遗失未赔", clock()) is EditOutcome.UNCHANGED
        assert records.unblock_patron(s, li, clock()) is EditOutcome.DONE
        s.commit()
        assert records.unblock_patron(s, li, clock()) is EditOutcome.UNCHANGED
    pulled = _pulled(k, "patron")["S2026002"]["data"]
    assert pulled["status"] == "active" and pulled["block_reason"] == ""


def test_a_student_who_left_is_not_blocked(central_db: CentralDB, library, clock: FakeClock):
    with central_db.factory() as s:
        li = s.get(Patron, _id(s, Patron, student_number="S2026002"))
        assert li is not None
        li.status = PatronStatus.LEFT
        s.flush()
        assert records.block_patron(s, li.id, "reason", clock()) is EditOutcome.PATRON_LEFT
        assert records.unblock_patron(s, li.id, clock()) is EditOutcome.PATRON_LEFT


def test_contact_edit_stays_on_the_central(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    contact = Contact(" 李明 ", "13800138000", "liming@example.cn")
    with central_db.factory() as s:
        li = _id(s, Patron, student_number="S2026002")
        edited = records.edit_contact(s, li, contact, clock())
        assert edited.outcome is EditOutcome.DONE
        assert edited.changes == {
            "parent_name": ("", "李明"),
            "parent_phone": ("", "13800138000"),
            "parent_email": ("", "liming@example.cn"),
        }
        s.commit()
        assert records.edit_contact(s, li, contact, clock()).outcome is EditOutcome.UNCHANGED
        patron = s.get(Patron, li)
        assert patron is not None and patron.parent_name == "李明"
    data = _pulled(k, "patron")["S2026002"]["data"]
    assert "parent_phone" not in data and "parent_name" not in data


def test_edit_copy_barcode_location_and_call_number(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    k.checkout("SX00002", "S2026001", clock())
    assert k.push().status_code == 200
    with central_db.factory() as s:
        copy = _id(s, Item, barcode="SX00001")
        lent = _id(s, Item, barcode="SX00002")

        def edit(item_id: int, barcode: str, call: str = "I287.45/C12") -> EditOutcome:
            changes = CopyChanges(barcode, "二楼 A3", call)
            return records.edit_item(s, item_id, changes, RULES, clock()).outcome

        assert edit(copy, "SX00003") is EditOutcome.BARCODE_TAKEN
        assert edit(copy, "20260001") is EditOutcome.BARCODE_NOT_ITEM
        assert edit(copy, isbn13_for(1)) is EditOutcome.BARCODE_NOT_ITEM
        assert edit(lent, "SX09999") is EditOutcome.BARCODE_IN_USE
        assert edit(999_999, "SX09999") is EditOutcome.NOT_FOUND
        assert edit(copy, " sx 09999 ", "I287.45/C99") is EditOutcome.DONE
        s.commit()
        assert edit(copy, "SX09999", "I287.45/C99") is EditOutcome.UNCHANGED
        # The search follows the new call number.
        assert next(h.title for h in search_titles(s, "I287.45/C99")) == "草房子"
    items = _pulled(k, "item")
    assert items["SX00001"]["deleted"] is True
    assert items["SX09999"]["data"]["location"] == "二楼 A3"
    titles = {c["data"]["title"]: c["data"] for c in _pulled(k, "title").values()}
    assert titles["草房子"]["call_number"] == "I287.45/C99"


def test_add_copies_given_or_invented(central_db: CentralDB, library, make_kiosk, clock: FakeClock):
    k: SimKiosk = make_kiosk("k1")
    with central_db.factory() as s:
        book = _id(s, Title, title="城南旧事")

        def add(*barcodes: str, count: int = 0) -> records.AddedCopies:
            return records.add_copies(
                s, book, barcodes=barcodes, count=count, location="三楼", rules=RULES, now=clock()
            )

        clash = add("SX80001", "SX00001")
        assert clash.outcome is EditOutcome.BARCODE_TAKEN and clash.refused == ("SX00001",)
        assert add("SX80001", "20260001").refused == ("20260001",)
        assert add(count=0).outcome is EditOutcome.TOO_MANY_COPIES
        assert add(count=records.MAX_NEW_COPIES + 1).outcome is EditOutcome.TOO_MANY_COPIES
        given = add("sx80001", "SX80002")
        invented = add(count=2)
        s.commit()
        barcodes = sorted(s.scalars(select(Item.barcode).where(Item.title_id == book)))
    assert given.outcome is EditOutcome.DONE and given.barcodes == ("SX80001", "SX80002")
    isbn_digits = isbn13_for(7)[2:12]
    # As the catalog import makes them: the 4th and 5th copy of this ISBN.
    assert invented.barcodes == (f"GD{isbn_digits}", f"GE{isbn_digits}")
    assert len(barcodes) == 5
    items = _pulled(k, "item")
    assert {b for b in barcodes} <= set(items)
    assert items[f"GD{isbn_digits}"]["data"]["location"] == "三楼"
