"""Runs the ledger over stored events: the received backlog in slices, and a librarian's retry."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import ColumnElement, func, literal_column, select, update
from sqlalchemy.orm import Session

from central.changes import lock_change_counter
from central.conflicts import auto_resolve
from central.events import IncomingEvent, MalformedEvent
from central.ledger import Ledger
from db.central_models import CentralEvent, EventState, ExceptionKind


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


def apply_received(session: Session, now: dt.datetime, limit: int = 1000) -> int:
    """Apply up to `limit` stored events the ledger has not applied yet, oldest first.

    Takes the ledger lock first, so appliers (and librarian retries) never interleave.
    Caller commits; returns how many events were processed (0 when there was nothing).
    """
    return apply_received_from(session, now, limit, from_id=0)[0]


def apply_received_from(
    session: Session, now: dt.datetime, limit: int, *, from_id: int
) -> tuple[int, int]:
    """`apply_received`, looking first at events stored with an id of at least `from_id`.

    `from_id` is only a hint: the second number returned, for the caller's next slice. When
    fewer than `limit` events are found above it, every received event is looked at, so one
    that a PostgreSQL push committed after pushes holding higher ids is never left behind.
    Caller commits; returns (events processed, the next slice's hint).
    """
    lock_change_counter(session)
    rows = _received(session, limit, from_id) if from_id else []
    if len(rows) < limit:
        rows = _received(session, limit, 0)
    if not rows:
        return 0, from_id
    events: list[IncomingEvent] = []
    unreadable: list[int] = []
    for row_id, _, payload, time_doubtful in rows:
        try:
            event = IncomingEvent.parse(json.loads(payload))
        except (MalformedEvent, ValueError):
            # Validated when pushed, so this is a bug; park the row rather than block the ledger.
            unreadable.append(row_id)
            continue
        event.time_doubtful = time_doubtful
        events.append(event)
    states = Ledger(session, now).apply_all(events)
    ids_by_state: dict[str, list[int]] = {}
    for row_id, event_id, _, _ in rows:
        if event_id in states:
            ids_by_state.setdefault(states[event_id], []).append(row_id)
    # A few UPDATEs by id instead of one per event: the rows were read as plain tuples, so
    # there are no loaded objects to keep in step (nor for the flush to go through).
    for state, ids in ids_by_state.items():
        session.execute(
            update(CentralEvent)
            .where(CentralEvent.id.in_(ids))
            .values(state=state, applied_at=now if state == EventState.APPLIED else None)
            .execution_options(synchronize_session=False)
        )
    if unreadable:
        session.execute(
            update(CentralEvent)
            .where(CentralEvent.id.in_(unreadable))
            .values(state=EventState.UNRESOLVED)
            .execution_options(synchronize_session=False)
        )
    return len(rows), max(from_id, rows[-1][0] + 1)


def _received(session: Session, limit: int, from_id: int) -> list[tuple[int, str, str, bool]]:
    """Received events from `from_id` on, oldest first, as (id, event_id, payload, time_doubtful)."""
    received: ColumnElement[bool] = CentralEvent.state == EventState.RECEIVED
    query = select(
        CentralEvent.id, CentralEvent.event_id, CentralEvent.payload, CentralEvent.time_doubtful
    )
    if from_id:
        query = query.where(CentralEvent.id >= from_id)
        if session.get_bind().dialect.name == "sqlite":
            # Without statistics, SQLite would read every received event through the (state,
            # loan_uuid) index and sort them all, for each slice of a long backlog. Told that
            # the condition is likely true, it walks the primary key up from `from_id`.
            received = func.likelihood(received, literal_column("0.9"))
    query = query.where(received).order_by(CentralEvent.id).limit(limit)
    return [
        (row_id, event_id, payload, doubtful)
        for row_id, event_id, payload, doubtful in session.execute(query)
    ]
