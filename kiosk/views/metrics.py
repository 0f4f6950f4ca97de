"""`GET /metrics`: the kiosk's status snapshot for Prometheus (names in docs/metrics.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from kiosk.context import services
from kiosk.status import KioskStatus, build_status

bp = Blueprint("metrics", __name__)


class StatusCollector:
    """Metric families of one snapshot: counts, ages and states, never a name or a card."""

    def __init__(self, status: KioskStatus) -> None:
        self.status = status

    def _gauge(self, name: str, help_text: str, value: float | None) -> Iterator[Metric]:
        # An unknown value (never synced, database unreadable) is left out, not shown as 0.
        if value is not None:
            family = GaugeMetricFamily(name, help_text, labels=["kiosk_id"])
            family.add_metric([self.status.kiosk_id], value)
            yield family

    def _age_s(self, moment: dt.datetime | None) -> float | None:
        return None if moment is None else max(0.0, (self.status.at - moment).total_seconds())

    def collect(self) -> Iterator[Metric]:
        s, sync, gauge = self.status, self.status.sync, self._gauge
        info = InfoMetricFamily(
            "shuxiang_kiosk", "Kiosk software and SQLite versions.", labels=["kiosk_id"]
        )
        info.add_metric([s.kiosk_id], {"version": s.version, "sqlite_version": s.sqlite_version})
        yield info
        yield from gauge(
            "shuxiang_kiosk_database_ok",
            "1 when the kiosk can record loans: the database answers reads and takes writes.",
            int(s.db_ok),
        )
        yield from gauge(
            "shuxiang_kiosk_database_up", "1 when the database answered a read.", int(s.db_readable)
        )
        yield from gauge(
            "shuxiang_kiosk_database_writable",
            "1 when the latest scan transaction or write probe went through.",
            int(s.writes.ok),
        )
        yield from gauge(
            "shuxiang_kiosk_scanner_connected",
            "1 when the serial scanner is connected (always 0 for keyboard-wedge scanners).",
            int(s.scanner_connected),
        )
        yield from gauge(
            "shuxiang_kiosk_sync_configured",
            "1 when [sync] central_url is set.",
            int(sync.central_configured),
        )
        yield from gauge(
            "shuxiang_kiosk_outbox_pending_events",
            "Events recorded on this kiosk and not yet acknowledged by the central (the backlog).",
            sync.pending_events,
        )
        if sync.pending_events is not None:
            yield from gauge(
                "shuxiang_kiosk_outbox_oldest_pending_age_seconds",
                "How long the oldest unacknowledged event has waited (0 when none).",
                self._age_s(sync.oldest_pending_at) or 0.0,
            )
        last_success = sync.last_success_at
        yield from gauge(
            "shuxiang_kiosk_sync_last_success_timestamp_seconds",
            "Unix time of the last successful sync.",
            last_success.timestamp() if last_success else None,
        )
        yield from gauge(
            "shuxiang_kiosk_sync_last_success_age_seconds",
            "Seconds since the last successful sync.",
            self._age_s(last_success),
        )
        yield from gauge(
            "shuxiang_kiosk_sync_last_attempt_timestamp_seconds",
            "Unix time of the last sync attempt, successful or not.",
            sync.last_attempt_at.timestamp() if sync.last_attempt_at else None,
        )
        yield from gauge(
            "shuxiang_kiosk_heartbeat_age_seconds",
            "Seconds since the central last answered a heartbeat.",
            self._age_s(sync.last_heartbeat_at),
        )
        yield from gauge(
            "shuxiang_kiosk_clock_offset_seconds",
            "This kiosk's clock minus the central's, estimated at the last heartbeat.",
            sync.clock_offset_s,
        )
        yield from gauge(
            "shuxiang_kiosk_pull_version",
            "The central change version this kiosk has pulled up to.",
            sync.pull_version,
        )
        runs = CounterMetricFamily(
            "shuxiang_kiosk_sync_runs",
            "Sync runs by outcome, since installation.",
            labels=["kiosk_id", "outcome"],
        )
        for outcome, count in sync.runs_by_outcome.items():
            runs.add_metric([s.kiosk_id, outcome], count)
        yield runs
        yield from gauge(
            "shuxiang_kiosk_disk_free_bytes",
            "Free bytes on the disk that holds the kiosk database.",
            s.disk_free_bytes,
        )


@bp.get("/metrics")
def metrics() -> Response:
    svc = services()
    body = generate_latest(StatusCollector(build_status(svc, svc.clock())))
    return Response(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
