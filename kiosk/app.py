"""The kiosk's Flask application factory; it wires parts together and starts no threads."""

from __future__ import annotations

import secrets

from flask import Flask
from sqlalchemy import Engine

from db.engine import make_engine, make_read_session_factory, make_session_factory
from kiosk import context
from kiosk.clock import Clock, utc_now
from kiosk.config import Settings
from kiosk.desk import Desk
from kiosk.events import EventBus
from kiosk.jsonapi import install_json_errors
from kiosk.parts import KioskServices
from kiosk.status import NullScanner, ScannerLike
from kiosk.sync.client import CentralClient, CentralLink, NullCentral
from kiosk.views import api, boards, holds, metrics, pages, search, staff
from kiosk.views.access import init_access

# The largest legitimate body is the language toggle's re-wording of at most 100 replies
# (kiosk/views/pages.py, MAX_RELOCALISED), a few kilobytes; anything far larger is refused (413).
MAX_REQUEST_BYTES = 256 * 1024
# Paths that answer JSON, errors included.
API_PATH_PREFIXES = ("/api/", "/events", "/kiosk/")


def create_app(
    settings: Settings,
    *,
    scanner: ScannerLike | None = None,
    central: CentralLink | None = None,
    clock: Clock | None = None,
    engine: Engine | None = None,
    bus: EventBus | None = None,
) -> Flask:
    """Build the kiosk app for `settings`. The database must already be migrated."""
    app = Flask(__name__, template_folder="../templates", static_folder="static")
    # Nothing long-lived is signed with it (staff logins are server-side tokens), so a fresh
    # random key per process is enough and leaks nothing about the staff PIN.
    app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    engine = engine or make_engine(settings.database.path)
    session_factory = make_session_factory(engine)
    bus = bus or EventBus()
    clock = clock or utc_now
    if central is None:
        central = (
            CentralClient.from_settings(settings) if settings.sync.central_url else NullCentral()
        )
    parts = KioskServices(
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
    context.install(app, parts)
    install_json_errors(app, lambda req: req.path.startswith(API_PATH_PREFIXES))
    # Host/Origin checks, and the secret when other machines may reach the port.
    init_access(app, settings)
    app.register_blueprint(api.bp)
    app.register_blueprint(holds.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(boards.bp)
    # The kiosk page, with Babel, page headers and the recent-errors log.
    pages.init_app(app)
    # The staff page behind its PIN, with wrong PINs throttled.
    staff.init_app(app)
    return app


__all__ = ["create_app"]
