"""Storage faults (disk full, read-only) are told apart from errors in our own SQL."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from db.faults import fault_name, is_storage_fault


def _raised(db: sqlite3.Connection, sql: str) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as caught:
        db.execute(sql)
    return caught.value


def test_full_and_read_only_are_storage_faults_and_sql_errors_are_not(tmp_path: Path) -> None:
    with closing(sqlite3.connect(tmp_path / "f.sqlite3", isolation_level=None)) as db:
        db.execute("CREATE TABLE t (x TEXT UNIQUE)")
        db.execute("INSERT INTO t VALUES ('a')")
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        full = _raised(db, "INSERT INTO t VALUES (zeroblob(100000))")
        assert is_storage_fault(full) and fault_name(full) == "SQLITE_FULL"

        db.execute("PRAGMA query_only = ON")
        read_only = _raised(db, "INSERT INTO t VALUES ('b')")
        assert is_storage_fault(read_only) and fault_name(read_only) == "SQLITE_READONLY"
        db.execute("PRAGMA query_only = OFF")

        # A bug in our SQL must still surface as one, not as "the kiosk can't record loans".
        assert not is_storage_fault(_raised(db, "INSERT INTO t VALUES ('a')"))
        assert not is_storage_fault(_raised(db, "SELECT nothing FROM t"))
    assert not is_storage_fault(ValueError("not a database error"))
