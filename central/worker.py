"""The central's background thread: applies received events to the ledger and flags orphans."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from central.ledger import apply_received, flag_orphans
from db.engine import SessionFactory

log = logging.getLogger(__name__)

SWEEP_INTERVAL_S = 600.0
IDLE_WAIT_S = 2.0


class LedgerWorker:
    """Applies stored events in the background, one transaction per step.

    A push wakes it through `wakeup` right after its commit, so the ledger trails the kiosks
    by moments; the periodic wait only covers a missed wake-up. Started by `run_kiosk.py
    central` (the app factory starts no threads).
    """

    def __init__(
        self,
        session_factory: SessionFactory,
        clock: Callable[[], dt.datetime],
        wakeup: threading.Event,
        *,
        idle_wait_s: float = IDLE_WAIT_S,
        sweep_interval_s: float = SWEEP_INTERVAL_S,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.wakeup = wakeup
        self.idle_wait_s = idle_wait_s
        self.sweep_interval_s = sweep_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-worker", daemon=True)
        self._next_sweep = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wakeup.set()
        self._thread.join(timeout=10)

    def apply_once(self) -> int:
        """One step: apply a slice of received events in its own transaction."""
        with self.session_factory.begin() as session:
            return apply_received(session, self.clock())

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
            return flag_orphans(session, self.clock())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wakeup.clear()
            try:
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
