"""Kiosk clocks that are off: estimated from heartbeats, flagged on events and exceptions."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from db.central_models import CentralEvent, ExceptionKind, Kiosk, LoanFacts, SyncException
from tests.central.conftest import CentralDB, SimKiosk
from tests.conftest import FakeClock


def _clock_exceptions(central_db: CentralDB) -> list[SyncException]:
    with central_db.factory() as s:
        return list(
            s.scalars(select(SyncException).where(SyncException.kind == ExceptionKind.CLOCK_OFFSET))
        )


@pytest.mark.parametrize(
    "offset", [dt.timedelta(hours=1), dt.timedelta(days=-2)], ids=["hour-ahead", "2-days-behind"]
)
def test_heartbeat_estimates_offset_and_flags_doubtful_times(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock, offset: dt.timedelta
):
    k: SimKiosk = make_kiosk("k1")
    r = k.heartbeat(clock() + offset)
    assert r.status_code == 200
    assert abs(r.json["clock_offset_s"] - offset.total_seconds()) < 1
    [exc] = _clock_exceptions(central_db)
    assert exc.status == "open" and exc.kiosks == "k1"
    # Events pushed while the clock is known to be off are marked doubtful in the ledger.
    loan = k.checkout("SX00001", "S2026001", clock() + offset)
    assert k.push().status_code == 200
    with central_db.factory() as s:
        assert s.scalar(select(CentralEvent.time_doubtful)) is True
        facts = s.get(LoanFacts, loan["loan_uuid"])
        assert facts is not None and facts.time_doubtful
    # A corrected clock clears the kiosk's flag; the exception stays for the librarian.
    k.heartbeat(clock())
    with central_db.factory() as s:
        kiosk = s.get(Kiosk, "k1")
        assert kiosk is not None and not kiosk.clock_doubtful
    assert len(_clock_exceptions(central_db)) == 1


def test_small_offset_is_not_an_exception(central_db: CentralDB, make_kiosk, clock: FakeClock):
    k: SimKiosk = make_kiosk("k1")
    assert k.heartbeat(clock() + dt.timedelta(seconds=90)).status_code == 200
    assert _clock_exceptions(central_db) == []


def test_event_from_the_future_is_doubtful_without_a_heartbeat(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    k.checkout("SX00001", "S2026001", clock() + dt.timedelta(days=2))
    k.visit("S2026001", clock())
    assert k.push().status_code == 200
    with central_db.factory() as s:
        flags = dict(s.execute(select(CentralEvent.sequence, CentralEvent.time_doubtful)).all())
    assert flags == {1: True, 2: False}
    [exc] = _clock_exceptions(central_db)
    assert exc.details["ahead_s"] >= 2 * 86400 - 1


def test_heartbeat_status_is_stored(central_db: CentralDB, make_kiosk, clock: FakeClock):
    k: SimKiosk = make_kiosk("k1")
    for backlog in (1, 5, 9, 14):
        k.heartbeat(clock(), backlog=backlog, scanner_connected=False, checkouts_today=7)
    with central_db.factory() as s:
        kiosk = s.get(Kiosk, "k1")
        assert kiosk is not None
        assert kiosk.backlog == 14 and kiosk.backlog_rising_count == 3
        assert kiosk.scanner_connected is False and kiosk.checkouts_today == 7
    bad = k.heartbeat(clock(), backlog="lots")
    assert bad.status_code == 400
