"""At most a few open event streams per kiosk: a newly connected page closes the oldest stream."""

from __future__ import annotations

import contextlib
import threading
from collections import deque

# One kiosk page, plus its replacement while a reload or a language switch reconnects.
MAX_EVENT_STREAMS = 2
# Waitress threads that event streams can never take: scans and pages always find one free.
THREADS_KEPT_FOR_REQUESTS = 2


class StreamLimiter:
    """Hands each new event stream a `superseded` flag, and sets the oldest one's past the cap.

    Each open stream holds a waitress thread for as long as it runs, so without a cap a reload
    loop, or a few stale tabs, take every thread and the student's scans wait behind them. A
    stream checks its flag several times a second and ends when it is set; the browser
    reconnects by itself if that page is still open.
    """

    def __init__(self, max_streams: int = MAX_EVENT_STREAMS) -> None:
        if max_streams < 1:
            raise ValueError("max_streams must be at least 1")
        self.max_streams = max_streams
        self._lock = threading.Lock()
        self._open: deque[threading.Event] = deque()
        self.superseded_total = 0

    def open(self) -> threading.Event:
        """Register a new stream; returns the flag that says it has been superseded."""
        flag = threading.Event()
        with self._lock:
            self._open.append(flag)
            while len(self._open) > self.max_streams:
                self._open.popleft().set()
                self.superseded_total += 1
        return flag

    def close(self, flag: threading.Event) -> None:
        """The stream that holds `flag` has ended (any reason)."""
        # A superseded stream's flag has already left the queue.
        with self._lock, contextlib.suppress(ValueError):
            self._open.remove(flag)

    @property
    def open_count(self) -> int:
        with self._lock:
            return len(self._open)
