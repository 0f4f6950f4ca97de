"""The states of a copy and of a hold, and the one table of their transitions.

The kiosk's services and the central ledger both ask this table what follows an event, so a
copy or hold moves the same way wherever the event is applied. The rules (rules.py) decide
whether an action is allowed; this table only says which state follows once it happened.
Adding a desk operation (lost, found, withdrawn, damaged) or a hold expiry is one event and
its rows here, plus a row in tests/circulation/test_states.py.
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
_LOST, _WD = ItemStatus.LOST, ItemStatus.WITHDRAWN

# (status, event) → status after it. Complete: every status meets every event. A loan recorded
# on a lost or withdrawn copy (by a kiosk that had not heard yet) puts it on loan: the loan is a
# fact. A returned copy is where it was put, on the shelf or on the hold shelf; a lost or
# withdrawn copy that turns up keeps its status until the librarian sees it.
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
}

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
    """The status of a copy in `status` after `event`."""
    return COPY_TRANSITIONS[ItemStatus(status), event]


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
