"""Who is signed in, what their role lets them do (views, buttons, the 403 page), and the audit call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar, cast

from flask import (
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext  # type: ignore[import-untyped]  # ships no type hints
from flask_wtf.csrf import CSRFError, CSRFProtect

from central import audit as audit_log
from central.auth import SESSION_KEY, console_session_user
from central.context import get_db, get_read_db, services
from central.permissions import Permission, allows
from central.views import wording
from db.central_models import StaffUser
from kiosk.throttle import client_address

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# Blueprints that are not the console: kiosks, scripts and the public OPAC never carry a
# console sign-in, so their requests skip the session look-up.
NOT_CONSOLE = frozenset({"sync", "api", "opac", "opac_holds"})
# Requests a page makes by itself (the monitor's refresh): they must not count as activity, or
# a console left open would never sign out after the idle limit.
BACKGROUND_ENDPOINTS = frozenset({"console.monitor_rows"})


def init_app(app: Flask) -> None:
    """Load the signed-in user for console requests; `can` and `current_user` in templates;
    the form-refused page for every console blueprint. Call after CSRFProtect is set up."""
    app.before_request(_load_user)
    app.add_template_global(can)
    app.add_template_global(permission_name)
    app.context_processor(lambda: {"current_user": current_user()})
    app.register_error_handler(CSRFError, _form_refused)


def _load_user() -> None:
    """Find the user the session cookie names, before the view starts its own writes (the
    session's last-seen time is committed here, on its own)."""
    g.user = None
    if request.blueprint in NOT_CONSOLE or request.endpoint in (None, "static"):
        return
    token = session.get(SESSION_KEY)
    if token is None:
        return
    if request.endpoint in BACKGROUND_ENDPOINTS:
        # Read-only: no activity recorded, and an expired session is left for a real click.
        g.user = console_session_user(get_read_db(), token, services().clock(), touch=False)
        return
    db = get_db()
    g.user = console_session_user(db, token, services().clock())
    db.commit()
    if g.user is None:
        session.pop(SESSION_KEY, None)
        flash(str(wording.SESSION_ENDED))


def current_user() -> StaffUser | None:
    """The signed-in console user of this request, or None."""
    user: StaffUser | None = g.get("user")
    return user


def can(permission: Permission | str) -> bool:
    """Whether the signed-in user may do `permission` (templates: `can("desk")`)."""
    user = current_user()
    return user is not None and allows(user.role, permission)


def requires(permission: Permission) -> Callable[[F], F]:
    """Guard a console view: not signed in → the sign-in page (and back here after); signed in
    without `permission` → 403 with a page saying so. POSTs must carry the form's CSRF token."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if not allows(user.role, permission):
                log.info("user id %s refused %s at %s", user.id, permission, request.endpoint)
                page = render_template("central/forbidden.html", permission=permission)
                return current_app.response_class(page, status=403, mimetype="text/html")
            if request.method == "POST":
                csrf: CSRFProtect = current_app.extensions["csrf"]
                csrf.protect()
            return view(*args, **kwargs)

        wrapper.required_permission = permission  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


# Every signed-in user may watch the kiosks; this is what "signed in" alone means.
login_required = requires(Permission.MONITOR)


def audit(action: str, subject: str, detail: Mapping[str, Any] | None = None) -> None:
    """Record that the signed-in user did `action` to `subject`, now, from this request's
    address, in the request's write session: the caller commits it with the change itself."""
    user = current_user()
    if user is None:
        raise RuntimeError("audit() needs a signed-in user")
    audit_as(user, action, subject, detail)


def audit_as(
    user: StaffUser, action: str, subject: str, detail: Mapping[str, Any] | None = None
) -> None:
    """`audit` for a user who is not (or no longer) this request's: signing in and out."""
    audit_log.record(
        get_db(),
        at=services().clock(),
        username=user.username,
        role=user.role,
        address=client_address(),
        action=action,
        subject=subject,
        detail=detail,
    )


def _form_refused(error: CSRFError) -> tuple[str, int]:
    log.info("console form refused: %s", error.description)
    reason = wording.CSRF_REASONS.get(str(error.description), wording.CSRF_REASON_OTHER)
    page = render_template(
        "central/form_refused.html",
        title=wording.FORM_REFUSED_TITLE,
        reason=reason,
        hint=wording.FORM_REFUSED_HINT,
    )
    return page, 400


def permission_name(permission: Permission) -> str:
    """What a permission lets a person do, in the page's language (the 403 page says it)."""
    return str(gettext(PERMISSION_NAMES.get(permission, str(permission))))


# msgids (English) of what each permission is for; translated in console.po.
PERMISSION_NAMES: Mapping[Permission, str] = {
    Permission.SEARCH: "search the catalogue and the students",
    Permission.DESK: "lend, return and renew at the desk",
    Permission.HOLD_SHELF: "see the hold shelf",
    Permission.HOLDS: "place and cancel holds",
    Permission.VIEW_RECORDS: "see students' and books' records",
    Permission.VIEW_CONTACTS: "see parents' contact details",
    Permission.EDIT_RECORDS: "change records",
    Permission.COMPENSATION: "record compensation and payments",
    Permission.WAIVE: "waive a compensation",
    Permission.LABELS: "print labels and cards",
    Permission.REPORTS: "see the reports",
    Permission.EXPORT: "download data",
    Permission.CHASE: "send overdue notices",
    Permission.IMPORT: "import rosters and catalogues",
    Permission.RESOLVE_EXCEPTIONS: "settle sync exceptions",
    Permission.MONITOR: "watch the kiosks",
    Permission.MANAGE_USERS: "manage console users",
    Permission.MANAGE_KIOSKS: "manage kiosks",
    Permission.AUDIT: "read the audit log",
}
