"""The librarian's /status page behind the staff PIN, with wrong PINs throttled by Flask-Limiter."""

from __future__ import annotations

import datetime as dt
import logging
import time
import zoneinfo
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter import RequestLimit
from werkzeug.wrappers import Response as BaseResponse

from kiosk import errorlog
from kiosk.clock import Clock
from kiosk.context import services
from kiosk.events import EventBus, SyncFinished
from kiosk.staffgate import MIN_PIN_DIGITS, PinCheck, StaffGate
from kiosk.status import build_status
from kiosk.sync.client import SyncTrigger
from kiosk.throttle import FailureLimit, client_address, limit_failures, make_limiter, wait_s
from kiosk.views.pages import LANG_TAGS, page_language, static_url
from kiosk.views.wording import LANGUAGE_NAMES

log = logging.getLogger(__name__)

bp = Blueprint("staff", __name__)

STAFF_COOKIE = "shuxiang_staff"

# Wrong PINs allowed before that key is refused, in a moving window (Flask-Limiter syntax).
# Tests may lower them in app.config before the first request.
PIN_LIMITS = {
    # One client typing wrong PINs waits a minute; a remote client (allow_remote) can't lock
    # the kiosk's own screen this way.
    "STAFF_PIN_FAILURES_PER_ADDRESS": "5 per minute",
    # The touch screen itself is on loopback, one address for everyone at the kiosk, so this
    # backstop is what really slows guessing: about one PIN a minute (a 6-digit PIN then takes
    # years), while the librarian never waits more than 10 minutes.
    "STAFF_PIN_FAILURES_EVERYWHERE": "10 per 10 minutes",
}

_STATUS_BY_CHECK = {
    PinCheck.WRONG: 401,
    PinCheck.NO_PIN: 503,
    PinCheck.WEAK_PIN: 503,
}


def init_app(app: Flask) -> None:
    """Register the staff page, its PIN gate and the throttling of wrong PINs."""
    app.extensions["shuxiang_staff"] = StaffGate(
        app.extensions["shuxiang"].settings.kiosk.staff_pin_file
    )
    app.register_blueprint(bp)
    for setting, rate in PIN_LIMITS.items():
        app.config.setdefault(setting, rate)
    limit_failures(
        make_limiter(app),
        bp,
        "staff.login",
        [
            FailureLimit("STAFF_PIN_FAILURES_PER_ADDRESS", client_address),
            FailureLimit("STAFF_PIN_FAILURES_EVERYWHERE", lambda: "everyone"),
        ],
        failed=lambda response: response.status_code == 401,
        on_breach=_too_many_wrong_pins,
    )


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {"static_url": static_url}


def _gate() -> StaffGate:
    gate: StaffGate = current_app.extensions["shuxiang_staff"]
    return gate


def _too_many_wrong_pins(limit: RequestLimit) -> Response:
    log.warning("staff page: wrong PINs throttled for %s (%s)", client_address(), limit.limit)
    page = _login_page(_gate(), "locked", locked_s=wait_s(limit))
    return current_app.response_class(page, status=429, mimetype="text/html")


@bp.get("/status")
def status() -> Response | str:
    gate = _gate()
    if not gate.signed_in(request.cookies.get(STAFF_COOKIE)):
        return _login_page(gate, None)
    recent: errorlog.RecentErrors = current_app.extensions["shuxiang_errors"]
    zone = zoneinfo.ZoneInfo(services().settings.circulation.timezone)
    errors = [
        {
            "at": _local(e.at, zone),
            "level": e.level,
            "where": e.logger,
            "what": e.message,
        }
        for e in recent.recent()
    ]
    return render_template(
        "staff/status.html",
        figures=_staff_figures(),
        errors=errors,
        sync_now=_sync_now_result(),
        **_staff_page_context(),
    )


@bp.post("/status/login")
def login() -> BaseResponse | tuple[str, int]:
    gate = _gate()
    outcome, token = gate.attempt(request.form.get("pin", "")[:64])
    if outcome is PinCheck.OK and token is not None:
        response = redirect(url_for(".status", lang=page_language()), code=303)
        response.set_cookie(
            STAFF_COOKIE,
            token,
            max_age=int(gate.sign_in_s),
            httponly=True,
            samesite="Strict",
            path="/status",
        )
        return response
    # A 401 is what the throttle counts (see init_app).
    return _login_page(gate, outcome), _STATUS_BY_CHECK[outcome]


@bp.post("/status/logout")
def logout() -> BaseResponse:
    _gate().sign_out(request.cookies.get(STAFF_COOKIE))
    response = redirect(url_for(".status", lang=page_language()), code=303)
    response.delete_cookie(STAFF_COOKIE, path="/status")
    return response


# How long "Sync now" waits for the sync to finish before showing the page anyway.
SYNC_NOW_WAIT_S = 20.0
SYNC_NOW_OUTCOMES = frozenset({"ok", "failed", "running", "off"})


@bp.post("/status/sync")
def sync_now() -> BaseResponse:
    """Ask the sync worker for a sync now and wait (a little) for its result, then show the
    staff page with it. Staff only; a plain form POST with the staff sign-in cookie."""
    if not _gate().signed_in(request.cookies.get(STAFF_COOKIE)):
        return redirect(url_for(".status", lang=page_language()), code=303)
    svc = services()
    result: dict[str, Any] = {"sync": "off"}
    if svc.settings.sync.central_url:
        event = _sync_and_wait(svc.bus, svc.sync, svc.clock)
        if event is None:
            result = {"sync": "running"}
        elif event.ok:
            result = {"sync": "ok", "sent": event.pushed, "received": event.pulled}
        else:
            result = {"sync": "failed"}
        log.info("staff asked for a sync: %s", result["sync"])
    return redirect(url_for(".status", lang=page_language(), **result), code=303)


def _sync_and_wait(bus: EventBus, sync: SyncTrigger, clock: Clock) -> SyncFinished | None:
    """Ask for a sync and wait for one that began after asking (a sync already running when
    the button was pressed may not carry the newest loans); None if none finished in time."""
    # Subscribe before asking, so a quick sync's result is not missed.
    with bus.subscribe((SyncFinished,)) as finished:
        asked_at = clock()
        sync.request_sync()
        deadline_m = time.monotonic() + SYNC_NOW_WAIT_S
        while (left_s := deadline_m - time.monotonic()) > 0:
            event = finished.get(timeout_s=left_s)
            if isinstance(event, SyncFinished) and (
                event.started_at is None or event.started_at >= asked_at
            ):
                return event
    return None


def _sync_now_result() -> dict[str, Any] | None:
    """The outcome "Sync now" redirected with, from the query string (checked, not trusted)."""
    outcome = request.args.get("sync")
    if outcome not in SYNC_NOW_OUTCOMES:
        return None
    return {
        "outcome": outcome,
        "sent": request.args.get("sent", 0, type=int),
        "received": request.args.get("received", 0, type=int),
    }


def _login_page(gate: StaffGate, outcome: str | None, *, locked_s: int = 0) -> str:
    if outcome is None:
        state = gate.pin_state()
        outcome = None if state is PinCheck.OK else state
    return render_template(
        "staff/login.html",
        outcome=outcome,
        locked_s=locked_s,
        min_pin_digits=MIN_PIN_DIGITS,
        **_staff_page_context(),
    )


def _staff_page_context() -> dict[str, Any]:
    lang = page_language()
    other = "en" if lang == "zh" else "zh"
    return {
        "html_lang": LANG_TAGS[lang],
        "lang": lang,
        "other_lang": other,
        "other_lang_name": LANGUAGE_NAMES[other],
        "other_lang_tag": LANG_TAGS[other],
        "library_name": services().settings.kiosk.name,
    }


def _staff_figures() -> dict[str, Any]:
    """What the librarian walking by needs: counts and machine state, never a student."""
    svc = services()
    status = build_status(svc, svc.clock())
    zone = zoneinfo.ZoneInfo(svc.settings.circulation.timezone)
    counts = status.counts
    return {
        "kiosk_id": status.kiosk_id,
        "version": status.version,
        "time": _local(status.at, zone),
        "scanner_type": status.scanner_type,
        "scanner_connected": status.scanner_connected,
        "central_configured": status.sync.central_configured,
        "db_ok": status.db_ok,
        "db_writable": status.writes.ok,
        "open_loans": counts.open_loans if counts else None,
        "checkouts_today": counts.checkouts_today if counts else None,
        "returns_today": counts.returns_today if counts else None,
        "visits_today": counts.visits_today if counts else None,
        "pending": status.sync.pending_events,
        "last_sync_at": _local(status.sync.last_success_at, zone),
        "last_sync_error": status.sync.last_error,
    }


def _local(moment: dt.datetime | None, zone: zoneinfo.ZoneInfo) -> str | None:
    """An aware time as library-local "YYYY-MM-DD HH:MM:SS"."""
    if moment is None:
        return None
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
