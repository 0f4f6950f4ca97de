"""The ledger worker gives way to pushes: no step starts while a push is in flight (bounded)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.app import create_central_app
from central.worker import LedgerWorker, PushPriority
from db.central_models import CentralEvent, EventState
from db.engine import make_read_session_factory
from db.models import Loan
from tests.central.conftest import CentralDB, SimKiosk, add_kiosk
from tests.conftest import FakeClock

WAIT_S = 10.0
T0 = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)


class WatchedFactory:
    """The worker's session factory, noting each step's start and the pushes then in flight."""

    def __init__(self, factory: Any, priority: PushPriority) -> None:
        self.factory = factory
        self.priority = priority
        self.step_started = threading.Event()
        self.in_flight_at_start: list[int] = []

    def begin(self) -> Any:
        self.in_flight_at_start.append(self.priority.in_flight)
        self.step_started.set()
        return self.factory.begin()


class WatchedPriority(PushPriority):
    """Notes when the worker waits for quiet while a push is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.worker_gave_way = threading.Event()

    def wait_until_quiet(self, timeout_s: float) -> bool:
        if self.in_flight:
            self.worker_gave_way.set()
        return super().wait_until_quiet(timeout_s)


class PausingClock:
    """The app's clock; a push served on the thread named `held-push` stops at its first reading."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.paused = threading.Event()
        self.resume = threading.Event()

    def __call__(self) -> dt.datetime:
        if threading.current_thread().name == "held-push" and not self.resume.is_set():
            self.paused.set()
            self.resume.wait(WAIT_S)
        return self.clock()


def _unapplied(read: Callable[[], Session]) -> int:
    with read() as s:
        return (
            s.scalar(
                select(func.count(CentralEvent.id)).where(CentralEvent.state == EventState.RECEIVED)
            )
            or 0
        )


def _wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_push_priority_counts_pushes_in_flight():
    priority = PushPriority()
    assert priority.wait_until_quiet(0)
    entered, leave = threading.Event(), threading.Event()

    def push() -> None:
        with priority.pushing():
            entered.set()
            leave.wait(WAIT_S)

    pushing = threading.Thread(target=push)
    pushing.start()
    assert entered.wait(WAIT_S)
    assert priority.in_flight == 1
    assert not priority.wait_until_quiet(0.01)
    leave.set()
    assert priority.wait_until_quiet(WAIT_S)
    pushing.join(WAIT_S)
    assert priority.in_flight == 0


def test_worker_starts_no_step_while_a_push_is_in_flight(
    central_db: CentralDB, central_settings, library, clock: FakeClock
):
    pausing = PausingClock(clock)
    app = create_central_app(central_settings, engine=central_db.engine, clock=pausing)
    svc = app.extensions["shuxiang_central"]
    priority = svc.push_priority = WatchedPriority()
    client = app.test_client()
    read = make_read_session_factory(central_db.engine)
    a = SimKiosk("kiosk-a", add_kiosk(central_db, "kiosk-a", clock), client)
    b = SimKiosk("kiosk-b", add_kiosk(central_db, "kiosk-b", clock), client)
    a.checkout("SX00001", "S2026001", T0)
    assert a.push().status_code == 200
    b.checkout("SX00002", "S2026002", T0)
    replies: list[Any] = []
    held = threading.Thread(target=lambda: replies.append(b.push()), name="held-push")
    watched = WatchedFactory(central_db.factory, priority)
    # A long yield: a step may only start because the push has finished.
    worker = LedgerWorker(
        watched, clock, svc.ledger_wakeup, priority=priority, max_yield_s=60, idle_wait_s=0.1
    )
    try:
        held.start()
        assert pausing.paused.wait(WAIT_S), "kiosk-b's push never reached push_batch"
        worker.start()
        assert priority.worker_gave_way.wait(WAIT_S)
        assert not watched.step_started.is_set()
        assert _unapplied(read) == 1
        pausing.resume.set()
        held.join(WAIT_S)
        assert [r.status_code for r in replies] == [200]
        assert _wait_until(lambda: _unapplied(read) == 0)
        assert watched.in_flight_at_start and set(watched.in_flight_at_start) == {0}
        with read() as s:
            assert s.scalar(select(func.count(Loan.id))) == 2
    finally:
        pausing.resume.set()
        held.join(WAIT_S)
        worker.stop()


def test_worker_still_steps_when_pushes_never_stop(
    central_db: CentralDB, central_settings, library, clock: FakeClock
):
    app = create_central_app(central_settings, engine=central_db.engine, clock=clock)
    svc = app.extensions["shuxiang_central"]
    read = make_read_session_factory(central_db.engine)
    a = SimKiosk("kiosk-a", add_kiosk(central_db, "kiosk-a", clock), app.test_client())
    a.checkout("SX00001", "S2026001", T0)
    assert a.push().status_code == 200
    watched = WatchedFactory(central_db.factory, svc.push_priority)
    worker = LedgerWorker(
        watched,
        clock,
        svc.ledger_wakeup,
        priority=svc.push_priority,
        max_yield_s=0.05,
        idle_wait_s=0.1,
    )
    # A push that never ends (without the database lock a real one would hold).
    with svc.push_priority.pushing():
        worker.start()
        try:
            assert _wait_until(lambda: _unapplied(read) == 0)
            assert watched.in_flight_at_start[0] == 1
        finally:
            worker.stop()
