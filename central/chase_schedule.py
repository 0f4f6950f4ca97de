"""The central's daily chase at `[chase] send_at`, after the ledger has applied the night's pushes."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from central.chase import ChaseOutcome, run_chase
from central.mail import Mailer, make_mailer
from db.engine import SessionFactory
from kiosk.circulation.overdue import ChasePolicy
from kiosk.config import Settings, school_name
from kiosk.policies import chase_policy

log = logging.getLogger(__name__)

# How often the thread looks at the clock; the run starts within this of `send_at`.
CHECK_INTERVAL_S = 60.0


class ChaseSchedule:
    """Runs the chase (parents' e-mail) once a day at `send_at`, library time.

    Each run first applies every push the central has stored (`run_chase` catches up the
    ledger under its lock), so it follows the ledger worker: a book returned at any kiosk that
    has pushed is never chased. Kiosks push at `[sync] nightly_at` and every `interval_s`;
    `send_at` belongs after the nightly push (docs/chase.md). Started by
    `run_kiosk.py central` when `send_at` is set; a restart on a day it already ran runs again
    and finds nothing new to send.
    """

    def __init__(
        self,
        factory: SessionFactory,
        policy: ChasePolicy,
        mailer: Mailer,
        clock: Callable[[], dt.datetime],
        send_at: dt.time,
        *,
        school: str,
        return_hint: str,
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self.factory = factory
        self.policy = policy
        self.mailer = mailer
        self.clock = clock
        self.send_at = send_at
        self.school = school
        self.return_hint = return_hint
        self.check_interval_s = check_interval_s
        self.last_run_day: dt.date | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chase-schedule", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def tick(self) -> ChaseOutcome | None:
        """Run the chase if today's `send_at` has passed and it has not run today."""
        now = self.clock()
        local = now.astimezone(self.policy.calendar.zone)
        if local.time() < self.send_at or self.last_run_day == local.date():
            return None
        outcome = run_chase(
            self.factory,
            self.policy,
            self.mailer,
            now,
            school=self.school,
            return_hint=self.return_hint,
        )
        self.last_run_day = local.date()
        return outcome

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                # Nothing half-done is lost: claims are committed before sending, failures
                # are retried by the next run. The server keeps serving.
                log.exception("scheduled chase failed")
            self._stop.wait(self.check_interval_s)


def start_chase_schedule(
    settings: Settings, factory: SessionFactory, clock: Callable[[], dt.datetime]
) -> Callable[[], None]:
    """Start the daily chase for `settings` (`[chase] send_at` must be set); returns its stop."""
    assert settings.chase.send_at is not None
    schedule = ChaseSchedule(
        factory,
        chase_policy(settings),
        make_mailer(settings.mail),
        clock,
        settings.chase.send_at,
        school=school_name(settings),
        return_hint=settings.chase.return_hint,
    )
    schedule.start()
    return schedule.stop
