"""The central server's Flask application factory; it wires parts together and starts no threads."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from central.auth import ABSOLUTE_TIMEOUT
from central.db import make_central_session_factory, utc_now
from central.worker import PushPriority
from db.engine import SessionFactory, make_engine, make_read_session_factory
from kiosk.config import Settings, read_secret

Clock = Callable[[], dt.datetime]

ROOT = Path(__file__).resolve().parent.parent
MAX_REQUEST_BYTES = 16 * 1024 * 1024

# Console pages load only our own CSS and JS; nothing a kiosk reports can run as script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@dataclass
class CentralServices:
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


def create_central_app(
    settings: Settings, *, engine: Engine | None = None, clock: Clock | None = None
) -> Flask:
    """Build the central app for `settings`. The database must already be migrated
    (`central.db.open_central_engine`)."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        static_url_path="/static",
    )
    central = settings.central
    # Without a key file, sessions are signed with a key that dies with the process:
    # librarians sign in again after a restart, which is safe.
    app.config["SECRET_KEY"] = read_secret(central.secret_key_file) or secrets.token_hex(32)
    app.config.update(
        SESSION_COOKIE_NAME="shuxiang_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=ABSOLUTE_TIMEOUT,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    engine = engine or make_engine(central.database_url)
    app.extensions["shuxiang_central"] = CentralServices(
        settings=settings,
        engine=engine,
        session_factory=make_central_session_factory(engine),
        read_session_factory=make_read_session_factory(engine),
        clock=clock or utc_now,
        monitor_token=read_secret(central.monitor_token_file),
        push_slots=threading.BoundedSemaphore(max(2, central.threads - 2)),
        ledger_wakeup=threading.Event(),
        push_priority=PushPriority(),
    )
    from central.views import api, console, sync

    app.register_blueprint(sync.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(console.bp)
    app.teardown_appcontext(_close_db)
    app.after_request(_security_headers)
    return app


def services() -> CentralServices:
    svc: CentralServices = current_app.extensions["shuxiang_central"]
    return svc


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


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
    if request.blueprint == "console":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


__all__ = ["CentralServices", "create_central_app", "get_db", "services"]
