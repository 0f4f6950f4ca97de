"""The last few warnings and errors, kept in memory for the librarian's /status page."""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
from dataclasses import dataclass

MESSAGE_CHARS = 300


@dataclass(frozen=True)
class RecentError:
    at: dt.datetime
    level: str
    logger: str
    message: str


class RecentErrors(logging.Handler):
    """A ring buffer of recent WARNING+ records.

    Keeps the formatted message and, for exceptions, only the exception's class name: an
    exception's text can quote data (a database error quotes the row it failed on), and this
    page is shown on a screen in a school corridor.
    """

    def __init__(self, capacity: int = 50, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self._records: collections.deque[RecentError] = collections.deque(maxlen=capacity)
        self._records_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break logging
            message = str(record.msg)
        if record.exc_info and record.exc_info[0] is not None:
            message = f"{message} ({record.exc_info[0].__name__})"
        entry = RecentError(
            at=dt.datetime.fromtimestamp(record.created, dt.UTC),
            level=record.levelname,
            logger=record.name,
            message=message[:MESSAGE_CHARS],
        )
        with self._records_lock:
            self._records.append(entry)

    def recent(self, limit: int = 20) -> list[RecentError]:
        """The newest `limit` records, newest first."""
        with self._records_lock:
            records = list(self._records)
        return records[::-1][:limit]

    def clear(self) -> None:
        with self._records_lock:
            self._records.clear()


def install(logger: logging.Logger | None = None) -> RecentErrors:
    """Attach the process's one RecentErrors handler to `logger` (the root by default).

    Idempotent: every app created in the process (tests create many) shares the handler.
    """
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if isinstance(handler, RecentErrors):
            return handler
    handler = RecentErrors()
    target.addHandler(handler)
    return handler
