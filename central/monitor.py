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


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


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
    backlog: int | None
    backlog_growing: bool
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
    reasons = []
    if not online:
        reasons.append("silent" if age is not None else "never heard from")
    if growing:
        reasons.append("backlog growing")
    if kiosk.clock_doubtful:
        reasons.append("clock off")
    return KioskRow(
        kiosk_id=kiosk.id,
        name=kiosk.name,
        online=online,
        alert=not online or growing,
        alert_reasons=reasons,
        heartbeat_at=_iso(kiosk.heartbeat_at),
        heartbeat_age_s=None if age is None else round(age, 1),
        scanner_connected=kiosk.scanner_connected,
        backlog=kiosk.backlog,
        backlog_growing=growing,
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
        "visits_total": visits or 0,
        "exceptions_open": count_open(session),
        "kiosks_total": len(rows),
        "kiosks_online": sum(1 for r in rows if r.online),
        "kiosks_alert": sum(1 for r in rows if r.alert),
        "server_time": now.isoformat(),
    }
