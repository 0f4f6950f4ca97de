"""Whether the kiosk can record loans: the outcome of its last write and of a periodic probe."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import NamedTuple

from kiosk.services.statements import PROBE_WRITE

# How often the desk tries a write of its own when no scan has written for that long.
PROBE_EVERY = dt.timedelta(seconds=30)

# The probe's row (kiosk.services.statements.PROBE_WRITE) is never committed.
_PROBE_KEY = "health.write_probe"


class WriteHealth(NamedTuple):
    """The latest evidence about writing: a scan's transaction or a probe, whichever is newer."""

    ok: bool
    checked_at: dt.datetime | None
    # "write" (a scan's transaction), "probe", or "none" before either has happened.
    source: str
    # The SQLite error name when it failed (db.faults.fault_name); never a message.
    error: str | None = None


class WriteMonitor:
    """The desk's write outcomes, recorded on every scan that writes and read by the status
    views. Replacing an immutable tuple is atomic, so readers take no lock."""

    def __init__(self, probe_every: dt.timedelta = PROBE_EVERY) -> None:
        self.probe_every = probe_every
        self._latest = WriteHealth(ok=True, checked_at=None, source="none")
        self._last_failure: WriteHealth | None = None

    def record(self, ok: bool, at: dt.datetime, source: str, error: str | None = None) -> None:
        self._latest = WriteHealth(ok, at, source, error)
        if not ok:
            self._last_failure = self._latest

    def probe_due(self, now: dt.datetime) -> bool:
        checked_at = self._latest.checked_at
        return checked_at is None or now - checked_at >= self.probe_every

    def latest(self) -> WriteHealth:
        return self._latest

    def last_failure(self) -> WriteHealth | None:
        return self._last_failure


def probe_write(db: sqlite3.Connection) -> None:
    """Take the write lock and write a page-sized row, then roll back; raises sqlite3.Error
    when the database can't take a write (read-only, full, locked past the busy timeout)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        PROBE_WRITE.run(db, state_key=_PROBE_KEY)
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")
