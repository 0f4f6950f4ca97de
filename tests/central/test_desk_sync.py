"""A desk loan at the central reaches a real kiosk on its next pull, and the kiosk's return comes back.

The kiosk is the real kiosk app on its own SQLite file, syncing through its own sync client
with a central served by waitress (SQLite and PostgreSQL): tests/central/test_holds_offline.py's
fixtures.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from central.desk import check_out
from db.models import Item, ItemStatus, Loan, Patron
from kiosk.policies import loan_policy
from tests.central.conftest import CentralDB, drain_ledger
from tests.central.test_holds_offline import (  # noqa: F401 - fixtures, used by name
    Kiosk,
    central_url,
    make_kiosk,
)
from tests.conftest import FakeClock


# The fixtures imported above are named as parameters, which ruff reads as redefining them.
def test_a_kiosk_learns_a_desk_loan_on_its_next_pull(
    central_db: CentralDB,
    central_url: str,  # noqa: F811
    central_settings: Any,
    make_kiosk: Any,  # noqa: F811
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
