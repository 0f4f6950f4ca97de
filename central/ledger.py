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

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from central.changes import lock_change_counter
from central.conflicts import auto_resolve, ensure_exception
from db.central_models import CentralEvent, EventState, ExceptionKind, LoanFacts
from db.models import Hold, HoldStatus, Item, ItemStatus, Loan, Patron

CLOCK_TOLERANCE = dt.timedelta(minutes=5)
ORPHAN_AFTER = dt.timedelta(days=3)

KINDS = ("checkout", "checkin", "renewal", "visit")
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "checkout": ("loan_uuid", "item_barcode", "student_number", "checked_out_at", "due_at"),
    "checkin": ("loan_uuid", "item_barcode", "returned_at"),
    "renewal": ("loan_uuid", "due_at", "renewals"),
    "visit": ("student_number",),
}


class MalformedEvent(ValueError):
    """An event that cannot be understood; the whole push is answered 400."""


def parse_time(value: Any) -> dt.datetime:
    """An ISO 8601 time as aware UTC; a time without offset is taken as UTC."""
    if not isinstance(value, str):
        raise MalformedEvent(f"expected an ISO 8601 time, not {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedEvent(f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _text(body: dict[str, Any], key: str, max_len: int = 64) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise MalformedEvent(f"{key} must be non-empty text of at most {max_len} characters")
    return value


@dataclass
class IncomingEvent:
    """One event as pushed, validated; `body` is the event exactly as the kiosk sent it."""

    event_id: str
    kind: str
    kiosk_id: str
    epoch: str
    sequence: int
    recorded_at: dt.datetime | None
    body: dict[str, Any]
    time_doubtful: bool = False

    @property
    def loan_uuid(self) -> str | None:
        value = self.body.get("loan_uuid")
        return value if isinstance(value, str) else None

    @classmethod
    def parse(cls, body: Any) -> IncomingEvent:
        if not isinstance(body, dict):
            raise MalformedEvent("each event must be a JSON object")
        kind = body.get("kind")
        if kind not in KINDS:
            raise MalformedEvent(f"unknown event kind {kind!r}")
        sequence = body.get("sequence")
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
            raise MalformedEvent("sequence must be a whole number from 1")
        for name in REQUIRED_FIELDS[kind]:
            if body.get(name) is None:
                raise MalformedEvent(f"a {kind} event needs {name}")
        event = cls(
            event_id=_text(body, "event_id", 36),
            kind=str(kind),
            kiosk_id=_text(body, "kiosk_id"),
            epoch=_text(body, "epoch", 36),
            sequence=sequence,
            recorded_at=parse_time(body["recorded_at"]) if body.get("recorded_at") else None,
            body=body,
        )
        for name in ("checked_out_at", "due_at", "returned_at"):
            if name in REQUIRED_FIELDS[kind]:
                parse_time(body[name])
        if kind == "renewal" and (
            isinstance(body["renewals"], bool) or not isinstance(body["renewals"], int)
        ):
            raise MalformedEvent("renewals must be a whole number")
        for name in ("loan_uuid", "item_barcode", "student_number"):
            if name in REQUIRED_FIELDS[kind]:
                _text(body, name)
        return event

    def time(self, key: str) -> dt.datetime:
        value = self.body.get(key)
        if value is None and self.recorded_at is not None:
            return self.recorded_at
        return parse_time(value)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def double_checkout_key(earlier_uuid: str, later_uuid: str) -> str:
    return f"double_checkout:{earlier_uuid}:{later_uuid}"


@dataclass
class Ledger:
    """Applies events inside the caller's transaction. Caller holds the ledger lock and commits."""

    session: Session
    now: dt.datetime
    states: dict[str, str] = field(default_factory=dict)
    _patrons: dict[str, Patron | None] = field(default_factory=dict)
    _items: dict[str, Item | None] = field(default_factory=dict)
    _loans: dict[str, Loan | None] = field(default_factory=dict)
    _facts: dict[str, LoanFacts] = field(default_factory=dict)
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
        if checkout_uuids:
            stored = self.session.scalars(
                select(CentralEvent)
                .where(
                    CentralEvent.state == EventState.PENDING,
                    CentralEvent.loan_uuid.in_(checkout_uuids),
                )
                .order_by(CentralEvent.id)
            )
            for row in stored:
                assert row.loan_uuid is not None
                self._stored_pending.setdefault(row.loan_uuid, []).append(row)
        patron_ids = {p.id for p in self._patrons.values() if p is not None}
        self._load_holds(patron_ids)

    def _load_loans(self, uuids: set[str]) -> None:
        loans = {
            loan.uuid: loan
            for loan in self.session.scalars(select(Loan).where(Loan.uuid.in_(uuids)))
        }
        facts = self.session.scalars(select(LoanFacts).where(LoanFacts.loan_uuid.in_(uuids)))
        for f in facts:
            self._facts[f.loan_uuid] = f
        for u in uuids:
            self._loans[u] = loans.get(u)

    def _load_holds(self, patron_ids: set[int]) -> None:
        wanted = patron_ids - self._holds_loaded_for
        if not wanted:
            return
        holds = self.session.scalars(
            select(Hold)
            .where(
                Hold.patron_id.in_(wanted),
                Hold.status.in_((HoldStatus.WAITING, HoldStatus.READY)),
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
        facts = self._facts.get(loan.uuid)
        if facts is None:
            facts = self.session.get(LoanFacts, loan.uuid)
        if facts is None:
            facts = LoanFacts(loan_uuid=loan.uuid, time_doubtful=False)
            self.session.add(facts)
        self._facts[loan.uuid] = facts
        return facts

    def _neighbour(self, loan: Loan, *, after: bool) -> Loan | None:
        """The loan of the same copy just before or after `loan` in checkout order."""
        same_item = [Loan.item_id == loan.item_id, Loan.uuid != loan.uuid]
        if after:
            order = or_(
                Loan.checked_out_at > loan.checked_out_at,
                and_(Loan.checked_out_at == loan.checked_out_at, Loan.uuid > loan.uuid),
            )
            sort = (Loan.checked_out_at.asc(), Loan.uuid.asc())
        else:
            order = or_(
                Loan.checked_out_at < loan.checked_out_at,
                and_(Loan.checked_out_at == loan.checked_out_at, Loan.uuid < loan.uuid),
            )
            sort = (Loan.checked_out_at.desc(), Loan.uuid.desc())
        found = self.session.scalar(select(Loan).where(*same_item, order).order_by(*sort).limit(1))
        if found is not None:
            self._loans.setdefault(found.uuid, found)
        return found

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
        return EventState.APPLIED

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
        # Neighbours are looked up before the new loan is added, so the autoflush of these
        # queries never inserts a second open loan for the copy before the first is closed.
        before = self._neighbour(loan, after=False)
        after = self._neighbour(loan, after=True)
        self._loans[loan_uuid] = loan
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
        end = facts.explicit_returned_at
        previous_closer = facts.closed_by_loan_uuid
        if successor is not None and (end is None or successor.checked_out_at < end):
            loan.returned_at = successor.checked_out_at
            loan.returned_kiosk_id = successor.kiosk_id
            facts.closed_by_loan_uuid = successor.uuid
            self._double_checkout(loan, successor)
        else:
            loan.returned_at = end
            loan.returned_kiosk_id = facts.explicit_returned_kiosk_id if end else None
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
            item.status = ItemStatus.ON_LOAN
        elif item.status == ItemStatus.ON_LOAN:
            ready = self.session.scalar(
                select(Hold.id).where(Hold.item_id == item.id, Hold.status == HoldStatus.READY)
            )
            item.status = ItemStatus.ON_HOLD_SHELF if ready else ItemStatus.AVAILABLE

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
                "implicit_return_at": _iso(later.checked_out_at),
            },
            now=self.now,
        )

    def _loan_summary(self, loan: Loan) -> dict[str, Any]:
        patron = self.session.get(Patron, loan.patron_id)
        return {
            "loan_uuid": loan.uuid,
            "kiosk_id": loan.kiosk_id,
            "checked_out_at": _iso(loan.checked_out_at),
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
                "event_id": event.event_id,
                "event_kind": event.kind,
                "loan_uuid": event.loan_uuid,
                "item_barcode": event.body.get("item_barcode"),
                "student_number": event.body.get("student_number"),
                "recorded_at": _iso(event.recorded_at),
            },
            now=self.now,
        )

    def _fulfil_hold(self, patron_id: int, item: Item) -> None:
        hold = self._holds.pop((patron_id, item.title_id), None)
        if hold is None and patron_id not in self._holds_loaded_for:
            self._load_holds({patron_id})
            hold = self._holds.pop((patron_id, item.title_id), None)
        if hold is not None:
            hold.status = HoldStatus.FULFILLED
            hold.item_id = item.id

    def _ready_hold(self, loan: Loan, event: IncomingEvent) -> None:
        hold_id = event.body.get("hold_id")
        if isinstance(hold_id, bool) or not isinstance(hold_id, int | str):
            return
        try:
            hold = self.session.get(Hold, int(hold_id))
        except ValueError:
            return
        item = self.session.get(Item, loan.item_id)
        if hold is None or item is None or hold.title_id != item.title_id:
            return
        if hold.status == HoldStatus.WAITING:
            hold.status = HoldStatus.READY
            hold.item_id = item.id
            hold.ready_at = event.time("returned_at")


def retry_event(session: Session, event_row: CentralEvent, now: dt.datetime) -> str:
    """Apply an unresolved event again (after the roster or catalog was fixed). Caller commits."""
    if event_row.state not in (EventState.UNRESOLVED, EventState.PENDING):
        return event_row.state
    ledger = Ledger(session, now)
    event = IncomingEvent.parse(json.loads(event_row.payload))
    event.time_doubtful = event_row.time_doubtful
    state = ledger.apply(event)
    if state == EventState.APPLIED:
        event_row.state = EventState.APPLIED
        event_row.applied_at = now
        for kind in (ExceptionKind.UNKNOWN_ITEM, ExceptionKind.UNKNOWN_PATRON):
            auto_resolve(session, f"{kind}:{event_row.event_id}", "applied on retry", now)
    elif state == EventState.PENDING and event_row.state == EventState.UNRESOLVED:
        event_row.state = EventState.PENDING
    return event_row.state


def flag_orphans(session: Session, now: dt.datetime) -> int:
    """Raise `orphan_return` for returns still waiting for their checkout after 3 days.

    Caller commits. Returns how many exceptions were opened or refreshed.
    """
    cutoff = now - ORPHAN_AFTER
    rows = session.scalars(
        select(CentralEvent).where(
            CentralEvent.state == EventState.PENDING, CentralEvent.received_at < cutoff
        )
    )
    count = 0
    for row in rows:
        body = json.loads(row.payload)
        ensure_exception(
            session,
            kind=ExceptionKind.ORPHAN_RETURN,
            dedup_key=f"orphan_return:{row.event_id}",
            subject=f"loan:{row.loan_uuid}",
            kiosks=(row.kiosk_id,),
            details={
                "event_id": row.event_id,
                "event_kind": row.kind,
                "loan_uuid": row.loan_uuid,
                "item_barcode": body.get("item_barcode"),
                "recorded_at": _iso(row.recorded_at),
                "received_at": _iso(row.received_at),
            },
            now=now,
        )
        count += 1
    return count


def apply_received(session: Session, now: dt.datetime, limit: int = 1000) -> int:
    """Apply up to `limit` stored events the ledger has not applied yet, oldest first.

    Takes the ledger lock first, so appliers (and librarian retries) never interleave.
    Caller commits; returns how many events were processed (0 when there was nothing).
    """
    lock_change_counter(session)
    rows = list(
        session.scalars(
            select(CentralEvent)
            .where(CentralEvent.state == EventState.RECEIVED)
            .order_by(CentralEvent.id)
            .limit(limit)
        )
    )
    if not rows:
        return 0
    events: list[IncomingEvent] = []
    for row in rows:
        try:
            event = IncomingEvent.parse(json.loads(row.payload))
        except (MalformedEvent, ValueError):
            # Validated when pushed, so this is a bug; park the row rather than block the ledger.
            row.state = EventState.UNRESOLVED
            continue
        event.time_doubtful = row.time_doubtful
        events.append(event)
    states = Ledger(session, now).apply_all(events)
    for row in rows:
        if row.event_id in states:
            row.state = states[row.event_id]
            row.applied_at = now if row.state == EventState.APPLIED else None
    return len(rows)
