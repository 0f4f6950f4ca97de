"""A desk loan at the central reaches a real kiosk on its next pull, and the kiosk's return comes back.

The kiosk is the real kiosk app on its own SQLite file, syncing through its own sync client
with a central served by waitress (SQLite and PostgreSQL): tests/central/test_holds_offline.py's
fixtures.
"""

# The fixtures imported from test_holds_offline are named as test parameters, which ruff reads
# as redefining them.
# ruff: noqa: F811

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from central.desk import check_in, check_out, place_hold
from db.models import Item, ItemStatus, Loan, Patron
from kiosk.policies import hold_policy, loan_policy
from tests.central.conftest import CentralDB, drain_ledger
from tests.central.test_holds_offline import (  # noqa: F401 - fixtures, used by name
    Kiosk,
    central_url,
    make_kiosk,
)
from tests.conftest import FakeClock


def test_a_kiosk_learns_a_desk_loan_on_its_next_pull(
    central_db: CentralDB,
    central_url: str,
    central_settings: Any,
    make_kiosk: Any,
    clock: FakeClock,
):
    kiosk: Kiosk = make_kiosk("kiosk-1")
    assert kiosk.sync(central_url).ok
    with central_db.factory.begin() as s:
        student = s.scalar(select(Patron).where(Patron.student_number == "S2026001"))
        copy = s.scalar(select(Item).where(Item.barcode == "SX00010"))
        assert student is not None and copy is not None
        check_out(s, student, copy, loan_policy(central_settings), clock())

    assert kiosk.sync(central_url).ok
    with kiosk.factory() as s:
        loan = s.scalar(select(Loan).join(Item).where(Item.barcode == "SX00010"))
        assert loan is not None and loan.returned_at is None and loan.kiosk_id == "desk"
        assert s.scalar(select(Item.status).where(Item.barcode == "SX00010")) == ItemStatus.ON_LOAN
    # The kiosk's own rules now see the copy on loan to someone else ...
    kiosk.scan("20260002")
    lent_elsewhere = kiosk.scan("SX00010")
    assert (lent_elsewhere["action"], lent_elsewhere["reason"]) == ("refused", "on_loan_to_other")
    kiosk.client.post("/api/session/end")
    # ... and a return there closes the desk's loan at the central.
    kiosk.clock.advance(hours=2)
    assert kiosk.scan("SX00010")["action"] == "returned"
    assert kiosk.sync(central_url).ok
    drain_ledger(central_db.factory, clock)
    with central_db.factory() as s:
        loan = s.scalar(select(Loan).join(Item).where(Item.barcode == "SX00010"))
        assert loan is not None and loan.kiosk_id == "desk"
        assert (loan.returned_at, loan.returned_kiosk_id) == (kiosk.clock(), "kiosk-1")
        assert s.scalar(select(Item.status).where(Item.barcode == "SX00010")) == (
            ItemStatus.AVAILABLE
        )


def test_a_kiosk_learns_a_hold_the_desk_set_aside(
    central_db: CentralDB,
    central_url: str,
    central_settings: Any,
    make_kiosk: Any,
    clock: FakeClock,
):
    kiosk: Kiosk = make_kiosk("kiosk-1")
    policy = loan_policy(central_settings)
    with central_db.factory.begin() as s:
        zhang = s.scalar(select(Patron).where(Patron.student_number == "S2026001"))
        li = s.scalar(select(Patron).where(Patron.student_number == "S2026002"))
        copy = s.scalar(select(Item).where(Item.barcode == "SX00010"))
        assert zhang is not None and li is not None and copy is not None
        check_out(s, zhang, copy, policy, clock())
        assert place_hold(s, li, copy.title, hold_policy(central_settings), clock()).ok
    clock.advance(hours=1)
    with central_db.factory.begin() as s:
        copy = s.scalar(select(Item).where(Item.barcode == "SX00010"))
        assert copy is not None
        assert check_in(s, copy, policy, clock()).held_for is not None
    assert kiosk.sync(central_url).ok
    with kiosk.factory() as s:
        assert s.scalar(select(Item.status).where(Item.barcode == "SX00010")) == (
            ItemStatus.ON_HOLD_SHELF
        )
    # 李华 signs in at the kiosk: the copy waits for them; nobody else may take it.
    (ready,) = kiosk.holds_at_sign_in("20260002")
    assert ready["status"] == "ready"
    kiosk.scan("20260003")
    taken = kiosk.scan("SX00010")
    assert (taken["action"], taken["reason"]) == ("refused", "held_for_other")
