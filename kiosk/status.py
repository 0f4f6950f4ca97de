"""One status snapshot of the kiosk; /api/status, the staff page, /metrics and the heartbeat
only format it (never names or card numbers: ids, counts, times and states)."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text

from db.engine import SessionFactory
from kiosk import __version__
from kiosk.circulation.rules import LoanPolicy
from kiosk.clock import format_iso_time, parse_iso_time_or_none
from kiosk.config import Settings
from kiosk.health import WriteHealth
from kiosk.services import outbox, state
from kiosk.services.stats import CirculationCounts, circulation_counts

log = logging.getLogger(__name__)


class ScannerLike(Protocol):
    """What the kiosk needs of a scanner driver: whether it is connected right now."""

    @property
    def connected(self) -> bool: ...


class NullScanner:
    """Stand-in for keyboard-wedge kiosks and tests: there is no port to watch."""

    connected = False


class DeskLike(Protocol):
    """What the snapshot needs of the desk: its calendar and whether it can write."""

    @property
    def policy(self) -> LoanPolicy: ...

    def write_health(self) -> WriteHealth:
        """The latest write evidence, after a probe when the last one is too old."""
        ...


class StatusSources(Protocol):
    """The parts of the services bag (kiosk.parts.KioskServices) a snapshot is built from."""

    @property
    def settings(self) -> Settings: ...
    @property
    def read_session_factory(self) -> SessionFactory: ...
    @property
    def desk(self) -> DeskLike: ...
    @property
    def scanner(self) -> ScannerLike: ...


@dataclass(frozen=True)
class SyncStatus:
    """The sync's backlog and results as this kiosk stored them."""

    central_configured: bool
    # How often this kiosk pushes ([sync] interval_s).
    interval_s: int = 0
    pending_events: int | None = None
    oldest_pending_at: dt.datetime | None = None
    last_success_at: dt.datetime | None = None
    last_attempt_at: dt.datetime | None = None
    last_error: str | None = None
    last_heartbeat_at: dt.datetime | None = None
    clock_offset_s: float | None = None
    pull_version: int = 0
    runs_by_outcome: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class KioskStatus:
    """Everything the four status views show, read at `at`."""

    kiosk_id: str
    name: str
    version: str
    sqlite_version: str
    at: dt.datetime
    scanner_type: str
    scanner_connected: bool
    # The database answered a read, and the last write (or probe) went through.
    db_readable: bool
    writes: WriteHealth
    counts: CirculationCounts | None
    sync: SyncStatus
    disk_free_bytes: int | None

    @property
    def db_ok(self) -> bool:
        """Whether the kiosk can record loans right now."""
        return self.db_readable and self.writes.ok


def build_status(sources: StatusSources, now: dt.datetime) -> KioskStatus:
    """Read the kiosk's figures once (one read transaction) and ask the desk about writes."""
    settings = sources.settings
    writes = sources.desk.write_health()
    sync = SyncStatus(
        central_configured=bool(settings.sync.central_url), interval_s=settings.sync.interval_s
    )
    counts: CirculationCounts | None = None
    db_readable = True
    try:
        with sources.read_session_factory() as session:
            session.execute(text("SELECT 1"))
            counts = circulation_counts(
                session, sources.desk.policy.calendar, now, settings.kiosk.id
            )
            stored = {key: state.get_state(session, key) for key in _SYNC_KEYS}
            sync = SyncStatus(
                central_configured=sync.central_configured,
                interval_s=sync.interval_s,
                pending_events=outbox.pending_count(session),
                oldest_pending_at=outbox.oldest_pending_at(session),
                last_success_at=parse_iso_time_or_none(stored[state.SYNC_LAST_SUCCESS_AT]),
                last_attempt_at=parse_iso_time_or_none(stored[state.SYNC_LAST_ATTEMPT_AT]),
                last_error=stored[state.SYNC_LAST_ERROR],
                last_heartbeat_at=parse_iso_time_or_none(stored[state.SYNC_LAST_HEARTBEAT_AT]),
                clock_offset_s=_float(stored[state.SYNC_CLOCK_OFFSET_S]),
                pull_version=_int(stored[state.SYNC_PULL_SINCE]),
                runs_by_outcome={
                    kind: _int(stored[state.SYNC_OUTCOME_PREFIX + kind])
                    for kind in state.SYNC_OUTCOMES
                },
            )
    except Exception:
        log.exception("status: database read failed")
        db_readable = False
    return KioskStatus(
        kiosk_id=settings.kiosk.id,
        name=settings.kiosk.name,
        version=__version__,
        sqlite_version=sqlite3.sqlite_version,
        at=now,
        scanner_type=settings.scanner.type,
        scanner_connected=bool(sources.scanner.connected),
        db_readable=db_readable,
        writes=writes,
        counts=counts,
        sync=sync,
        disk_free_bytes=_disk_free_bytes(settings.database.path),
    )


_SYNC_KEYS = (
    state.SYNC_LAST_SUCCESS_AT,
    state.SYNC_LAST_ATTEMPT_AT,
    state.SYNC_LAST_ERROR,
    state.SYNC_LAST_HEARTBEAT_AT,
    state.SYNC_CLOCK_OFFSET_S,
    state.SYNC_PULL_SINCE,
    *(state.SYNC_OUTCOME_PREFIX + kind for kind in state.SYNC_OUTCOMES),
)


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _disk_free_bytes(database_path: Path) -> int | None:
    """Free space where the database lives (its folder, or the nearest existing parent)."""
    folder = Path(database_path).resolve().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else format_iso_time(value)


# --- the formats -------------------------------------------------------------------------------


def status_json(status: KioskStatus) -> dict[str, Any]:
    """GET /api/status."""
    counts = status.counts
    return {
        "kiosk_id": status.kiosk_id,
        "name": status.name,
        "version": status.version,
        "time": format_iso_time(status.at),
        "scanner": {"type": status.scanner_type, "connected": status.scanner_connected},
        "circulation": {
            "open_loans": counts.open_loans if counts else None,
            "checkouts_today": counts.checkouts_today if counts else None,
            "returns_today": counts.returns_today if counts else None,
            "visits_today": counts.visits_today if counts else None,
        },
        "sync": {
            "pending": status.sync.pending_events,
            "last_success_at": _iso(status.sync.last_success_at),
            "last_error": status.sync.last_error,
            "central_configured": status.sync.central_configured,
        },
        "db": {
            "ok": status.db_ok,
            "readable": status.db_readable,
            "writable": status.writes.ok,
            "write_checked_at": _iso(status.writes.checked_at),
            "write_checked_by": status.writes.source,
            "write_error": status.writes.error,
        },
    }


def heartbeat_body(status: KioskStatus, next_push_in_s: float | None = None) -> dict[str, Any]:
    """What a heartbeat tells the central (docs/sync-protocol.md).

    With the push schedule: how long the oldest unpushed event has waited and when the next
    push is due (`next_push_in_s`, from the sync thread), so the central can tell a backlog
    waiting for its push from a stuck one. Durations, so a wrong kiosk clock does not skew them.
    """
    counts = status.counts
    oldest = status.sync.oldest_pending_at
    return {
        "clock": format_iso_time(status.at),
        "scanner_connected": status.scanner_connected if status.scanner_type == "serial" else None,
        "db_ok": status.db_ok,
        "backlog": status.sync.pending_events,
        "last_sync_at": _iso(status.sync.last_success_at),
        "last_error": status.sync.last_error,
        "version": status.version,
        "sqlite_version": status.sqlite_version,
        "disk_free_bytes": status.disk_free_bytes,
        "checkouts_today": counts.checkouts_today if counts else None,
        "returns_today": counts.returns_today if counts else None,
        "oldest_pending_age_s": (
            None if oldest is None else round(max(0.0, (status.at - oldest).total_seconds()), 1)
        ),
        "next_push_in_s": None if next_push_in_s is None else round(max(0.0, next_push_in_s), 1),
        "sync_interval_s": status.sync.interval_s,
    }
