"""Lend, return and renew: load snapshots, ask the rules, change rows and write the outbox event."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from db.models import Hold, HoldStatus, Item, ItemStatus, Loan, Patron, PatronStatus, Title
from kiosk.circulation import rules
from kiosk.circulation.rules import (
    CheckoutOutcome,
    CopyRef,
    Destination,
    ItemState,
    LoanPolicy,
    OpenLoanRef,
    PatronStanding,
    Refusal,
)
from kiosk.services import outbox


class Action(enum.StrEnum):
    """What a scan did; the kiosk API reports it as `action`."""

    SIGNED_IN = "signed_in"
    SWITCHED = "switched"
    CHECKED_OUT = "checked_out"
    RETURNED = "returned"
    RENEWED = "renewed"
    RENEW_OR_RETURN = "renew_or_return"
    REFUSED = "refused"
    IGNORED = "ignored"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CirculationResult:
    action: Action
    refusal: Refusal | None = None
    title: str | None = None
    item_barcode: str | None = None
    due_at: dt.datetime | None = None
    destination: Destination | None = None
    days_overdue: int = 0
    loan_uuid: str | None = None


@dataclass(frozen=True)
class LoanLine:
    item_barcode: str
    title: str
    due_at: dt.datetime
    days_overdue: int
    renewals: int


@dataclass(frozen=True)
class PatronSummary:
    """What the signed-in screen shows: loans with due dates, holds ready, what is left to borrow."""

    patron_id: int
    first_name: str
    loans: list[LoanLine] = field(default_factory=list)
    holds_ready: list[str] = field(default_factory=list)
    may_borrow: int = 0


# --- look-ups --------------------------------------------------------------------------------


def find_patron_by_card(session: Session, card: str) -> Patron | None:
    return session.scalar(select(Patron).where(Patron.card_barcode == card))


def find_item(session: Session, barcode: str) -> Item | None:
    # The title is always shown with the copy, so load it in the same query.
    return session.scalar(
        select(Item).options(joinedload(Item.title)).where(Item.barcode == barcode)
    )


def find_title_by_isbn(session: Session, isbn13: str) -> Title | None:
    """Titles are stored by canonical ISBN-13, so an ISBN-10 catalog record and the EAN-13
    on the cover meet here."""
    return session.scalar(select(Title).where(Title.isbn13 == isbn13))


def open_loan_for(session: Session, item_id: int) -> Loan | None:
    return session.scalar(select(Loan).where(Loan.item_id == item_id, Loan.returned_at.is_(None)))


def patron_standing(session: Session, patron: Patron | None, now: dt.datetime) -> PatronStanding:
    if patron is None:
        return PatronStanding(known=False)
    open_loans, overdue = session.execute(
        select(
            func.count(Loan.id),
            func.count(Loan.id).filter(Loan.due_at < now),
        ).where(Loan.patron_id == patron.id, Loan.returned_at.is_(None))
    ).one()
    return PatronStanding(
        known=True, status=patron.status, open_loans=open_loans, overdue_loans=overdue
    )


def _waiting_holds(session: Session, title_id: int, exclude_patron_id: int | None) -> int:
    query = select(func.count(Hold.id)).where(
        Hold.title_id == title_id, Hold.status == HoldStatus.WAITING
    )
    if exclude_patron_id is not None:
        query = query.where(Hold.patron_id != exclude_patron_id)
    return session.scalar(query) or 0


def _held_for(
    session: Session, item: Item, patron_id: int | None
) -> tuple[str | None, Hold | None]:
    if item.status != ItemStatus.ON_HOLD_SHELF:
        return None, None
    hold = session.scalar(
        select(Hold).where(Hold.item_id == item.id, Hold.status == HoldStatus.READY)
    )
    if hold is None:
        return None, None
    return ("self" if hold.patron_id == patron_id else "other"), hold


def _item_state(session: Session, item: Item, patron_id: int | None) -> ItemState:
    loan = open_loan_for(session, item.id)
    on_loan_to = None if loan is None else ("self" if loan.patron_id == patron_id else "other")
    held_for, _ = _held_for(session, item, patron_id)
    on_shelf = session.scalar(
        select(func.count(Item.id)).where(
            Item.title_id == item.title_id, Item.status == ItemStatus.AVAILABLE
        )
    )
    return ItemState(
        status=item.status,
        on_loan_to=on_loan_to,
        held_for=held_for,
        waiting_holds_by_others=_waiting_holds(session, item.title_id, patron_id),
        copies_on_shelf=on_shelf or 0,
    )


# --- lending ---------------------------------------------------------------------------------


def check_out(
    session: Session,
    patron: Patron,
    item: Item,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Lend `item` to `patron` if the rules allow, with its outbox event. Caller commits."""
    decision = rules.decide_checkout(
        patron_standing(session, patron, now), _item_state(session, item, patron.id), policy, now
    )
    title = item.title.title
    if decision.outcome is CheckoutOutcome.RENEW_OR_RETURN:
        loan = open_loan_for(session, item.id)
        return CirculationResult(
            Action.RENEW_OR_RETURN,
            title=title,
            item_barcode=item.barcode,
            due_at=loan.due_at if loan else None,
        )
    if not decision.allowed or decision.due_at is None:
        return CirculationResult(
            Action.REFUSED, refusal=decision.refusal, title=title, item_barcode=item.barcode
        )
    _, hold = _held_for(session, item, patron.id)
    if hold is not None:
        hold.status = HoldStatus.FULFILLED
    loan = Loan(
        uuid=str(uuid.uuid4()),
        item_id=item.id,
        patron_id=patron.id,
        checked_out_at=now,
        due_at=decision.due_at,
        renewals=0,
        kiosk_id=kiosk_id,
    )
    item.status = ItemStatus.ON_LOAN
    session.add(loan)
    outbox.record_event(
        session,
        "checkout",
        {
            "loan_uuid": loan.uuid,
            "item_barcode": item.barcode,
            "isbn13": item.title.isbn13,
            "student_number": patron.student_number,
            "checked_out_at": now.isoformat(),
            "due_at": decision.due_at.isoformat(),
        },
        kiosk_id,
        now,
    )
    session.flush()
    return CirculationResult(
        Action.CHECKED_OUT,
        title=title,
        item_barcode=item.barcode,
        due_at=decision.due_at,
        loan_uuid=loan.uuid,
    )


def check_out_title(
    session: Session,
    patron: Patron,
    title: Title,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Lend one copy of `title` (scanned by ISBN). Caller commits.

    A copy this student already has offers renew/return; otherwise the copy on the hold
    shelf for them, else any copy on the open shelf, else the refusal that best explains why.
    """
    items = list(session.scalars(select(Item).where(Item.title_id == title.id).order_by(Item.id)))
    for item in items:
        loan = open_loan_for(session, item.id)
        if loan is not None and loan.patron_id == patron.id:
            return check_out(session, patron, item, policy, kiosk_id, now)
    copies = [
        CopyRef(item.id, item.status, _held_for(session, item, patron.id)[0]) for item in items
    ]
    chosen = rules.choose_copy(copies)
    if chosen is not None:
        item = next(i for i in items if i.id == chosen.item_id)
        return check_out(session, patron, item, policy, kiosk_id, now)
    # No copy can be lent; patron refusals still come first.
    refusal = rules.decide_patron(patron_standing(session, patron, now))
    if refusal is None:
        refusal = (
            Refusal.HELD_FOR_OTHER
            if any(i.status == ItemStatus.ON_HOLD_SHELF for i in items)
            else Refusal.NO_COPY_AVAILABLE
        )
    return CirculationResult(Action.REFUSED, refusal=refusal, title=title.title)


# --- returning -------------------------------------------------------------------------------


def check_in(
    session: Session, item: Item, policy: LoanPolicy, kiosk_id: str, now: dt.datetime
) -> CirculationResult:
    """Return `item`: close its loan, route it to the hold shelf or return box. Caller commits."""
    loan = open_loan_for(session, item.id)
    waiting = session.scalar(
        select(Hold)
        .where(Hold.title_id == item.title_id, Hold.status == HoldStatus.WAITING)
        .order_by(Hold.placed_at, Hold.id)
        .limit(1)
    )
    decision = rules.decide_checkin(
        on_loan=loan is not None,
        item_status=item.status,
        due_at=loan.due_at if loan else None,
        title_has_waiting_hold=waiting is not None,
        policy=policy,
        now=now,
    )
    title = item.title.title
    if loan is None:
        return CirculationResult(
            Action.REFUSED,
            refusal=decision.refusal,
            title=title,
            item_barcode=item.barcode,
            destination=decision.destination,
        )
    loan.returned_at = now
    loan.returned_kiosk_id = kiosk_id
    hold_id = None
    if decision.destination is Destination.HOLD_SHELF and waiting is not None:
        waiting.status = HoldStatus.READY
        waiting.item_id = item.id
        waiting.ready_at = now
        item.status = ItemStatus.ON_HOLD_SHELF
        hold_id = waiting.id
    elif decision.destination is Destination.RETURN_BOX:
        item.status = ItemStatus.AVAILABLE
    outbox.record_event(
        session,
        "checkin",
        {
            "loan_uuid": loan.uuid,
            "item_barcode": item.barcode,
            "returned_at": now.isoformat(),
            "hold_id": hold_id,
        },
        kiosk_id,
        now,
    )
    session.flush()
    return CirculationResult(
        Action.RETURNED,
        title=title,
        item_barcode=item.barcode,
        due_at=loan.due_at,
        destination=decision.destination,
        days_overdue=decision.days_overdue,
        loan_uuid=loan.uuid,
    )


def check_in_title(
    session: Session,
    title: Title,
    signed_in_patron_id: int | None,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Return a book scanned by ISBN: resolve which copy's loan it closes. Caller commits."""
    rows = session.execute(
        select(Loan.id, Loan.patron_id, Item)
        .join(Item, Loan.item_id == Item.id)
        .where(Item.title_id == title.id, Loan.returned_at.is_(None))
        .order_by(Loan.checked_out_at)
    ).all()
    resolved = rules.resolve_title_return(
        [OpenLoanRef(loan_id, patron_id) for loan_id, patron_id, _ in rows], signed_in_patron_id
    )
    if isinstance(resolved, Refusal):
        return CirculationResult(Action.REFUSED, refusal=resolved, title=title.title)
    item = next(item for loan_id, _, item in rows if loan_id == resolved)
    return check_in(session, item, policy, kiosk_id, now)


# --- renewing --------------------------------------------------------------------------------


def renew(
    session: Session,
    patron: Patron,
    item: Item,
    policy: LoanPolicy,
    kiosk_id: str,
    now: dt.datetime,
) -> CirculationResult:
    """Renew this patron's loan of `item` if the rules allow. Caller commits."""
    loan = open_loan_for(session, item.id)
    title = item.title.title
    if loan is None or loan.patron_id != patron.id:
        return CirculationResult(
            Action.REFUSED, refusal=Refusal.NOT_ON_LOAN, title=title, item_barcode=item.barcode
        )
    decision = rules.decide_renewal(
        patron_standing(session, patron, now),
        renewals=loan.renewals,
        due_at=loan.due_at,
        waiting_holds_by_others=_waiting_holds(session, item.title_id, patron.id),
        policy=policy,
        now=now,
    )
    if not decision.allowed or decision.due_at is None:
        return CirculationResult(
            Action.REFUSED,
            refusal=decision.refusal,
            title=title,
            item_barcode=item.barcode,
            due_at=loan.due_at,
        )
    loan.due_at = decision.due_at
    loan.renewals += 1
    outbox.record_event(
        session,
        "renewal",
        {
            "loan_uuid": loan.uuid,
            "item_barcode": item.barcode,
            "due_at": decision.due_at.isoformat(),
            "renewals": loan.renewals,
        },
        kiosk_id,
        now,
    )
    session.flush()
    return CirculationResult(
        Action.RENEWED,
        title=title,
        item_barcode=item.barcode,
        due_at=decision.due_at,
        loan_uuid=loan.uuid,
    )


# --- the signed-in patron ----------------------------------------------------------------------


def record_visit(session: Session, patron: Patron, kiosk_id: str, now: dt.datetime) -> None:
    """Count a sign-in as a library visit (for the librarian's statistics). Caller commits."""
    outbox.record_event(session, "visit", {"student_number": patron.student_number}, kiosk_id, now)


def patron_summary(
    session: Session, patron: Patron, first_name: str, policy: LoanPolicy, now: dt.datetime
) -> PatronSummary:
    rows = session.execute(
        select(Loan, Item.barcode, Title.title)
        .join(Item, Loan.item_id == Item.id)
        .join(Title, Item.title_id == Title.id)
        .where(Loan.patron_id == patron.id, Loan.returned_at.is_(None))
        .order_by(Loan.due_at)
    ).all()
    loans = [
        LoanLine(
            item_barcode=barcode,
            title=title,
            due_at=loan.due_at,
            days_overdue=policy.calendar.days_overdue(loan.due_at, now),
            renewals=loan.renewals,
        )
        for loan, barcode, title in rows
    ]
    holds_ready = list(
        session.scalars(
            select(Title.title)
            .join(Hold, Hold.title_id == Title.id)
            .where(Hold.patron_id == patron.id, Hold.status == HoldStatus.READY)
        )
    )
    may_borrow = max(0, policy.max_loans - len(loans))
    has_overdue = any(line.due_at < now for line in loans)
    # Never promise books the rules will then refuse.
    if patron.status != PatronStatus.ACTIVE or (policy.block_when_overdue and has_overdue):
        may_borrow = 0
    return PatronSummary(patron.id, first_name, loans, holds_ready, may_borrow)
