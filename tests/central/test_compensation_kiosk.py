"""A real kiosk, after its next pull, shows a copy marked lost at the central as lost, refuses to
lend it, and (with [compensation] block_at_kiosk) refuses the student who owes for it, in words.

The kiosk is the real kiosk app on its own SQLite file, syncing through its own sync client with a
central served by waitress (SQLite and PostgreSQL): tests/central/test_holds_offline.py's fixtures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.compensation import change_copy, settle_case
from db.central_models import CompensationCase
from db.engine import make_engine
from db.migrate import upgrade
from db.models import Item, Loan, Patron
from kiosk.app import create_app
from kiosk.circulation.compensation import CaseAction, CompensationPolicy
from kiosk.circulation.states import CopyEvent
from kiosk.views.wording import message_for
from tests.central.conftest import CentralDB, add_kiosk, drain_ledger
from tests.central.test_holds_offline import (  # noqa: F401 - fixtures, used by name
    Kiosk,
    central_url,
)
from tests.conftest import FakeClock, make_settings

LI_HUA_CARD, LI_HUA = "20260002", "S2026002"


@pytest.fixture
def blocking_kiosk(tmp_path: Path, central_db: CentralDB, clock: FakeClock) -> Any:
    """A kiosk whose config refuses loans to a student with an unsettled lost book."""
    folder = tmp_path / "kiosk-1"
    folder.mkdir()
    settings = make_settings(
        folder, kiosk={"id": "kiosk-1", "language": "zh"}, compensation={"block_at_kiosk": True}
    )
    engine = make_engine(settings.database.path)
    upgrade(engine)
    kiosk_clock = FakeClock(clock.now)
    app = create_app(settings, engine=engine, clock=kiosk_clock)
    yield Kiosk(
        "kiosk-1",
        add_kiosk(central_db, "kiosk-1", clock),
        kiosk_clock,
        app.test_client(),
        app.extensions["shuxiang"].session_factory,
    )
    engine.dispose()


def mark_lost(central_db: CentralDB, clock: FakeClock, barcode: str) -> int | None:
    with central_db.factory.begin() as s:
        item = s.scalar(select(Item).where(Item.barcode == barcode))
        assert item is not None
        change = change_copy(
            s, item, CopyEvent.MARKED_LOST, at=clock(), by="liu", policy=CompensationPolicy()
        )
        s.flush()
        return change.case.id if change.case is not None else None


def test_after_its_pull_the_kiosk_shows_the_copy_lost_and_refuses_the_student_in_words(
    central_db: CentralDB,
    central_url: str,  # noqa: F811 - a fixture
    blocking_kiosk: Kiosk,
    clock: FakeClock,
):
    kiosk = blocking_kiosk
    assert kiosk.sync(central_url).ok
    kiosk.scan(LI_HUA_CARD)
    assert kiosk.scan("SX00001")["action"] == "checked_out"
    kiosk.client.post("/api/session/end")
    assert kiosk.sync(central_url).ok
    drain_ledger(central_db.factory, clock)

    clock.advance(days=3)
    kiosk.clock.advance(days=3)
    case_id = mark_lost(central_db, clock, "SX00001")
    assert case_id is not None
    assert kiosk.sync(central_url).ok
    with kiosk.factory() as s:
        assert s.scalar(select(Item.status).where(Item.barcode == "SX00001")) == "lost"
        loan = s.scalar(select(Loan).join(Item).where(Item.barcode == "SX00001"))
        assert loan is not None and loan.returned_at is not None
        patron = s.scalar(select(Patron).where(Patron.student_number == LI_HUA))
        assert patron is not None and patron.open_compensation_cases == 1

    # Li Hua signs in: nothing more to borrow, and a book scan says why, in plain words.
    signed_in = kiosk.scan(LI_HUA_CARD)
    assert signed_in["patron"]["may_borrow"] == 0
    refused = kiosk.scan("SX00002")
    assert (refused["action"], refused["reason"]) == ("refused", "owes_compensation")
    assert message_for(refused, "zh") == "你有一本遗失的书还未赔偿，请到服务台办理。"
    kiosk.client.post("/api/session/end")
    # Anyone else scanning the lost copy is told it can't be borrowed.
    kiosk.scan("20260001")
    lost = kiosk.scan("SX00001")
    assert (lost["action"], lost["reason"]) == ("refused", "not_loanable")
    kiosk.client.post("/api/session/end")

    # Paid at the desk: after the next pull the kiosk lends to Li Hua again.
    with central_db.factory.begin() as s:
        case = s.get(CompensationCase, case_id)
        assert case is not None
        settle_case(s, case, CaseAction.PAY, at=clock(), by="liu")
    assert kiosk.sync(central_url).ok
    kiosk.scan(LI_HUA_CARD)
    assert kiosk.scan("SX00002")["action"] == "checked_out"
