"""The staff page's counts: this kiosk's own circulation, never loans pulled from the central."""

from __future__ import annotations

import datetime as dt

import pytest

from kiosk.desk import Desk
from kiosk.events import EventBus
from kiosk.services import replica
from kiosk.services.stats import circulation_counts
from tests.conftest import make_settings

pytestmark = pytest.mark.usefixtures("demo_library")


def _pulled_loan(n: int, barcode: str, now: dt.datetime, returned: bool) -> dict[str, object]:
    """A loan another kiosk made today, as the central's change log sends it."""
    return {
        "entity": "loan",
        "key": f"kiosk-2-loan-{n}",
        "version": n,
        "data": {
            "loan_uuid": f"kiosk-2-loan-{n}",
            "item_barcode": barcode,
            "student_number": "S2026003",
            "checked_out_at": (now - dt.timedelta(minutes=30)).isoformat(),
            "due_at": (now + dt.timedelta(days=14)).isoformat(),
            "returned_at": (now - dt.timedelta(minutes=5)).isoformat() if returned else None,
            "renewals": 0,
            "kiosk_id": "kiosk-2",
        },
    }


def test_counts_are_this_kiosks_own_circulation(tmp_path, session_factory, clock):
    now = clock()
    with session_factory.begin() as session:
        # Another kiosk lent four books this morning and took two back.
        changes = [_pulled_loan(n, f"SX0000{n}", now, returned=n < 3) for n in range(1, 5)]
        assert replica.apply_changes(session, changes).applied == 4
    settings = make_settings(tmp_path, kiosk={"id": "kiosk-1"})
    desk = Desk(settings, session_factory, EventBus(), clock)
    try:
        assert desk.process_scan("20260001")["action"] == "signed_in"
        assert desk.process_scan("SX00006")["action"] == "checked_out"
        desk.end_session()
        # A book the other kiosk lent, returned here.
        assert desk.process_scan("SX00004")["action"] == "returned"
    finally:
        desk.close()
    calendar = desk.policy.calendar
    with session_factory() as session:
        here = circulation_counts(session, calendar, now, "kiosk-1")
    assert (here.checkouts_today, here.returns_today, here.visits_today) == (1, 1, 1)
    # Books out: the whole library as far as this kiosk knows (4 - 2 returned elsewhere
    # - 1 returned here + 1 lent here).
    assert here.open_loans == 2
