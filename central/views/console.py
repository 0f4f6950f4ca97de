"""The librarians' console: sign-in, the kiosk monitor, kiosk detail, the exception list, search."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter import RequestLimit
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from central.applier import retry_event
from central.auth import (
    ABSOLUTE_TIMEOUT,
    SESSION_KEY,
    check_credentials,
    end_console_session,
    start_console_session,
)
from central.changes import lock_change_counter
from central.conflicts import list_exceptions, resolve
from central.context import get_db, services
from central.monitor import BACKLOG_MARGIN_S, kiosk_row, kiosk_rows, recent_runs, stats
from central.permissions import Permission
from central.settling import Settlement, describe, settle_double_checkout
from central.views import wording
from central.views.forms import LoginForm, ResolveForm
from central.views.guard import audit, audit_as, current_user, login_required, requires
from db.central_models import CentralEvent, ExceptionStatus, Kiosk, SyncException
from kiosk.search.query import MAX_QUERY_CHARS, search_students, search_titles
from kiosk.throttle import FailureLimit, client_address, limit_failures, make_limiter, wait_s

log = logging.getLogger(__name__)

bp = Blueprint("console", __name__)

F = TypeVar("F", bound=Callable[..., Any])

# Titles and students listed per search; a librarian narrows a broad query by typing more.
CONSOLE_RESULTS = 50


# Failed sign-ins allowed before that key is refused, in a moving window (Flask-Limiter
# syntax). Tests may lower them in app.config before the first request.
SIGN_IN_LIMITS = {
    # One browser guessing one librarian's password: trips first, locks out only that pair.
    "CONSOLE_FAILURES_PER_ADDRESS_AND_USER": "5 per 15 minutes",
    # One address trying many user names.
    "CONSOLE_FAILURES_PER_ADDRESS": "30 per hour",
    # One user name from anywhere: slow enough that guessing from many addresses gets nowhere,
    # loose enough that a stranger's few wrong tries don't lock the librarian out.
    "CONSOLE_FAILURES_PER_USER": "30 per hour",
    # Everyone together: the last backstop against a spread-out guess.
    "CONSOLE_FAILURES_EVERYWHERE": "200 per hour",
}


def init_app(app: Flask) -> None:
    """CSRF checks (Flask-WTF) and sign-in throttling (Flask-Limiter) for the console; call after
    registering `bp`."""
    # Only the console's forms carry tokens; kiosks' pushes and scripts use bearer tokens.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    # A token lasts as long as a sign-in may (a login page left open past that is refused).
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", int(ABSOLUTE_TIMEOUT.total_seconds()))
    CSRFProtect(app)
    for setting, rate in SIGN_IN_LIMITS.items():
        app.config.setdefault(setting, rate)
    limit_failures(
        make_limiter(app),
        bp,
        "console.login",
        [
            FailureLimit(
                "CONSOLE_FAILURES_PER_ADDRESS_AND_USER",
                lambda: f"{client_address()}|{_submitted_username()}",
            ),
            FailureLimit("CONSOLE_FAILURES_PER_ADDRESS", client_address),
            FailureLimit("CONSOLE_FAILURES_PER_USER", _submitted_username),
            FailureLimit("CONSOLE_FAILURES_EVERYWHERE", lambda: "everyone"),
        ],
        failed=lambda response: response.status_code == 401,
        on_breach=_sign_in_throttled,
    )


def _submitted_username() -> str:
    # Case and spaces don't make a new account to guess at.
    return request.form.get("username", "").strip().lower()[:64] or "(none)"


def _sign_in_throttled(limit: RequestLimit) -> Response:
    log.warning("console sign-in throttled for %s (%s)", client_address(), limit.limit)
    form = LoginForm(
        formdata=None,
        username=request.form.get("username", "")[:64],
        next=request.form.get("next", ""),
    )
    page = render_template(
        "central/login.html", form=form, error=wording.too_many_attempts(wait_s(limit))
    )
    return current_app.response_class(page, status=429, mimetype="text/html")


@bp.before_request
def _check_csrf() -> None:
    # The signed-in user is loaded for every console blueprint by central.views.guard.
    if request.method == "POST":
        csrf: CSRFProtect = current_app.extensions["csrf"]
        csrf.protect()


def _safe_next(target: str | None) -> str:
    # Only local paths: a crafted ?next= must not send a librarian to another site.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("console.monitor")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm(next=request.args.get("next", ""))
    if not form.validate_on_submit():
        return render_template("central/login.html", form=form), (
            400 if request.method == "POST" else 200
        )
    db = get_db()
    now = services().clock()
    user = check_credentials(db, form.username.data, form.password.data, now)
    if user is None:
        # 401 is what the throttle counts (see init_app).
        log.warning("console sign-in failed from %s", client_address())
        return render_template(
            "central/login.html", form=form, error=wording.WRONG_CREDENTIALS
        ), 401
    end_console_session(db, session.get(SESSION_KEY))
    token = start_console_session(db, user, now)
    audit_as(user, "user.sign_in", f"user:{user.username}")
    db.commit()
    # A fresh cookie (and CSRF token) at sign-in: nothing from before carries over.
    session.clear()
    session[SESSION_KEY] = token
    log.info("console sign-in: user id %s", user.id)
    return redirect(_safe_next(form.next.data))


@bp.post("/logout")
def logout() -> BaseResponse:
    db = get_db()
    end_console_session(db, session.get(SESSION_KEY))
    user = current_user()
    if user is not None:
        audit_as(user, "user.sign_out", f"user:{user.username}")
    db.commit()
    session.clear()
    flash(str(wording.SIGNED_OUT))
    return redirect(url_for("console.login"))


@bp.get("/")
@login_required
def monitor() -> str:
    svc = services()
    db = get_db()
    return render_template(
        "central/monitor.html",
        totals=stats(db, svc.clock(), svc.settings.central.kiosk_silent_after_s),
        backlog_margin_s=BACKLOG_MARGIN_S,
        **_monitor_rows(),
    )


@bp.get("/monitor/rows")
@login_required
def monitor_rows() -> str:
    """The monitor's table rows, for console.js to refresh in place (same template, same
    language, same times as the page)."""
    return render_template("central/_monitor_rows.html", **_monitor_rows())


def _monitor_rows() -> dict[str, Any]:
    svc = services()
    now = svc.clock()
    silent = svc.settings.central.kiosk_silent_after_s
    return {"kiosks": kiosk_rows(get_db(), now, silent), "now": now, "silent_after_s": silent}


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
        stories=[describe(db, e) for e in exceptions if kiosk_id in e.kiosks.split(",")],
    )


@bp.get("/exceptions")
@login_required
def exceptions() -> str:
    status = request.args.get("status", ExceptionStatus.OPEN)
    if status not in ("open", "resolved", "all"):
        status = ExceptionStatus.OPEN
    db = get_db()
    rows = list_exceptions(db, status=None if status == "all" else status)
    return render_template(
        "central/exceptions.html", stories=[describe(db, e) for e in rows], status=status
    )


@bp.post("/exceptions/<int:exception_id>/settle")
@requires(Permission.RESOLVE_EXCEPTIONS)
def settle_exception(exception_id: int) -> BaseResponse:
    """A double checkout settled by saying where the book is: recorded through the ledger."""
    try:
        settlement = Settlement(request.form.get("settlement", ""))
    except ValueError:
        abort(400)
    db = get_db()
    exc = db.get(SyncException, exception_id)
    if exc is None:
        abort(404)
    settled = settle_double_checkout(db, exc, settlement, g.user.username, services().clock())
    if settled is None:
        flash(str(wording.CANNOT_SETTLE))
        return redirect(url_for("console.exceptions"))
    audit(
        "exception.settle",
        f"exception:{exception_id}",
        {"settlement": settlement.value, "events": len(settled.events)},
    )
    db.commit()
    log.info("exception %s settled (%s) by user id %s", exception_id, settlement, g.user.id)
    flash(str(wording.SETTLED))
    return redirect(url_for("console.exceptions"))


@bp.post("/exceptions/<int:exception_id>/resolve")
@requires(Permission.RESOLVE_EXCEPTIONS)
def resolve_exception(exception_id: int) -> BaseResponse:
    form = ResolveForm()
    if not form.validate():
        flash(" ".join(form.note.errors))
        return redirect(url_for("console.exceptions"))
    db = get_db()
    exc = resolve(db, exception_id, g.user.username, form.note.data or "", services().clock())
    if exc is None:
        abort(404)
    audit(
        "exception.resolve", f"exception:{exception_id}", {"kind": exc.kind, "note": exc.resolution}
    )
    db.commit()
    log.info("exception %s resolved by user id %s", exception_id, g.user.id)
    flash(str(wording.EXCEPTION_RESOLVED))
    return redirect(url_for("console.exceptions"))


@bp.post("/exceptions/<int:exception_id>/retry")
@requires(Permission.RESOLVE_EXCEPTIONS)
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
        flash(str(wording.NO_EVENT_TO_RETRY))
        return redirect(url_for("console.exceptions"))
    lock_change_counter(db)
    state = retry_event(db, row, services().clock())
    audit("exception.retry", f"exception:{exception_id}", {"kind": exc.kind, "outcome": state})
    db.commit()
    flash(str(wording.EVENT_APPLIED) if state == "applied" else wording.event_still(state))
    return redirect(url_for("console.exceptions"))


@bp.get("/search")
@requires(Permission.SEARCH)
def search() -> str:
    """The console's search box: titles and students (the same engine as the kiosk's)."""
    query = request.args.get("q", "")[:MAX_QUERY_CHARS].strip()
    db = get_db()
    return render_template(
        "central/search.html",
        query=query,
        titles=search_titles(db, query, limit=CONSOLE_RESULTS) if query else [],
        students=search_students(db, query, limit=CONSOLE_RESULTS) if query else [],
    )
