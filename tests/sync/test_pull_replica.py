"""Pull pages into the replica: natural keys, tombstones, the cursor, and the kiosk's own state."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from db.engine import SessionFactory
from db.models import Hold, Item, ItemStatus, Loan, Patron, Title
from kiosk.events import EventBus
from kiosk.services import outbox, replica, state
from kiosk.sync.client import CentralClient, ProtocolError
from kiosk.sync.pull import pull_changes, pull_since
from tests.conftest import FakeClock
from tests.sync.conftest import STUB_TOKEN, RunningStub

pytestmark = pytest.mark.timeout(60)

ISBN = "9787530000011"


def patron(number: str, card: str, status: str = "active") -> dict[str, Any]:
    return {
        "student_number": number,
        "card_barcode": card,
        "name": "测试",
        "class_name": "三年级二班",
        "grade": "3",
        "status": status,
        "block_reason": "lost book" if status == "blocked" else "",
    }


def title(isbn: str | None, name: str = "草房子") -> dict[str, Any]:
    return {
        "isbn13": isbn,
        "title": name,
        "author": "曹文轩",
        "publisher": "江苏少年儿童出版社",
        "year": 2008,
        "call_number": "I287.45/C12",
        "classification": "clc",
    }


def item(barcode: str, title_key: str, status: str = "available") -> dict[str, Any]:
    return {"barcode": barcode, "title_key": title_key, "location": "Shelf I", "status": status}


def seed(stub: RunningStub) -> None:
    c = stub.central
    c.add_change("patron", "S1", patron("S1", "20260001"))
    c.add_change("patron", "S2", patron("S2", "20260002"))
    c.add_change("title", ISBN, title(ISBN))
    c.add_change("title", "id:77", title(None, "无书号的旧书"))
    c.add_change("item", "SX00001", item("SX00001", ISBN))
    c.add_change("item", "SX00002", item("SX00002", ISBN))
    c.add_change("item", "SX00003", item("SX00003", "id:77"))


def client(stub: RunningStub) -> CentralClient:
    return CentralClient(stub.url, "kiosk-1", STUB_TOKEN, 5.0)


def count(factory: SessionFactory, model: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_pages_and_cursor(stub: RunningStub, session_factory: SessionFactory) -> None:
    seed(stub)
    result = pull_changes(session_factory, client(stub), page_size=3)
    assert (result.pulled, result.applied, result.pages, result.since) == (7, 7, 3, 7)
    assert stub.central.pulls == [0, 3, 6]
    assert pull_since(session_factory) == 7
    assert count(session_factory, Patron) == 2 and count(session_factory, Item) == 3
    with session_factory() as session:
        old = session.scalar(select(Item).where(Item.barcode == "SX00003"))
        assert old is not None and old.title.isbn13 is None and old.title.title == "无书号的旧书"
    # Nothing new: one request, nothing applied.
    again = pull_changes(session_factory, client(stub), page_size=3)
    assert (again.pulled, again.pages) == (0, 1)


def test_updates_blocks_and_tombstones(stub: RunningStub, session_factory: SessionFactory) -> None:
    seed(stub)
    pull_changes(session_factory, client(stub))
    c = stub.central
    c.add_change("patron", "S1", patron("S1", "20260001", status="blocked"))
    # A card handed on to another student: the old holder's card is parked, not duplicated.
    c.add_change("patron", "S3", patron("S3", "20260002"))
    c.add_change("item", "SX00002", None, deleted=True)
    c.add_change("item", "SX00003", item("SX00003", "id:77", status="lost"))
    c.add_change("title", "id:77", title(None, "旧书（修订）"))
    pull_changes(session_factory, client(stub))
    with session_factory() as session:
        s1 = session.scalar(select(Patron).where(Patron.student_number == "S1"))
        assert s1 is not None and s1.status == "blocked" and s1.block_reason == "lost book"
        s2 = session.scalar(select(Patron).where(Patron.student_number == "S2"))
        assert s2 is not None and s2.card_barcode == "retired:S2"
        assert session.scalar(select(Item).where(Item.barcode == "SX00002")) is None
        sx3 = session.scalar(select(Item).where(Item.barcode == "SX00003"))
        assert sx3 is not None and sx3.status == "lost" and sx3.title.title == "旧书（修订）"
        assert session.scalar(select(func.count(Title.id))) == 2


def test_unpushed_loans_keep_their_local_state(
    stub: RunningStub, session_factory: SessionFactory, clock: FakeClock, tmp_path: Any
) -> None:
    """An item lent here but not yet pushed keeps its status; its loan is not replaced."""
    from kiosk.desk import Desk
    from tests.conftest import make_settings

    seed(stub)
    pull_changes(session_factory, client(stub))
    desk = Desk(make_settings(tmp_path), session_factory, EventBus(), clock)
    assert desk.process_scan("20260001")["action"] == "signed_in"
    assert desk.process_scan("SX00001")["action"] == "checked_out"
    c = stub.central
    # The central still thinks SX00001 is on the shelf, and knows another kiosk's loan of it.
    c.add_change("item", "SX00001", item("SX00001", ISBN, status="available"))
    c.add_change(
        "loan",
        "other-kiosk-loan",
        {
            "loan_uuid": "other-kiosk-loan",
            "item_barcode": "SX00001",
            "student_number": "S2",
            "checked_out_at": "2026-11-24T01:00:00+00:00",
            "due_at": "2026-12-08T09:00:00+00:00",
            "returned_at": None,
            "renewals": 0,
            "kiosk_id": "kiosk-2",
        },
    )
    result = pull_changes(session_factory, client(stub))
    assert result.kept_local == 2
    with session_factory() as session:
        sx1 = session.scalar(select(Item).where(Item.barcode == "SX00001"))
        assert sx1 is not None and sx1.status == ItemStatus.ON_LOAN
        assert session.scalar(select(func.count(Loan.id))) == 1
    # Once the checkout is acknowledged, the central's version applies again.
    with session_factory.begin() as session:
        outbox.mark_acked(session, outbox.database_epoch(session), 10, clock())
    c.add_change("item", "SX00001", item("SX00001", ISBN, status="on_loan"))
    c.add_change(
        "loan",
        "other-kiosk-loan",
        {
            "loan_uuid": "other-kiosk-loan",
            "item_barcode": "SX00001",
            "student_number": "S2",
            "checked_out_at": "2026-11-25T03:00:00+00:00",
            "due_at": "2026-12-09T09:00:00+00:00",
            "returned_at": None,
            "renewals": 0,
            "kiosk_id": "kiosk-2",
        },
    )
    result = pull_changes(session_factory, client(stub))
    assert result.kept_local == 0 and result.unresolved == 0
    with session_factory() as session:
        loans = {loan.uuid: loan.returned_at for loan in session.scalars(select(Loan))}
    # The later checkout stays open; this kiosk's earlier loan is closed, as the central does.
    assert loans["other-kiosk-loan"] is None
    assert [at for uuid, at in loans.items() if uuid != "other-kiosk-loan"] == [
        dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)
    ]


HOLD_UUID = "0b7f6a52-8d7e-4c3a-9a40-1f7c5d2e9b11"


def test_holds_are_known_by_uuid(stub: RunningStub, session_factory: SessionFactory) -> None:
    seed(stub)
    data = {
        "hold_uuid": HOLD_UUID,
        "title_key": ISBN,
        "student_number": "S2",
        "status": "waiting",
        "item_barcode": None,
        "placed_at": "2026-11-20T01:00:00Z",
        "ready_at": None,
    }
    stub.central.add_change("hold", HOLD_UUID, data)
    pull_changes(session_factory, client(stub))
    with session_factory() as session:
        hold = session.scalar(select(Hold).where(Hold.uuid == HOLD_UUID))
        assert hold is not None and hold.status == "waiting"
    # A change logged before holds had uuids names the hold by its central id.
    stub.central.add_change("hold", "41", data | {"status": "cancelled"})
    pull_changes(session_factory, client(stub))
    with session_factory() as session:
        statuses = list(session.scalars(select(Hold.status)))
    assert statuses == ["cancelled"]
    stub.central.add_change("hold", HOLD_UUID, None, deleted=True)
    pull_changes(session_factory, client(stub))
    assert count(session_factory, Hold) == 0


def test_bad_records_are_counted_not_fatal(
    stub: RunningStub, session_factory: SessionFactory
) -> None:
    c = stub.central
    c.add_change("item", "SX00009", item("SX00009", "9780000000000"))
    c.add_change("patron", "S9", {"card_barcode": "1", "status": "sleeping"})
    c.add_change("spaceship", "x", {})
    c.add_change("patron", "S1", patron("S1", "20260001"))
    result = pull_changes(session_factory, client(stub))
    assert (result.applied, result.unresolved) == (1, 3)
    assert pull_since(session_factory) == 4


def test_page_and_cursor_commit_together(
    stub: RunningStub, session_factory: SessionFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(stub)

    def crash(session: Any, changes: Any) -> Any:
        session.add(Patron(student_number="half", card_barcode="half", name=""))
        session.flush()
        raise RuntimeError("power cut half-way through the page")

    monkeypatch.setattr(replica, "apply_changes", crash)
    with pytest.raises(RuntimeError):
        pull_changes(session_factory, client(stub))
    assert count(session_factory, Patron) == 0
    with session_factory() as session:
        assert state.get_state(session, state.SYNC_PULL_SINCE) is None


def test_cursor_that_does_not_advance_is_an_error(
    stub: RunningStub, session_factory: SessionFactory
) -> None:
    seed(stub)
    stub.central.fail_next.append(
        (200, {}, {"changes": stub.central.changes[:1], "next_since": 0, "more": True})
    )
    with pytest.raises(ProtocolError):
        pull_changes(session_factory, client(stub))
