"""A real double checkout from two kiosks, told in words and settled by choosing where the book
is: the choice goes through the ledger, and both kiosks hold the right loans after their pull.

The kiosks are the real kiosk app on their own SQLite files, syncing with a central served by
waitress (SQLite and PostgreSQL): tests/central/test_holds_offline.py's fixtures.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from central.settling import Settlement
from db.central_models import AuditEntry, SyncException
from db.models import Item, ItemStatus, Loan, Patron
from tests.central.conftest import CentralDB, drain_ledger
from tests.central.console_support import add_staff, csrf_token, signed_in
from tests.central.test_holds_offline import (  # noqa: F401 - fixtures, used by name
    Kiosk,
    central_url,
    make_kiosk,
)
from tests.conftest import FakeClock

BOOK = "SX00010"
LI_HUA, WANG_FANG = "20260002", "20260003"  # 李华 (三年级二班), 王芳 (四年级一班)


def lend(kiosk: Kiosk, card: str, barcode: str) -> None:
    kiosk.scan(card)
    assert kiosk.scan(barcode)["action"] == "checked_out"
    kiosk.client.post("/api/session/end")


def open_loans(factory: Any) -> list[tuple[str, str]]:
    """(student number, kiosk) of the book's open loans."""
    with factory() as s:
        rows = s.execute(
            select(Patron.student_number, Loan.kiosk_id)
            .join(Loan, Loan.patron_id == Patron.id)
            .join(Item, Item.id == Loan.item_id)
            .where(Item.barcode == BOOK, Loan.returned_at.is_(None))
        ).all()
    return [(number, kiosk_id) for number, kiosk_id in rows]


def status(factory: Any) -> str | None:
    with factory() as s:
        return s.scalar(select(Item.status).where(Item.barcode == BOOK))


def double_checkout(
    central_db: CentralDB, url: str, make: Any, clock: FakeClock
) -> tuple[Kiosk, Kiosk, int]:
    """李华 borrows the book at kiosk 1, then 王芳 at kiosk 2 before either synced."""
    first, second = make("kiosk-1"), make("kiosk-2")
    assert first.sync(url).ok and second.sync(url).ok
    lend(first, LI_HUA, BOOK)
    for c in (first.clock, second.clock, clock):
        c.advance(minutes=10)
    lend(second, WANG_FANG, BOOK)
    assert first.sync(url).ok and second.sync(url).ok
    drain_ledger(central_db.factory, clock)
    with central_db.factory() as s:
        exceptions = list(s.scalars(select(SyncException)))
    assert [e.kind for e in exceptions] == ["double_checkout"]
    return first, second, exceptions[0].id


EXPECTED = {
    # 李华 has it: 王芳's loan ends now; 李华 has it again (a console loan, her own due date).
    Settlement.EARLIER_HAS_IT: ([("S2026002", "console")], ItemStatus.ON_LOAN, 2),
    # 王芳 has it: the ledger says so already; nothing is recorded.
    Settlement.LATER_HAS_IT: ([("S2026003", "kiosk-2")], ItemStatus.ON_LOAN, 0),
    # On the shelf: 王芳's loan ends now.
    Settlement.ON_SHELF: ([], ItemStatus.AVAILABLE, 1),
}


@pytest.mark.parametrize("settlement", list(Settlement))
def test_a_double_checkout_is_settled_by_choosing_where_the_book_is(
    central_db: CentralDB,
    central_url: str,  # noqa: F811
    central_app: Flask,
    make_kiosk: Any,  # noqa: F811
    clock: FakeClock,
    settlement: Settlement,
):
    first, second, exception_id = double_checkout(central_db, central_url, make_kiosk, clock)
    add_staff(central_db, clock)
    librarian = signed_in(central_app, "liu", address="192.168.3.4")
    page = librarian.get("/exceptions").get_data(as_text=True)
    # In words, names and the title first; the loans' ids only under "details".
    with central_db.factory() as s:
        title = s.scalar(select(Item).where(Item.barcode == BOOK)).title.title
    assert f"《{title}》" in page
    assert "借给了 <strong>李华</strong> (三年级2班)" in page
    assert "借给了 <strong>王芳</strong> (四年级1班)" in page
    assert "系统目前记录这本书在王芳手里。" in page
    for label in ("在李华手里", "在王芳手里", "在书架上"):
        assert label in page

    clock.advance(minutes=20)
    token = csrf_token(librarian, "/exceptions")
    response = librarian.post(
        f"/exceptions/{exception_id}/settle",
        data={"csrf_token": token, "settlement": settlement.value},
    )
    assert response.status_code == 302
    expected_loans, expected_status, events = EXPECTED[settlement]
    assert open_loans(central_db.factory) == expected_loans
    assert status(central_db.factory) == expected_status
    with central_db.factory() as s:
        exc = s.get(SyncException, exception_id)
        assert exc is not None and exc.status == "resolved" and exc.resolved_by == "liu"
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "exception.settle"))
        assert entry is not None and entry.address == "192.168.3.4"
        assert entry.detail == {"settlement": settlement.value, "events": events}
        if settlement is Settlement.EARLIER_HAS_IT:
            loan = s.scalar(
                select(Loan).where(Loan.kiosk_id == "console", Loan.returned_at.is_(None))
            )
            first_loan = s.scalar(select(Loan).where(Loan.kiosk_id == "kiosk-1"))
            assert loan is not None and first_loan is not None
            assert loan.due_at == first_loan.due_at  # she had it all along: her due date
            assert loan.checked_out_at == clock()

    # Both kiosks learn it on their next pull.
    for kiosk in (first, second):
        kiosk.clock.now = clock()
        assert kiosk.sync(central_url).ok
        assert open_loans(kiosk.factory) == expected_loans
        assert status(kiosk.factory) == expected_status
    # Settled once: the exception page offers no choice any more, and a second try is refused.
    page = librarian.get("/exceptions?status=all").get_data(as_text=True)
    assert 'name="settlement"' not in page
    said = {
        Settlement.EARLIER_HAS_IT: "处理人 liu: 在李华手里",
        Settlement.LATER_HAS_IT: "处理人 liu: 在王芳手里",
        Settlement.ON_SHELF: "处理人 liu: 在书架上",
    }
    assert said[settlement] in page
    again = librarian.post(
        f"/exceptions/{exception_id}/settle",
        data={"csrf_token": token, "settlement": Settlement.ON_SHELF.value},
    )
    assert again.status_code == 302
    assert open_loans(central_db.factory) == expected_loans


def test_a_helper_may_not_settle_and_bad_choices_are_refused(
    central_db: CentralDB,
    central_url: str,  # noqa: F811
    central_app: Flask,
    make_kiosk: Any,  # noqa: F811
    clock: FakeClock,
):
    _, _, exception_id = double_checkout(central_db, central_url, make_kiosk, clock)
    add_staff(central_db, clock)
    helper = signed_in(central_app, "xiaoming")
    page = helper.get("/exceptions").get_data(as_text=True)
    assert "借给了 <strong>李华</strong>" in page and 'name="settlement"' not in page
    token = csrf_token(helper, "/exceptions")
    form = {"csrf_token": token, "settlement": "on_shelf"}
    assert helper.post(f"/exceptions/{exception_id}/settle", data=form).status_code == 403
    librarian = signed_in(central_app, "liu")
    token = csrf_token(librarian, "/exceptions")
    bad = {"csrf_token": token, "settlement": "in_the_river"}
    assert librarian.post(f"/exceptions/{exception_id}/settle", data=bad).status_code == 400
    assert open_loans(central_db.factory) == [("S2026003", "kiosk-2")]


@pytest.mark.parametrize("settlement", list(Settlement))
def test_settled_at_the_very_time_of_the_later_loan_the_choice_still_stands(
    central_db: CentralDB,
    central_url: str,  # noqa: F811
    central_app: Flask,
    make_kiosk: Any,  # noqa: F811
    clock: FakeClock,
    settlement: Settlement,
):
    """The librarian's clock may read the later kiosk's loan time (or earlier: a kiosk clock a
    little fast): the settling events still come after both loans, so the ledger does not see
    the console's own loan as a new double checkout, and the choice stands."""
    first, second, exception_id = double_checkout(central_db, central_url, make_kiosk, clock)
    add_staff(central_db, clock)
    librarian = signed_in(central_app, "liu")
    token = csrf_token(librarian, "/exceptions")
    response = librarian.post(
        f"/exceptions/{exception_id}/settle",
        data={"csrf_token": token, "settlement": settlement.value},
    )
    assert response.status_code == 302
    drain_ledger(central_db.factory, clock)
    expected_loans, expected_status, _ = EXPECTED[settlement]
    assert open_loans(central_db.factory) == expected_loans
    assert status(central_db.factory) == expected_status
    with central_db.factory() as s:
        still_open = list(s.scalars(select(SyncException).where(SyncException.status == "open")))
        assert still_open == []
        settled = s.get(SyncException, exception_id)
        assert settled is not None and settled.resolved_by == "liu"
    for kiosk in (first, second):
        kiosk.clock.now = clock()
        assert kiosk.sync(central_url).ok
        assert open_loans(kiosk.factory) == expected_loans
