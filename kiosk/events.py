"""Small event dataclasses and a thread-safe publish/subscribe bus between threads and streams."""

from __future__ import annotations

import datetime as dt
import itertools
import queue
import threading
from dataclasses import dataclass, field
from typing import Any


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class BarcodeScanned:
    """A scanner delivered one complete code (published by the reader thread)."""

    code: str
    source: str = "serial"
    at: dt.datetime = field(default_factory=_utcnow)


@dataclass(frozen=True)
class ScannerStatusChanged:
    connected: bool
    at: dt.datetime = field(default_factory=_utcnow)


@dataclass(frozen=True)
class ScanProcessed:
    """A scan was acted on and its effect committed; `result` is the JSON the kiosk API returns."""

    result: dict[str, Any]
    source: str
    at: dt.datetime = field(default_factory=_utcnow)


@dataclass(frozen=True)
class SessionEnded:
    """The signed-in student's session ended (Done, idle timeout, or another card)."""

    reason: str
    at: dt.datetime = field(default_factory=_utcnow)


@dataclass(frozen=True)
class SyncFinished:
    ok: bool
    pushed: int = 0
    pulled: int = 0
    error: str = ""
    at: dt.datetime = field(default_factory=_utcnow)
    # When this sync began, by the kiosk's clock: "Sync now" waits for one begun after asking.
    started_at: dt.datetime | None = None


Event = BarcodeScanned | ScannerStatusChanged | ScanProcessed | SessionEnded | SyncFinished


class Subscription:
    """One subscriber's queue; iterate with get(timeout) and always call close()."""

    def __init__(
        self, bus: EventBus, maxsize: int, kinds: tuple[type[Any], ...] | None = None
    ) -> None:
        self._bus = bus
        # SimpleQueue is implemented in C: a scan crosses two of these on its way to the
        # screen, and each hop is cheaper than with queue.Queue's Python-level locking.
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.maxsize = maxsize
        self.kinds = kinds
        self.id = next(EventBus._ids)

    def wants(self, event: Event) -> bool:
        return self.kinds is None or isinstance(event, self.kinds)

    def put(self, event: Event) -> None:
        """Queue `event`, first dropping the oldest ones when a bounded queue is full."""
        while self.maxsize and self._queue.qsize() >= self.maxsize:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put(event)

    def get(self, timeout_s: float) -> Event | None:
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Fan-out of events to every subscriber; publishing never blocks the publisher.

    A subscriber that stops reading (a browser tab gone to sleep) loses its oldest events
    rather than stalling the scanner thread.
    """

    _ids = itertools.count(1)

    def __init__(self, maxsize: int = 256) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscription] = []
        self._maxsize = maxsize

    def subscribe(
        self, kinds: tuple[type[Any], ...] | None = None, *, lossless: bool = False
    ) -> Subscription:
        """Subscribe to `kinds` of events (all when None).

        A lossless subscription (the scan worker's) has an unbounded queue: a scan must never
        be dropped because the database was briefly slow.
        """
        sub = Subscription(self, 0 if lossless else self._maxsize, kinds)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            if sub.wants(event):
                sub.put(event)
