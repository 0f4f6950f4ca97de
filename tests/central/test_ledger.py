"""Ledger rules: double checkouts in either sync order, orphan returns, unknowns, renewals."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import select

from central.changes import lock_change_counter
from central.orphans import flag_orphans
from db.central_models import (
    CentralEvent,
    EventState,
    ExceptionKind,
    ExceptionStatus,
    SyncException,
)
from db.models import Item, ItemStatus, Loan
from tests.central.conftest import CentralDB, SimKiosk, ledger_state
from tests.conftest import FakeClock

T0 = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)


def _open_exceptions(central_db: CentralDB, kind: str) -> list[SyncException]:
    with central_db.factory() as s:
        return list(
            s.scalars(
                select(SyncException).where(
                    SyncException.kind == kind, SyncException.status == ExceptionStatus.OPEN
                )
            )
        )


def _loan(central_db: CentralDB, loan_uuid: str) -> Loan:
    with central_db.factory() as s:
        loan = s.scalar(select(Loan).where(Loan.uuid == loan_uuid))
        assert loan is not None
        return loan


def _item_status(central_db: CentralDB, barcode: str) -> str:
    with central_db.factory() as s:
        return str(s.scalar(select(Item.status).where(Item.barcode == barcode)))


@pytest.mark.parametrize("a_first", [True, False], ids=["A-then-B", "B-then-A"])
def test_same_copy_lent_at_two_kiosks_offline(
    central_db: CentralDB, library, make_kiosk, a_first: bool
):
    a: SimKiosk = make_kiosk("kiosk-a")
    b: SimKiosk = make_kiosk("kiosk-b")
    early = a.checkout("SX00001", "S2026001", T0)
    late = b.checkout("SX00001", "S2026002", T0 + dt.timedelta(hours=2))
    for k in (a, b) if a_first else (b, a):
        assert k.push().status_code == 200
    earlier, later = _loan(central_db, early["loan_uuid"]), _loan(central_db, late["loan_uuid"])
    assert later.returned_at is None
    assert earlier.returned_at == T0 + dt.timedelta(hours=2)
    assert _item_status(central_db, "SX00001") == ItemStatus.ON_LOAN
    [exc] = _open_exceptions(central_db, ExceptionKind.DOUBLE_CHECKOUT)
    assert exc.kiosks == "kiosk-a,kiosk-b"
    assert exc.details["earlier"]["loan_uuid"] == early["loan_uuid"]
    assert exc.details["later"]["kiosk_id"] == "kiosk-b"


def _scenario(make_kiosk) -> list[SimKiosk]:
    """Three kiosks, overlapping loans of two copies, returns and renewals on both sides."""
    a, b, c = make_kiosk("a"), make_kiosk("b"), make_kiosk("c")
    h = dt.timedelta(hours=1)
    la = a.checkout("SX00001", "S2026001", T0)
    lb = b.checkout("SX00001", "S2026002", T0 + 2 * h)
    c.checkout("SX00001", "S2026003", T0 + 3 * h)
    b.checkin(lb, T0 + 5 * h)
    a.renewal(la, T0 + 24 * h, renewals=1)
    ok1 = a.checkout("SX00004", "S2026004", T0 + h)
    c.checkin(ok1, T0 + 4 * h)  # returned at another kiosk
    b.checkout("SX00004", "S2026005", T0 + 6 * h)
    c.visit("S2026006", T0)
    return [a, b, c]


def test_final_state_does_not_depend_on_sync_order(central_db: CentralDB, library, make_kiosk):
    from db.central_models import Kiosk, KioskEpoch, LoanFacts, SyncRun

    scenario = _scenario(make_kiosk)
    states = []
    for order in itertools.permutations(range(3)):
        # A fresh ledger per order: wipe what the scenario writes, keep roster and catalog.
        with central_db.factory.begin() as s:
            for model in (SyncException, CentralEvent, LoanFacts, Loan, SyncRun, KioskEpoch, Kiosk):
                s.query(model).delete()
            s.query(Item).update({Item.status: ItemStatus.AVAILABLE})
        for index in order:
            original = scenario[index]
            kiosk = make_kiosk(original.kiosk_id)
            kiosk.epoch, kiosk.outbox = original.epoch, original.outbox
            assert kiosk.push().status_code == 200
        states.append(ledger_state(central_db.factory))
    for state in states[1:]:
        assert state == states[0]
    # la is closed by lb, lb by lc (its own return came after lc began): two exceptions.
    assert len(states[0]["exceptions"]) == 2
    assert ("SX00004", ItemStatus.ON_LOAN) in states[0]["items"]


def test_late_return_explains_an_apparent_double_checkout(
    central_db: CentralDB, library, make_kiosk
):
    a, b, c = make_kiosk("a"), make_kiosk("b"), make_kiosk("c")
    first = a.checkout("SX00001", "S2026001", T0)
    b.checkout("SX00001", "S2026002", T0 + dt.timedelta(hours=3))
    c.checkin(first, T0 + dt.timedelta(hours=1))  # returned before B lent it again
    a.push()
    b.push()
    assert len(_open_exceptions(central_db, ExceptionKind.DOUBLE_CHECKOUT)) == 1
    c.push()
    assert _open_exceptions(central_db, ExceptionKind.DOUBLE_CHECKOUT) == []
    assert _loan(central_db, first["loan_uuid"]).returned_at == T0 + dt.timedelta(hours=1)


def test_orphan_return_waits_for_its_checkout(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    lender, returner = make_kiosk("lender"), make_kiosk("returner")
    loan = lender.checkout("SX00002", "S2026001", T0)
    returner.checkin(loan, T0 + dt.timedelta(hours=2))
    assert returner.push().status_code == 200
    with central_db.factory() as s:
        assert s.scalar(select(CentralEvent.state).where(CentralEvent.kind == "checkin")) == (
            EventState.PENDING
        )
    # Not yet three days: no exception.
    with central_db.factory.begin() as s:
        lock_change_counter(s)
        assert flag_orphans(s, clock() + dt.timedelta(days=1)) == 0
    with central_db.factory.begin() as s:
        lock_change_counter(s)
        assert flag_orphans(s, clock() + dt.timedelta(days=4)) == 1
    assert len(_open_exceptions(central_db, ExceptionKind.ORPHAN_RETURN)) == 1
    # The checkout arrives at last: the return is applied and the exception closes itself.
    assert lender.push().status_code == 200
    stored = _loan(central_db, loan["loan_uuid"])
    assert stored.returned_at == T0 + dt.timedelta(hours=2)
    assert stored.returned_kiosk_id == "returner"
    assert _item_status(central_db, "SX00002") == ItemStatus.AVAILABLE
    assert _open_exceptions(central_db, ExceptionKind.ORPHAN_RETURN) == []


def test_unknown_student_and_item_are_kept_as_exceptions(
    central_db: CentralDB, library, make_kiosk, client
):
    k: SimKiosk = make_kiosk("k1")
    k.checkout("SX99999", "S2026001", T0)
    k.checkout("SX00003", "S9999999", T0)
    r = k.push()
    assert r.status_code == 200 and r.json["acked_through"] == 2
    assert len(_open_exceptions(central_db, ExceptionKind.UNKNOWN_ITEM)) == 1
    assert len(_open_exceptions(central_db, ExceptionKind.UNKNOWN_PATRON)) == 1
    with central_db.factory() as s:
        states = set(s.scalars(select(CentralEvent.state)))
    assert states == {EventState.UNRESOLVED}


def test_renewals_fold_to_the_highest_count(central_db: CentralDB, library, make_kiosk):
    a, b = make_kiosk("a"), make_kiosk("b")
    loan = a.checkout("SX00005", "S2026001", T0)
    second = b.renewal(loan, T0 + dt.timedelta(days=20), renewals=2)
    a.renewal(loan, T0 + dt.timedelta(days=10), renewals=1)
    b.push()  # renewal before its checkout: pending
    a.push()
    stored = _loan(central_db, loan["loan_uuid"])
    assert stored.renewals == 2
    assert stored.due_at.isoformat() == second["due_at"]


def test_hold_is_fulfilled_by_its_patron_borrowing(central_db: CentralDB, library, make_kiosk):
    from db.models import Hold, HoldStatus

    k: SimKiosk = make_kiosk("k1")
    # The demo library has S2026005 waiting for 青铜葵花 (copies SX00004, SX00005).
    k.checkout("SX00004", "S2026005", T0)
    assert k.push().status_code == 200
    with central_db.factory() as s:
        assert s.scalar(select(Hold.status)) == HoldStatus.FULFILLED


def test_a_kiosk_loan_after_an_imported_one_keeps_the_imported_return(
    central_db: CentralDB, library, make_kiosk
):
    from zoneinfo import ZoneInfo

    from central.history import import_loans

    history = "学号,条码号,借出日期,归还日期\nS2026001,SX00001,2026-11-10,2026-11-12\n"
    with central_db.factory.begin() as s:
        imported = import_loans(
            s,
            history.encode("utf-8"),
            "借阅.csv",
            zone=ZoneInfo("Asia/Shanghai"),
            loan_days=14,
            now=T0,
        )
    assert imported.summary.added == 1
    with central_db.factory() as s:
        old = s.scalars(select(Loan)).one()
        returned_at = old.returned_at
    kiosk = make_kiosk("kiosk-a")
    kiosk.checkout("SX00001", "S2026002", T0)
    assert kiosk.push().status_code == 200
    # The old system's return stands: the copy was back on the shelf before the kiosk lent it.
    assert _loan(central_db, old.uuid).returned_at == returned_at
    assert _open_exceptions(central_db, ExceptionKind.DOUBLE_CHECKOUT) == []
