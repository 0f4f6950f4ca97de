"""The copy and hold state table, row by row: what follows each event from each state."""

from __future__ import annotations

import itertools

import pytest

from kiosk.circulation.states import (
    COPY_TRANSITIONS,
    DESK_EVENTS,
    DESK_TRANSITIONS,
    KIOSK_EVENTS,
    CopyEvent,
    HoldEvent,
    HoldStatus,
    ItemStatus,
    LoanEffect,
    copy_status_after,
    desk_operation_allowed,
    desk_operations_for,
    desk_outcome,
    hold_event_applies,
    hold_status_after,
    hold_statuses_for,
)

# status before, event, status after — the table as a librarian would read it.
COPY_ROWS = """
available      lent                    on_loan
on_loan        lent                    on_loan
on_hold_shelf  lent                    on_loan
lost           lent                    on_loan
withdrawn      lent                    on_loan
available      returned_to_shelf       available
on_loan        returned_to_shelf       available
on_hold_shelf  returned_to_shelf       available
lost           returned_to_shelf       lost
withdrawn      returned_to_shelf       withdrawn
available      returned_to_hold_shelf  on_hold_shelf
on_loan        returned_to_hold_shelf  on_hold_shelf
on_hold_shelf  returned_to_hold_shelf  on_hold_shelf
lost           returned_to_hold_shelf  lost
withdrawn      returned_to_hold_shelf  withdrawn
in_repair      lent                    on_loan
in_repair      returned_to_shelf       in_repair
in_repair      returned_to_hold_shelf  in_repair
"""

# The desk: status before, operation, status after and what it does to the open loan
# ("-": refused at the desk).
DESK_ROWS = """
available      marked_lost  lost       none
on_loan        marked_lost  lost       closed_as_lost
on_hold_shelf  marked_lost  -          -
lost           marked_lost  -          -
withdrawn      marked_lost  -          -
in_repair      marked_lost  lost       none
available      found        -          -
on_loan        found        -          -
on_hold_shelf  found        -          -
lost           found        available  none
withdrawn      found        -          -
in_repair      found        -          -
available      damaged      in_repair  none
on_loan        damaged      in_repair  returned
on_hold_shelf  damaged      -          -
lost           damaged      in_repair  none
withdrawn      damaged      -          -
in_repair      damaged      -          -
available      repaired     -          -
on_loan        repaired     -          -
on_hold_shelf  repaired     -          -
lost           repaired     -          -
withdrawn      repaired     -          -
in_repair      repaired     available  none
available      withdrawn    withdrawn  none
on_loan        withdrawn    -          -
on_hold_shelf  withdrawn    -          -
lost           withdrawn    withdrawn  none
withdrawn      withdrawn    -          -
in_repair      withdrawn    withdrawn  none
"""

# status before, event, status after ("-" when the event leaves the hold as it is).
HOLD_ROWS = """
waiting    copy_set_aside  ready
ready      copy_set_aside  -
fulfilled  copy_set_aside  -
cancelled  copy_set_aside  -
expired    copy_set_aside  -
waiting    collected       fulfilled
ready      collected       fulfilled
fulfilled  collected       -
cancelled  collected       -
expired    collected       -
waiting    cancelled       cancelled
ready      cancelled       cancelled
fulfilled  cancelled       -
cancelled  cancelled       -
expired    cancelled       -
waiting    expired         -
ready      expired         expired
fulfilled  expired         -
cancelled  expired         -
expired    expired         -
"""


def rows(text: str) -> list[tuple[str, ...]]:
    return [tuple(line.split()) for line in text.strip().splitlines()]


@pytest.mark.parametrize(("before", "event", "after"), rows(COPY_ROWS))
def test_copy_transition(before: str, event: str, after: str):
    assert copy_status_after(before, CopyEvent(event)) == ItemStatus(after)


@pytest.mark.parametrize(("before", "event", "after", "effect"), rows(DESK_ROWS))
def test_desk_operation(before: str, event: str, after: str, effect: str):
    allowed = after != "-"
    assert desk_operation_allowed(before, CopyEvent(event)) is allowed
    assert (CopyEvent(event) in desk_operations_for(before)) is allowed
    if allowed:
        assert desk_outcome(before, CopyEvent(event)) == (ItemStatus(after), LoanEffect(effect))
    else:
        with pytest.raises(KeyError):
            desk_outcome(before, CopyEvent(event))


def test_desk_operations_are_not_kiosk_events():
    with pytest.raises(KeyError):
        copy_status_after(ItemStatus.AVAILABLE, CopyEvent.MARKED_LOST)
    assert set(DESK_EVENTS) | set(KIOSK_EVENTS) == set(CopyEvent)
    assert not set(DESK_EVENTS) & set(KIOSK_EVENTS)


@pytest.mark.parametrize(("before", "event", "after"), rows(HOLD_ROWS))
def test_hold_transition(before: str, event: str, after: str):
    applies = after != "-"
    assert hold_event_applies(before, HoldEvent(event)) is applies
    if applies:
        assert hold_status_after(before, HoldEvent(event)) == HoldStatus(after)
    else:
        with pytest.raises(KeyError):
            hold_status_after(before, HoldEvent(event))


def test_the_tables_cover_every_state_and_event_and_the_rows_above_cover_the_tables():
    every_copy_pair = set(itertools.product(ItemStatus, KIOSK_EVENTS))
    assert set(COPY_TRANSITIONS) == every_copy_pair
    assert {(ItemStatus(b), CopyEvent(e)) for b, e, _ in rows(COPY_ROWS)} == every_copy_pair
    every_desk_pair = set(itertools.product(ItemStatus, DESK_EVENTS))
    assert {(ItemStatus(b), CopyEvent(e)) for b, e, *_ in rows(DESK_ROWS)} == every_desk_pair
    assert set(DESK_TRANSITIONS) <= every_desk_pair
    every_hold_pair = set(itertools.product(HoldStatus, HoldEvent))
    assert {(HoldStatus(b), HoldEvent(e)) for b, e, _ in rows(HOLD_ROWS)} == every_hold_pair


def test_a_checkout_collects_open_holds_only():
    assert set(hold_statuses_for(HoldEvent.COLLECTED)) == {HoldStatus.WAITING, HoldStatus.READY}


def test_an_unknown_status_is_a_bug_not_a_transition():
    with pytest.raises(ValueError):
        copy_status_after("misplaced", CopyEvent.LENT)
