"""The central server's Flask application factory; it wires parts together and starts no threads."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from flask import Flask, Response, request
from sqlalchemy import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from central import context
from central.auth import ABSOLUTE_TIMEOUT
from central.context import CentralServices
from central.db import make_central_session_factory
from central.views import api, audit_log, console, guard, language, opac, opac_holds, sync, users
from central.views import chase as chase_views
from central.views import compensation as compensation_views
from central.views import desk as desk_views
from central.views import imports as _imports  # noqa: F401 - adds the import pages to the console
from central.views import labels as labels_views
from central.views import records as records_views
from central.views import reports as reports_views
from central.views import rollover as rollover_views
from central.worker import PushPriority
from db.engine import make_engine, make_read_session_factory
from kiosk.clock import Clock, utc_now
from kiosk.config import Settings, read_secret
from kiosk.jsonapi import install_json_errors

ROOT = Path(__file__).resolve().parent.parent
# The console's import upload (central.views.forms, 12 MB) is the largest body besides a push,
# which central.views.sync sizes from the push batch limit.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
# Paths that answer JSON, errors included.
API_PATH_PREFIXES = ("/api/", "/sync/")

# Console pages load only our own CSS and JS; nothing a kiosk reports can run as script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


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
        # Behind a TLS proxy the cookie must never travel over plain HTTP (docs/central.md).
        SESSION_COOKIE_SECURE=central.secure_cookies,
        PERMANENT_SESSION_LIFETIME=ABSOLUTE_TIMEOUT,
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if central.proxy_hops:
        # Trust X-Forwarded-For/-Proto/-Host from exactly that many proxies: the client address
        # is what sign-in throttling counts, so an untrusted header must not choose it.
        hops = central.proxy_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    engine = engine or make_engine(central.database_url)
    parts = CentralServices(
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
    context.install(app, parts)
    install_json_errors(app, lambda req: req.path.startswith(API_PATH_PREFIXES))
    app.register_blueprint(sync.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(opac.bp)
    app.register_blueprint(audit_log.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(desk_views.bp)
    app.register_blueprint(reports_views.bp)
    app.register_blueprint(records_views.bp)
    language.init_app(app)
    app.register_blueprint(chase_views.bp)
    app.register_blueprint(rollover_views.bp)
    app.register_blueprint(compensation_views.bp)
    app.register_blueprint(labels_views.bp)
    console.init_app(app)
    guard.init_app(app)
    opac_holds.init_app(app)
    app.after_request(_security_headers)
    return app


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
    if request.blueprint == "console":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


__all__ = ["create_central_app"]
