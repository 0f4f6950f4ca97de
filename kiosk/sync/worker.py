"""The sync thread: at start-up, every interval, nightly and after failures (with backoff)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from db.engine import SessionFactory
from kiosk.clock import Clock, format_iso_time
from kiosk.config import Settings
from kiosk.events import EventBus, SyncFinished
from kiosk.services import outbox, state
from kiosk.status import StatusSources, build_status, heartbeat_body
from kiosk.sync.backoff import Backoff
from kiosk.sync.boards import pull_boards
from kiosk.sync.client import (
    AuthFailed,
    CentralLink,
    RetryLater,
    SyncError,
    SyncTrigger,
    Unreachable,
)
from kiosk.sync.pull import PullResult, pull_changes
from kiosk.sync.push import PushResult, push_pending

log = logging.getLogger(__name__)


# First retry after a failure within a second, then doubling up to the sync interval.
BACKOFF_BASE_S = 1.0
# The loop re-reads the wall clock at least this often, so a nightly time is not missed
# when the clock is stepped (NTP) or the machine wakes from sleep.
MAX_IDLE_WAIT_S = 30.0

Progress = Callable[[int], None]


class SyncHost(StatusSources, Protocol):
    """What the sync thread needs of the kiosk's services bag (kiosk.parts.KioskServices);
    heartbeats report its status snapshot."""

    @property
    def session_factory(self) -> SessionFactory: ...
    @property
    def read_session_factory(self) -> SessionFactory: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def bus(self) -> EventBus: ...
    @property
    def central(self) -> CentralLink: ...

    # Set to the running worker, so "Sync now" asks it rather than syncing beside it.
    sync: SyncTrigger


@dataclass(frozen=True)
class SyncOutcome:
    """What one sync achieved; `kind` is one of kiosk.services.state.SYNC_OUTCOMES."""

    kind: str
    pushed: int = 0
    pulled: int = 0
    pending: int = 0
    error: str = ""
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def sync_once(
    session_factory: SessionFactory,
    client: CentralLink,
    batch_size: int,
    clock: Clock,
    *,
    bus: EventBus | None = None,
    push_progress: Progress | None = None,
    pull_progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    read_factory: SessionFactory | None = None,
) -> SyncOutcome:
    """Push the outbox, then pull changes; record the outcome and announce it.

    Push goes first: the central then knows this kiosk's loans before it answers the pull.
    Never raises for network or server trouble; the outcome says what happened.
    """
    started_at = clock()
    push = PushResult()
    pull = PullResult()
    kind, error, retry_after = "ok", "", None
    try:
        push = push_pending(
            session_factory,
            client,
            batch_size,
            clock,
            push_progress,
            should_stop,
            read_factory=read_factory,
        )
        if not push.stopped:
            pull = pull_changes(
                session_factory,
                client,
                progress=pull_progress,
                should_stop=should_stop,
                read_factory=read_factory,
            )
            # The idle screen's boards come with the rest of the replica (kiosk.sync.boards).
            pull_boards(session_factory, client)
    except Unreachable as exc:
        kind, error = "unreachable", str(exc)
    except RetryLater as exc:
        kind, error, retry_after = "retry_later", str(exc), exc.retry_after_s
    except AuthFailed as exc:
        kind, error = "auth_failed", str(exc)
    except SyncError as exc:
        kind, error = "error", str(exc)
    except Exception as exc:
        # A local failure (disk full, locked database) must not kill the sync thread.
        log.exception("sync failed")
        kind, error = "error", f"{type(exc).__name__} on this kiosk"
    try:
        pending = record_outcome(session_factory, clock(), kind, error)
    except Exception:
        # The database itself is in trouble (disk full?); say so, but keep the thread alive.
        log.exception("could not record the sync outcome")
        pending = -1
    outcome = SyncOutcome(kind, push.acked, pull.pulled, pending, error, retry_after)
    if outcome.ok:
        log.info(
            "sync ok: %d events acknowledged, %d changes pulled (%d kept local, %d unresolved), "
            "%d pending",
            push.acked,
            pull.pulled,
            pull.kept_local,
            pull.unresolved,
            pending,
        )
    else:
        log.warning("sync %s: %s; %d events pending", kind, error, pending)
    if bus is not None:
        bus.publish(SyncFinished(outcome.ok, push.acked, pull.pulled, error, started_at=started_at))
    return outcome


def record_outcome(session_factory: SessionFactory, now: dt.datetime, kind: str, error: str) -> int:
    """Write the result for /api/status and /metrics in one transaction; returns the backlog."""
    with session_factory.begin() as session:
        state.set_state(session, state.SYNC_LAST_ATTEMPT_AT, format_iso_time(now))
        if kind == "ok":
            state.set_state(session, state.SYNC_LAST_SUCCESS_AT, format_iso_time(now))
            state.delete_state(session, state.SYNC_LAST_ERROR)
        else:
            state.set_state(session, state.SYNC_LAST_ERROR, error[:500])
        counter = state.SYNC_OUTCOME_PREFIX + kind
        state.set_state(session, counter, str(int(state.get_state(session, counter) or 0) + 1))
        return outbox.pending_count(session)


def next_nightly(now: dt.datetime, at: dt.time, timezone: str) -> dt.datetime:
    """The next time after `now` that the local clock in `timezone` shows `at` (aware UTC)."""
    zone = zoneinfo.ZoneInfo(timezone)
    local = now.astimezone(zone)
    candidate = dt.datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate = dt.datetime.combine(local.date() + dt.timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(dt.UTC)


class SyncWorker:
    """One daemon thread that syncs and sends heartbeats; `stop()` ends it promptly."""

    def __init__(self, settings: Settings, services: SyncHost, client: CentralLink) -> None:
        self.settings = settings
        self.services = services
        self.session_factory: SessionFactory = services.session_factory
        self.clock: Clock = services.clock
        self.client = client
        self.backoff = Backoff(BACKOFF_BASE_S, max(float(settings.sync.interval_s), BACKOFF_BASE_S))
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sync-worker", daemon=True)
        now_m = time.monotonic()
        self._next_sync_m = self._next_heartbeat_m = self._not_before_m = now_m
        self._nightly_at = dt.datetime.max.replace(tzinfo=dt.UTC)

    def start(self) -> None:
        self._thread.start()

    def request_sync(self) -> None:
        """Ask for a sync as soon as possible (still subject to a server's Retry-After)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        # A request in flight ends within the client timeout; the thread is a daemon anyway.
        self._thread.join(timeout=self.settings.sync.timeout_s + 2.0)

    def _run(self) -> None:
        now_m = time.monotonic()
        self._next_sync_m = self._next_heartbeat_m = self._not_before_m = now_m
        self._nightly_at = self._next_nightly(self.clock())
        while not self._stop.is_set():
            try:
                wait_s = self._step()
            except Exception:
                # Never let the sync thread die: the kiosk would silently stop syncing.
                log.exception("sync worker step failed")
                wait_s = MAX_IDLE_WAIT_S
            if wait_s <= 0:
                continue
            if self._wake.is_set():
                # A sync was asked for while this step ran ("Sync now"): go again at once,
                # unless a server's Retry-After holds it back (then don't spin on the event).
                self._stop.wait(timeout=max(0.0, self._not_before_m - time.monotonic()))
            else:
                self._wake.wait(timeout=wait_s)

    def _next_nightly(self, now: dt.datetime) -> dt.datetime:
        return next_nightly(now, self.settings.sync.nightly_at, self.settings.circulation.timezone)

    def _step(self) -> float:
        """Sync and heartbeat if they are due; returns how long to sleep before the next step."""
        sync_cfg = self.settings.sync
        now_m = time.monotonic()
        wall = self.clock()
        due = now_m >= self._next_sync_m or self._wake.is_set()
        if wall >= self._nightly_at:
            # The nightly run goes ahead even while backing off: it is the one sync the
            # school counts on, and a single attempt is no hot loop.
            due = True
            self._not_before_m = now_m
            self._nightly_at = self._next_nightly(wall)
        if due and now_m >= self._not_before_m:
            self._wake.clear()
            outcome = sync_once(
                self.session_factory,
                self.client,
                sync_cfg.batch_size,
                self.clock,
                bus=self.services.bus,
                should_stop=self._stop.is_set,
                read_factory=self.services.read_session_factory,
            )
            now_m = time.monotonic()
            if outcome.ok:
                self.backoff.reset()
                self._next_sync_m = now_m + sync_cfg.interval_s
            else:
                delay = self.backoff.next_delay(outcome.retry_after_s)
                self._next_sync_m = self._not_before_m = now_m + delay
                log.info("next sync attempt in %.1f s", delay)
        if self._stop.is_set():
            return 0.0
        if now_m >= self._next_heartbeat_m and now_m >= self._not_before_m:
            self._next_heartbeat_m = now_m + sync_cfg.heartbeat_s
            if self._heartbeat() and self.backoff.failures:
                # The central answers again: drain the backlog now, not after the backoff.
                self.backoff.reset()
                self._next_sync_m = self._not_before_m = time.monotonic()
        now_m = time.monotonic()
        return min(
            max(self._next_sync_m, self._not_before_m) - now_m,
            max(self._next_heartbeat_m, self._not_before_m) - now_m,
            (self._nightly_at - self.clock()).total_seconds(),
            MAX_IDLE_WAIT_S,
        )

    def _heartbeat(self) -> bool:
        sent_m = time.monotonic()
        try:
            next_push_in_s = max(self._next_sync_m, self._not_before_m) - time.monotonic()
            body = heartbeat_body(build_status(self.services, self.clock()), next_push_in_s)
            server_time = self.client.heartbeat(body)
        except SyncError as exc:
            log.debug("heartbeat failed: %s", exc)
            return False
        received = self.clock()
        with self.session_factory.begin() as session:
            state.set_state(session, state.SYNC_LAST_HEARTBEAT_AT, format_iso_time(received))
            if server_time is not None:
                # The server stamped its time half-way through the round trip, roughly.
                half_trip = dt.timedelta(seconds=(time.monotonic() - sent_m) / 2)
                offset = (received - half_trip) - server_time
                state.set_state(session, state.SYNC_CLOCK_OFFSET_S, f"{offset.total_seconds():.3f}")
        return True


def start_sync_worker(settings: Settings, services: SyncHost) -> Callable[[], None]:
    """Start the sync thread for `[sync] central_url` with `services.central`; returns the
    function that stops it."""
    worker = SyncWorker(settings, services, services.central)
    worker.start()
    # The staff page's "Sync now" asks this worker, so two syncs never run side by side.
    services.sync = worker
    log.info("sync worker started for %s", settings.sync.central_url)
    return worker.stop
