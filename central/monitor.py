"""The kiosk monitor's figures: one row per kiosk and totals, without personal data."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.conflicts import count_open
from central.intake import BACKLOG_GROWING_AFTER
from db.central_models import CentralEvent, EventState, Kiosk, SyncRun
from db.models import Loan

# A backlog is normal between pushes; it is an alarm once its oldest event has waited longer
# than the kiosk's push interval plus this margin (a push that is slow or retried once).
BACKLOG_MARGIN_S = 120
# The push interval assumed for kiosks whose heartbeat does not report one.
DEFAULT_SYNC_INTERVAL_S = 300


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _age_s(since: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if since is None else round(max(0.0, (now - since).total_seconds()), 1)


@dataclass(frozen=True)
class KioskRow:
    kiosk_id: str
    name: str
    online: bool
    alert: bool
    alert_reasons: list[str]
    heartbeat_at: str | None
    heartbeat_age_s: float | None
    scanner_connected: bool | None
    # False when the kiosk's own database refuses writes: it cannot lend or take back.
    db_ok: bool | None
    backlog: int | None
    backlog_growing: bool
    # How long the oldest unpushed event has waited, and whether that is past due.
    backlog_age_s: float | None
    backlog_overdue: bool
    next_push_at: str | None
    next_push_in_s: float | None
    sync_interval_s: int | None
    last_sync_at: str | None
    last_push_ok_at: str | None
    last_error: str | None
    checkouts_today: int | None
    returns_today: int | None
    clock_offset_s: float | None
    clock_doubtful: bool
    version: str | None
    sqlite_version: str | None
    disk_free_bytes: int | None
    events_received: int
    pushes_ok: int
    pushes_conflict: int
    pushes_rejected: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def kiosk_row(kiosk: Kiosk, now: dt.datetime, silent_after_s: int) -> KioskRow:
    age = None if kiosk.heartbeat_at is None else (now - kiosk.heartbeat_at).total_seconds()
    online = age is not None and age <= silent_after_s
    growing = bool(kiosk.backlog) and kiosk.backlog_rising_count >= BACKLOG_GROWING_AFTER
    backlog_age = _backlog_age_s(kiosk, now)
    interval = kiosk.sync_interval_s or DEFAULT_SYNC_INTERVAL_S
    overdue = backlog_age is not None and backlog_age > interval + BACKLOG_MARGIN_S
    next_push_in = None
    if kiosk.next_push_at is not None:
        next_push_in = round((kiosk.next_push_at - now).total_seconds(), 1)
    reasons = []
    if not online:
        reasons.append("silent" if age is not None else "never heard from")
    if overdue:
        reasons.append("backlog not pushed")
    if kiosk.clock_doubtful:
        reasons.append("clock off")
    # Only a kiosk that can still talk to the central can say so; a silent one is "silent".
    db_down = online and kiosk.db_ok is False
    if db_down:
        reasons.append("database not working")
    return KioskRow(
        kiosk_id=kiosk.id,
        name=kiosk.name,
        online=online,
        # A backlog that merely grows between pushes is how a kiosk works: no alarm.
        alert=not online or overdue or db_down,
        alert_reasons=reasons,
        heartbeat_at=_iso(kiosk.heartbeat_at),
        heartbeat_age_s=None if age is None else round(age, 1),
        scanner_connected=kiosk.scanner_connected,
        db_ok=kiosk.db_ok,
        backlog=kiosk.backlog,
        backlog_growing=growing,
        backlog_age_s=backlog_age,
        backlog_overdue=overdue,
        next_push_at=_iso(kiosk.next_push_at),
        next_push_in_s=next_push_in,
        sync_interval_s=kiosk.sync_interval_s,
        last_sync_at=_iso(kiosk.reported_last_sync_at or kiosk.last_push_ok_at),
        last_push_ok_at=_iso(kiosk.last_push_ok_at),
        last_error=kiosk.reported_last_error or kiosk.last_push_error,
        checkouts_today=kiosk.checkouts_today,
        returns_today=kiosk.returns_today,
        clock_offset_s=None if kiosk.clock_offset_s is None else round(kiosk.clock_offset_s, 1),
        clock_doubtful=kiosk.clock_doubtful,
        version=kiosk.software_version,
        sqlite_version=kiosk.sqlite_version,
        disk_free_bytes=kiosk.disk_free_bytes,
        events_received=kiosk.events_received,
        pushes_ok=kiosk.pushes_ok,
        pushes_conflict=kiosk.pushes_conflict,
        pushes_rejected=kiosk.pushes_rejected,
    )


def _backlog_age_s(kiosk: Kiosk, now: dt.datetime) -> float | None:
    """How long the kiosk's oldest unpushed event has waited, None when nothing waits.

    A kiosk that does not report it (older software) is judged by its last good push.
    """
    if not kiosk.backlog:
        return None
    if kiosk.oldest_pending_at is not None:
        return _age_s(kiosk.oldest_pending_at, now)
    return _age_s(kiosk.last_push_ok_at or kiosk.created_at, now)


def kiosk_rows(session: Session, now: dt.datetime, silent_after_s: int) -> list[KioskRow]:
    kiosks = session.scalars(select(Kiosk).order_by(Kiosk.id))
    return [kiosk_row(k, now, silent_after_s) for k in kiosks]


def recent_runs(session: Session, kiosk_id: str, limit: int = 50) -> list[SyncRun]:
    return list(
        session.scalars(
            select(SyncRun)
            .where(SyncRun.kiosk_id == kiosk_id)
            .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
            .limit(limit)
        )
    )


def stats(session: Session, now: dt.datetime, silent_after_s: int) -> dict[str, Any]:
    """Totals for scripts: loans, events and exceptions across every kiosk."""
    loans_open, checkouts, returns = session.execute(
        select(
            func.count(Loan.id).filter(Loan.returned_at.is_(None)),
            func.count(Loan.id),
            func.count(Loan.id).filter(Loan.returned_at.is_not(None)),
        )
    ).one()
    by_state = dict(
        session.execute(
            select(CentralEvent.state, func.count(CentralEvent.id)).group_by(CentralEvent.state)
        ).all()
    )
    visits = session.scalar(
        select(func.count(CentralEvent.id)).where(
            CentralEvent.kind == "visit", CentralEvent.state != EventState.DUPLICATE
        )
    )
    rows = kiosk_rows(session, now, silent_after_s)
    return {
        "loans_open": loans_open or 0,
        "checkouts_total": checkouts or 0,
        "returns_total": returns or 0,
        "events_total": sum(n for s, n in by_state.items() if s != EventState.DUPLICATE),
        "events_unapplied": by_state.get(EventState.RECEIVED, 0),
        "events_pending": by_state.get(EventState.PENDING, 0),
        "events_unresolved": by_state.get(EventState.UNRESOLVED, 0),
        # Loans only reach the central with a push: these events are on their way.
        "events_on_kiosks": sum(r.backlog or 0 for r in rows),
        "visits_total": visits or 0,
        "exceptions_open": count_open(session),
        "kiosks_total": len(rows),
        "kiosks_online": sum(1 for r in rows if r.online),
        "kiosks_alert": sum(1 for r in rows if r.alert),
        "server_time": now.isoformat(),
    }
