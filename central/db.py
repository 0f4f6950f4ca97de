"""Central database plumbing: engines, session factories with the change log, dialect upserts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from central.changes import install_change_log
from central.rollup import install_rollup
from central.upsert import dialect_insert
from db.central_models import ChangeCounter
from db.engine import SessionFactory, make_engine, make_session_factory
from db.migrate import upgrade


def open_central_engine(database_url: str, **kwargs: Any) -> Engine:
    """An engine on the central database, migrated to head, with its change counter row."""
    engine = make_engine(database_url, **kwargs)
    upgrade(engine)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        ensure_change_counter(session)
    return engine


def make_central_session_factory(engine: Engine) -> SessionFactory:
    """Sessions whose flushes record every patron/title/item/hold/loan change for kiosks to pull,
    and fold new loans and applied sign-ins into the reports' daily roll-up.

    Anything that writes those tables in the central database must use this factory (imports
    included); a plain session would change rows that kiosks then never hear about.
    """
    factory = make_session_factory(engine)
    install_change_log(factory)
    install_rollup(factory)
    return factory


def ensure_change_counter(session: Session) -> None:
    """Create the single change-counter row if a fresh database lacks it. Caller commits."""
    if session.scalar(select(ChangeCounter.id).where(ChangeCounter.id == 1)) is None:
        session.add(ChangeCounter(id=1, version=0))
        session.flush()


__all__ = [
    "dialect_insert",
    "ensure_change_counter",
    "make_central_session_factory",
    "open_central_engine",
]
