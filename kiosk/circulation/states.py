"""The states of a copy and of a hold, and the one table of their transitions.

The kiosk's services and the central ledger both ask this table what follows an event, so a
copy or hold moves the same way wherever the event is applied. The rules (rules.py) decide
whether an action is allowed; this table only says which state follows once it happened.
Adding an event is one member here and its rows in the tables, plus rows in
tests/circulation/test_states.py.

The librarian's desk operations on a copy (mark lost, found, damaged, repaired, withdrawn) are
events too, with their own table (DESK_TRANSITIONS): only the pairs listed there are allowed at
the desk, and each says what it does to the copy's open loan (LoanEffect). A copy lost while on
loan ends that loan *as lost*: the central keeps when (central_loan_facts.lost_at) and the loan's
returned_at is the earlier of that and a return a kiosk recorded, so the loan counts once, as a
loan and never as a return, and a kiosk that later takes the copy back sends it to the librarian.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class ItemStatus(enum.StrEnum):
    """Where a copy is. Stored in items.status (db.models takes its CHECK list from here)."""

    AVAILABLE = "available"
    ON_LOAN = "on_loan"
    ON_HOLD_SHELF = "on_hold_shelf"
    LOST = "lost"
    WITHDRAWN = "withdrawn"
    # Damaged and set aside to be mended; back to the shelf when repaired.
    IN_REPAIR = "in_repair"


# Copies a kiosk or the desk must not lend: the screen says so and sends the book to the librarian.
NOT_LENDABLE = frozenset({ItemStatus.LOST, ItemStatus.WITHDRAWN, ItemStatus.IN_REPAIR})


class HoldStatus(enum.StrEnum):
    """Where a hold is. Stored in holds.status."""

    WAITING = "waiting"
    READY = "ready"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    # Nobody came for the copy on the hold shelf in time; the copy passed on.
    EXPIRED = "expired"


class CopyEvent(enum.StrEnum):
    """What can happen to a copy."""

    LENT = "lent"
    RETURNED_TO_SHELF = "returned_to_shelf"
    RETURNED_TO_HOLD_SHELF = "returned_to_hold_shelf"
    # The librarian's desk operations (DESK_TRANSITIONS says which apply to which status).
    MARKED_LOST = "marked_lost"
    FOUND = "found"
    DAMAGED = "damaged"
    REPAIRED = "repaired"
    WITHDRAWN = "withdrawn"


class LoanEffect(enum.StrEnum):
    """What a desk operation does to the copy's open loan."""

    NONE = "none"
    # The loan ends now, as lost: the borrower no longer has it and owes for it.
    CLOSED_AS_LOST = "closed_as_lost"
    # The loan ends now, as returned at the desk (a damaged book handed in).
    RETURNED = "returned"


class HoldEvent(enum.StrEnum):
    """What can happen to a hold."""

    # A returned copy of the title was set aside for the hold's student.
    COPY_SET_ASIDE = "copy_set_aside"
    # The student borrowed a copy of the title (the one set aside, or another).
    COLLECTED = "collected"
    CANCELLED = "cancelled"
    # The copy set aside waited its open days on the hold shelf (kiosk.circulation.holds).
    EXPIRED = "expired"


_A, _L, _H = ItemStatus.AVAILABLE, ItemStatus.ON_LOAN, ItemStatus.ON_HOLD_SHELF
_LOST, _WD, _R = ItemStatus.LOST, ItemStatus.WITHDRAWN, ItemStatus.IN_REPAIR

# (status, event) → status after it, for the events kiosks record. Complete: every status meets
# every kiosk event. A loan recorded on a lost, withdrawn or in-repair copy (by a kiosk that had
# not heard yet) puts it on loan: the loan is a fact. A returned copy is where it was put, on the
# shelf or on the hold shelf; a lost, withdrawn or in-repair copy that turns up keeps its status
# until the librarian sees it.
COPY_TRANSITIONS: Mapping[tuple[ItemStatus, CopyEvent], ItemStatus] = {
    (_A, CopyEvent.LENT): _L,
    (_L, CopyEvent.LENT): _L,
    (_H, CopyEvent.LENT): _L,
    (_LOST, CopyEvent.LENT): _L,
    (_WD, CopyEvent.LENT): _L,
    (_A, CopyEvent.RETURNED_TO_SHELF): _A,
    (_L, CopyEvent.RETURNED_TO_SHELF): _A,
    (_H, CopyEvent.RETURNED_TO_SHELF): _A,
    (_LOST, CopyEvent.RETURNED_TO_SHELF): _LOST,
    (_WD, CopyEvent.RETURNED_TO_SHELF): _WD,
    (_A, CopyEvent.RETURNED_TO_HOLD_SHELF): _H,
    (_L, CopyEvent.RETURNED_TO_HOLD_SHELF): _H,
    (_H, CopyEvent.RETURNED_TO_HOLD_SHELF): _H,
    (_LOST, CopyEvent.RETURNED_TO_HOLD_SHELF): _LOST,
    (_WD, CopyEvent.RETURNED_TO_HOLD_SHELF): _WD,
    (_R, CopyEvent.LENT): _L,
    (_R, CopyEvent.RETURNED_TO_SHELF): _R,
    (_R, CopyEvent.RETURNED_TO_HOLD_SHELF): _R,
}

KIOSK_EVENTS = (CopyEvent.LENT, CopyEvent.RETURNED_TO_SHELF, CopyEvent.RETURNED_TO_HOLD_SHELF)

# (status, desk operation) → (status after it, what happens to the open loan). Only these are
# allowed at the desk. Not listed, so refused: anything on a copy on the hold shelf (a student's
# hold is waiting on it: cancel the hold or let it pass first), withdrawing or finding a copy on
# loan (take it back, or mark it lost, first), and operations that would change nothing.
# A damaged copy on loan is one being handed in damaged: the loan ends as returned at the desk.
DESK_TRANSITIONS: Mapping[tuple[ItemStatus, CopyEvent], tuple[ItemStatus, LoanEffect]] = {
    (_A, CopyEvent.MARKED_LOST): (_LOST, LoanEffect.NONE),
    (_L, CopyEvent.MARKED_LOST): (_LOST, LoanEffect.CLOSED_AS_LOST),
    (_R, CopyEvent.MARKED_LOST): (_LOST, LoanEffect.NONE),
    (_LOST, CopyEvent.FOUND): (_A, LoanEffect.NONE),
    (_A, CopyEvent.DAMAGED): (_R, LoanEffect.NONE),
    (_L, CopyEvent.DAMAGED): (_R, LoanEffect.RETURNED),
    (_LOST, CopyEvent.DAMAGED): (_R, LoanEffect.NONE),
    (_R, CopyEvent.REPAIRED): (_A, LoanEffect.NONE),
    (_A, CopyEvent.WITHDRAWN): (_WD, LoanEffect.NONE),
    (_LOST, CopyEvent.WITHDRAWN): (_WD, LoanEffect.NONE),
    (_R, CopyEvent.WITHDRAWN): (_WD, LoanEffect.NONE),
}

DESK_EVENTS = tuple(e for e in CopyEvent if e not in KIOSK_EVENTS)

# (status, event) → status after it. Only these apply; a hold in any other state is left as it
# is (a copy returned for a hold that was fulfilled or cancelled meanwhile sets nothing aside).
HOLD_TRANSITIONS: Mapping[tuple[HoldStatus, HoldEvent], HoldStatus] = {
    (HoldStatus.WAITING, HoldEvent.COPY_SET_ASIDE): HoldStatus.READY,
    (HoldStatus.WAITING, HoldEvent.COLLECTED): HoldStatus.FULFILLED,
    (HoldStatus.READY, HoldEvent.COLLECTED): HoldStatus.FULFILLED,
    (HoldStatus.WAITING, HoldEvent.CANCELLED): HoldStatus.CANCELLED,
    (HoldStatus.READY, HoldEvent.CANCELLED): HoldStatus.CANCELLED,
    (HoldStatus.READY, HoldEvent.EXPIRED): HoldStatus.EXPIRED,
}


def copy_status_after(status: str, event: CopyEvent) -> ItemStatus:
    """The status of a copy in `status` after kiosk event `event` (desk operations: desk_outcome)."""
    return COPY_TRANSITIONS[ItemStatus(status), event]


def desk_operation_allowed(status: str, event: CopyEvent) -> bool:
    """Whether the librarian may apply desk operation `event` to a copy in `status`."""
    return (ItemStatus(status), event) in DESK_TRANSITIONS


def desk_operations_for(status: str) -> tuple[CopyEvent, ...]:
    """The desk operations allowed on a copy in `status`, in the order buttons show them."""
    return tuple(e for e in DESK_EVENTS if desk_operation_allowed(status, e))


def desk_outcome(status: str, event: CopyEvent) -> tuple[ItemStatus, LoanEffect]:
    """The copy's status and what happens to its open loan after desk operation `event`;
    raises KeyError when it is not allowed (check `desk_operation_allowed`)."""
    return DESK_TRANSITIONS[ItemStatus(status), event]


def hold_event_applies(status: str, event: HoldEvent) -> bool:
    """Whether `event` moves a hold in `status`; otherwise the hold is left as it is."""
    return (HoldStatus(status), event) in HOLD_TRANSITIONS


def hold_status_after(status: str, event: HoldEvent) -> HoldStatus:
    """The status of a hold in `status` after `event`; raises KeyError when the event does
    not apply to that state (check `hold_event_applies` when it may not)."""
    return HOLD_TRANSITIONS[HoldStatus(status), event]


def hold_statuses_for(event: HoldEvent) -> tuple[HoldStatus, ...]:
    """The hold states `event` applies to (e.g. the open holds a checkout can collect)."""
    return tuple(status for status, e in HOLD_TRANSITIONS if e is event)
