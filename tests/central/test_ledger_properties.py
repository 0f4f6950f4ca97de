"""Ledger properties over generated histories: any push order and batching, one outcome."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from db.central_models import (
    CentralEvent,
    Kiosk,
    KioskEpoch,
    LoanFacts,
    SyncException,
    SyncRun,
)
from db.models import Item, ItemStatus, Loan
from tests.central.conftest import CentralDB, SimKiosk, ledger_state

T0 = dt.datetime(2026, 11, 2, 0, 30, tzinfo=dt.UTC)
KIOSKS = ("a", "b", "c")
COPIES = ("SX00001", "SX00002")
STUDENTS = ("S2026001", "S2026002", "S2026003", "S2026004")


@dataclass(frozen=True)
class Lend:
    kiosk: int
    copy: int
    student: int
    hour: int


@dataclass(frozen=True)
class Bring:
    """A return, at any kiosk, of the `lend`-th lending so far, `hours` after it began."""

    kiosk: int
    lend: int
    hours: int


steps = st.lists(
    st.one_of(
        st.builds(
            Lend,
            st.integers(0, len(KIOSKS) - 1),
            st.integers(0, len(COPIES) - 1),
            st.integers(0, len(STUDENTS) - 1),
            st.integers(0, 48),
        ),
        st.builds(Bring, st.integers(0, len(KIOSKS) - 1), st.integers(0, 20), st.integers(0, 30)),
    ),
    min_size=1,
    max_size=12,
)


def _wipe(central_db: CentralDB) -> None:
    # A fresh ledger per example: what pushes write goes, the roster and catalog stay.
    with central_db.factory.begin() as s:
        for model in (SyncException, CentralEvent, LoanFacts, Loan, SyncRun, KioskEpoch, Kiosk):
            s.query(model).delete()
        s.query(Item).update({Item.status: ItemStatus.AVAILABLE})


def _record(history: list[Any], make_kiosk: Any) -> list[SimKiosk]:
    kiosks = [make_kiosk(name) for name in KIOSKS]
    lent: list[tuple[dict[str, Any], dt.datetime]] = []
    for step in history:
        if isinstance(step, Lend):
            at = T0 + dt.timedelta(hours=step.hour)
            event = kiosks[step.kiosk].checkout(COPIES[step.copy], STUDENTS[step.student], at)
            lent.append((event, at))
        elif lent:
            event, began = lent[step.lend % len(lent)]
            kiosks[step.kiosk].checkin(event, began + dt.timedelta(hours=step.hours))
    return kiosks


def _push(kiosks: list[SimKiosk], plan: list[tuple[int, int]]) -> None:
    """Push each kiosk's outbox in the planned batches: (kiosk, how many events), in order."""
    sent = [0] * len(kiosks)
    for index, size in plan:
        kiosk = kiosks[index]
        batch = kiosk.outbox[sent[index] : sent[index] + size]
        if batch:
            response = kiosk.push(batch)
            assert response.status_code == 200, response.get_json()
            sent[index] += len(batch)
    for index, kiosk in enumerate(kiosks):
        rest = kiosk.outbox[sent[index] :]
        if rest:
            assert kiosk.push(rest).status_code == 200


def _open_loans_per_copy(central_db: CentralDB) -> list[int]:
    with central_db.factory() as s:
        return list(
            s.scalars(select(func.count()).where(Loan.returned_at.is_(None)).group_by(Loan.item_id))
        )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=steps,
    plan=st.lists(st.tuples(st.integers(0, len(KIOSKS) - 1), st.integers(1, 4)), max_size=8),
)
def test_any_push_order_and_batching_gives_one_outcome(
    central_db: CentralDB, library: Any, make_kiosk: Any, history: list[Any], plan: Any
) -> None:
    _wipe(central_db)
    kiosks = _record(history, make_kiosk)
    _push(kiosks, [(i, len(k.outbox)) for i, k in enumerate(kiosks)])
    expected = ledger_state(central_db.factory)

    _wipe(central_db)
    replay = []
    for original in kiosks:
        kiosk = make_kiosk(original.kiosk_id)
        kiosk.epoch, kiosk.outbox = original.epoch, original.outbox
        replay.append(kiosk)
    _push(replay, plan)

    assert ledger_state(central_db.factory) == expected
    assert all(count == 1 for count in _open_loans_per_copy(central_db))
