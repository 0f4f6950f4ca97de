"""The central ledger: applies kiosk events so the final state does not depend on sync order.

A copy's loans are ordered by (checked_out_at, loan_uuid). A loan ends at the return a kiosk
recorded for it, unless the next loan of the same copy started earlier: then it ends
implicitly at that checkout, and one `double_checkout` exception names both loans. Each
loan's end depends only on its own return and its successor's start, so any arrival order
of the same events gives the same loans, items and open exceptions.
"""

from __future__ import annotations

import datetime as dt
import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import holds
from central.conflicts import auto_resolve, ensure_exception, event_details
from central.events import IncomingEvent
from db.central_models import CentralEvent, EventState, ExceptionKind, LoanFacts
from db.models import Hold, HoldStatus, Item, ItemStatus, Loan, Patron
from kiosk.circulation.states import (
    CopyEvent,
    HoldEvent,
    copy_status_after,
    hold_event_applies,
    hold_status_after,
    hold_statuses_for,
)
from kiosk.clock import format_iso_time_or_none


def double_checkout_key(earlier_uuid: str, later_uuid: str) -> str:
    return f"double_checkout:{earlier_uuid}:{later_uuid}"


LoanKey = tuple[dt.datetime, str]


def loan_end(facts: LoanFacts) -> tuple[dt.datetime | None, str | None]:
    """When a loan ended by its own facts, and at which kiosk: the return a kiosk (or the desk)
    recorded, or the moment the copy was marked lost while on loan (no kiosk: a loan lost counts
    as a loan, never as a return), whichever came first."""
    end, kiosk = facts.explicit_returned_at, facts.explicit_returned_kiosk_id
    if facts.lost_at is not None and (end is None or facts.lost_at < end):
        return facts.lost_at, None
    return end, (kiosk if end is not None else None)


@dataclass
class Ledger:
    """Applies events inside the caller's transaction. Caller holds the ledger lock and commits.

    What a batch needs is loaded up front in a few IN queries (`prefetch`) and kept in the
    dictionaries below, so applying the usual event runs no query: each query would first
    flush the batch's changes so far (autoflush) with their change-log entries, and the
    session should flush once, at the commit. Rarer paths (exceptions, a single retried
    event) still ask the database directly.
    """

    session: Session
    now: dt.datetime
    states: dict[str, str] = field(default_factory=dict)
    _patrons: dict[str, Patron | None] = field(default_factory=dict)
    _items: dict[str, Item | None] = field(default_factory=dict)
    # Every loan this ledger created or loaded, by uuid; None when the database has none.
    _loans: dict[str, Loan | None] = field(default_factory=dict)
    # Facts of the loans above; None when the loan has no facts row yet.
    _facts: dict[str, LoanFacts | None] = field(default_factory=dict)
    # The loans of each copy looked at, in checkout order (checked_out_at, uuid), including
    # the ones this ledger created: a loan's neighbours are found by bisection. Those two
    # columns never change once a loan exists, so the list stays true for the transaction.
    _order: dict[int, list[LoanKey]] = field(default_factory=dict)
    # READY holds of the copies looked at (plus the ones this ledger made ready), by item id.
    _ready_holds: dict[int, list[Hold]] = field(default_factory=dict)
    _holds: dict[tuple[int, int], Hold] = field(default_factory=dict)
    _holds_loaded_for: set[int] = field(default_factory=set)
    # Checkins and renewals of this batch whose checkout has not been applied yet.
    _pending: dict[str, list[IncomingEvent]] = field(default_factory=dict)
    # Stored pending events (earlier pushes), by loan uuid, fetched once per batch.
    _stored_pending: dict[str, list[CentralEvent]] = field(default_factory=dict)

    # --- batch look-ups -------------------------------------------------------------------------

    def prefetch(self, events: Iterable[IncomingEvent]) -> None:
        """Load every patron, item, loan and pending event the batch names in a few queries."""
        events = list(events)
        numbers = {e.body["student_number"] for e in events if e.kind == "checkout"}
        barcodes = {e.body["item_barcode"] for e in events if e.kind == "checkout"}
        uuids = {e.loan_uuid for e in events if e.loan_uuid}
        checkout_uuids = {e.loan_uuid for e in events if e.kind == "checkout" and e.loan_uuid}
        numbers -= self._patrons.keys()
        barcodes -= self._items.keys()
        uuids -= self._loans.keys()
        if numbers:
            found = self.session.scalars(select(Patron).where(Patron.student_number.in_(numbers)))
            by_number = {p.student_number: p for p in found}
            for n in numbers:
                self._patrons[n] = by_number.get(n)
        if barcodes:
            found_items = self.session.scalars(select(Item).where(Item.barcode.in_(barcodes)))
            by_barcode = {i.barcode: i for i in found_items}
            for b in barcodes:
                self._items[b] = by_barcode.get(b)
        if uuids:
            self._load_loans(uuids)
        if checkout_uuids - self._stored_pending.keys():
            wanted = checkout_uuids - self._stored_pending.keys()
            # An empty list also answers "nothing waits for this checkout" without a query.
            for u in wanted:
                self._stored_pending[u] = []
            stored = self.session.scalars(
                select(CentralEvent)
                .where(
                    CentralEvent.state == EventState.PENDING,
                    CentralEvent.loan_uuid.in_(wanted),
                )
                .order_by(CentralEvent.id)
            )
            for row in stored:
                assert row.loan_uuid is not None
                self._stored_pending[row.loan_uuid].append(row)
        patron_ids = {p.id for p in self._patrons.values() if p is not None}
        self._load_holds(patron_ids)
        loans = [loan for loan in self._loans.values() if loan is not None]
        item_ids = {i.id for i in self._items.values() if i is not None}
        item_ids |= {loan.item_id for loan in loans}
        # Copies of loans met by their checkin or renewal: `_settle` refreshes their status.
        self._load_items_by_id({loan.item_id for loan in loans})
        self._load_order(item_ids)
        self._load_ready_holds(item_ids)
        self._load_neighbours(events)

    def _load_items_by_id(self, item_ids: set[int]) -> None:
        known = {i.id for i in self._items.values() if i is not None}
        wanted = item_ids - known
        if wanted:
            for item in self.session.scalars(select(Item).where(Item.id.in_(wanted))):
                self._items[item.barcode] = item

    def _load_order(self, item_ids: Iterable[int]) -> None:
        wanted = set(item_ids) - self._order.keys()
        if not wanted:
            return
        for item_id in wanted:
            self._order[item_id] = []
        # No autoflush needed: a loan this ledger created is only for a copy whose order is
        # already loaded (`_checkout` loads it first) and is added to that list.
        with self.session.no_autoflush:
            rows = self.session.execute(
                select(Loan.item_id, Loan.checked_out_at, Loan.uuid).where(Loan.item_id.in_(wanted))
            )
            for item_id, checked_out_at, loan_uuid in rows:
                self._order[item_id].append((checked_out_at, loan_uuid))
        for item_id in wanted:
            self._order[item_id].sort()

    def _load_ready_holds(self, item_ids: set[int]) -> None:
        wanted = item_ids - self._ready_holds.keys()
        if not wanted:
            return
        for item_id in wanted:
            self._ready_holds[item_id] = []
        holds = self.session.scalars(
            select(Hold).where(Hold.item_id.in_(wanted), Hold.status == HoldStatus.READY)
        )
        for hold in holds:
            assert hold.item_id is not None
            self._ready_holds[hold.item_id].append(hold)

    def _load_neighbours(self, events: list[IncomingEvent]) -> None:
        """Load the loans next to where the batch's checkouts and returns sit, in one query.

        A neighbour that changes while the batch is applied is one of its own new loans
        (already at hand) or, rarely, is loaded on its own by `_loan`.
        """
        wanted: set[str] = set()
        for event in events:
            if event.loan_uuid is None:
                continue
            loan = self._loans.get(event.loan_uuid)
            if loan is not None:
                item_id, key = loan.item_id, (loan.checked_out_at, loan.uuid)
            elif event.kind == "checkout":
                item = self._items.get(str(event.body["item_barcode"]))
                if item is None:
                    continue
                item_id, key = item.id, (event.time("checked_out_at"), event.loan_uuid)
            else:
                continue
            order = self._order.get(item_id, [])
            before = bisect_left(order, key)
            after = bisect_right(order, key)
            if before > 0:
                wanted.add(order[before - 1][1])
            if after < len(order):
                wanted.add(order[after][1])
        wanted -= self._loans.keys()
        if wanted:
            self._load_loans(wanted)

    def _load_loans(self, uuids: set[str]) -> None:
        # No autoflush needed: a loan this ledger created is in `_loans` and never asked for.
        with self.session.no_autoflush:
            loans = {
                loan.uuid: loan
                for loan in self.session.scalars(select(Loan).where(Loan.uuid.in_(uuids)))
            }
            facts = {
                f.loan_uuid: f
                for f in self.session.scalars(
                    select(LoanFacts).where(LoanFacts.loan_uuid.in_(loans.keys()))
                )
            }
        for u in uuids:
            self._loans[u] = loans.get(u)
            if u in loans:
                self._facts[u] = facts.get(u)

    def _load_holds(self, patron_ids: set[int]) -> None:
        wanted = patron_ids - self._holds_loaded_for
        if not wanted:
            return
        holds = self.session.scalars(
            select(Hold)
            .where(
                Hold.patron_id.in_(wanted),
                Hold.status.in_(hold_statuses_for(HoldEvent.COLLECTED)),
            )
            .order_by(Hold.placed_at, Hold.id)
        )
        for h in holds:
            self._holds.setdefault((h.patron_id, h.title_id), h)
        self._holds_loaded_for |= wanted

    def _patron(self, number: str) -> Patron | None:
        if number not in self._patrons:
            self._patrons[number] = self.session.scalar(
                select(Patron).where(Patron.student_number == number)
            )
        return self._patrons[number]

    def _item(self, barcode: str) -> Item | None:
        if barcode not in self._items:
            self._items[barcode] = self.session.scalar(select(Item).where(Item.barcode == barcode))
        return self._items[barcode]

    def _loan(self, loan_uuid: str) -> Loan | None:
        if loan_uuid not in self._loans:
            self._load_loans({loan_uuid})
        return self._loans[loan_uuid]

    def _facts_of(self, loan: Loan) -> LoanFacts:
        if loan.uuid in self._facts:
            facts = self._facts[loan.uuid]
        else:
            facts = self.session.get(LoanFacts, loan.uuid)
        if facts is None:
            facts = LoanFacts(loan_uuid=loan.uuid, time_doubtful=False)
            self.session.add(facts)
        self._facts[loan.uuid] = facts
        return facts

    def _neighbour(self, loan: Loan, *, after: bool) -> Loan | None:
        """The loan of the same copy just before or after `loan` in checkout order."""
        if loan.item_id not in self._order:
            self._load_order((loan.item_id,))
        order = self._order[loan.item_id]
        key = (loan.checked_out_at, loan.uuid)
        if after:
            i = bisect_right(order, key)
            return self._loan(order[i][1]) if i < len(order) else None
        i = bisect_left(order, key)
        return self._loan(order[i - 1][1]) if i > 0 else None

    # --- applying ------------------------------------------------------------------------------

    def apply_all(self, events: Iterable[IncomingEvent]) -> dict[str, str]:
        """Apply events in the order given (one kiosk's sequence order); returns their states."""
        events = list(events)
        self.prefetch(events)
        for event in events:
            self.states[event.event_id] = self.apply(event)
        return self.states

    def apply(self, event: IncomingEvent) -> str:
        """Apply one event; returns its state (applied, pending or unresolved)."""
        if event.kind == "checkout":
            return self._checkout(event)
        if event.kind in ("checkin", "renewal"):
            assert event.loan_uuid is not None
            loan = self._loan(event.loan_uuid)
            if loan is None:
                self._pending.setdefault(event.loan_uuid, []).append(event)
                return EventState.PENDING
            self._apply_to_loan(loan, event)
            return EventState.APPLIED
        if event.kind == "hold_placed":
            return self._hold_placed(event)
        if event.kind == "hold_cancelled":
            return self._hold_cancelled(event)
        return EventState.APPLIED

    def _hold_placed(self, event: IncomingEvent) -> str:
        patron = self._patron(str(event.body["student_number"]))
        title = holds.find_title_by_key(self.session, str(event.body["title_key"]))
        if patron is None or title is None:
            self._unknown(
                event,
                ExceptionKind.UNKNOWN_PATRON if patron is None else ExceptionKind.UNKNOWN_ITEM,
            )
            return EventState.UNRESOLVED
        holds.record_placed(
            self.session, str(event.body["hold_uuid"]), patron, title, event.time("placed_at")
        )
        self._forget_holds(patron.id)
        return EventState.APPLIED

    def _hold_cancelled(self, event: IncomingEvent) -> str:
        hold = holds.hold_by_uuid(self.session, str(event.body["hold_uuid"]))
        # A hold whose placing was never applied (unknown student) has nothing to cancel.
        if hold is not None:
            item_id = hold.item_id
            holds.record_cancelled(self.session, hold, event.time("cancelled_at"))
            self._forget_holds(hold.patron_id, item_id)
        return EventState.APPLIED

    def _forget_holds(self, patron_id: int, item_id: int | None = None) -> None:
        """Drop cached holds a hold event changed; they are read again when next needed."""
        self._holds_loaded_for.discard(patron_id)
        for key in [k for k in self._holds if k[0] == patron_id]:
            del self._holds[key]
        if item_id is not None:
            self._ready_holds.pop(item_id, None)

    def _checkout(self, event: IncomingEvent) -> str:
        body = event.body
        loan_uuid = str(body["loan_uuid"])
        if self._loan(loan_uuid) is not None:
            return EventState.APPLIED
        item = self._item(str(body["item_barcode"]))
        patron = self._patron(str(body["student_number"]))
        if item is None or patron is None:
            self._unknown(
                event, ExceptionKind.UNKNOWN_ITEM if item is None else ExceptionKind.UNKNOWN_PATRON
            )
            return EventState.UNRESOLVED
        loan = Loan(
            uuid=loan_uuid,
            item_id=item.id,
            patron_id=patron.id,
            checked_out_at=event.time("checked_out_at"),
            due_at=event.time("due_at"),
            returned_at=None,
            renewals=0,
            kiosk_id=event.kiosk_id,
        )
        facts = LoanFacts(loan_uuid=loan_uuid, time_doubtful=event.time_doubtful)
        facts.loan = loan
        self._facts[loan_uuid] = facts
        # Neighbours are looked up before the new loan joins the copy's order. Nothing is
        # flushed before the commit, and the flush updates loans before inserting new ones,
        # so the copy never has two open loans at once.
        before = self._neighbour(loan, after=False)
        after = self._neighbour(loan, after=True)
        self._loans[loan_uuid] = loan
        insort(self._order[item.id], (loan.checked_out_at, loan_uuid))
        for waiting in self._take_pending(loan_uuid):
            self._record_on_loan(loan, facts, waiting)
        if before is not None:
            self._settle(before, loan)
        self._settle(loan, after, item=item)
        self.session.add(loan)
        self.session.add(facts)
        self._fulfil_hold(patron.id, item)
        return EventState.APPLIED

    def _take_pending(self, loan_uuid: str) -> list[IncomingEvent]:
        """Checkins and renewals that waited for this checkout, now applied with it."""
        waiting = self._pending.pop(loan_uuid, [])
        for event in waiting:
            self.states[event.event_id] = EventState.APPLIED
        stored = self._stored_pending.pop(loan_uuid, None)
        if stored is None:
            stored = list(
                self.session.scalars(
                    select(CentralEvent)
                    .where(
                        CentralEvent.state == EventState.PENDING,
                        CentralEvent.loan_uuid == loan_uuid,
                    )
                    .order_by(CentralEvent.id)
                )
            )
        earlier: list[IncomingEvent] = []
        for row in stored:
            parsed = IncomingEvent.parse(json.loads(row.payload))
            parsed.time_doubtful = row.time_doubtful
            earlier.append(parsed)
            row.state = EventState.APPLIED
            row.applied_at = self.now
            auto_resolve(
                self.session,
                f"orphan_return:{row.event_id}",
                "its checkout has arrived and the return was applied",
                self.now,
            )
        return earlier + waiting

    def _apply_to_loan(self, loan: Loan, event: IncomingEvent) -> None:
        facts = self._facts_of(loan)
        self._record_on_loan(loan, facts, event)
        if event.kind == "checkin":
            self._settle(loan, self._neighbour(loan, after=True))

    def _record_on_loan(self, loan: Loan, facts: LoanFacts, event: IncomingEvent) -> None:
        """Fold a checkin or renewal into the loan; each fold commutes with the others."""
        if event.time_doubtful:
            facts.time_doubtful = True
        if event.kind == "checkin":
            returned_at = event.time("returned_at")
            # Two returns of one loan: the earliest is when the book came back.
            if facts.explicit_returned_at is None or returned_at < facts.explicit_returned_at:
                facts.explicit_returned_at = returned_at
                facts.explicit_returned_kiosk_id = event.kiosk_id
            self._ready_hold(loan, event)
        elif event.kind == "renewal":
            renewals = int(event.body["renewals"])
            due_at = event.time("due_at")
            if (renewals, due_at) > (loan.renewals or 0, loan.due_at):
                loan.renewals = renewals
                loan.due_at = due_at

    def _settle(self, loan: Loan, successor: Loan | None, item: Item | None = None) -> None:
        """Set when `loan` ended, from its own return and the start of the copy's next loan."""
        facts = self._facts_of(loan)
        end, end_kiosk = loan_end(facts)
        previous_closer = facts.closed_by_loan_uuid
        if successor is not None and (end is None or successor.checked_out_at < end):
            loan.returned_at = successor.checked_out_at
            loan.returned_kiosk_id = successor.kiosk_id
            facts.closed_by_loan_uuid = successor.uuid
            self._double_checkout(loan, successor)
        else:
            loan.returned_at = end
            loan.returned_kiosk_id = end_kiosk
            facts.closed_by_loan_uuid = None
        if previous_closer and previous_closer != facts.closed_by_loan_uuid:
            auto_resolve(
                self.session,
                double_checkout_key(loan.uuid, previous_closer),
                "a later-synced event explained the overlap",
                self.now,
            )
        if successor is None:
            # The copy's last loan decides where the copy is.
            self._refresh_item(item or self.session.get(Item, loan.item_id), loan)

    def _refresh_item(self, item: Item | None, last_loan: Loan) -> None:
        if item is None:
            return
        if last_loan.returned_at is None:
            item.status = copy_status_after(item.status, CopyEvent.LENT)
        elif item.status == ItemStatus.ON_LOAN:
            # Only a copy the ledger had on loan moves: a librarian's status stays.
            ready = self._has_ready_hold(item.id)
            event = CopyEvent.RETURNED_TO_HOLD_SHELF if ready else CopyEvent.RETURNED_TO_SHELF
            item.status = copy_status_after(item.status, event)

    def _has_ready_hold(self, item_id: int) -> bool:
        holds = self._ready_holds.get(item_id)
        if holds is None:
            # Not loaded up front (a single retried event): ask the database, whose autoflush
            # includes this transaction's own changes.
            found = self.session.scalar(
                select(Hold.id).where(Hold.item_id == item_id, Hold.status == HoldStatus.READY)
            )
            return found is not None
        return any(h.status == HoldStatus.READY and h.item_id == item_id for h in holds)

    def _double_checkout(self, earlier: Loan, later: Loan) -> None:
        item = self.session.get(Item, earlier.item_id)
        ensure_exception(
            self.session,
            kind=ExceptionKind.DOUBLE_CHECKOUT,
            dedup_key=double_checkout_key(earlier.uuid, later.uuid),
            subject=f"loan:{earlier.uuid}",
            kiosks=(earlier.kiosk_id, later.kiosk_id),
            details={
                "item_barcode": item.barcode if item else None,
                "earlier": self._loan_summary(earlier),
                "later": self._loan_summary(later),
                "implicit_return_at": format_iso_time_or_none(later.checked_out_at),
            },
            now=self.now,
        )

    def _loan_summary(self, loan: Loan) -> dict[str, Any]:
        patron = self.session.get(Patron, loan.patron_id)
        return {
            "loan_uuid": loan.uuid,
            "kiosk_id": loan.kiosk_id,
            "checked_out_at": format_iso_time_or_none(loan.checked_out_at),
            "student_number": patron.student_number if patron else None,
        }

    def _unknown(self, event: IncomingEvent, kind: str) -> None:
        ensure_exception(
            self.session,
            kind=kind,
            dedup_key=f"{kind}:{event.event_id}",
            subject=f"event:{event.event_id}",
            kiosks=(event.kiosk_id,),
            details={
                **event_details(
                    event.event_id, event.kind, event.loan_uuid, event.body, event.recorded_at
                ),
                "student_number": event.body.get("student_number"),
            },
            now=self.now,
        )

    def _fulfil_hold(self, patron_id: int, item: Item) -> None:
        hold = self._holds.pop((patron_id, item.title_id), None)
        if hold is None and patron_id not in self._holds_loaded_for:
            self._load_holds({patron_id})
            hold = self._holds.pop((patron_id, item.title_id), None)
        if hold is not None:
            set_aside = hold.item_id if hold.status == HoldStatus.READY else None
            hold.status = hold_status_after(hold.status, HoldEvent.COLLECTED)
            hold.item_id = item.id
            if set_aside is not None and set_aside != item.id:
                # The student took another copy; the one waiting for them passes on.
                holds.pass_on(self.session, hold.title_id, set_aside, self.now)
                self._ready_holds.pop(set_aside, None)

    def _ready_hold(self, loan: Loan, event: IncomingEvent) -> None:
        hold_uuid = event.body.get("hold_uuid")
        # Before holds had uuids, kiosks sent the central id as `hold_id`.
        hold_id = event.body.get("hold_id")
        if isinstance(hold_uuid, str):
            hold = holds.hold_by_uuid(self.session, hold_uuid)
        elif isinstance(hold_id, int) and not isinstance(hold_id, bool):
            hold = self.session.get(Hold, hold_id)
        else:
            return
        item = self.session.get(Item, loan.item_id)
        if hold is None or item is None or hold.title_id != item.title_id:
            return
        if hold_event_applies(hold.status, HoldEvent.COPY_SET_ASIDE):
            hold.status = hold_status_after(hold.status, HoldEvent.COPY_SET_ASIDE)
            hold.item_id = item.id
            hold.ready_at = event.time("returned_at")
            if item.id in self._ready_holds:
                self._ready_holds[item.id].append(hold)
