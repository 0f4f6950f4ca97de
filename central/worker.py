"""The central's background thread: applies received events to the ledger and flags orphans."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from central.applier import apply_received_from
from central.holds import expire_ready_holds
from central.orphans import flag_orphans
from db.engine import SessionFactory
from kiosk.circulation.holds import HoldPolicy

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 600.0
IDLE_WAIT_S = 2.0
# Events per ledger transaction. Small, so that on SQLite a push arriving during a step waits
# for the write lock for tens of milliseconds, not seconds; large enough that the per-step
# look-ups (a few IN queries) stay a small part of the step.
SLICE_EVENTS = 200
# While pushes keep arriving, the ledger still takes one step after waiting this long, so a
# busy night delays it but never starves it.
MAX_YIELD_S = 1.0


class PushPriority:
    """The pushes in flight, so the ledger worker can keep out of their way.

    A push is what a kiosk waits for; the ledger can apply a moment later. On SQLite both need
    the one write lock, and in this process both need the interpreter: the worker therefore
    starts no step while a push is being served (`LedgerWorker`). The web layer wraps each
    push in `pushing()`; the count starts before the push's first query.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextmanager
    def pushing(self) -> Iterator[None]:
        """Count one push as in flight for the duration of the block."""
        with self._changed:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                if not self._in_flight:
                    self._changed.notify_all()

    def wait_until_quiet(self, timeout_s: float) -> bool:
        """Wait until no push is in flight, at most `timeout_s`; True if it got quiet."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._in_flight, timeout_s)


class LedgerWorker:
    """Applies stored events in the background, one transaction per step.

    A push wakes it through `wakeup` right after its commit, so the ledger trails the kiosks
    by moments; the periodic wait only covers a missed wake-up. With `priority`, each step
    first waits (at most `max_yield_s`) until no push is in flight: while a night's pushes
    keep coming, the ledger takes one small step per `max_yield_s` and catches up when they
    stop. Started by `run_kiosk.py central` (the app factory starts no threads).
    """

    def __init__(
        self,
        session_factory: SessionFactory,
        clock: Callable[[], dt.datetime],
        wakeup: threading.Event,
        *,
        priority: PushPriority | None = None,
        slice_events: int = SLICE_EVENTS,
        max_yield_s: float = MAX_YIELD_S,
        idle_wait_s: float = IDLE_WAIT_S,
        sweep_interval_s: float = SWEEP_INTERVAL_S,
        hold_policy: HoldPolicy | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.wakeup = wakeup
        self.priority = priority
        self.slice_events = slice_events
        self.max_yield_s = max_yield_s
        self.idle_wait_s = idle_wait_s
        self.sweep_interval_s = sweep_interval_s
        # Ready holds expire in the sweep; None (tests of other things) leaves them alone.
        self.hold_policy = hold_policy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-worker", daemon=True)
        self._next_sweep = 0.0
        # Where the next slice starts looking (`apply_received_from`); moved on after commits.
        self._from_id = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wakeup.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def apply_once(self) -> int:
        """One step: apply a slice of received events in its own transaction."""
        with self.session_factory.begin() as session:
            processed, from_id = apply_received_from(
                session, self.clock(), self.slice_events, from_id=self._from_id
            )
        self._from_id = from_id
        return processed

    def drain(self) -> int:
        """Apply until nothing is left; returns how many events were processed."""
        total = 0
        while applied := self.apply_once():
            total += applied
        return total

    def sweep_once(self) -> int:
        from central.changes import lock_change_counter

        with self.session_factory.begin() as session:
            lock_change_counter(session)
            flagged = flag_orphans(session, self.clock())
        if self.hold_policy is not None:
            # Its own transaction: a copy passing on to the next in line is announced to the
            # kiosks (change log) only once committed.
            with self.session_factory.begin() as session:
                lock_change_counter(session)
                expire_ready_holds(session, self.hold_policy, self.clock())
        return flagged

    def _yield_to_pushes(self) -> None:
        if self.priority is not None:
            self.priority.wait_until_quiet(self.max_yield_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wakeup.clear()
            try:
                self._yield_to_pushes()
                if self._stop.is_set():
                    break
                if self.apply_once():
                    continue
                if time.monotonic() >= self._next_sweep:
                    self._next_sweep = time.monotonic() + self.sweep_interval_s
                    if flagged := self.sweep_once():
                        log.info("%d return(s) still wait for their checkout", flagged)
            except Exception:
                # Nothing was committed; the next step tries again. The server keeps serving.
                log.exception("ledger step failed")
                self._stop.wait(self.idle_wait_s)
            self.wakeup.wait(self.idle_wait_s)
