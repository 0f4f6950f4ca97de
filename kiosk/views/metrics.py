"""`GET /metrics`: the kiosk's sync backlog, heartbeat, scanner and outcomes for Prometheus."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3

from flask import Blueprint, Response

from kiosk import __version__
from kiosk.clock import parse_iso_time_or_none
from kiosk.context import get_db, services
from kiosk.services import outbox, state
from kiosk.sync import worker as sync_worker

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Exposition:
    """Prometheus text format, written by hand: HELP and TYPE once per family, then samples."""

    def __init__(self, kiosk_id: str) -> None:
        self.lines: list[str] = []
        self.kiosk_id = kiosk_id

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float | None, **labels: str) -> None:
        if value is None:
            return
        pairs = {"kiosk_id": self.kiosk_id, **labels}
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items())
        number = repr(float(value)) if isinstance(value, float) else str(value)
        self.lines.append(f"{name}{{{text}}} {number}")

    def metric(self, name: str, kind: str, help_text: str, value: float | None) -> None:
        self.family(name, kind, help_text)
        self.sample(name, value)

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def _timestamp(value: str | None) -> float | None:
    parsed = parse_iso_time_or_none(value)
    return parsed.timestamp() if parsed is not None else None


def _age(value: str | None, now: dt.datetime) -> float | None:
    parsed = parse_iso_time_or_none(value)
    return max(0.0, (now - parsed).total_seconds()) if parsed is not None else None


@bp.get("/metrics")
def metrics() -> Response:
    """Counts, ages and states only: no names, card numbers or barcodes."""
    svc = services()
    settings = svc.settings
    now = svc.clock()
    out = _Exposition(settings.kiosk.id)
    out.family("shuxiang_kiosk_info", "gauge", "Kiosk software and SQLite versions.")
    out.sample("shuxiang_kiosk_info", 1, version=__version__, sqlite_version=sqlite3.sqlite_version)
    out.metric(
        "shuxiang_kiosk_scanner_connected",
        "gauge",
        "1 when the serial scanner is connected (always 0 for keyboard-wedge scanners).",
        1 if svc.scanner.connected else 0,
    )
    out.metric(
        "shuxiang_kiosk_sync_configured",
        "gauge",
        "1 when [sync] central_url is set.",
        1 if settings.sync.central_url else 0,
    )
    try:
        session = get_db()
        pending = outbox.pending_count(session)
        oldest = outbox.oldest_pending_at(session)
        stored = {
            key: state.get_state(session, key)
            for key in (
                state.SYNC_LAST_SUCCESS_AT,
                state.SYNC_LAST_ATTEMPT_AT,
                state.SYNC_LAST_HEARTBEAT_AT,
                state.SYNC_CLOCK_OFFSET_S,
                state.SYNC_PULL_SINCE,
                *(state.SYNC_OUTCOME_PREFIX + kind for kind in sync_worker.OUTCOMES),
            )
        }
        db_ok = 1
    except Exception:
        log.exception("metrics: database read failed")
        db_ok = 0
        pending, oldest, stored = None, None, {}
    out.metric("shuxiang_kiosk_database_up", "gauge", "1 when the database answered.", db_ok)
    out.metric(
        "shuxiang_kiosk_outbox_pending_events",
        "gauge",
        "Events recorded on this kiosk and not yet acknowledged by the central (the backlog).",
        pending,
    )
    out.metric(
        "shuxiang_kiosk_outbox_oldest_pending_age_seconds",
        "gauge",
        "How long the oldest unacknowledged event has waited (0 when none).",
        max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
    )
    out.metric(
        "shuxiang_kiosk_sync_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful sync.",
        _timestamp(stored.get(state.SYNC_LAST_SUCCESS_AT)),
    )
    out.metric(
        "shuxiang_kiosk_sync_last_success_age_seconds",
        "gauge",
        "Seconds since the last successful sync.",
        _age(stored.get(state.SYNC_LAST_SUCCESS_AT), now),
    )
    out.metric(
        "shuxiang_kiosk_sync_last_attempt_timestamp_seconds",
        "gauge",
        "Unix time of the last sync attempt, successful or not.",
        _timestamp(stored.get(state.SYNC_LAST_ATTEMPT_AT)),
    )
    out.metric(
        "shuxiang_kiosk_heartbeat_age_seconds",
        "gauge",
        "Seconds since the central last answered a heartbeat.",
        _age(stored.get(state.SYNC_LAST_HEARTBEAT_AT), now),
    )
    offset = stored.get(state.SYNC_CLOCK_OFFSET_S)
    out.metric(
        "shuxiang_kiosk_clock_offset_seconds",
        "gauge",
        "This kiosk's clock minus the central's, estimated at the last heartbeat.",
        float(offset) if offset else None,
    )
    since = stored.get(state.SYNC_PULL_SINCE)
    out.metric(
        "shuxiang_kiosk_pull_version",
        "gauge",
        "The central change version this kiosk has pulled up to.",
        int(since) if since and since.isdigit() else 0,
    )
    out.family(
        "shuxiang_kiosk_sync_runs_total", "counter", "Sync runs by outcome, since installation."
    )
    for kind in sync_worker.OUTCOMES:
        count = stored.get(state.SYNC_OUTCOME_PREFIX + kind)
        out.sample(
            "shuxiang_kiosk_sync_runs_total",
            int(count) if count and count.isdigit() else 0,
            outcome=kind,
        )
    try:
        free = sync_worker.disk_free_bytes(settings.database.path)
    except OSError:
        free = None
    out.metric(
        "shuxiang_kiosk_disk_free_bytes",
        "gauge",
        "Free bytes on the disk that holds the kiosk database.",
        free,
    )
    return Response(out.render(), mimetype=None, content_type=CONTENT_TYPE)
