"""The kiosk's key/value state (the kiosk_state table): every key it holds, and get/set/delete."""

from __future__ import annotations

from sqlalchemy.orm import Session

from db.models import KioskState

# The outbox's numbering (kiosk.services.outbox).
OUTBOX_EPOCH = "outbox.epoch"
OUTBOX_NEXT_SEQUENCE = "outbox.next_sequence"

# The sync's progress and results (kiosk.sync), shown on /api/status, the staff page, /metrics.
SYNC_LAST_SUCCESS_AT = "sync.last_success_at"
SYNC_LAST_ATTEMPT_AT = "sync.last_attempt_at"
SYNC_LAST_ERROR = "sync.last_error"
SYNC_LAST_HEARTBEAT_AT = "sync.last_heartbeat_at"
SYNC_CLOCK_OFFSET_S = "sync.clock_offset_s"
SYNC_ACKED_THROUGH = "sync.acked_through"
SYNC_PULL_SINCE = "sync.pull_since"
# One counter per sync outcome kind: "sync.outcome.ok", "sync.outcome.unreachable", …
SYNC_OUTCOME_PREFIX = "sync.outcome."
SYNC_OUTCOMES = ("ok", "unreachable", "retry_later", "auth_failed", "error")

# Titles without an ISBN are known to the central by its own id ("id:<central id>"); the
# kiosk remembers which local row that is under this prefix (kiosk.services.replica).
REPLICA_TITLE_PREFIX = "replica.title."


def get_state(session: Session, key: str) -> str | None:
    """The value stored under `key`, or None."""
    row = session.get(KioskState, key)
    return row.value if row is not None else None


def set_state(session: Session, key: str, value: str) -> None:
    """Upsert one value. Caller commits."""
    row = session.get(KioskState, key)
    if row is None:
        session.add(KioskState(key=key, value=value))
    else:
        row.value = value


def delete_state(session: Session, key: str) -> None:
    """Forget `key` (nothing happens when it is absent). Caller commits."""
    row = session.get(KioskState, key)
    if row is not None:
        session.delete(row)
