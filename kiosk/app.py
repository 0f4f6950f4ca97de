"""The kiosk's Flask application factory; it wires parts together and starts no threads."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.engine import SessionFactory, make_engine, make_read_session_factory, make_session_factory
from kiosk import __version__
from kiosk.config import Settings
from kiosk.desk import Clock, Desk, utc_now
from kiosk.events import EventBus


class ScannerLike(Protocol):
    """What the app needs of a scanner driver: whether it is connected right now."""

    @property
    def connected(self) -> bool: ...


class NullScanner:
    """Stand-in for keyboard-wedge kiosks and tests: there is no port to watch."""

    connected = False


@dataclass
class KioskServices:
    settings: Settings
    engine: Engine
    session_factory: SessionFactory
    read_session_factory: SessionFactory
    bus: EventBus
    desk: Desk
    scanner: ScannerLike
    central: Any
    clock: Clock
    # Set when the server is stopping, so open event streams end instead of holding it up.
    shutting_down: threading.Event = field(default_factory=threading.Event)


def create_app(
    settings: Settings,
    *,
    scanner: ScannerLike | None = None,
    central: Any = None,
    clock: Clock | None = None,
    engine: Engine | None = None,
    bus: EventBus | None = None,
) -> Flask:
    """Build the kiosk app for `settings`. The database must already be migrated."""
    app = Flask(__name__, template_folder="../templates", static_folder="static")
    # Nothing long-lived is signed with it (staff logins are server-side tokens), so a fresh
    # random key per process is enough and leaks nothing about the staff PIN.
    app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    engine = engine or make_engine(settings.database.path)
    session_factory = make_session_factory(engine)
    bus = bus or EventBus()
    clock = clock or utc_now
    app.extensions["shuxiang"] = KioskServices(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        read_session_factory=make_read_session_factory(engine),
        bus=bus,
        desk=Desk(settings, session_factory, bus, clock),
        scanner=scanner or NullScanner(),
        central=central,
        clock=clock,
    )
    from kiosk.views import api, metrics, pages

    app.register_blueprint(api.bp)
    app.register_blueprint(metrics.bp)
    # The kiosk and staff pages, with Babel, page headers and the recent-errors log.
    pages.init_app(app)
    app.teardown_appcontext(_close_db)
    return app


def services() -> KioskServices:
    svc: KioskServices = current_app.extensions["shuxiang"]
    return svc


def get_db() -> Session:
    """A read-only session for this request, opened on first use and closed at teardown.

    Views write only through the desk and services' own write transactions.
    """
    if "db" not in g:
        g.db = services().read_session_factory()
    session: Session = g.db
    return session


def _close_db(exc: BaseException | None) -> None:
    session = g.pop("db", None)
    if session is not None:
        # Closing rolls back anything a failed request left uncommitted.
        session.close()


__all__ = ["KioskServices", "NullScanner", "__version__", "create_app", "get_db", "services"]
