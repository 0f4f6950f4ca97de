"""The audit log: sign-in, sign-out and settling an exception are recorded with who, when and
where; admins read it newest first, by user and action; card numbers never go in."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select

from central.audit import audit_page, record
from central.conflicts import ensure_exception
from db.central_models import AuditEntry
from tests.central.conftest import CentralDB
from tests.central.console_support import add_staff, csrf_token, signed_in
from tests.conftest import FakeClock


def _rows(central_db: CentralDB) -> list[AuditEntry]:
    with central_db.factory() as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_sign_in_resolve_and_sign_out_are_audited(
    central_app: Flask, central_db: CentralDB, clock: FakeClock
):
    add_staff(central_db, clock)
    with central_db.factory.begin() as s:
        exc = ensure_exception(
            s,
            kind="unknown_item",
            dedup_key="unknown:x",
            subject="event:x",
            kiosks=["k1"],
            details={},
            now=clock(),
        )
        s.flush()
        exception_id = exc.id
    signed_in_at = clock()
    browser = signed_in(central_app, "liu", address="192.168.7.20")
    clock.advance(minutes=5)
    token = csrf_token(browser, "/exceptions")
    response = browser.post(
        f"/exceptions/{exception_id}/resolve", data={"csrf_token": token, "note": "补录了这本书"}
    )
    assert response.status_code == 302
    clock.advance(minutes=1)
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302

    rows = _rows(central_db)
    assert [(r.action, r.subject) for r in rows] == [
        ("user.sign_in", "user:liu"),
        ("exception.resolve", f"exception:{exception_id}"),
        ("user.sign_out", "user:liu"),
    ]
    assert {(r.username, r.role, r.address) for r in rows} == {("liu", "librarian", "192.168.7.20")}
    assert rows[0].at == signed_in_at
    assert rows[1].at == signed_in_at + dt.timedelta(minutes=5)
    assert rows[1].detail == {"kind": "unknown_item", "note": "补录了这本书"}


def test_a_refused_action_writes_no_audit_row(
    central_app: Flask, central_db: CentralDB, clock: FakeClock
):
    add_staff(central_db, clock)
    helper = signed_in(central_app, "xiaoming")
    token = csrf_token(helper, "/")
    assert helper.post("/exceptions/1/resolve", data={"csrf_token": token}).status_code == 403
    assert [r.action for r in _rows(central_db)] == ["user.sign_in"]


def test_the_audit_page_newest_first_filtered_and_paged(
    central_app: Flask, central_db: CentralDB, clock: FakeClock
):
    add_staff(central_db, clock)
    start = clock()
    with central_db.factory.begin() as s:
        for n in range(60):
            record(
                s,
                at=start + dt.timedelta(minutes=n),
                username="liu" if n % 2 else "xiaoming",
                role="librarian" if n % 2 else "helper",
                address="10.0.0.1",
                action="loan.checkout" if n % 3 else "item.lost",
                subject=f"item:SX{n:05d}",
                detail={"n": n},
            )
    admin = signed_in(central_app, "wang")
    page = admin.get("/audit").get_data(as_text=True)
    # Newest first: the sign-in just now is older than the made-up future rows.
    assert page.index("item:SX00059") < page.index("item:SX00058")
    assert "item:SX00001" not in page  # on page 2
    assert "第 1 页，共 2 页" in page
    # Times in the library's zone (Asia/Shanghai), as Chinese staff read them.
    newest = start + dt.timedelta(minutes=59)
    assert "2026年11月25日 周三 10:59" in page and newest.hour == 2
    page2 = admin.get("/audit?page=2").get_data(as_text=True)
    assert "item:SX00001" in page2
    # Actions in words, the dotted name beside.
    assert "标记遗失 <code" in page and "服务台借出 <code" in page
    lost = admin.get("/audit?action=item").get_data(as_text=True)
    assert "item:SX00003" in lost and "item:SX00001" not in lost
    with central_db.factory() as s:
        mine = audit_page(s, username="liu", action="loan")
        assert mine.total == 20 and all(e.username == "liu" for e in mine.entries)
        assert all(e.action == "loan.checkout" for e in mine.entries)


@pytest.mark.parametrize(
    "detail", [{"card_barcode": "20260001"}, {"patron": {"card": "20260001"}}, {"PIN": "1234"}]
)
def test_a_card_number_is_never_written_into_the_log(
    central_db: CentralDB, clock: FakeClock, detail: dict
):
    with central_db.factory() as s, pytest.raises(ValueError, match="must not hold"):
        record(
            s,
            at=clock(),
            username="liu",
            role="librarian",
            address="10.0.0.1",
            action="patron.block",
            subject="patron:7",
            detail=detail,
        )


def test_an_action_must_be_dotted(central_db: CentralDB, clock: FakeClock):
    with central_db.factory() as s, pytest.raises(ValueError, match="dotted"):
        record(
            s,
            at=clock(),
            username="liu",
            role="librarian",
            address="10.0.0.1",
            action="checkout",
            subject="item:1",
        )
