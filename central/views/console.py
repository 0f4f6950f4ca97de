"""The librarians' console: sign-in, the kiosk monitor, kiosk detail and the exception list."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from central.applier import retry_event
from central.auth import attempt_login, csrf_ok, csrf_token, session_user_id, start_session
from central.changes import lock_change_counter
from central.conflicts import list_exceptions, resolve
from central.context import get_db, services
from central.monitor import kiosk_row, kiosk_rows, recent_runs, stats
from db.central_models import CentralEvent, ExceptionStatus, Kiosk, StaffUser, SyncException

log = logging.getLogger(__name__)

bp = Blueprint("console", __name__)

F = TypeVar("F", bound=Callable[..., Any])


@bp.before_request
def _load_user_and_check_csrf() -> Any:
    g.user = None
    user_id = session_user_id(session, services().clock())
    if user_id is not None:
        user = get_db().get(StaffUser, user_id)
        if user is not None and not user.disabled:
            g.user = user
        else:
            session.clear()
    if request.method == "POST" and not csrf_ok(session, request.form.get("csrf_token")):
        abort(400, description="The form expired. Go back, reload the page and try again.")
    return None


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {"csrf_token": lambda: csrf_token(session), "current_user": g.get("user")}


def login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            return redirect(url_for("console.login", next=request.path))
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _safe_next(target: str | None) -> str:
    # Only local paths: a crafted ?next= must not send a librarian to another site.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("console.monitor")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("central/login.html", next=request.args.get("next", ""))
    db = get_db()
    now = services().clock()
    result = attempt_login(
        db,
        request.form.get("username", ""),
        request.form.get("password", ""),
        request.remote_addr or "unknown",
        now,
    )
    db.commit()
    if result.throttled:
        log.warning("console sign-in throttled from %s", request.remote_addr)
        return (
            render_template(
                "central/login.html",
                next=request.form.get("next", ""),
                error="Too many failed attempts. Wait 15 minutes and try again.",
            ),
            429,
        )
    if result.user is None:
        return (
            render_template(
                "central/login.html",
                next=request.form.get("next", ""),
                error="Wrong user name or password.",
            ),
            401,
        )
    start_session(session, result.user, now)
    log.info("console sign-in: user id %s", result.user.id)
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> BaseResponse:
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("/")
@login_required
def monitor() -> str:
    svc = services()
    now = svc.clock()
    silent = svc.settings.central.kiosk_silent_after_s
    db = get_db()
    return render_template(
        "central/monitor.html",
        kiosks=kiosk_rows(db, now, silent),
        totals=stats(db, now, silent),
        now=now,
        silent_after_s=silent,
    )


@bp.get("/kiosks/<kiosk_id>")
@login_required
def kiosk_detail(kiosk_id: str) -> str:
    svc = services()
    db = get_db()
    kiosk = db.get(Kiosk, kiosk_id)
    if kiosk is None:
        abort(404)
    now = svc.clock()
    exceptions = list(
        db.scalars(
            select(SyncException)
            .where(SyncException.kiosks.contains(kiosk_id))
            .order_by(SyncException.created_at.desc())
            .limit(50)
        )
    )
    return render_template(
        "central/kiosk.html",
        kiosk=kiosk,
        row=kiosk_row(kiosk, now, svc.settings.central.kiosk_silent_after_s),
        runs=recent_runs(db, kiosk_id),
        exceptions=[e for e in exceptions if kiosk_id in e.kiosks.split(",")],
    )


@bp.get("/exceptions")
@login_required
def exceptions() -> str:
    status = request.args.get("status", ExceptionStatus.OPEN)
    if status not in ("open", "resolved", "all"):
        status = ExceptionStatus.OPEN
    rows = list_exceptions(get_db(), status=None if status == "all" else status)
    return render_template("central/exceptions.html", exceptions=rows, status=status)


@bp.post("/exceptions/<int:exception_id>/resolve")
@login_required
def resolve_exception(exception_id: int) -> BaseResponse:
    db = get_db()
    exc = resolve(
        db, exception_id, g.user.username, request.form.get("note", ""), services().clock()
    )
    if exc is None:
        abort(404)
    db.commit()
    log.info("exception %s resolved by user id %s", exception_id, g.user.id)
    flash("Exception marked as resolved.")
    return redirect(url_for("console.exceptions"))


@bp.post("/exceptions/<int:exception_id>/retry")
@login_required
def retry_exception(exception_id: int) -> BaseResponse:
    """Apply an unknown-student/item or orphan event again, after the roster or catalog changed."""
    db = get_db()
    exc = db.get(SyncException, exception_id)
    if exc is None:
        abort(404)
    event_id = exc.details.get("event_id") if isinstance(exc.details, dict) else None
    row = None
    if isinstance(event_id, str):
        row = db.scalar(
            select(CentralEvent).where(
                CentralEvent.event_id == event_id, CentralEvent.state != "duplicate"
            )
        )
    if row is None:
        flash("There is no stored event to retry for this exception.")
        return redirect(url_for("console.exceptions"))
    lock_change_counter(db)
    state = retry_event(db, row, services().clock())
    db.commit()
    flash(
        "The event was applied."
        if state == "applied"
        else f"The event is still {state}: check the student list and catalog."
    )
    return redirect(url_for("console.exceptions"))
