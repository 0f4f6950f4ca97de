"""Engines and session factories: SQLite in WAL with synchronous=FULL and BEGIN IMMEDIATE, or PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from db.files import FileProblem, empty_database_message, prepare_sqlite_file

SessionFactory = sessionmaker[Session]

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY_OPTION = "shuxiang_read_only"


def database_url(path_or_url: str | Path) -> str:
    """A SQLAlchemy URL for a file path (SQLite) or a URL passed through unchanged."""
    text = str(path_or_url)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


def make_engine(path_or_url: str | Path, **kwargs: Any) -> Engine:
    """Create an engine; SQLite files get the durability and locking settings the kiosk relies on."""
    url = database_url(path_or_url)
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and ":memory:" not in url:
            # Names and parents' phone numbers: the file and its -wal/-shm are 0600.
            prepare_sqlite_file(Path(url.removeprefix("sqlite:///")))
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


class DatabaseDamaged(FileProblem):
    """The database file exists but is not a sound SQLite database; the message says why."""


# Enough lines of quick_check's report to name the damage without flooding the terminal.
CHECK_REPORT_LINES = 3


def check_sqlite_file(path: Path, *, deep: bool = False) -> str | None:
    """Check the SQLite database at `path` before serving it; raise DatabaseDamaged if unsound.

    Returns None for a missing file (a new kiosk starts with an empty database), else the
    check that passed. An existing zero-byte file is refused: SQLite would take it for a new,
    empty database and the kiosk would serve an empty library. `PRAGMA quick_check` reads
    every page and checks each b-tree's structure (bench/startup_check.py times it);
    `deep` runs `integrity_check`, which also matches every index against its table.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        raise DatabaseDamaged(empty_database_message(path))
    pragma = "integrity_check" if deep else "quick_check"
    try:
        # mode=rw: never create the file here, and never open something else by accident.
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise DatabaseDamaged(f"The database {path} cannot be opened ({exc}).") from None
    try:
        rows = db.execute(f"PRAGMA {pragma}({CHECK_REPORT_LINES})").fetchall()
    except sqlite3.DatabaseError as exc:
        # "file is not a database": a bad header, a text file, an encrypted file.
        raise DatabaseDamaged(f"The database {path} is not a usable SQLite file ({exc}).") from None
    finally:
        db.close()
    report = [
        line
        for row in rows
        for line in str(row[0]).splitlines()
        if line.strip() and not line.startswith("***")
    ]
    if report != ["ok"]:
        found = "; ".join(report[:CHECK_REPORT_LINES])
        raise DatabaseDamaged(f"The database {path} is damaged ({pragma}: {found}).")
    return pragma


def _set_up_connection(dbapi_connection: sqlite3.Connection) -> None:
    # BEGIN is always issued explicitly (the "begin" event below, or write_transaction):
    # pysqlite's own implicit BEGIN is DEFERRED, which turns a read-then-write into a late
    # SQLITE_BUSY.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a loan the screen has shown survives a power cut (NORMAL may lose the last commits).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        _set_up_connection(dbapi_connection)

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            # A reader in WAL mode sees a snapshot and never waits for the writer.
            conn.exec_driver_sql("BEGIN")
        else:
            # Take the write lock up front so concurrent writers queue on busy_timeout
            # instead of failing half-way through a transaction.
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> SessionFactory:
    """Sessions that keep loaded values after commit (views render after committing)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def make_read_session_factory(engine: Engine) -> SessionFactory:
    """Sessions for pages and reports that only read: on SQLite they don't take the write lock,
    so a status page never waits behind a long import or sync step."""
    return sessionmaker(
        bind=engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False
    )


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def open_plain_connection(engine: Engine) -> sqlite3.Connection:
    """A sqlite3 connection of its own to `engine`'s SQLite file, set up like the pool's.

    The kiosk's scan path runs on one of these instead of an ORM session: a scan's whole budget
    is smaller than what an ORM session, its flushes and a pool checkout cost
    (bench/scan_latency.py measures it). The caller closes it; it may be used from several
    threads, one at a time.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        raise ValueError("plain connections are for the kiosk's SQLite database file")
    db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
    _set_up_connection(db)
    return db


@contextmanager
def write_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT on a plain connection; rolls back when the block raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        # Also when COMMIT itself failed (disk full, I/O error): the next scan must find the
        # connection outside any transaction. SQLite may already have rolled back by itself.
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


@contextmanager
def read_transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A deferred (read) transaction on a plain connection: one snapshot, no write lock."""
    db.execute("BEGIN")
    try:
        yield db
    finally:
        if db.in_transaction:
            db.execute("ROLLBACK")


def plain_connection(session: Session) -> sqlite3.Connection:
    """The sqlite3 connection under `session`'s transaction (BEGIN already issued).

    For calling the plain-SQL services from code that holds an ORM session; flush first if
    the session has changes those services must see.
    """
    driver = session.connection().connection.driver_connection
    if not isinstance(driver, sqlite3.Connection):
        raise TypeError("plain-SQL services are for the kiosk's SQLite database")
    return driver
