"""The desk's copy operations (lost, found, damaged, repaired, withdrawn) and compensation cases.

A copy's status and what happens to its open loan come from the one state table
(kiosk.circulation.states.DESK_TRANSITIONS); amounts and a case's states from
kiosk.circulation.compensation. Every write goes through the caller's central session, so the
change log carries the copy, the loan and the student's open-case count to kiosks on their next
pull. Functions take a session and never commit ("Caller commits.").

How the ledger records a copy lost on loan: `central_loan_facts.lost_at` is set and the loan's
`returned_at` becomes the earlier of that and any return a kiosk recorded (central.ledger.loan_end),
with no return kiosk: the loan counts once, as a loan, and never as a return. A kiosk that had not
heard yet and takes the copy back later sends its return as usual; the ledger keeps the loan ended
at the loss, leaves the copy lost (a librarian's status stays), and the case page shows that the
copy came back, so the librarian marks it found.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.changes import lock_change_counter
from central.desk import DESK_SOURCE, open_loan_of, record_central_event
from central.ledger import loan_end
from db.central_models import CompensationCase, LoanFacts
from db.models import Item, Loan, Patron
from kiosk.circulation.compensation import (
    SETTLING_ACTIONS,
    CaseAction,
    CaseReason,
    CaseStatus,
    CompensationPolicy,
    assess,
    case_action_applies,
    case_status_after,
    found_action,
)
from kiosk.circulation.states import (
    CopyEvent,
    LoanEffect,
    desk_operation_allowed,
    desk_outcome,
)


class DeskRefusal(enum.StrEnum):
    """Why a desk operation was not done; the console says each in words."""

    NOT_ALLOWED = "not_allowed"
    CASE_SETTLED = "case_settled"


@dataclass(frozen=True)
class CopyChange:
    """What a desk operation did: the copy's statuses, the loan it ended, the case it opened
    and the cases it reversed (a found book)."""

    refusal: DeskRefusal | None
    status_before: str
    status_after: str
    loan_effect: LoanEffect = LoanEffect.NONE
    loan_uuid: str | None = None
    case: CompensationCase | None = None
    reversed_cases: tuple[CompensationCase, ...] = ()


def change_copy(
    session: Session,
    item: Item,
    operation: CopyEvent,
    *,
    at: dt.datetime,
    by: str,
    policy: CompensationPolicy,
    note: str = "",
) -> CopyChange:
    """Apply desk operation `operation` to `item` at `at`, by staff user `by`. Caller commits.

    Takes the ledger's lock first, so the loan and the copy are read as the ledger left them.
    Lost or damaged while on loan ends the loan (as lost, or returned at the desk) and opens a
    compensation case against the borrower by `policy`; found reverses the copy's cases as the
    policy says. A pair the state table does not allow changes nothing (NOT_ALLOWED).
    """
    lock_change_counter(session)
    session.refresh(item)
    before = item.status
    if not desk_operation_allowed(before, operation):
        return CopyChange(DeskRefusal.NOT_ALLOWED, before, before)
    after, effect = desk_outcome(before, operation)
    loan = open_loan_of(session, item.id) if effect is not LoanEffect.NONE else None
    case = None
    if loan is not None:
        _end_loan(session, loan, item, effect, at)
        reason = CaseReason.LOST if effect is LoanEffect.CLOSED_AS_LOST else CaseReason.DAMAGED
        case = _open_case(session, loan, item, reason, at=at, by=by, policy=policy, note=note)
    item.status = after
    reversed_cases: tuple[CompensationCase, ...] = ()
    if operation is CopyEvent.FOUND:
        reversed_cases = _reverse_cases(session, item, at=at, by=by, policy=policy)
    return CopyChange(
        None,
        before,
        after,
        effect if loan is not None else LoanEffect.NONE,
        loan.uuid if loan is not None else None,
        case,
        reversed_cases,
    )


def _end_loan(
    session: Session, loan: Loan, item: Item, effect: LoanEffect, at: dt.datetime
) -> None:
    if effect is LoanEffect.RETURNED:
        # Handed in damaged: a return at the desk like any other (central.desk), so it counts
        # as the desk's return wherever returns are counted.
        record_central_event(
            session,
            "checkin",
            {"loan_uuid": loan.uuid, "item_barcode": item.barcode, "returned_at": at},
            at,
            source=DESK_SOURCE,
        )
        return
    facts = session.get(LoanFacts, loan.uuid)
    if facts is None:
        facts = LoanFacts(loan_uuid=loan.uuid, time_doubtful=False)
        session.add(facts)
    facts.lost_at = at
    loan.returned_at, loan.returned_kiosk_id = loan_end(facts)


def _open_case(
    session: Session,
    loan: Loan,
    item: Item,
    reason: CaseReason,
    *,
    at: dt.datetime,
    by: str,
    policy: CompensationPolicy,
    note: str,
) -> CompensationCase:
    title = item.title
    assessment = assess(policy, reason, title.price_fen)
    case = CompensationCase(
        patron_id=loan.patron_id,
        item_id=item.id,
        title_id=title.id,
        loan_uuid=loan.uuid,
        reason=reason.value,
        amount_fen=assessment.amount_fen,
        price_fen=title.price_fen,
        basis=assessment.basis.value,
        policy=assessment.policy_text,
        status=CaseStatus.OPEN.value,
        recorded_at=at,
        recorded_by=by,
        note=note.strip(),
    )
    session.add(case)
    _recount(session, loan.patron_id)
    return case


def _reverse_cases(
    session: Session, item: Item, *, at: dt.datetime, by: str, policy: CompensationPolicy
) -> tuple[CompensationCase, ...]:
    action = found_action(policy)
    changed = []
    for case in session.scalars(
        select(CompensationCase)
        .where(
            CompensationCase.item_id == item.id,
            CompensationCase.reason == CaseReason.LOST,
            CompensationCase.found_at.is_(None),
        )
        .order_by(CompensationCase.id)
    ):
        case.found_at = at
        if case_action_applies(case.status, action):
            case.status = case_status_after(case.status, action).value
            case.settled_at = at
            case.settled_by = by
            changed.append(case)
            _recount(session, case.patron_id)
    return tuple(changed)


def settle_case(
    session: Session,
    case: CompensationCase,
    action: CaseAction,
    *,
    at: dt.datetime,
    by: str,
    note: str = "",
) -> DeskRefusal | None:
    """Record a payment, a waiver or a replacement book for an open case. Caller commits.

    Returns CASE_SETTLED (and changes nothing) when the case is no longer open.
    """
    if action not in SETTLING_ACTIONS:
        raise ValueError(f"{action} does not settle a case")
    lock_change_counter(session)
    session.refresh(case)
    if not case_action_applies(case.status, action):
        return DeskRefusal.CASE_SETTLED
    case.status = case_status_after(case.status, action).value
    case.settled_at = at
    case.settled_by = by
    if note.strip():
        case.note = f"{case.note}\n{note.strip()}".strip()
    _recount(session, case.patron_id)
    return None


def _recount(session: Session, patron_id: int) -> None:
    """Keep the student's open-case count (sent to kiosks) equal to their open cases."""
    session.flush()
    count = session.scalar(
        select(func.count(CompensationCase.id)).where(
            CompensationCase.patron_id == patron_id, CompensationCase.status == CaseStatus.OPEN
        )
    )
    patron = session.get(Patron, patron_id)
    if patron is not None and patron.open_compensation_cases != count:
        patron.open_compensation_cases = int(count or 0)


def cases_of_patron(session: Session, patron_id: int) -> list[CompensationCase]:
    """A student's cases, newest first."""
    return list(
        session.scalars(
            select(CompensationCase)
            .where(CompensationCase.patron_id == patron_id)
            .order_by(CompensationCase.recorded_at.desc(), CompensationCase.id.desc())
        )
    )


@dataclass(frozen=True)
class PatronCompensation:
    """What a student owes and has paid for lost and damaged books (their page shows it)."""

    owed_fen: int
    paid_fen: int
    cases: tuple[CompensationCase, ...]


def patron_compensation(session: Session, patron_id: int) -> PatronCompensation:
    """A student's cases, newest first, with the sum still owed (open cases) and the sum paid
    (paid cases; a refunded one was given back)."""
    cases = tuple(cases_of_patron(session, patron_id))
    owed = sum(c.amount_fen for c in cases if c.status == CaseStatus.OPEN)
    paid = sum(c.amount_fen for c in cases if c.status == CaseStatus.PAID)
    return PatronCompensation(owed, paid, cases)


def cases_of_item(session: Session, item_id: int) -> list[CompensationCase]:
    """A copy's cases, newest first."""
    return list(
        session.scalars(
            select(CompensationCase)
            .where(CompensationCase.item_id == item_id)
            .order_by(CompensationCase.recorded_at.desc(), CompensationCase.id.desc())
        )
    )


def list_cases(
    session: Session, status: str | None = None, limit: int = 200
) -> list[CompensationCase]:
    """Cases for the console's list, newest first; only those in `status` when given."""
    stmt = select(CompensationCase).order_by(
        CompensationCase.recorded_at.desc(), CompensationCase.id.desc()
    )
    if status:
        stmt = stmt.where(CompensationCase.status == status)
    return list(session.scalars(stmt.limit(limit)))


def returned_after_loss(session: Session, case: CompensationCase) -> tuple[dt.datetime, str] | None:
    """When and where a kiosk took the copy back after it was marked lost (the librarian should
    then mark it found), from the loan's recorded return; None when it has not come back."""
    if case.loan_uuid is None:
        return None
    facts = session.get(LoanFacts, case.loan_uuid)
    if facts is None or facts.explicit_returned_at is None or facts.lost_at is None:
        return None
    return facts.explicit_returned_at, facts.explicit_returned_kiosk_id or ""
