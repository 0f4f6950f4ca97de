"""What a central view needs from the running app: the services bag and the request's sessions.

Views import these from here, never from `central.app` (which imports the views to register them).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from central.worker import PushPriority
from db.engine import SessionFactory
from kiosk.clock import Clock
from kiosk.config import Settings

EXTENSION_KEY = "shuxiang_central"


@dataclass
class CentralServices:
    """Everything the central's views share; built by `create_central_app`."""

    settings: Settings
    engine: Engine
    session_factory: SessionFactory
    read_session_factory: SessionFactory
    clock: Clock
    monitor_token: str | None
    # Pushes served at once; past this a kiosk is told to come back (503 + Retry-After)
    # so the console always keeps a thread.
    push_slots: threading.BoundedSemaphore
    # Set after a push commits new events: wakes the ledger worker (central.worker).
    ledger_wakeup: threading.Event
    # Pushes being served; the ledger worker starts no step while there are any (bounded).
    push_priority: PushPriority


def install(app: Flask, parts: CentralServices) -> None:
    """Make `parts` the app's services bag and close each request's sessions at teardown."""
    app.extensions[EXTENSION_KEY] = parts
    app.teardown_appcontext(_close_db)


def services_of(app: Flask) -> CentralServices:
    """The services bag of `app` (outside a request: the command line, tests)."""
    svc: CentralServices = app.extensions[EXTENSION_KEY]
    return svc


def services() -> CentralServices:
    """The services bag of the app handling this request."""
    return services_of(current_app)


def get_db() -> Session:
    """A session for this request, opened on first use and closed at teardown."""
    if "db" not in g:
        g.db = services().session_factory()
    session: Session = g.db
    return session


def get_read_db() -> Session:
    """A read-only session for this request: on SQLite it never takes the write lock, so
    monitoring (the JSON API, /metrics) can't hold up kiosks' pushes."""
    if "read_db" not in g:
        g.read_db = services().read_session_factory()
    session: Session = g.read_db
    return session


def _close_db(exc: BaseException | None) -> None:
    read_session = g.pop("read_db", None)
    if read_session is not None:
        read_session.close()
    session = g.pop("db", None)
    if session is not None:
        # Closing rolls back anything a failed request left uncommitted.
        session.close()
