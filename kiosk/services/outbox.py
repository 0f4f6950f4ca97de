"""The sync outbox: circulation events numbered per kiosk database, written beside the change."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import KioskState, OutboxEvent, OutboxState

EPOCH_KEY = "outbox.epoch"
NEXT_SEQUENCE_KEY = "outbox.next_sequence"


def get_state(session: Session, key: str) -> str | None:
    row = session.get(KioskState, key)
    return row.value if row is not None else None


def set_state(session: Session, key: str, value: str) -> None:
    """Upsert one kiosk_state value. Caller commits."""
    row = session.get(KioskState, key)
    if row is None:
        session.add(KioskState(key=key, value=value))
    else:
        row.value = value


def database_epoch(session: Session) -> str:
    """This database's epoch: a UUID made once when the database is first used.

    A kiosk database rebuilt or restored from an old copy gets a new epoch, so the central
    server can tell its sequence numbers apart from the old ones. Caller commits.
    """
    epoch = get_state(session, EPOCH_KEY)
    if epoch is None:
        epoch = str(uuid.uuid4())
        set_state(session, EPOCH_KEY, epoch)
        session.flush()
    return epoch


def record_event(
    session: Session, kind: str, payload: dict[str, Any], kiosk_id: str, now: dt.datetime
) -> OutboxEvent:
    """Add one event to the outbox with the next sequence number. Caller commits.

    The counter lives in kiosk_state, not in MAX(sequence), so a number is never handed out
    twice even after acknowledged events are pruned.
    """
    epoch = database_epoch(session)
    sequence = int(get_state(session, NEXT_SEQUENCE_KEY) or "1")
    set_state(session, NEXT_SEQUENCE_KEY, str(sequence + 1))
    event_uuid = str(uuid.uuid4())
    body = {
        "event_id": event_uuid,
        "kind": kind,
        "kiosk_id": kiosk_id,
        "epoch": epoch,
        "sequence": sequence,
        "recorded_at": now.astimezone(dt.UTC).isoformat(),
        **payload,
    }
    event = OutboxEvent(
        event_uuid=event_uuid,
        epoch=epoch,
        sequence=sequence,
        kind=kind,
        payload=json.dumps(body, ensure_ascii=False, sort_keys=True),
        created_at=now,
        state=OutboxState.PENDING,
    )
    session.add(event)
    return event


def pending_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.state == OutboxState.PENDING)
        )
        or 0
    )
