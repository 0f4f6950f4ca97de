"""Readers never wait behind a writer; writers queue instead of failing half-way."""

from __future__ import annotations

import sqlite3
import threading
import time

from sqlalchemy import text

from db.engine import make_engine, make_read_session_factory, make_session_factory
from db.migrate import upgrade


def test_reader_does_not_wait_for_a_held_write_lock(tmp_path):
    path = tmp_path / "k.sqlite3"
    engine = make_engine(path)
    upgrade(engine)
    with make_session_factory(engine).begin() as s:
        s.execute(text("INSERT INTO kiosk_state (key, value) VALUES ('a', '1')"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. an import in another process
    other.execute("UPDATE kiosk_state SET value = '2'")
    try:
        started = time.monotonic()
        with make_read_session_factory(engine)() as s:
            value = s.execute(text("SELECT value FROM kiosk_state")).scalar()
        waited_s = time.monotonic() - started
        # The reader sees the last committed snapshot rather than waiting 10 s for the lock.
        assert value == "1"
        assert waited_s < 5
    finally:
        other.execute("COMMIT")
        other.close()


def test_writer_waits_for_the_lock_then_succeeds(tmp_path):
    path = tmp_path / "k.sqlite3"
    engine = make_engine(path)
    upgrade(engine)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")

    threading.Timer(0.3, lambda: (other.execute("COMMIT"), other.close())).start()
    with make_session_factory(engine).begin() as s:
        s.execute(text("INSERT INTO kiosk_state (key, value) VALUES ('b', '1')"))
    with make_read_session_factory(engine)() as s:
        assert s.execute(text("SELECT value FROM kiosk_state WHERE key='b'")).scalar() == "1"
