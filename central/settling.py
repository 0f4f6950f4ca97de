"""Sync exceptions told in words, with the choices that settle them as ledger changes.

A double checkout (two kiosks lent one copy before they synced) is settled by the librarian
saying where the book really is: with the earlier borrower, with the later one, or on the
shelf. Each choice is written as ordinary central-originated events of the source "console"
(central.desk.record_central_event), so the ledger applies it, the change log carries it and
kiosks learn it on their next pull; then the exception is marked resolved. Unknown students
or books and orphan returns are settled by retrying their event after an import, as before.
Functions take a session; caller commits.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.conflicts import resolve
from central.desk import open_loan_of, record_central_event
from db.central_models import ExceptionKind, ExceptionStatus, Kiosk, SyncException
from db.models import Item, Loan, Patron, Title
from kiosk.clock import parse_iso_time

CONSOLE_SOURCE = "console"


class Settlement(enum.StrEnum):
    """Where the librarian says a double-checked-out book really is."""

    EARLIER_HAS_IT = "earlier_has_it"
    LATER_HAS_IT = "later_has_it"
    ON_SHELF = "on_shelf"


@dataclass(frozen=True)
class Borrower:
    """One side of a double checkout, as the librarian reads it."""

    loan_uuid: str
    name: str
    class_name: str
    kiosk: str
    checked_out_at: dt.datetime | None
    due_at: dt.datetime | None
    # The copy's open loan is this one: this student has it as far as the ledger knows.
    holds_it_now: bool


@dataclass(frozen=True)
class ExceptionStory:
    """What an exception is about, in the words a librarian needs (names, titles, kiosks)."""

    exception: SyncException
    kind: str
    title: str | None = None
    item_barcode: str | None = None
    # The kiosks' display names, in the order the exception names them.
    kiosks: list[str] = field(default_factory=list)
    earlier: Borrower | None = None
    later: Borrower | None = None
    # A double checkout whose copy and loans are still there can be settled by choosing.
    settlements: list[Settlement] = field(default_factory=list)
    # unknown student / orphan return: what the kiosk sent.
    student_number: str | None = None
    # The student that number names, once the roster has them (then a retry will work).
    student_name: str | None = None
    event_kind: str | None = None
    recorded_at: dt.datetime | None = None
    can_retry: bool = False


def _time(value: Any) -> dt.datetime | None:
    try:
        return parse_iso_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _kiosk_name(session: Session, kiosk_id: str | None) -> str:
    if not kiosk_id:
        return ""
    kiosk = session.get(Kiosk, kiosk_id)
    return (kiosk.name or kiosk.id) if kiosk is not None else kiosk_id


def _loan(session: Session, loan_uuid: Any) -> Loan | None:
    if not isinstance(loan_uuid, str):
        return None
    return session.scalar(select(Loan).where(Loan.uuid == loan_uuid))


def _borrower(session: Session, loan: Loan, open_loan: Loan | None) -> Borrower:
    patron = session.get(Patron, loan.patron_id)
    return Borrower(
        loan_uuid=loan.uuid,
        name=patron.name if patron is not None else "",
        class_name=patron.class_name if patron is not None else "",
        kiosk=_kiosk_name(session, loan.kiosk_id),
        checked_out_at=loan.checked_out_at,
        due_at=loan.due_at,
        holds_it_now=open_loan is not None and open_loan.patron_id == loan.patron_id,
    )


def describe(session: Session, exc: SyncException) -> ExceptionStory:
    """The exception in words: whose loans, which book, which kiosks; and how it can be settled."""
    details: dict[str, Any] = exc.details if isinstance(exc.details, dict) else {}
    barcode = details.get("item_barcode")
    item = (
        session.scalar(select(Item).where(Item.barcode == barcode))
        if isinstance(barcode, str)
        else None
    )
    title = session.get(Title, item.title_id) if item is not None else None
    kiosks = [_kiosk_name(session, k) for k in exc.kiosks.split(",") if k]
    base: dict[str, Any] = {
        "exception": exc,
        "kind": exc.kind,
        "title": title.title if title is not None else None,
        "item_barcode": barcode if isinstance(barcode, str) else None,
        "kiosks": kiosks,
    }
    if exc.kind == ExceptionKind.DOUBLE_CHECKOUT:
        earlier = _loan(session, (details.get("earlier") or {}).get("loan_uuid"))
        later = _loan(session, (details.get("later") or {}).get("loan_uuid"))
        if earlier is None or later is None or item is None:
            return ExceptionStory(**base)
        open_loan = open_loan_of(session, item.id)
        settlements = list(Settlement) if exc.status == ExceptionStatus.OPEN else []
        return ExceptionStory(
            **base,
            earlier=_borrower(session, earlier, open_loan),
            later=_borrower(session, later, open_loan),
            settlements=settlements,
        )
    student_number = details.get("student_number")
    patron = (
        session.scalar(select(Patron).where(Patron.student_number == student_number))
        if isinstance(student_number, str)
        else None
    )
    return ExceptionStory(
        **base,
        student_number=student_number if isinstance(student_number, str) else None,
        student_name=patron.name if patron is not None else None,
        event_kind=details.get("event_kind")
        if isinstance(details.get("event_kind"), str)
        else None,
        recorded_at=_time(details.get("recorded_at")),
        can_retry=exc.status == ExceptionStatus.OPEN
        and exc.kind
        in (ExceptionKind.UNKNOWN_PATRON, ExceptionKind.UNKNOWN_ITEM, ExceptionKind.ORPHAN_RETURN),
    )


@dataclass(frozen=True)
class Settled:
    """What settling did: the events recorded (empty when the ledger already said so)."""

    exception: SyncException
    events: list[str]
    note: str


def settle_double_checkout(
    session: Session,
    exc: SyncException,
    settlement: Settlement,
    staff_username: str,
    now: dt.datetime,
) -> Settled | None:
    """Make the ledger say where the book is, and resolve `exc`. None when `exc` is not an open
    double checkout whose loans and copy are still known. Caller commits.

    "Has it": the copy's open loan, if it is someone else's, is returned now and the student
    named is lent the copy from now with their own loan's due date (they had it all along, so
    no new loan period). "On the shelf": the open loan, if any, is returned now. Nothing is
    recorded when the ledger already says so.
    """
    if exc.kind != ExceptionKind.DOUBLE_CHECKOUT or exc.status != ExceptionStatus.OPEN:
        return None
    details: dict[str, Any] = exc.details if isinstance(exc.details, dict) else {}
    earlier = _loan(session, (details.get("earlier") or {}).get("loan_uuid"))
    later = _loan(session, (details.get("later") or {}).get("loan_uuid"))
    item = session.get(Item, earlier.item_id) if earlier is not None else None
    if earlier is None or later is None or item is None:
        return None
    open_loan = open_loan_of(session, item.id)
    # The ledger orders a copy's events by time: settling events at the very time of a loan
    # (the later kiosk's clock can read the librarian's "now", or be a little fast) could sort
    # before it and be seen as a new double checkout. They come a second after the last loan.
    last_lent = max(loan.checked_out_at for loan in (earlier, later, open_loan) if loan is not None)
    at = max(now, last_lent + dt.timedelta(seconds=1))
    events: list[str] = []
    keeper = {Settlement.EARLIER_HAS_IT: earlier, Settlement.LATER_HAS_IT: later}.get(settlement)
    if open_loan is not None and (keeper is None or open_loan.patron_id != keeper.patron_id):
        recorded = record_central_event(
            session,
            "checkin",
            {"loan_uuid": open_loan.uuid, "item_barcode": item.barcode, "returned_at": at},
            at,
            source=CONSOLE_SOURCE,
        )
        events.append(recorded.event_id)
        open_loan = None
    if keeper is not None and open_loan is None:
        patron = session.get(Patron, keeper.patron_id)
        if patron is None:
            return None
        recorded = record_central_event(
            session,
            "checkout",
            {
                "loan_uuid": str(uuid.uuid4()),
                "item_barcode": item.barcode,
                "student_number": patron.student_number,
                "checked_out_at": at,
                "due_at": keeper.due_at,
            },
            at,
            source=CONSOLE_SOURCE,
        )
        events.append(recorded.event_id)
    note = f"settled: {settlement.value}"
    resolved = resolve(session, exc.id, staff_username, note, now)
    assert resolved is not None  # read above in this transaction
    return Settled(resolved, events, note)
