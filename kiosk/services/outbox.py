"""The sync outbox: circulation events numbered per kiosk database, written beside the change."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.engine import plain_connection
from db.models import OutboxEvent, OutboxState
from kiosk.clock import format_iso_time
from kiosk.services import state
from kiosk.services import statements as sql
from kiosk.services.statements import to_db_time


def current_epoch(db: sqlite3.Connection) -> str:
    """This database's epoch: a UUID made once when the database is first used.

    A kiosk database rebuilt or restored from an old copy gets a new epoch, so the central
    server can tell its sequence numbers apart from the old ones. Runs inside the caller's
    write transaction; caller commits.
    """
    row = sql.STATE_VALUE.first(db, state_key=state.OUTBOX_EPOCH)
    if row is not None:
        return str(row["value"])
    epoch = str(uuid.uuid4())
    sql.INSERT_STATE.run(db, state_key=state.OUTBOX_EPOCH, state_value=epoch)
    return epoch


def database_epoch(session: Session) -> str:
    """`current_epoch` for code that holds an ORM session. Caller commits."""
    session.flush()
    return current_epoch(plain_connection(session))


def take_position(db: sqlite3.Connection) -> tuple[str, int]:
    """This database's epoch and the next outbox sequence number, taken for one event.

    One statement on every scan; caller commits. The write lock taken by BEGIN IMMEDIATE keeps
    two scans from sharing a number. The counter lives in kiosk_state, not in MAX(sequence),
    so a number is never handed out twice even after acknowledged events are pruned.
    """
    row = sql.TAKE_POSITION.first(
        db, sequence_key=state.OUTBOX_NEXT_SEQUENCE, epoch_key=state.OUTBOX_EPOCH
    )
    if row is None:
        # The database's first event.
        sql.INSERT_STATE.run(db, state_key=state.OUTBOX_NEXT_SEQUENCE, state_value="2")
        return current_epoch(db), 1
    epoch = row["epoch"] if row["epoch"] is not None else current_epoch(db)
    return epoch, int(row["next_sequence"]) - 1


def record_event(
    db: sqlite3.Connection, kind: str, payload: dict[str, Any], kiosk_id: str, now: dt.datetime
) -> int:
    """Add one event to the outbox with the next sequence number; returns that number.

    Runs inside the caller's write transaction, beside the change it records. Caller commits.
    """
    epoch, sequence = take_position(db)
    event_uuid = str(uuid.uuid4())
    body = {
        "event_id": event_uuid,
        "kind": kind,
        "kiosk_id": kiosk_id,
        "epoch": epoch,
        "sequence": sequence,
        "recorded_at": format_iso_time(now),
        **payload,
    }
    sql.INSERT_EVENT.run(
        db,
        event_uuid=event_uuid,
        epoch=epoch,
        sequence=sequence,
        kind=kind,
        payload=json.dumps(body, ensure_ascii=False, sort_keys=True),
        created_at=to_db_time(now),
    )
    return sequence


def pending_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.state == OutboxState.PENDING)
        )
        or 0
    )


def pending_batch(session: Session, limit: int) -> tuple[str, list[dict[str, Any]]] | None:
    """The oldest pending events of one epoch, in sequence order, as they are pushed.

    Returns (epoch, events), or None when nothing is pending. The payload's epoch and
    sequence are taken from the row, which is what the (epoch, sequence) constraint guards.
    """
    first = session.scalar(
        select(OutboxEvent)
        .where(OutboxEvent.state == OutboxState.PENDING)
        .order_by(OutboxEvent.id)
        .limit(1)
    )
    if first is None:
        return None
    rows = session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.state == OutboxState.PENDING, OutboxEvent.epoch == first.epoch)
        .order_by(OutboxEvent.sequence)
        .limit(limit)
    )
    events = []
    for row in rows:
        body: dict[str, Any] = json.loads(row.payload)
        body["epoch"] = row.epoch
        body["sequence"] = row.sequence
        events.append(body)
    return first.epoch, events


def mark_acked(session: Session, epoch: str, through_sequence: int, now: dt.datetime) -> int:
    """Mark pending events of `epoch` with sequence <= `through_sequence` acknowledged.

    Returns how many rows changed; calling it again with the same answer changes nothing.
    Caller commits.
    """
    result = session.execute(
        update(OutboxEvent)
        .where(
            OutboxEvent.state == OutboxState.PENDING,
            OutboxEvent.epoch == epoch,
            OutboxEvent.sequence <= through_sequence,
        )
        .values(state=OutboxState.ACKED, acked_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def start_new_epoch(session: Session, conflicted_epoch: str) -> tuple[str, int]:
    """Move every still-pending event into a fresh epoch, numbered 1..n in recorded order.

    Used when the central server holds different events at this epoch's positions (the
    database was restored from an old copy). If another process already left
    `conflicted_epoch`, nothing changes: renumbering twice would only scatter the backlog.
    Returns (current epoch, events renumbered). Caller commits.
    """
    current = database_epoch(session)
    if current != conflicted_epoch:
        return current, 0
    new_epoch = str(uuid.uuid4())
    rows = session.scalars(
        select(OutboxEvent).where(OutboxEvent.state == OutboxState.PENDING).order_by(OutboxEvent.id)
    ).all()
    for number, row in enumerate(rows, start=1):
        body = json.loads(row.payload)
        body["epoch"] = new_epoch
        body["sequence"] = number
        row.epoch = new_epoch
        row.sequence = number
        row.payload = json.dumps(body, ensure_ascii=False, sort_keys=True)
    state.set_state(session, state.OUTBOX_EPOCH, new_epoch)
    state.set_state(session, state.OUTBOX_NEXT_SEQUENCE, str(len(rows) + 1))
    session.flush()
    return new_epoch, len(rows)


def pending_references(session: Session) -> tuple[set[str], set[str], set[str]]:
    """Item barcodes, loan UUIDs and hold UUIDs that unpushed events mention.

    The replica keeps the kiosk's own state for these until the central has seen the events.
    """
    items: set[str] = set()
    loans: set[str] = set()
    holds: set[str] = set()
    for payload in session.scalars(
        select(OutboxEvent.payload).where(OutboxEvent.state == OutboxState.PENDING)
    ):
        body = json.loads(payload)
        if isinstance(body.get("item_barcode"), str):
            items.add(body["item_barcode"])
        if isinstance(body.get("loan_uuid"), str):
            loans.add(body["loan_uuid"])
        if isinstance(body.get("hold_uuid"), str):
            holds.add(body["hold_uuid"])
    return items, loans, holds


def oldest_pending_at(session: Session) -> dt.datetime | None:
    """When the oldest unacknowledged event was recorded (how long the backlog has waited)."""
    return session.scalar(
        select(func.min(OutboxEvent.created_at)).where(OutboxEvent.state == OutboxState.PENDING)
    )
