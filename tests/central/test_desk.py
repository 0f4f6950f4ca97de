"""The central desk: the kiosk's rules, recorded through the ledger as events of the source "desk"."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import run_kiosk
from central.changes import changes_since
from central.desk import (
    DESK_SOURCE,
    check_in,
    check_in_title,
    check_out,
    check_out_title,
    record_central_event,
    renew,
)
from central.hold_shelf import hold_shelf
from central.holds import place_hold
from db.central_models import CentralEvent, EventState, ExceptionKind, Kiosk, SyncException
from db.models import Hold, HoldStatus, Item, ItemStatus, Loan, Patron, Title
from kiosk.circulation.rules import Destination, Refusal
from kiosk.policies import hold_policy, loan_policy
from kiosk.services.demo import isbn13_for
from kiosk.services.lending import Action
from tests.central.conftest import CentralDB, SimKiosk
from tests.conftest import FakeClock, make_settings

SETTINGS = make_settings(Path("/nonexistent"))
POLICY = loan_policy(SETTINGS)
HOLDS = hold_policy(SETTINGS)
# In the demo library 草房子 has copies SX00001-3, 青铜葵花 SX00004-5 (陈思远, S2026005, waits
# for it), 小王子 SX00006-7 and 窗边的小豆豆 one, SX00010.
TOTTO = isbn13_for(5)


def patron(s: Session, number: str) -> Patron:
    found = s.scalar(select(Patron).where(Patron.student_number == number))
    assert found is not None
    return found


def item(s: Session, barcode: str) -> Item:
    found = s.scalar(select(Item).where(Item.barcode == barcode))
    assert found is not None
    return found


def title(s: Session, isbn13: str) -> Title:
    found = s.scalar(select(Title).where(Title.isbn13 == isbn13))
    assert found is not None
    return found


def open_loans(s: Session, barcode: str) -> list[Loan]:
    return list(
        s.scalars(
            select(Loan)
            .join(Item, Item.id == Loan.item_id)
            .where(Item.barcode == barcode, Loan.returned_at.is_(None))
        )
    )


def test_a_desk_loan_is_a_desk_event_the_ledger_applied(
    central_db: CentralDB, library, clock: FakeClock
):
    with central_db.factory.begin() as s:
        result = check_out(s, patron(s, "S2026001"), item(s, "SX00001"), POLICY, clock())
    assert result.action is Action.CHECKED_OUT
    assert result.due_at == POLICY.calendar.due_at(clock(), POLICY.loan_days)
    with central_db.factory() as s:
        [loan] = open_loans(s, "SX00001")
        assert (loan.uuid, loan.kiosk_id, loan.due_at) == (result.loan_uuid, "desk", result.due_at)
        assert item(s, "SX00001").status == ItemStatus.ON_LOAN
        [event] = s.scalars(select(CentralEvent))
        assert (event.kiosk_id, event.epoch, event.sequence) == (DESK_SOURCE, DESK_SOURCE, 1)
        assert (event.kind, event.state, event.loan_uuid) == ("checkout", "applied", loan.uuid)
        assert json.loads(event.payload)["student_number"] == "S2026001"
        # The change log carries the loan and the copy: kiosks learn on their next pull.
        pulled = {(c["entity"], c["key"]) for c in changes_since(s, 0, 5000).changes}
        assert {("loan", loan.uuid), ("item", "SX00001")} <= pulled


def test_desk_events_are_numbered_one_after_another(
    central_db: CentralDB, library, clock: FakeClock
):
    with central_db.factory.begin() as s:
        check_out(s, patron(s, "S2026001"), item(s, "SX00001"), POLICY, clock())
    clock.advance(minutes=5)
    with central_db.factory.begin() as s:
        check_in(s, item(s, "SX00001"), POLICY, clock())
        check_out(s, patron(s, "S2026002"), item(s, "SX00001"), POLICY, clock())
    with central_db.factory() as s:
        rows = s.execute(
            select(CentralEvent.sequence, CentralEvent.kind).order_by(CentralEvent.sequence)
        ).all()
    assert [tuple(r) for r in rows] == [(1, "checkout"), (2, "checkin"), (3, "checkout")]


def test_only_central_sources_record_central_events(central_db: CentralDB, library, clock):
    with central_db.factory() as s, pytest.raises(ValueError, match="kiosk-1"):
        record_central_event(s, "visit", {"student_number": "S2026001"}, clock(), source="kiosk-1")


def test_the_desk_refuses_as_the_kiosk_does(central_db: CentralDB, library, clock: FakeClock):
    with central_db.factory.begin() as s:
        check_out(s, patron(s, "S2026001"), item(s, "SX00001"), POLICY, clock())
    with central_db.factory.begin() as s:
        blocked = check_out(s, patron(s, "S2026009"), item(s, "SX00006"), POLICY, clock())
        other = check_out(s, patron(s, "S2026002"), item(s, "SX00001"), POLICY, clock())
        mine = check_out(s, patron(s, "S2026001"), item(s, "SX00001"), POLICY, clock())
        # The last copy of 青铜葵花 on the shelf is kept for 陈思远, who waits for it.
        check_out(s, patron(s, "S2026003"), item(s, "SX00004"), POLICY, clock())
        kept = check_out(s, patron(s, "S2026004"), item(s, "SX00005"), POLICY, clock())
    assert (blocked.action, blocked.refusal) == (Action.REFUSED, Refusal.CARD_BLOCKED)
    assert (other.action, other.refusal) == (Action.REFUSED, Refusal.ON_LOAN_TO_OTHER)
    # Their own copy: renew or return; renewing is too early on the day it was lent.
    assert (mine.action, mine.refusal) == (Action.RENEW_OR_RETURN, Refusal.RENEWAL_TOO_EARLY)
    assert (kept.action, kept.refusal) == (Action.REFUSED, Refusal.HELD_FOR_OTHER)
    with central_db.factory() as s:
        assert [loan.kiosk_id for loan in open_loans(s, "SX00001")] == ["desk"]
        # Refusals record nothing: one checkout, then the one for SX00004.
        assert s.scalar(select(CentralEvent.sequence).order_by(CentralEvent.sequence.desc())) == 2


def test_a_return_goes_to_the_first_student_waiting(
    central_db: CentralDB, library, clock: FakeClock
):
    with central_db.factory.begin() as s:
        check_out(s, patron(s, "S2026001"), item(s, "SX00004"), POLICY, clock())
        check_out(s, patron(s, "S2026002"), item(s, "SX00006"), POLICY, clock())
    clock.advance(days=3)
    with central_db.factory.begin() as s:
        waiting = check_in(s, item(s, "SX00004"), POLICY, clock())
        plain = check_in(s, item(s, "SX00006"), POLICY, clock())
    assert (waiting.action, waiting.destination) == (Action.RETURNED, Destination.HOLD_SHELF)
    assert waiting.held_for is not None
    assert (waiting.held_for.name, waiting.held_for.class_name) == ("陈思远", "五年级三班")
    assert (plain.action, plain.destination, plain.held_for) == (
        Action.RETURNED,
        Destination.RETURN_BOX,
        None,
    )
    with central_db.factory() as s:
        assert item(s, "SX00004").status == ItemStatus.ON_HOLD_SHELF
        assert item(s, "SX00006").status == ItemStatus.AVAILABLE
        hold = s.scalar(select(Hold).where(Hold.patron_id == patron(s, "S2026005").id))
        assert hold is not None
        assert (hold.status, hold.item_id, hold.ready_at) == (
            HoldStatus.READY,
            item(s, "SX00004").id,
            clock(),
        )
        loan = s.scalar(select(Loan).where(Loan.item_id == item(s, "SX00004").id))
        assert loan is not None
        assert (loan.returned_at, loan.returned_kiosk_id) == (clock(), "desk")
    # Scanned again: not on loan, and it belongs on the hold shelf for the same student.
    with central_db.factory.begin() as s:
        again = check_in(s, item(s, "SX00004"), POLICY, clock())
    assert (again.action, again.refusal, again.destination) == (
        Action.REFUSED,
        Refusal.NOT_ON_LOAN,
        Destination.HOLD_SHELF,
    )
    assert again.held_for is not None and again.held_for.name == "陈思远"


def test_a_copy_pulled_from_the_shelf_is_set_aside_for_the_student_waiting(
    central_db: CentralDB, library, clock: FakeClock
):
    with central_db.factory.begin() as s:
        result = check_in(s, item(s, "SX00005"), POLICY, clock())
        nobody = check_in(s, item(s, "SX00006"), POLICY, clock())
    assert (result.action, result.destination) == (Action.SET_ASIDE, Destination.HOLD_SHELF)
    assert result.held_for is not None and result.held_for.name == "陈思远"
    assert (nobody.action, nobody.refusal, nobody.destination) == (
        Action.REFUSED,
        Refusal.NOT_ON_LOAN,
        Destination.RETURN_BOX,
    )
    with central_db.factory() as s:
        assert item(s, "SX00005").status == ItemStatus.ON_HOLD_SHELF
        hold = s.scalar(select(Hold).where(Hold.item_id == item(s, "SX00005").id))
        assert hold is not None and hold.status == HoldStatus.READY
        # The student collects it at the desk: their hold is fulfilled.
        lent = check_out(s, patron(s, "S2026005"), item(s, "SX00005"), POLICY, clock())
        s.commit()
        assert lent.action is Action.CHECKED_OUT
        s.refresh(hold)
        assert hold.status == HoldStatus.FULFILLED


def test_renewing_at_the_desk_follows_the_renewal_rules(
    central_db: CentralDB, library, clock: FakeClock
):
    with central_db.factory.begin() as s:
        lent = check_out(s, patron(s, "S2026001"), item(s, "SX00001"), POLICY, clock())
    with central_db.factory.begin() as s:
        early = renew(s, patron(s, "S2026001"), item(s, "SX00001"), POLICY, clock())
        not_theirs = renew(s, patron(s, "S2026002"), item(s, "SX00001"), POLICY, clock())
    assert (early.action, early.refusal) == (Action.REFUSED, Refusal.RENEWAL_TOO_EARLY)
    assert early.renewable_on is not None and early.due_at == lent.due_at
    assert (not_theirs.action, not_theirs.refusal) == (Action.REFUSED, Refusal.NOT_ON_LOAN)
    assert lent.due_at is not None
    clock.now = lent.due_at - dt.timedelta(days=1)
    with central_db.factory.begin() as s:
        renewed = renew(s, patron(s, "S2026001"), item(s, "SX00001"), POLICY, clock())
        again = renew(s, patron(s, "S2026001"), item(s, "SX00001"), POLICY, clock())
    assert renewed.action is Action.RENEWED
    assert renewed.due_at is not None and renewed.due_at > lent.due_at
    assert (again.action, again.refusal) == (Action.REFUSED, Refusal.RENEWAL_LIMIT)
    with central_db.factory() as s:
        [loan] = open_loans(s, "SX00001")
        assert (loan.renewals, loan.due_at) == (1, renewed.due_at)


def test_scanning_an_isbn_lends_and_takes_back_a_copy_of_the_title(
    central_db: CentralDB, library, clock: FakeClock
):
    with central_db.factory.begin() as s:
        lent = check_out_title(s, patron(s, "S2026001"), title(s, isbn13_for(1)), POLICY, clock())
        back = check_in_title(s, title(s, isbn13_for(1)), None, POLICY, clock())
        none_out = check_in_title(s, title(s, isbn13_for(1)), None, POLICY, clock())
    assert (lent.action, lent.item_barcode) == (Action.CHECKED_OUT, "SX00001")
    assert (back.action, back.item_barcode) == (Action.RETURNED, "SX00001")
    assert (none_out.action, none_out.refusal) == (Action.REFUSED, Refusal.NOT_ON_LOAN)


def test_a_kiosk_loan_of_the_same_copy_before_it_synced_is_a_double_checkout(
    central_db: CentralDB, library, clock: FakeClock, make_kiosk
):
    # Kiosk 1 lends SX00001 offline; the desk, not knowing, lends it ten minutes later.
    kiosk: SimKiosk = make_kiosk("kiosk-1")
    kiosk.checkout("SX00001", "S2026002", clock())
    clock.advance(minutes=10)
    with central_db.factory.begin() as s:
        check_out(s, patron(s, "S2026001"), item(s, "SX00001"), POLICY, clock())
    assert kiosk.push().status_code == 200
    with central_db.factory() as s:
        [exception] = s.scalars(select(SyncException))
        assert exception.kind == ExceptionKind.DOUBLE_CHECKOUT
        assert set(exception.kiosks.split(",")) == {"kiosk-1", "desk"}
        # The desk's loan is the copy's last: it is on loan, to the desk's student.
        [loan] = open_loans(s, "SX00001")
        assert (loan.kiosk_id, loan.patron_id) == ("desk", patron(s, "S2026001").id)
        assert s.scalar(select(CentralEvent.state).where(CentralEvent.kiosk_id == "kiosk-1")) == (
            EventState.APPLIED
        )


def test_a_hold_placed_for_a_student_is_what_the_desk_sets_aside(
    central_db: CentralDB, library, clock: FakeClock
):
    with central_db.factory.begin() as s:
        check_out(s, patron(s, "S2026001"), item(s, "SX00010"), POLICY, clock())
        placed = place_hold(s, patron(s, "S2026002"), title(s, TOTTO), HOLDS, clock())
        assert placed.ok
    clock.advance(hours=1)
    with central_db.factory.begin() as s:
        back = check_in(s, item(s, "SX00010"), POLICY, clock())
    assert back.held_for is not None and back.held_for.name == "李华"


def test_the_first_in_the_queue_borrows_the_copy_from_the_open_shelf_at_the_desk(
    central_db: CentralDB, library, clock: FakeClock
):
    """Two students wait for the one copy, which is back on the open shelf (a kiosk that had not
    heard of the holds took it back): the one behind is refused, the first may borrow it."""
    with central_db.factory.begin() as s:
        check_out(s, patron(s, "S2026002"), item(s, "SX00010"), POLICY, clock())
        for number in ("S2026001", "S2026003"):
            assert place_hold(s, patron(s, number), title(s, TOTTO), HOLDS, clock()).ok
            clock.advance(minutes=1)
    with central_db.factory.begin() as s:
        loan = s.scalar(select(Loan).where(Loan.returned_at.is_(None)))
        assert loan is not None
        loan.returned_at = clock()
        item(s, "SX00010").status = ItemStatus.AVAILABLE
    with central_db.factory.begin() as s:
        behind = check_out(s, patron(s, "S2026003"), item(s, "SX00010"), POLICY, clock())
        first = check_out(s, patron(s, "S2026001"), item(s, "SX00010"), POLICY, clock())
    assert (behind.action, behind.refusal) == (Action.REFUSED, Refusal.HELD_FOR_OTHER)
    assert first.action is Action.CHECKED_OUT


def test_no_kiosk_may_take_the_desk_s_name(tmp_path: Path, central_db: CentralDB, capsys):
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "kiosk.sqlite3"}"\n'
        f'[central]\ndatabase_url = "{central_db.url}"\n'
    )
    assert run_kiosk.main(["central-add-kiosk", "desk", "--config", str(config)]) == 2
    assert "'desk' is reserved" in capsys.readouterr().err
    with central_db.factory() as s:
        assert s.get(Kiosk, "desk") is None


def test_the_to_pull_list_serves_each_title_s_queue_as_far_as_its_copies_on_the_shelf(
    central_db: CentralDB, library, clock: FakeClock
):
    # 青铜葵花 has two copies on the shelf; 陈思远 waits (demo), then 王芳 and 欧阳娜娜 join.
    with central_db.factory.begin() as s:
        bronze = title(s, isbn13_for(2))
        for n, number in enumerate(("S2026003", "S2026004"), start=1):
            s.add(
                Hold(
                    title_id=bronze.id,
                    patron_id=patron(s, number).id,
                    status=HoldStatus.WAITING,
                    placed_at=clock() + dt.timedelta(minutes=n),
                )
            )
    with central_db.factory() as s:
        shelf = hold_shelf(s, HOLDS, clock())
        assert shelf.to_pull.total == 2
        assert [p.name for p in shelf.to_pull.rows] == ["陈思远", "王芳"]
        assert [c.barcode for c in shelf.to_pull.rows[0].copies] == ["SX00004", "SX00005"]
        first = hold_shelf(s, HOLDS, clock(), per_page=1)
        assert ([p.name for p in first.to_pull.rows], first.to_pull.total) == (["陈思远"], 2)
    # One copy is pulled and set aside for 陈思远: one copy left on the shelf, for 王芳.
    with central_db.factory.begin() as s:
        assert check_in(s, item(s, "SX00004"), POLICY, clock()).action is Action.SET_ASIDE
    with central_db.factory() as s:
        shelf = hold_shelf(s, HOLDS, clock())
        assert ([p.name for p in shelf.to_pull.rows], shelf.to_pull.total) == (["王芳"], 1)
