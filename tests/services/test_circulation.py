"""Circulation services on a real SQLite file: rows and their outbox events change together."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from db.engine import read_transaction, write_transaction
from db.models import Item, ItemStatus, Loan, OutboxEvent
from kiosk.circulation.rules import LoanPolicy, Refusal
from kiosk.services import circulation as svc
from kiosk.services import outbox
from kiosk.services.demo import isbn13_for
from kiosk.services.lending import Action
from kiosk.services.statements import from_db_time, to_db_time

POLICY = LoanPolicy(loan_days=14, max_loans=3, max_renewals=1)
KIOSK = "kiosk-t"


def _patron(db, card):
    return svc.find_patron_by_card(db, card)


def _item(db, barcode):
    return svc.find_item(db, barcode)


def _item_status(db, barcode):
    return db.execute("SELECT status FROM items WHERE barcode = ?", (barcode,)).fetchone()[0]


def _count(session, model):
    return session.scalar(select(func.count()).select_from(model))


pytestmark = pytest.mark.usefixtures("demo_library")


def test_checkout_writes_loan_and_outbox_event_together(plain_db, session_factory, clock):
    with write_transaction(plain_db) as s:
        result = svc.check_out(
            s, _patron(s, "20260001"), _item(s, "SX00001"), POLICY, KIOSK, clock()
        )
    assert result.action is Action.CHECKED_OUT
    with session_factory() as s:
        loan = s.scalar(select(Loan))
        event = s.scalar(select(OutboxEvent))
        assert loan.uuid == result.loan_uuid
        assert loan.due_at == result.due_at and loan.checked_out_at == clock()
        assert s.scalar(select(Item).where(Item.barcode == "SX00001")).status == ItemStatus.ON_LOAN
        payload = json.loads(event.payload)
        assert payload["kind"] == "checkout"
        assert payload["loan_uuid"] == loan.uuid
        assert payload["student_number"] == "S2026001"
        assert payload["sequence"] == 1 == event.sequence
        assert outbox.pending_count(s) == 1


def test_rolled_back_checkout_leaves_neither_loan_nor_event(plain_db, session_factory, clock):
    with pytest.raises(RuntimeError), write_transaction(plain_db) as s:
        svc.check_out(s, _patron(s, "20260001"), _item(s, "SX00001"), POLICY, KIOSK, clock())
        raise RuntimeError("power cut")
    with session_factory() as s:
        assert _count(s, Loan) == 0
        assert _count(s, OutboxEvent) == 0
        assert s.scalar(select(Item).where(Item.barcode == "SX00001")).status == "available"


def test_sequences_are_never_reused(plain_db, session_factory, clock):
    with write_transaction(plain_db) as s:
        svc.check_out(s, _patron(s, "20260001"), _item(s, "SX00001"), POLICY, KIOSK, clock())
    with session_factory.begin() as s:
        s.execute(OutboxEvent.__table__.delete())  # acknowledged events pruned
    with write_transaction(plain_db) as s:
        svc.check_in(s, _item(s, "SX00001"), POLICY, KIOSK, clock())
    with session_factory() as s:
        assert [e.sequence for e in s.scalars(select(OutboxEvent))] == [2]


def test_loan_limit_and_overdue_block(plain_db, clock):
    with write_transaction(plain_db) as s:
        patron = _patron(s, "20260001")
        for barcode in ("SX00001", "SX00006", "SX00008"):
            assert (
                svc.check_out(s, patron, _item(s, barcode), POLICY, KIOSK, clock()).action
                == "checked_out"
            )
        result = svc.check_out(s, patron, _item(s, "SX00010"), POLICY, KIOSK, clock())
        assert result.refusal is Refusal.TOO_MANY_LOANS
    clock.advance(days=30)
    with write_transaction(plain_db) as s:
        svc.check_in(s, _item(s, "SX00001"), POLICY, KIOSK, clock())
        result = svc.check_out(
            s, _patron(s, "20260001"), _item(s, "SX00010"), POLICY, KIOSK, clock()
        )
        assert result.refusal is Refusal.HAS_OVERDUE


def test_isbn_lends_an_available_copy_and_returns_by_isbn(plain_db, clock):
    isbn = isbn13_for(1)  # three copies
    with write_transaction(plain_db) as s:
        title = svc.find_title_by_isbn(s, isbn)
        a = svc.check_out_title(s, _patron(s, "20260001"), title, POLICY, KIOSK, clock())
        b = svc.check_out_title(s, _patron(s, "20260002"), title, POLICY, KIOSK, clock())
        assert a.action == b.action == "checked_out"
        assert a.item_barcode != b.item_barcode
        # Two copies out, nobody signed in: which one is it?
        which = svc.check_in_title(s, title, None, POLICY, KIOSK, clock())
        assert which.refusal is Refusal.WHICH_COPY
        # The signed-in student's own copy.
        mine = svc.check_in_title(s, title, _patron(s, "20260002").id, POLICY, KIOSK, clock())
        assert mine.action == "returned" and mine.item_barcode == b.item_barcode
        # Now only one loan is outstanding.
        last = svc.check_in_title(s, title, None, POLICY, KIOSK, clock())
        assert last.action == "returned" and last.item_barcode == a.item_barcode


def test_rescan_offers_renew_or_return_then_renewal_rules(plain_db, session_factory, clock):
    with write_transaction(plain_db) as s:
        patron, item = _patron(s, "20260001"), _item(s, "SX00001")
        first = svc.check_out(s, patron, item, POLICY, KIOSK, clock())
        again = svc.check_out(s, patron, item, POLICY, KIOSK, clock())
        assert again.action == "renew_or_return"
        # Renewing the day it was borrowed would not move the due date (Wed 9 December):
        # not offered, and the day it opens is given instead.
        assert again.refusal is Refusal.RENEWAL_TOO_EARLY
        assert again.renewable_on == dt.date(2026, 12, 6)
        early = svc.renew(s, patron, item, POLICY, KIOSK, clock())
        assert early.refusal is Refusal.RENEWAL_TOO_EARLY and early.due_at == first.due_at
    clock.advance(days=10)  # Saturday 5 December: still one day early
    with write_transaction(plain_db) as s:
        patron, item = _patron(s, "20260001"), _item(s, "SX00001")
        assert svc.renew(s, patron, item, POLICY, KIOSK, clock()).renewable_on == dt.date(
            2026, 12, 6
        )
    clock.advance(days=1)
    with write_transaction(plain_db) as s:
        patron, item = _patron(s, "20260001"), _item(s, "SX00001")
        assert svc.check_out(s, patron, item, POLICY, KIOSK, clock()).refusal is None
        renewed = svc.renew(s, patron, item, POLICY, KIOSK, clock())
        assert renewed.action == "renewed" and renewed.due_at > first.due_at
        refused = svc.renew(s, patron, item, POLICY, KIOSK, clock())
        assert refused.refusal is Refusal.RENEWAL_LIMIT
    with session_factory() as s:
        assert s.scalar(select(Loan)).due_at == renewed.due_at
        kinds = [e.kind for e in s.scalars(select(OutboxEvent).order_by(OutboxEvent.sequence))]
        assert kinds == ["checkout", "renewal"]


def test_return_with_waiting_hold_goes_to_hold_shelf_for_that_student(plain_db, clock):
    # Demo: 青铜葵花 (SX00004, SX00005) has a waiting hold by card 20260005.
    with write_transaction(plain_db) as s:
        lent = svc.check_out(s, _patron(s, "20260001"), _item(s, "SX00004"), POLICY, KIOSK, clock())
        assert lent.action == "checked_out"
        # The last copy on the shelf is kept for the waiting student.
        refused = svc.check_out(
            s, _patron(s, "20260002"), _item(s, "SX00005"), POLICY, KIOSK, clock()
        )
        assert refused.refusal is Refusal.HELD_FOR_OTHER
        returned = svc.check_in(s, _item(s, "SX00004"), POLICY, KIOSK, clock())
        assert returned.destination == "hold_shelf"
        hold = s.execute("SELECT status, item_id, ready_at FROM holds").fetchall()
        assert hold == [("ready", _item(s, "SX00004").id, to_db_time(clock()))]
        assert _item_status(s, "SX00004") == ItemStatus.ON_HOLD_SHELF
        other = svc.check_out(
            s, _patron(s, "20260002"), _item(s, "SX00004"), POLICY, KIOSK, clock()
        )
        assert other.refusal is Refusal.HELD_FOR_OTHER
        title = svc.find_title_by_isbn(s, _item(s, "SX00004").isbn13)
        holder = svc.check_out_title(s, _patron(s, "20260005"), title, POLICY, KIOSK, clock())
        assert holder.action == "checked_out" and holder.item_barcode == "SX00004"
        assert s.execute("SELECT status FROM holds").fetchall() == [("fulfilled",)]


def test_return_of_a_book_not_on_loan(plain_db, session_factory, clock):
    with write_transaction(plain_db) as s:
        result = svc.check_in(s, _item(s, "SX00001"), POLICY, KIOSK, clock())
        assert result.refusal is Refusal.NOT_ON_LOAN
    with session_factory() as s:
        assert _count(s, OutboxEvent) == 0


def test_patron_summary_shows_overdue_days(plain_db, clock):
    with write_transaction(plain_db) as s:
        svc.check_out(s, _patron(s, "20260001"), _item(s, "SX00001"), POLICY, KIOSK, clock())
    clock.advance(days=16)
    with read_transaction(plain_db) as s:
        summary = svc.patron_summary(s, _patron(s, "20260001"), "小明", POLICY, clock())
        # An overdue book blocks new loans, so the screen must not promise any.
        assert summary.may_borrow == 0
        lenient = LoanPolicy(max_loans=3, block_when_overdue=False)
        assert (
            svc.patron_summary(s, _patron(s, "20260001"), "小明", lenient, clock()).may_borrow == 2
        )
        assert [line.title for line in summary.loans] == ["草房子"]
        assert summary.loans[0].days_overdue == 2


def test_epoch_is_stable_for_a_database(plain_db, session_factory, clock):
    with session_factory.begin() as s:
        first = outbox.database_epoch(s)
    with write_transaction(plain_db) as s:
        assert outbox.current_epoch(s) == first


def test_plain_sql_times_match_what_the_orm_stores(plain_db, session_factory):
    """The scan path writes times itself; the ORM must read them back, and they must sort
    with the ORM's own (string comparison in SQL)."""
    moments = [
        dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC),  # whole second: no microseconds
        dt.datetime(2026, 11, 25, 8, 0, 0, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 25, 16, 30, 5, 250000, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    ]
    with session_factory.begin() as s:
        for i, moment in enumerate(moments):
            s.add(
                OutboxEvent(
                    event_uuid=f"u{i}",
                    epoch="e",
                    sequence=i,
                    kind="visit",
                    payload="{}",
                    created_at=moment,
                )
            )
    with read_transaction(plain_db) as db:
        stored = [row[0] for row in db.execute("SELECT created_at FROM outbox_events ORDER BY id")]
    assert stored == [to_db_time(m) for m in moments]
    assert [from_db_time(text) for text in stored] == moments
    with pytest.raises(ValueError):
        to_db_time(dt.datetime(2026, 11, 25, 8, 0))
