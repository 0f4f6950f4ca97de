"""Lost, found, damaged, repaired, withdrawn at the desk, and compensation cases (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from central.compensation import (
    DeskRefusal,
    change_copy,
    patron_compensation,
    returned_after_loss,
    settle_case,
)
from db.central_models import CompensationCase, LoanFacts
from db.models import Item, Loan, Patron, Title
from kiosk.circulation.compensation import (
    CaseAction,
    CompensationMode,
    CompensationPolicy,
    OnFound,
)
from kiosk.circulation.states import CopyEvent, LoanEffect
from tests.central.conftest import CentralDB
from tests.conftest import FakeClock

POLICY = CompensationPolicy(
    mode=CompensationMode.PRICE_FACTOR,
    factor=Decimal("1.5"),
    damaged_factor=Decimal("0.5"),
    minimum_fen=1000,
    fixed_fen=3000,
    on_found=OnFound.REFUND,
)
STUDENT = "S2026002"  # 李华


def lend(make_kiosk: Any, clock: FakeClock, barcode: str = "SX00001") -> tuple[Any, dict[str, Any]]:
    kiosk = make_kiosk("kiosk-1")
    loan = kiosk.checkout(barcode, STUDENT, clock())
    assert kiosk.push().status_code == 200
    return kiosk, loan


def desk(
    central_db: CentralDB,
    clock: FakeClock,
    operation: CopyEvent,
    barcode: str = "SX00001",
    policy: CompensationPolicy = POLICY,
) -> Any:
    with central_db.factory.begin() as session:
        item = session.scalar(select(Item).where(Item.barcode == barcode))
        assert item is not None
        change = change_copy(session, item, operation, at=clock(), by="librarian1", policy=policy)
        return change


def set_price(central_db: CentralDB, barcode: str, price_fen: int | None) -> None:
    with central_db.factory.begin() as session:
        item = session.scalar(select(Item).where(Item.barcode == barcode))
        assert item is not None
        session.get(Title, item.title_id).price_fen = price_fen  # type: ignore[union-attr]


def open_cases(central_db: CentralDB) -> int:
    with central_db.factory() as session:
        patron = session.scalar(select(Patron).where(Patron.student_number == STUDENT))
        assert patron is not None
        return patron.open_compensation_cases


def test_lost_on_loan_ends_the_loan_as_lost_and_opens_a_case_by_policy(
    central_db, library, make_kiosk, clock
):
    set_price(central_db, "SX00001", 2550)
    kiosk, loan = lend(make_kiosk, clock)
    clock.advance(days=3)
    lost_at = clock()
    change = desk(central_db, clock, CopyEvent.MARKED_LOST)
    assert change.refusal is None
    assert (change.status_before, change.status_after) == ("on_loan", "lost")
    assert change.loan_effect is LoanEffect.CLOSED_AS_LOST
    assert change.loan_uuid == loan["loan_uuid"]
    with central_db.factory() as session:
        row = session.scalar(select(Loan).where(Loan.uuid == loan["loan_uuid"]))
        assert row is not None
        assert row.returned_at == lost_at
        assert row.returned_kiosk_id is None
        case = session.scalar(select(CompensationCase))
        assert case is not None
        assert (case.status, case.reason, case.amount_fen, case.price_fen) == (
            "open",
            "lost",
            3825,
            2550,
        )
        assert case.basis == "price"
        assert case.recorded_by == "librarian1"
        assert case.policy.startswith("price_factor ×1.5")
    assert open_cases(central_db) == 1
    # The kiosk learns all three on its next pull: the copy, the loan ended, the open case.
    changes = kiosk.pull().get_json()["changes"]
    by_key = {(c["entity"], c["key"]): c["data"] for c in changes}
    assert by_key[("item", "SX00001")]["status"] == "lost"
    assert by_key[("loan", loan["loan_uuid"])]["returned_at"] is not None
    assert by_key[("patron", STUDENT)]["open_compensation_cases"] == 1


def test_a_kiosk_return_after_the_loss_keeps_the_loan_ended_at_the_loss_and_the_copy_lost(
    central_db, library, make_kiosk, clock
):
    kiosk, loan = lend(make_kiosk, clock)
    clock.advance(days=3)
    lost_at = clock()
    desk(central_db, clock, CopyEvent.MARKED_LOST)
    clock.advance(days=2)
    kiosk.checkin(loan, clock())
    kiosk.push()
    with central_db.factory() as session:
        row = session.scalar(select(Loan).where(Loan.uuid == loan["loan_uuid"]))
        assert row is not None and row.returned_at == lost_at
        assert session.scalar(select(Item.status).where(Item.barcode == "SX00001")) == "lost"
        case = session.scalar(select(CompensationCase))
        assert case is not None
        assert returned_after_loss(session, case) == (clock(), "kiosk-1")
        # One loan, whatever happened to it afterwards.
        assert len(list(session.scalars(select(Loan)))) == 1


def test_a_return_recorded_before_the_loss_but_synced_after_wins(
    central_db, library, make_kiosk, clock
):
    kiosk, loan = lend(make_kiosk, clock)
    clock.advance(days=1)
    returned_at = clock()
    kiosk.checkin(loan, returned_at)  # recorded offline, pushed later
    clock.advance(days=2)
    desk(central_db, clock, CopyEvent.MARKED_LOST)
    kiosk.push(kiosk.outbox[1:])
    with central_db.factory() as session:
        row = session.scalar(select(Loan).where(Loan.uuid == loan["loan_uuid"]))
        assert row is not None
        assert row.returned_at == returned_at
        assert row.returned_kiosk_id == "kiosk-1"


def test_payment_then_found_refunds_under_refund_and_keeps_under_keep(
    central_db, library, make_kiosk, clock
):
    lend(make_kiosk, clock)
    desk(central_db, clock, CopyEvent.MARKED_LOST)
    with central_db.factory.begin() as session:
        case = session.scalar(select(CompensationCase))
        assert case is not None
        assert (
            settle_case(session, case, CaseAction.PAY, at=clock(), by="lib2", note="现金") is None
        )
        assert settle_case(session, case, CaseAction.WAIVE, at=clock(), by="lib2") is (
            DeskRefusal.CASE_SETTLED
        )
    assert open_cases(central_db) == 0
    with central_db.factory() as session:
        case = session.scalar(select(CompensationCase))
        assert case is not None
        assert (case.status, case.settled_by, case.note) == ("paid", "lib2", "现金")
    keep = CompensationPolicy(on_found=OnFound.KEEP)
    change = desk(central_db, clock, CopyEvent.FOUND, policy=keep)
    assert change.status_after == "available"
    assert change.reversed_cases == ()
    with central_db.factory() as session:
        case = session.scalar(select(CompensationCase))
        assert case is not None and case.status == "paid" and case.found_at == clock()


def test_found_refunds_a_paid_case_and_cancels_an_open_one(central_db, library, make_kiosk, clock):
    lend(make_kiosk, clock, "SX00001")
    lend(make_kiosk, clock, "SX00002")
    desk(central_db, clock, CopyEvent.MARKED_LOST, "SX00001")
    desk(central_db, clock, CopyEvent.MARKED_LOST, "SX00002")
    assert open_cases(central_db) == 2
    with central_db.factory.begin() as session:
        paid = session.scalar(select(CompensationCase).join(Item).where(Item.barcode == "SX00001"))
        assert paid is not None
        settle_case(session, paid, CaseAction.PAY, at=clock(), by="lib")
    assert desk(central_db, clock, CopyEvent.FOUND, "SX00001").reversed_cases
    assert desk(central_db, clock, CopyEvent.FOUND, "SX00002").reversed_cases
    with central_db.factory() as session:
        statuses = dict(
            session.execute(
                select(Item.barcode, CompensationCase.status).join(
                    Item, Item.id == CompensationCase.item_id
                )
            ).all()
        )
    assert statuses == {"SX00001": "refunded", "SX00002": "cancelled"}
    assert open_cases(central_db) == 0


def test_damaged_on_loan_is_returned_at_the_desk_repaired_goes_back_on_the_shelf(
    central_db, library, make_kiosk, clock
):
    set_price(central_db, "SX00001", None)
    _, loan = lend(make_kiosk, clock)
    clock.advance(hours=5)
    change = desk(central_db, clock, CopyEvent.DAMAGED)
    assert (change.status_after, change.loan_effect) == ("in_repair", LoanEffect.RETURNED)
    with central_db.factory() as session:
        row = session.scalar(select(Loan).where(Loan.uuid == loan["loan_uuid"]))
        assert row is not None
        assert (row.returned_at, row.returned_kiosk_id) == (clock(), "desk")
        facts = session.get(LoanFacts, loan["loan_uuid"])
        assert facts is not None and facts.lost_at is None
        case = session.scalar(select(CompensationCase))
        assert case is not None
        # No price known: the fixed sum, halved for damage.
        assert (case.reason, case.amount_fen, case.basis) == ("damaged", 1500, "no_price")
    assert desk(central_db, clock, CopyEvent.REPAIRED).status_after == "available"


def test_what_the_table_refuses_changes_nothing(central_db, library, make_kiosk, clock):
    for operation in (CopyEvent.FOUND, CopyEvent.REPAIRED):
        change = desk(central_db, clock, operation, "SX00003")
        assert change.refusal is DeskRefusal.NOT_ALLOWED
        assert change.status_after == "available"
    lend(make_kiosk, clock, "SX00003")
    change = desk(central_db, clock, CopyEvent.WITHDRAWN, "SX00003")
    assert change.refusal is DeskRefusal.NOT_ALLOWED
    with central_db.factory() as session:
        assert session.scalar(select(Item.status).where(Item.barcode == "SX00003")) == "on_loan"
        assert session.scalar(select(CompensationCase)) is None


def test_lost_from_the_shelf_opens_no_case_and_can_be_withdrawn(central_db, library, clock):
    assert desk(central_db, clock, CopyEvent.MARKED_LOST, "SX00004").case is None
    assert desk(central_db, clock, CopyEvent.WITHDRAWN, "SX00004").status_after == "withdrawn"
    with central_db.factory() as session:
        assert session.scalar(select(CompensationCase)) is None


def test_a_late_checkout_of_a_lost_copy_is_a_fact(central_db, library, make_kiosk, clock):
    """A kiosk that had not heard lends the lost copy: the loan is recorded, the copy on loan."""
    desk(central_db, clock, CopyEvent.MARKED_LOST, "SX00005")
    clock.advance(minutes=1)
    kiosk = make_kiosk("kiosk-2")
    kiosk.checkout("SX00005", STUDENT, clock())
    kiosk.push()
    with central_db.factory() as session:
        assert session.scalar(select(Item.status).where(Item.barcode == "SX00005")) == "on_loan"


def test_time_is_utc(clock):
    assert clock().tzinfo is dt.UTC


def test_a_students_sums_owed_and_paid(central_db, library, make_kiosk, clock):
    for barcode in ("SX00001", "SX00002", "SX00003"):
        set_price(central_db, barcode, 2000)
        lend(make_kiosk, clock, barcode)
        desk(central_db, clock, CopyEvent.MARKED_LOST, barcode)
    with central_db.factory.begin() as session:
        patron = session.scalar(select(Patron).where(Patron.student_number == STUDENT))
        assert patron is not None
        first, second, _open = sorted(
            patron_compensation(session, patron.id).cases, key=lambda c: c.id
        )
        settle_case(session, first, CaseAction.PAY, at=clock(), by="lib")
        settle_case(session, second, CaseAction.WAIVE, at=clock(), by="lib")
        summary = patron_compensation(session, patron.id)
    # 20.00 times 1.5 each: one open, one paid, one waived.
    assert (summary.owed_fen, summary.paid_fen, len(summary.cases)) == (3000, 3000, 3)
    assert open_cases(central_db) == 1
