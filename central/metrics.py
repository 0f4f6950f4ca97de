"""The central's `/metrics` for Prometheus: per-kiosk state and sync totals, no personal data.

Metric and label names are listed in docs/metrics.md; a kiosk's figures carry `kiosk_id`, as
on the kiosk's own /metrics.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.orm import Session

from central.monitor import KioskRow, kiosk_rows, stats


class CentralCollector:
    """Metric families read from the central database once per scrape."""

    def __init__(self, session: Session, now: dt.datetime, silent_after_s: int) -> None:
        self.rows = kiosk_rows(session, now, silent_after_s)
        self.totals = stats(session, now, silent_after_s)

    def _per_kiosk(
        self, family: GaugeMetricFamily | CounterMetricFamily, values: list[tuple[KioskRow, float]]
    ) -> Metric:
        for row, value in values:
            family.add_metric([row.kiosk_id], value)
        return family

    def collect(self) -> Iterator[Metric]:
        rows = self.rows
        kiosk = ["kiosk_id"]
        yield self._per_kiosk(
            GaugeMetricFamily(
                "shuxiang_kiosk_up",
                "1 when the kiosk's last heartbeat is recent enough.",
                labels=kiosk,
            ),
            [(r, 1 if r.online else 0) for r in rows],
        )
        yield self._per_kiosk(
            GaugeMetricFamily(
                "shuxiang_kiosk_heartbeat_age_seconds",
                "Seconds since the kiosk's last heartbeat.",
                labels=kiosk,
            ),
            [(r, r.heartbeat_age_s) for r in rows if r.heartbeat_age_s is not None],
        )
        yield self._per_kiosk(
            GaugeMetricFamily(
                "shuxiang_kiosk_outbox_pending_events",
                "Events waiting in the kiosk's outbox, as last reported.",
                labels=kiosk,
            ),
            [(r, r.backlog) for r in rows if r.backlog is not None],
        )
        yield self._per_kiosk(
            GaugeMetricFamily(
                "shuxiang_kiosk_outbox_oldest_pending_age_seconds",
                "How long the kiosk's oldest unpushed event has waited (absent when none waits).",
                labels=kiosk,
            ),
            [(r, r.backlog_age_s) for r in rows if r.backlog_age_s is not None],
        )
        yield self._per_kiosk(
            GaugeMetricFamily(
                "shuxiang_kiosk_scanner_connected",
                "1 when the kiosk reports its serial scanner connected (absent when it has none).",
                labels=kiosk,
            ),
            [(r, 1 if r.scanner_connected else 0) for r in rows if r.scanner_connected is not None],
        )
        yield self._per_kiosk(
            GaugeMetricFamily(
                "shuxiang_kiosk_clock_offset_seconds",
                "Kiosk clock minus server clock, estimated from heartbeats.",
                labels=kiosk,
            ),
            [(r, r.clock_offset_s) for r in rows if r.clock_offset_s is not None],
        )
        yield self._per_kiosk(
            CounterMetricFamily(
                "shuxiang_central_events_received",
                "New events accepted from the kiosk.",
                labels=kiosk,
            ),
            [(r, r.events_received) for r in rows],
        )
        pushes = CounterMetricFamily(
            "shuxiang_central_pushes", "Pushes by outcome.", labels=["kiosk_id", "outcome"]
        )
        for r in rows:
            for outcome, count in (
                ("ok", r.pushes_ok),
                ("epoch_conflict", r.pushes_conflict),
                ("rejected", r.pushes_rejected),
            ):
                pushes.add_metric([r.kiosk_id, outcome], count)
        yield pushes
        for key, help_text in (
            ("loans_open", "Loans not yet returned."),
            ("events_total", "Events held by the central."),
            ("events_unapplied", "Events stored but not yet applied to the ledger."),
            ("events_pending", "Returns and renewals waiting for their checkout."),
            ("exceptions_open", "Sync exceptions waiting for a librarian."),
        ):
            # events_total counts what is held now (it can fall as events are pruned): a gauge.
            yield GaugeMetricFamily(f"shuxiang_central_{key}", help_text, value=self.totals[key])
