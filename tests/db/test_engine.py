"""Readers never wait behind a writer; writers queue instead of failing half-way."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from db.engine import (
    make_engine,
    make_read_session_factory,
    make_session_factory,
    open_plain_connection,
    read_transaction,
    write_transaction,
)
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


class _CommitFails:
    """A plain connection whose COMMIT fails, as on a full disk."""

    def __init__(self, db):
        self.db = db

    @property
    def in_transaction(self):
        return self.db.in_transaction

    def execute(self, sql, *args):
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)


def test_plain_write_transaction_commits_or_leaves_nothing(tmp_path):
    engine = make_engine(tmp_path / "k.sqlite3")
    upgrade(engine)
    db = open_plain_connection(engine)
    try:
        with write_transaction(db):
            db.execute("INSERT INTO kiosk_state (key, value) VALUES ('kept', '1')")
        with pytest.raises(RuntimeError), write_transaction(db):
            db.execute("INSERT INTO kiosk_state (key, value) VALUES ('lost', '1')")
            raise RuntimeError("power cut")
        with pytest.raises(sqlite3.OperationalError), write_transaction(_CommitFails(db)):
            db.execute("INSERT INTO kiosk_state (key, value) VALUES ('unsaved', '1')")
        # Neither failure left a transaction open: the next one starts and commits.
        assert not db.in_transaction
        with write_transaction(db):
            db.execute("INSERT INTO kiosk_state (key, value) VALUES ('next', '1')")
        with read_transaction(db):
            keys = [key for (key,) in db.execute("SELECT key FROM kiosk_state ORDER BY key")]
        assert keys == ["kept", "next"]
    finally:
        db.close()
        engine.dispose()


def test_plain_connections_are_set_up_like_the_pool(tmp_path):
    engine = make_engine(tmp_path / "k.sqlite3")
    upgrade(engine)
    db = open_plain_connection(engine)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert db.execute("PRAGMA foreign_keys").fetchone() == (1,)
        with pytest.raises(sqlite3.IntegrityError), write_transaction(db):
            db.execute(
                "INSERT INTO items (barcode, title_id, location, status) "
                "VALUES ('SX1', 999, '', 'available')"
            )
    finally:
        db.close()
        engine.dispose()
    with pytest.raises(ValueError):
        open_plain_connection(make_engine("sqlite://"))
