"""What one ledger transaction has read or made: patrons, copies, loans, facts, holds, by key.

What a batch needs is loaded up front in a few IN queries (`prefetch`) and kept in the
dictionaries below, so applying the usual event runs no query: each query would first flush
the batch's changes so far (autoflush) with their change-log entries, and the session should
flush once, at the commit. Rarer paths (exceptions, a single retried event) still ask the
database directly. The cache lives as long as one Ledger, inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.events import IncomingEvent
from db.central_models import CentralEvent, EventState, LoanFacts
from db.models import Hold, HoldStatus, Item, Loan, Patron
from kiosk.circulation.states import HoldEvent, hold_statuses_for

# A loan's place in its copy's checkout order.
LoanKey = tuple[dt.datetime, str]


@dataclass
class LedgerCache:
    """Rows by key for one ledger; None where the database was asked and has none."""

    session: Session
    patrons: dict[str, Patron | None] = field(default_factory=dict)
    items: dict[str, Item | None] = field(default_factory=dict)
    # Every loan this ledger created or loaded, by uuid; None when the database has none.
    loans: dict[str, Loan | None] = field(default_factory=dict)
    # Facts of the loans above; None when the loan has no facts row yet.
    facts: dict[str, LoanFacts | None] = field(default_factory=dict)
    # The loans of each copy looked at, in checkout order (checked_out_at, uuid), including
    # the ones this ledger created: a loan's neighbours are found by bisection. Those two
    # columns never change once a loan exists, so the list stays true for the transaction.
    order: dict[int, list[LoanKey]] = field(default_factory=dict)
    # READY holds of the copies looked at (plus the ones this ledger made ready), by item id.
    ready_holds: dict[int, list[Hold]] = field(default_factory=dict)
    # Each patron's first open hold on a title, by (patron id, title id), for the patrons in
    # `holds_loaded_for`.
    holds: dict[tuple[int, int], Hold] = field(default_factory=dict)
    holds_loaded_for: set[int] = field(default_factory=set)
    # Stored pending events (earlier pushes), by loan uuid, fetched once per batch.
    stored_pending: dict[str, list[CentralEvent]] = field(default_factory=dict)

    # --- a batch, up front ---------------------------------------------------------------------

    def prefetch(self, events: Iterable[IncomingEvent]) -> None:
        """Load every patron, item, loan and pending event the batch names in a few queries."""
        events = list(events)
        numbers = {
            e.body["student_number"]
            for e in events
            if e.kind == "checkout"
            or (e.kind == "visit" and isinstance(e.body.get("student_number"), str))
        }
        barcodes = {e.body["item_barcode"] for e in events if e.kind == "checkout"}
        uuids = {e.loan_uuid for e in events if e.loan_uuid}
        checkout_uuids = {e.loan_uuid for e in events if e.kind == "checkout" and e.loan_uuid}
        numbers -= self.patrons.keys()
        barcodes -= self.items.keys()
        uuids -= self.loans.keys()
        if numbers:
            found = self.session.scalars(select(Patron).where(Patron.student_number.in_(numbers)))
            by_number = {p.student_number: p for p in found}
            for n in numbers:
                self.patrons[n] = by_number.get(n)
        if barcodes:
            found_items = self.session.scalars(select(Item).where(Item.barcode.in_(barcodes)))
            by_barcode = {i.barcode: i for i in found_items}
            for b in barcodes:
                self.items[b] = by_barcode.get(b)
        if uuids:
            self._load_loans(uuids)
        if checkout_uuids - self.stored_pending.keys():
            wanted = checkout_uuids - self.stored_pending.keys()
            # An empty list also answers "nothing waits for this checkout" without a query.
            for u in wanted:
                self.stored_pending[u] = []
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
                self.stored_pending[row.loan_uuid].append(row)
        patron_ids = {p.id for p in self.patrons.values() if p is not None}
        self._load_holds(patron_ids)
        loans = [loan for loan in self.loans.values() if loan is not None]
        item_ids = {i.id for i in self.items.values() if i is not None}
        item_ids |= {loan.item_id for loan in loans}
        # Copies of loans met by their checkin or renewal: the ledger refreshes their status.
        self._load_items_by_id({loan.item_id for loan in loans})
        self._load_order(item_ids)
        self._load_ready_holds(item_ids)
        self._load_neighbours(events)

    def _load_items_by_id(self, item_ids: set[int]) -> None:
        known = {i.id for i in self.items.values() if i is not None}
        wanted = item_ids - known
        if wanted:
            for item in self.session.scalars(select(Item).where(Item.id.in_(wanted))):
                self.items[item.barcode] = item

    def _load_order(self, item_ids: Iterable[int]) -> None:
        wanted = set(item_ids) - self.order.keys()
        if not wanted:
            return
        for item_id in wanted:
            self.order[item_id] = []
        # No autoflush needed: a loan this ledger created is only for a copy whose order is
        # already loaded (the checkout loads it first) and is added to that list.
        with self.session.no_autoflush:
            rows = self.session.execute(
                select(Loan.item_id, Loan.checked_out_at, Loan.uuid).where(Loan.item_id.in_(wanted))
            )
            for item_id, checked_out_at, loan_uuid in rows:
                self.order[item_id].append((checked_out_at, loan_uuid))
        for item_id in wanted:
            self.order[item_id].sort()

    def _load_ready_holds(self, item_ids: set[int]) -> None:
        wanted = item_ids - self.ready_holds.keys()
        if not wanted:
            return
        for item_id in wanted:
            self.ready_holds[item_id] = []
        holds = self.session.scalars(
            select(Hold).where(Hold.item_id.in_(wanted), Hold.status == HoldStatus.READY)
        )
        for hold in holds:
            assert hold.item_id is not None
            self.ready_holds[hold.item_id].append(hold)

    def _load_neighbours(self, events: list[IncomingEvent]) -> None:
        """Load the loans next to where the batch's checkouts and returns sit, in one query.

        A neighbour that changes while the batch is applied is one of its own new loans
        (already at hand) or, rarely, is loaded on its own by `loan`.
        """
        wanted: set[str] = set()
        for event in events:
            if event.loan_uuid is None:
                continue
            loan = self.loans.get(event.loan_uuid)
            if loan is not None:
                item_id, key = loan.item_id, (loan.checked_out_at, loan.uuid)
            elif event.kind == "checkout":
                item = self.items.get(str(event.body["item_barcode"]))
                if item is None:
                    continue
                item_id, key = item.id, (event.time("checked_out_at"), event.loan_uuid)
            else:
                continue
            order = self.order.get(item_id, [])
            before = bisect_left(order, key)
            after = bisect_right(order, key)
            if before > 0:
                wanted.add(order[before - 1][1])
            if after < len(order):
                wanted.add(order[after][1])
        wanted -= self.loans.keys()
        if wanted:
            self._load_loans(wanted)

    def _load_loans(self, uuids: set[str]) -> None:
        # No autoflush needed: a loan this ledger created is in `loans` and never asked for.
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
            self.loans[u] = loans.get(u)
            if u in loans:
                self.facts[u] = facts.get(u)

    def _load_holds(self, patron_ids: set[int]) -> None:
        wanted = patron_ids - self.holds_loaded_for
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
            self.holds.setdefault((h.patron_id, h.title_id), h)
        self.holds_loaded_for |= wanted

    # --- one at a time -------------------------------------------------------------------------

    def patron(self, number: str) -> Patron | None:
        if number not in self.patrons:
            self.patrons[number] = self.session.scalar(
                select(Patron).where(Patron.student_number == number)
            )
        return self.patrons[number]

    def item(self, barcode: str) -> Item | None:
        if barcode not in self.items:
            self.items[barcode] = self.session.scalar(select(Item).where(Item.barcode == barcode))
        return self.items[barcode]

    def loan(self, loan_uuid: str) -> Loan | None:
        if loan_uuid not in self.loans:
            self._load_loans({loan_uuid})
        return self.loans[loan_uuid]

    def facts_of(self, loan: Loan) -> LoanFacts:
        """The loan's facts row, made (and added to the session) when it has none yet."""
        if loan.uuid in self.facts:
            facts = self.facts[loan.uuid]
        else:
            facts = self.session.get(LoanFacts, loan.uuid)
        if facts is None:
            # A loan with no facts came from outside the ledger (import-loans, an old system):
            # the return it was recorded with is its own, not one a later checkout implied.
            facts = LoanFacts(
                loan_uuid=loan.uuid,
                time_doubtful=False,
                explicit_returned_at=loan.returned_at,
                explicit_returned_kiosk_id=loan.returned_kiosk_id if loan.returned_at else None,
            )
            self.session.add(facts)
        self.facts[loan.uuid] = facts
        return facts

    def neighbour(self, loan: Loan, *, after: bool) -> Loan | None:
        """The loan of the same copy just before or after `loan` in checkout order."""
        if loan.item_id not in self.order:
            self._load_order((loan.item_id,))
        order = self.order[loan.item_id]
        key = (loan.checked_out_at, loan.uuid)
        if after:
            i = bisect_right(order, key)
            return self.loan(order[i][1]) if i < len(order) else None
        i = bisect_left(order, key)
        return self.loan(order[i - 1][1]) if i > 0 else None

    def add_loan(self, loan: Loan, facts: LoanFacts) -> None:
        """A loan this ledger created joins its copy's order (look up its neighbours first)."""
        self.loans[loan.uuid] = loan
        self.facts[loan.uuid] = facts
        insort(self.order[loan.item_id], (loan.checked_out_at, loan.uuid))

    def take_stored_pending(self, loan_uuid: str) -> list[CentralEvent]:
        """Stored checkins and renewals that wait for this checkout (each handed out once)."""
        stored = self.stored_pending.pop(loan_uuid, None)
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
        return stored

    # --- holds ---------------------------------------------------------------------------------

    def has_ready_hold(self, item_id: int) -> bool:
        holds = self.ready_holds.get(item_id)
        if holds is None:
            # Not loaded up front (a single retried event): ask the database, whose autoflush
            # includes this transaction's own changes.
            found = self.session.scalar(
                select(Hold.id).where(Hold.item_id == item_id, Hold.status == HoldStatus.READY)
            )
            return found is not None
        return any(h.status == HoldStatus.READY and h.item_id == item_id for h in holds)

    def note_ready_hold(self, item_id: int, hold: Hold) -> None:
        """A hold this ledger made ready for the copy (kept only if the copy's are loaded)."""
        if item_id in self.ready_holds:
            self.ready_holds[item_id].append(hold)

    def take_open_hold(self, patron_id: int, title_id: int) -> Hold | None:
        """The patron's first open hold on the title, handed out once (a checkout collects it)."""
        hold = self.holds.pop((patron_id, title_id), None)
        if hold is None and patron_id not in self.holds_loaded_for:
            self._load_holds({patron_id})
            hold = self.holds.pop((patron_id, title_id), None)
        return hold

    def forget_holds(self, patron_id: int, item_id: int | None = None) -> None:
        """Drop cached holds a hold event changed; they are read again when next needed."""
        self.holds_loaded_for.discard(patron_id)
        for key in [k for k in self.holds if k[0] == patron_id]:
            del self.holds[key]
        if item_id is not None:
            self.forget_ready_holds(item_id)

    def forget_ready_holds(self, item_id: int) -> None:
        """Drop the copy's cached ready holds; they are read again when next needed."""
        self.ready_holds.pop(item_id, None)
