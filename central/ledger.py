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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from central import holds, rollup
from central.conflicts import auto_resolve, ensure_exception, event_details
from central.events import IncomingEvent
from central.ledger_cache import LedgerCache
from db.central_models import EventState, ExceptionKind, LoanFacts
from db.models import Hold, HoldStatus, Item, ItemStatus, Loan, Patron
from kiosk.circulation.states import (
    CopyEvent,
    HoldEvent,
    copy_status_after,
    hold_event_applies,
    hold_status_after,
)
from kiosk.clock import format_iso_time_or_none


def double_checkout_key(earlier_uuid: str, later_uuid: str) -> str:
    return f"double_checkout:{earlier_uuid}:{later_uuid}"


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

    The rows a batch names are read up front and kept in `cache` (central.ledger_cache), so
    applying the usual event runs no query and the session flushes once, at the commit.
    """

    session: Session
    now: dt.datetime
    states: dict[str, str] = field(default_factory=dict)
    cache: LedgerCache = field(init=False)
    # Checkins and renewals of this batch whose checkout has not been applied yet.
    _pending: dict[str, list[IncomingEvent]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cache = LedgerCache(self.session)

    # --- applying ------------------------------------------------------------------------------

    def apply_all(self, events: Iterable[IncomingEvent]) -> dict[str, str]:
        """Apply events in the order given (one kiosk's sequence order); returns their states."""
        events = list(events)
        self.cache.prefetch(events)
        for event in events:
            self.states[event.event_id] = self.apply(event)
        return self.states

    def apply(self, event: IncomingEvent) -> str:
        """Apply one event; returns its state (applied, pending or unresolved)."""
        if event.kind == "checkout":
            return self._checkout(event)
        if event.kind in ("checkin", "renewal"):
            assert event.loan_uuid is not None
            loan = self.cache.loan(event.loan_uuid)
            if loan is None:
                self._pending.setdefault(event.loan_uuid, []).append(event)
                return EventState.PENDING
            self._apply_to_loan(loan, event)
            return EventState.APPLIED
        if event.kind == "hold_placed":
            return self._hold_placed(event)
        if event.kind == "hold_cancelled":
            return self._hold_cancelled(event)
        if event.kind == "visit":
            self._visit(event)
        return EventState.APPLIED

    def _visit(self, event: IncomingEvent) -> None:
        # A sign-in changes no row here; it counts in the reports' roll-up (人次).
        number = event.body.get("student_number")
        patron = self.cache.patron(number) if isinstance(number, str) else None
        if patron is not None and event.recorded_at is not None:
            rollup.note_visit(self.session, patron.id, event.recorded_at, event.kiosk_id)

    def _hold_placed(self, event: IncomingEvent) -> str:
        patron = self.cache.patron(str(event.body["student_number"]))
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
        self.cache.forget_holds(patron.id)
        return EventState.APPLIED

    def _hold_cancelled(self, event: IncomingEvent) -> str:
        hold = holds.hold_by_uuid(self.session, str(event.body["hold_uuid"]))
        # A hold whose placing was never applied (unknown student) has nothing to cancel.
        if hold is not None:
            item_id = hold.item_id
            holds.record_cancelled(self.session, hold, event.time("cancelled_at"))
            self.cache.forget_holds(hold.patron_id, item_id)
        return EventState.APPLIED

    def _checkout(self, event: IncomingEvent) -> str:
        body = event.body
        loan_uuid = str(body["loan_uuid"])
        if self.cache.loan(loan_uuid) is not None:
            return EventState.APPLIED
        item = self.cache.item(str(body["item_barcode"]))
        patron = self.cache.patron(str(body["student_number"]))
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
        # Neighbours are looked up before the new loan joins the copy's order. Nothing is
        # flushed before the commit, and the flush updates loans before inserting new ones,
        # so the copy never has two open loans at once.
        before = self.cache.neighbour(loan, after=False)
        after = self.cache.neighbour(loan, after=True)
        self.cache.add_loan(loan, facts)
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
        stored = self.cache.take_stored_pending(loan_uuid)
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
        facts = self.cache.facts_of(loan)
        self._record_on_loan(loan, facts, event)
        if event.kind == "checkin":
            self._settle(loan, self.cache.neighbour(loan, after=True))

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
        facts = self.cache.facts_of(loan)
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
            ready = self.cache.has_ready_hold(item.id)
            event = CopyEvent.RETURNED_TO_HOLD_SHELF if ready else CopyEvent.RETURNED_TO_SHELF
            item.status = copy_status_after(item.status, event)

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
        hold = self.cache.take_open_hold(patron_id, item.title_id)
        if hold is not None:
            set_aside = hold.item_id if hold.status == HoldStatus.READY else None
            hold.status = hold_status_after(hold.status, HoldEvent.COLLECTED)
            hold.item_id = item.id
            if set_aside is not None and set_aside != item.id:
                # The student took another copy; the one waiting for them passes on.
                holds.pass_on(self.session, hold.title_id, set_aside, self.now)
                self.cache.forget_ready_holds(set_aside)

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
            self.cache.note_ready_hold(item.id, hold)
