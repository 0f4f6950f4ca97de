"""The copy and hold state table, row by row: what follows each event from each state."""

from __future__ import annotations

import itertools

import pytest

from kiosk.circulation.states import (
    COPY_TRANSITIONS,
    CopyEvent,
    HoldEvent,
    HoldStatus,
    ItemStatus,
    copy_status_after,
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


def rows(text: str) -> list[tuple[str, str, str]]:
    return [tuple(line.split()) for line in text.strip().splitlines()]  # type: ignore[misc]


@pytest.mark.parametrize(("before", "event", "after"), rows(COPY_ROWS))
def test_copy_transition(before: str, event: str, after: str):
    assert copy_status_after(before, CopyEvent(event)) == ItemStatus(after)


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
    every_copy_pair = set(itertools.product(ItemStatus, CopyEvent))
    assert set(COPY_TRANSITIONS) == every_copy_pair
    assert {(ItemStatus(b), CopyEvent(e)) for b, e, _ in rows(COPY_ROWS)} == every_copy_pair
    every_hold_pair = set(itertools.product(HoldStatus, HoldEvent))
    assert {(HoldStatus(b), HoldEvent(e)) for b, e, _ in rows(HOLD_ROWS)} == every_hold_pair


def test_a_checkout_collects_open_holds_only():
    assert set(hold_statuses_for(HoldEvent.COLLECTED)) == {HoldStatus.WAITING, HoldStatus.READY}


def test_an_unknown_status_is_a_bug_not_a_transition():
    with pytest.raises(ValueError):
        copy_status_after("misplaced", CopyEvent.LENT)
