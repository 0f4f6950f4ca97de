"""Which SQLite errors mean "the database can't take a write right now" rather than a bug."""

from __future__ import annotations

import sqlite3

# Primary result codes (the low byte of an extended code such as SQLITE_IOERR_WRITE) that
# come from the storage or from another writer, not from the statement: a full disk, a
# read-only file or file system, an I/O error, a lock held past busy_timeout, a damaged file.
# A constraint violation or a misuse error is a bug in our SQL and is not listed.
STORAGE_FAULT_CODES = frozenset(
    {
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)


def is_storage_fault(exc: BaseException) -> bool:
    """True when `exc` is a SQLite error caused by the disk or the file, not by our SQL."""
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in STORAGE_FAULT_CODES


def fault_name(exc: BaseException) -> str:
    """A short, log-safe name for a storage fault, e.g. "SQLITE_FULL"."""
    name = getattr(exc, "sqlite_errorname", None)
    return str(name) if name else type(exc).__name__
