"""What a kiosk view needs from the running app: the services bag and the request's DB session.

Views import these from here, never from `kiosk.app` (which imports the views to register them).
"""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from kiosk.parts import KioskServices

EXTENSION_KEY = "shuxiang"


def install(app: Flask, parts: KioskServices) -> None:
    """Make `parts` the app's services bag and close each request's session at teardown."""
    app.extensions[EXTENSION_KEY] = parts
    app.teardown_appcontext(_close_db)


def services_of(app: Flask) -> KioskServices:
    """The services bag of `app` (outside a request: the command line, tests)."""
    svc: KioskServices = app.extensions[EXTENSION_KEY]
    return svc


def services() -> KioskServices:
    """The services bag of the app handling this request."""
    return services_of(current_app)


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
