"""Dialect-specific INSERT so ON CONFLICT works the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_insert(db: Session | Connection, table: Any) -> Any:
    """INSERT for this session's or connection's database, with on_conflict_do_nothing/do_update
    available."""
    name = (db if isinstance(db, Connection) else db.get_bind()).dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database {name!r}: use SQLite or PostgreSQL")
