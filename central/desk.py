"""The desk at the central: lend, return and renew by the kiosk's rules, recorded through the ledger.

A librarian's desk is a kiosk that happens to sit inside the central: its loans, returns and
renewals are decided by the same pure rules (kiosk.circulation) from the same kind of
snapshot, then written as ordinary events of the source "desk" and applied by the same
`central.ledger.Ledger` that applies pushed events. So the change log carries the result
(kiosks learn it on their next pull), a kiosk that lent the same copy offline meets a desk
loan as it would any kiosk's (one double_checkout exception), and the event history holds
the desk's work beside the kiosks'. Functions take a session; caller commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

# By its module path: `from kiosk.services import ...` would import the kiosk.services package
# too, which the central may not (tests/test_layering.py).
import kiosk.services.lending as lending
from central import holds as central_holds
from central.changes import lock_change_counter
from central.events import IncomingEvent
from central.intake import PAYLOAD_JSON
from central.ledger import Ledger
from db.central_models import CentralEvent, EventState
from db.hold_queue import waiting_holds_ahead
from db.models import Hold, HoldStatus, Item, ItemStatus, Loan, Patron, Title
from kiosk.circulation import rules
from kiosk.circulation.holds import HoldPolicy, shelf_expires_at
from kiosk.circulation.overdue import days_overdue
from kiosk.circulation.rules import Destination, ItemState, LoanPolicy, PatronStanding, Refusal
from kiosk.circulation.states import CopyEvent, HoldEvent, copy_status_after, hold_status_after
from kiosk.clock import format_iso_time
from kiosk.services.lending import (
    Action,
    Change,
    CirculationResult,
    CopyState,
    ItemRecord,
    LoanedCopy,
    OpenLoan,
    ReturnState,
    TitleCopy,
    WaitingHold,
)

DESK_SOURCE = "desk"
# Where events that happen at the central itself come from: the desk, and the console's own
# corrections (settling an exception). Each is stored as its own kiosk id and epoch, numbered
# from 1, so no kiosk may be registered under one of these names (central-add-kiosk refuses).
CENTRAL_SOURCES = frozenset({DESK_SOURCE, "console"})


# --- recording an event that happened at the central -------------------------------------------


@dataclass(frozen=True)
class RecordedEvent:
    """An event recorded at the central: its id, position and the state the ledger gave it."""

    event_id: str
    kind: str
    source: str
    sequence: int
    state: str


def record_central_event(
    session: Session,
    kind: str,
    fields: Mapping[str, Any],
    now: dt.datetime,
    *,
    source: str = DESK_SOURCE,
) -> RecordedEvent:
    """Record an event of `kind` that happened at the central at `now`, applied at once.

    The event is written as a kiosk named `source` would push it (`fields` are the kind's
    fields from central.events.REQUIRED_FIELDS; datetimes are written in the one event time
    format), stored among the kiosks' events at the next position of `source`, and applied by
    the ledger in this transaction. Takes the ledger lock first (as the applier does), held
    until the caller commits, so it never interleaves with the applier or another desk.
    Raises `central.events.MalformedEvent` when `fields` lack what `kind` needs: a bug in the
    caller, not an outcome. Caller commits.
    """
    if source not in CENTRAL_SOURCES:
        raise ValueError(f"{source!r} is not a central source")
    lock_change_counter(session)
    last = session.scalar(
        select(func.max(CentralEvent.sequence)).where(
            CentralEvent.kiosk_id == source, CentralEvent.epoch == source
        )
    )
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "kind": kind,
        "kiosk_id": source,
        "epoch": source,
        "sequence": (last or 0) + 1,
        "recorded_at": format_iso_time(now),
    }
    for key, value in fields.items():
        body[key] = format_iso_time(value) if isinstance(value, dt.datetime) else value
    event = IncomingEvent.parse(body)
    state = Ledger(session, now).apply_all([event])[event.event_id]
    session.add(
        CentralEvent(
            event_id=event.event_id,
            kiosk_id=source,
            epoch=source,
            sequence=event.sequence,
            kind=kind,
            loan_uuid=event.loan_uuid,
            payload=PAYLOAD_JSON.encode(body),
            recorded_at=now,
            received_at=now,
            state=state,
            time_doubtful=False,
            applied_at=now if state == EventState.APPLIED else None,
        )
    )
    session.flush()
    return RecordedEvent(event.event_id, kind, source, event.sequence, state)


# --- what a desk action did --------------------------------------------------------------------


@dataclass(frozen=True)
class HeldFor:
    """The student a copy on the hold shelf waits for (shown at the desk, never logged)."""

    patron_id: int
    name: str
    class_name: str


@dataclass(frozen=True)
class DeskResult(CirculationResult):
    """What the lending flow did at the desk, naming the student a copy on the hold shelf
    waits for."""

    held_for: HeldFor | None = None

    @property
    def changed(self) -> bool:
        """Whether the action recorded anything (what the audit log is for)."""
        return self.action in (
            Action.CHECKED_OUT,
            Action.RETURNED,
            Action.RENEWED,
            Action.SET_ASIDE,
        )


def _result(action: Action, item: Item, **details: Any) -> DeskResult:
    return DeskResult(action, title=item.title.title, item_barcode=item.barcode, **details)


# --- the desk's side of the lending flow (kiosk.services.lending decides) ----------------------


def patron_standing(session: Session, patron: Patron, now: dt.datetime) -> PatronStanding:
    """The rules' view of `patron`: status, open loans and how many are overdue at `now`."""
    open_loans, overdue = session.execute(
        select(func.count(Loan.id), func.count(Loan.id).filter(Loan.due_at < now)).where(
            Loan.patron_id == patron.id, Loan.returned_at.is_(None)
        )
    ).one()
    return PatronStanding(
        known=True, status=patron.status, open_loans=open_loans, overdue_loans=overdue
    )


def open_loan_of(session: Session, item_id: int) -> Loan | None:
    """The copy's open loan (the ledger leaves at most one; the latest if ever two)."""
    return session.scalar(
        select(Loan)
        .where(Loan.item_id == item_id, Loan.returned_at.is_(None))
        .order_by(Loan.checked_out_at.desc(), Loan.uuid.desc())
        .limit(1)
    )


def _ready_hold_for(session: Session, item: Item | ItemRecord) -> Hold | None:
    """The ready hold the copy is set aside for, when it is on the hold shelf."""
    if item.status != ItemStatus.ON_HOLD_SHELF:
        return None
    return session.scalar(
        select(Hold)
        .where(
            Hold.item_id == item.id,
            Hold.title_id == item.title_id,
            Hold.status == HoldStatus.READY,
        )
        .limit(1)
    )


def first_in_line(session: Session, title_id: int) -> Hold | None:
    """The waiting hold a returned copy of the title goes to (kiosk.circulation.holds.next_in_line
    orders the queue: placed first, then by uuid)."""
    return session.scalar(
        select(Hold)
        .where(Hold.title_id == title_id, Hold.status == HoldStatus.WAITING)
        .order_by(Hold.placed_at, Hold.uuid)
        .limit(1)
    )


def _copy(item: Item) -> ItemRecord:
    return ItemRecord(
        item.id, item.barcode, item.status, item.title_id, item.title.title, item.title.isbn13
    )


def _loan(loan: Loan | None) -> OpenLoan | None:
    if loan is None:
        return None
    return OpenLoan(loan.id, loan.uuid, loan.patron_id, loan.due_at, loan.renewals)


class _DeskLoans:
    """The desk's `LoanStore`: snapshots by ORM queries at the central, changes as events of
    the source "desk" that the ledger applies (rows, holds, change log) in this transaction."""

    def __init__(self, session: Session, now: dt.datetime) -> None:
        self.session, self.now = session, now

    def standing(self, patron: Patron) -> PatronStanding:
        return patron_standing(self.session, patron, self.now)

    def copy_state(self, item: ItemRecord, patron_id: int) -> CopyState:
        session = self.session
        loan = open_loan_of(session, item.id)
        on_loan_to = None if loan is None else ("self" if loan.patron_id == patron_id else "other")
        ready = _ready_hold_for(session, item)
        held = None if ready is None else ("self" if ready.patron_id == patron_id else "other")
        on_shelf = session.scalar(
            select(func.count(Item.id)).where(
                Item.title_id == item.title_id, Item.status == ItemStatus.AVAILABLE
            )
        )
        ahead = session.scalar(
            select(waiting_holds_ahead(literal(item.title_id), literal(patron_id)))
        )
        state = ItemState(
            status=item.status,
            on_loan_to=on_loan_to,
            held_for=held,
            waiting_holds_ahead=ahead or 0,
            copies_on_shelf=on_shelf or 0,
        )
        return CopyState(state, _loan(loan), ready.id if ready is not None else None)

    def return_state(self, item: ItemRecord) -> ReturnState:
        waiting = first_in_line(self.session, item.title_id)
        return ReturnState(
            _loan(open_loan_of(self.session, item.id)),
            None if waiting is None else WaitingHold(waiting.id, waiting.uuid),
        )

    def title_copies(self, title_id: int) -> list[TitleCopy]:
        copies = []
        for item in self.session.scalars(
            select(Item).where(Item.title_id == title_id).order_by(Item.id)
        ):
            loan = open_loan_of(self.session, item.id)
            ready = _ready_hold_for(self.session, item)
            copies.append(
                TitleCopy(
                    _copy(item),
                    loan.patron_id if loan is not None else None,
                    ready.patron_id if ready is not None else None,
                )
            )
        return copies

    def title_open_loans(self, title_id: int) -> list[LoanedCopy]:
        return [
            LoanedCopy(loan_id, patron_id, _copy(item))
            for loan_id, patron_id, item in self.session.execute(
                select(Loan.id, Loan.patron_id, Item)
                .join(Item, Item.id == Loan.item_id)
                .where(Item.title_id == title_id, Loan.returned_at.is_(None))
                .order_by(Loan.checked_out_at)
            )
        ]

    def write(self, change: Change) -> None:
        # The ledger changes the rows as for a kiosk's event, and fulfils the student's own
        # hold on a checkout.
        record_central_event(self.session, change.kind, change.event_fields(), change.at)


def _held_for(session: Session, hold: Hold) -> HeldFor:
    patron = session.get(Patron, hold.patron_id)
    assert patron is not None, "a hold's student exists (foreign key)"
    return HeldFor(patron.id, patron.name, patron.class_name)


def _at_desk(result: CirculationResult, held_for: HeldFor | None = None) -> DeskResult:
    """The lending flow's result, with the student a copy waits for."""
    return DeskResult(
        **{f.name: getattr(result, f.name) for f in fields(result)}, held_for=held_for
    )


# --- lending -----------------------------------------------------------------------------------


def check_out(
    session: Session, patron: Patron, item: Item, policy: LoanPolicy, now: dt.datetime
) -> DeskResult:
    """Lend `item` to `patron` at the desk if the rules allow, through the ledger. Caller commits.

    A copy this student already has is not lent again: the result offers renew or return,
    with the renewal's refusal when renewing would not be allowed (as the kiosk screen does).
    """
    store = _DeskLoans(session, now)
    return _at_desk(lending.check_out(store, patron, _copy(item), policy, now))


def check_out_title(
    session: Session, patron: Patron, title: Title, policy: LoanPolicy, now: dt.datetime
) -> DeskResult:
    """Lend a copy of `title` scanned by its ISBN: the student's own copy offers renew/return;
    else the copy on the hold shelf for them, else one on the open shelf. Caller commits."""
    store = _DeskLoans(session, now)
    return _at_desk(lending.check_out_title(store, patron, title, policy, now))


# --- returning ---------------------------------------------------------------------------------


def check_in(session: Session, item: Item, policy: LoanPolicy, now: dt.datetime) -> DeskResult:
    """Take back `item` at the desk and say where it goes. Caller commits.

    On loan: the return goes through the ledger; when a student waits for the title the copy
    is set aside for the first in line (`held_for` names them). Not on loan: a copy from the
    open shelf that a student waits for (the hold-shelf list's "to pull") is set aside for
    them; anything else is refused as not on loan, saying where the copy belongs.
    """
    result = lending.check_in(_DeskLoans(session, now), _copy(item), policy, now)
    if result.action is Action.RETURNED:
        hold = session.get(Hold, result.hold_id) if result.hold_id is not None else None
        return _at_desk(result, _held_for(session, hold) if hold is not None else None)
    waiting = first_in_line(session, item.title_id)
    if waiting is not None and item.status == ItemStatus.AVAILABLE:
        set_aside(session, waiting, item, now)
        return _result(
            Action.SET_ASIDE,
            item,
            destination=Destination.HOLD_SHELF,
            held_for=_held_for(session, waiting),
        )
    ready = _ready_hold_for(session, item)
    # A lost or withdrawn copy that turns up goes to the librarian with no refusal of its
    # own; at the desk it is still a copy that was not on loan.
    return replace(
        _at_desk(result, _held_for(session, ready) if ready is not None else None),
        refusal=result.refusal or Refusal.NOT_ON_LOAN,
    )


def check_in_title(
    session: Session,
    title: Title,
    patron: Patron | None,
    policy: LoanPolicy,
    now: dt.datetime,
) -> DeskResult:
    """Take back a book scanned by its ISBN: the student's own copy first, else the only copy
    out; several out asks for the copy's own barcode. Caller commits."""
    store = _DeskLoans(session, now)
    copy = lending.copy_to_return(store, title, patron.id if patron is not None else None)
    if isinstance(copy, Refusal):
        return DeskResult(Action.REFUSED, refusal=copy, title=title.title)
    item = session.get(Item, copy.id)
    assert item is not None, "a loan's copy exists (foreign key)"
    return check_in(session, item, policy, now)


def set_aside(session: Session, hold: Hold, item: Item, now: dt.datetime) -> None:
    """Put `item`, a copy from the open shelf, on the hold shelf for the waiting `hold`.

    Written as the central's hold sweep writes holds (central.holds.pass_on): by the one state
    table, recorded in the change log by the flush. Caller commits.
    """
    lock_change_counter(session)
    hold.status = hold_status_after(hold.status, HoldEvent.COPY_SET_ASIDE)
    hold.item_id = item.id
    hold.ready_at = now
    item.status = copy_status_after(item.status, CopyEvent.RETURNED_TO_HOLD_SHELF)
    session.flush()


# --- renewing ----------------------------------------------------------------------------------


def renew(
    session: Session, patron: Patron, item: Item, policy: LoanPolicy, now: dt.datetime
) -> DeskResult:
    """Renew `patron`'s loan of `item` if the rules allow, through the ledger. Caller commits."""
    return _at_desk(lending.renew(_DeskLoans(session, now), patron, _copy(item), policy, now))


# --- the student at the desk, and their holds --------------------------------------------------


@dataclass(frozen=True)
class LoanLine:
    loan_uuid: str
    item_barcode: str
    title: str
    checked_out_at: dt.datetime
    due_at: dt.datetime
    days_overdue: int
    renewals: int


@dataclass(frozen=True)
class HoldLine:
    hold_id: int
    title: str
    status: str
    placed_at: dt.datetime
    # A ready hold's copy and the end of its time on the hold shelf.
    item_barcode: str | None
    expires_at: dt.datetime | None


@dataclass(frozen=True)
class PatronAtDesk:
    """What the desk shows of the student in front of it: their loans, holds and what is left."""

    patron: Patron
    loans: list[LoanLine]
    holds: list[HoldLine]
    may_borrow: int


def patron_at_desk(
    session: Session, patron: Patron, policy: LoanPolicy, hold_policy: HoldPolicy, now: dt.datetime
) -> PatronAtDesk:
    """The student's open loans (due first) and active holds (ready first)."""
    loans = [
        LoanLine(
            loan.uuid,
            barcode,
            title,
            loan.checked_out_at,
            loan.due_at,
            days_overdue(
                policy.calendar, loan.due_at, now, count_closed_days=policy.count_closed_days
            ),
            loan.renewals,
        )
        for loan, barcode, title in session.execute(
            select(Loan, Item.barcode, Title.title)
            .join(Item, Item.id == Loan.item_id)
            .join(Title, Title.id == Item.title_id)
            .where(Loan.patron_id == patron.id, Loan.returned_at.is_(None))
            .order_by(Loan.due_at, Loan.id)
        )
    ]
    holds = []
    for hold, title, barcode in session.execute(
        select(Hold, Title.title, Item.barcode)
        .join(Title, Title.id == Hold.title_id)
        .outerjoin(Item, Item.id == Hold.item_id)
        .where(Hold.patron_id == patron.id, Hold.status.in_(central_holds.ACTIVE))
        # "ready" sorts before "waiting".
        .order_by(Hold.status, Hold.placed_at)
    ):
        ready = hold.status == HoldStatus.READY and hold.ready_at is not None
        holds.append(
            HoldLine(
                hold.id,
                title,
                hold.status,
                hold.placed_at,
                barcode if ready else None,
                shelf_expires_at(hold.ready_at, hold_policy) if hold.ready_at and ready else None,
            )
        )
    may_borrow = max(0, policy.max_loans - len(loans))
    # Never promise books the rules will then refuse.
    standing = PatronStanding(
        known=True,
        status=patron.status,
        open_loans=len(loans),
        overdue_loans=sum(1 for line in loans if line.due_at < now),
    )
    if rules.decide_patron(standing) is not None or (
        policy.block_when_overdue and standing.overdue_loans
    ):
        may_borrow = 0
    return PatronAtDesk(patron, loans, holds, may_borrow)


def place_hold(
    session: Session, patron: Patron, title: Title, policy: HoldPolicy, now: dt.datetime
) -> central_holds.PlacedHold:
    """Reserve `title` for `patron` at the console by the hold rules (central.holds.place_hold),
    under the ledger lock as every writer of holds. Caller commits."""
    lock_change_counter(session)
    return central_holds.place_hold(session, patron, title, policy, now)


def cancel_hold(session: Session, hold: Hold, now: dt.datetime) -> bool:
    """Cancel `hold` at the console; a copy waiting on the hold shelf for it passes on to the
    next in line. False when the hold had already ended. Caller commits."""
    if hold.status not in central_holds.ACTIVE:
        return False
    lock_change_counter(session)
    central_holds.record_cancelled(session, hold, now)
    session.flush()
    return True
