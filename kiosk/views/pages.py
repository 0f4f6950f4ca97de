"""The kiosk's pages: the touch screen at /, and the librarian's /status behind a staff PIN."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
import threading
import time
import zoneinfo
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import Babel  # type: ignore[import-untyped]  # ships no type hints
from werkzeug.wrappers import Response as BaseResponse

from kiosk import errorlog
from kiosk.config import read_secret
from kiosk.context import services
from kiosk.i18n import TRANSLATIONS_DIR, compile_catalogs
from kiosk.status import build_status
from kiosk.views.wording import LANGUAGE_NAMES, LANGUAGES, message_for, ui_strings

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)

LANG_TAGS = {"zh": "zh-CN", "en": "en"}
STAFF_COOKIE = "shuxiang_staff"
# Why the page may ask the server to forget a student (see kiosk.js, expire/reconcile).
FORGET_REASONS = frozenset({"idle_timeout", "page_out_of_step"})
MAX_RELOCALISED = 100

# How the kiosk page behaves, handed to kiosk.js. The idle timeout itself is in config.toml.
PAGE_BEHAVIOUR: dict[str, Any] = {
    "countdownS": 10,  # "Still here?" shows for the last this-many seconds
    "doneS": 8,  # the goodbye summary, then back to the start
    "returnsS": 20,  # the returns list stays this long after the last book
    "reconnectMs": 2000,
    "linkGraceMs": 1500,  # a reconnect quicker than this shows no warning
    "requestTimeoutMs": 8000,
    "staffHoldMs": 3000,  # hold the library's name this long to reach /status
    "keypadMaxChars": 32,
    # Keyboard-wedge scanners type a code in a few ms per key; children type far slower.
    "wedge": {"maxGapMs": 50, "minLength": 4},
}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    """Register the pages, Babel (catalogs compiled first), the error log and page headers."""
    compile_catalogs()
    Babel(
        app,
        locale_selector=_locale_for_babel,
        default_locale=_default_language(app),
        default_translation_directories=str(TRANSLATIONS_DIR),
    )
    app.extensions["shuxiang_errors"] = errorlog.install()
    app.extensions["shuxiang_staff"] = StaffGate(app.extensions["shuxiang"].settings)
    app.register_blueprint(bp)
    app.after_request(_protect)


def _default_language(app: Flask) -> str:
    language: str = app.extensions["shuxiang"].settings.kiosk.language
    return language


def page_language() -> str:
    """?lang=, then the X-Kiosk-Language header, then `[kiosk] language`."""
    lang = request.args.get("lang") or request.headers.get("X-Kiosk-Language")
    if lang in LANGUAGES:
        return str(lang)
    return services().settings.kiosk.language


def _locale_for_babel() -> str | None:
    return page_language() if has_request_context() else None


def _protect(response: Response) -> Response:
    """Nothing dynamic is cached: a kiosk page or API reply may name a student."""
    if request.endpoint == "static":
        return response
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {"static_url": static_url}


def static_url(filename: str) -> str:
    """The URL of a static file, versioned by its mtime so a kiosk never runs stale code."""
    folder = Path(current_app.static_folder or "")
    try:
        version = int((folder / filename).stat().st_mtime)
    except OSError:
        version = 0
    return url_for("static", filename=filename, v=version)


def _bad_request(message: str) -> Response:
    response = jsonify({"error": "bad_request", "message": message})
    response.status_code = 400
    return response


# --- the kiosk page --------------------------------------------------------------------------


@bp.get("/")
def kiosk_page() -> str:
    svc = services()
    settings = svc.settings
    lang = page_language()
    other = "en" if lang == "zh" else "zh"
    page_config = PAGE_BEHAVIOUR | {
        "lang": lang,
        "defaultLang": settings.kiosk.language,
        "strings": {code: ui_strings(code) for code in LANGUAGES},
        "langNames": LANGUAGE_NAMES,
        "langTags": LANG_TAGS,
        "idleTimeoutS": settings.kiosk.idle_timeout_s,
        "scannerType": settings.scanner.type,
        "scannerConnected": bool(svc.scanner.connected),
        "timezone": settings.circulation.timezone,
        "urls": {
            "scan": url_for("api.scan"),
            "renew": url_for("api.renew"),
            "return": url_for("api.return_item"),
            "end": url_for("api.end_session"),
            "touch": url_for("api.touch_session"),
            "session": url_for("api.session_info"),
            "events": url_for("api.events"),
            "messages": url_for(".relocalise"),
            "forget": url_for(".forget_session"),
            "staff": url_for(".staff_status"),
        },
    }
    return render_template(
        "kiosk/index.html",
        t=ui_strings(lang),
        html_lang=LANG_TAGS[lang],
        other_lang_tag=LANG_TAGS[other],
        other_lang_name=LANGUAGE_NAMES[other],
        library_name=settings.kiosk.name,
        page_config=page_config,
    )


@bp.post("/kiosk/messages")
def relocalise() -> Response:
    """The screen's sentences again, in another language, after the language toggle."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("lang") not in LANGUAGES:
        return _bad_request('send JSON like {"lang": "en", "replies": [...]}')
    replies = body.get("replies")
    if not isinstance(replies, list) or len(replies) > MAX_RELOCALISED:
        return _bad_request(f"replies must be a list of at most {MAX_RELOCALISED}")
    lang = str(body["lang"])
    return jsonify({"messages": [message_for(_plain_reply(r), lang) for r in replies]})


def _plain_reply(raw: Any) -> dict[str, Any]:
    """Only the fields a sentence uses, as text, whatever the page sent."""
    raw = raw if isinstance(raw, dict) else {}
    reply: dict[str, Any] = {}
    for key in ("action", "reason", "destination", "title", "due_date"):
        value = raw.get(key)
        reply[key] = value if isinstance(value, str) else None
    patron = raw.get("patron")
    name = patron.get("first_name") if isinstance(patron, dict) else None
    reply["patron"] = {"first_name": name if isinstance(name, str) else ""}
    return reply


@bp.post("/kiosk/session/forget")
def forget_session() -> Response:
    """End the student's session because the page says so (its idle timer, or a page that was
    reloaded while someone was signed in); the reason goes to the log."""
    body = request.get_json(silent=True)
    reason = body.get("reason") if isinstance(body, dict) else None
    if reason not in FORGET_REASONS:
        return _bad_request(f"reason must be one of {sorted(FORGET_REASONS)}")
    services().desk.end_session(str(reason))
    return jsonify({"session": {"active": False}})


# --- the staff page --------------------------------------------------------------------------


class StaffGate:
    """Who may open /status: the staff PIN from its secret file, a few guesses, short sign-ins.

    Sign-ins are random tokens held here, not signed cookies, so nothing a browser holds can be
    used to guess the PIN offline. After `max_failures` wrong PINs in a row the gate stays shut
    for `lockout_s`, doubling with each further lockout (capped at an hour), and a right PIN
    during a lockout is refused too. The PIN file is read at each attempt, so changing it needs
    no restart.
    """

    def __init__(
        self,
        settings: Any,
        *,
        max_failures: int = 5,
        lockout_s: float = 60.0,
        sign_in_s: float = 600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pin_file: Path | None = settings.kiosk.staff_pin_file
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.sign_in_s = sign_in_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._failures = 0
        self._lockouts = 0
        self._locked_until = 0.0
        self._tokens: dict[str, float] = {}

    def pin_configured(self) -> bool:
        return read_secret(self.pin_file) is not None

    def locked_for_s(self) -> float:
        with self._lock:
            return max(0.0, self._locked_until - self._monotonic())

    def attempt(self, pin: str) -> tuple[str, str | None]:
        """("ok", token), or ("wrong" | "locked" | "no_pin", None)."""
        with self._lock:
            now = self._monotonic()
            if now < self._locked_until:
                return "locked", None
            expected = read_secret(self.pin_file)
            if expected is None:
                return "no_pin", None
            if hmac.compare_digest(pin.encode("utf-8"), expected.encode("utf-8")):
                self._failures = self._lockouts = 0
                token = secrets.token_urlsafe(32)
                self._tokens[token] = now + self.sign_in_s
                log.info("staff signed in to the status page")
                return "ok", token
            self._failures += 1
            if self._failures >= self.max_failures:
                self._failures = 0
                self._lockouts += 1
                pause = min(3600.0, self.lockout_s * 2 ** (self._lockouts - 1))
                self._locked_until = now + pause
                log.warning(
                    "staff page: %d wrong PINs, locked for %.0f s", self.max_failures, pause
                )
            return "wrong", None

    def signed_in(self, token: str | None) -> bool:
        with self._lock:
            now = self._monotonic()
            for old in [k for k, until in self._tokens.items() if until <= now]:
                del self._tokens[old]
            return token is not None and token in self._tokens

    def sign_out(self, token: str | None) -> None:
        with self._lock:
            self._tokens.pop(token or "", None)


def _gate() -> StaffGate:
    gate: StaffGate = current_app.extensions["shuxiang_staff"]
    return gate


@bp.get("/status")
def staff_status() -> Response | str:
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
        "staff/status.html", figures=_staff_figures(), errors=errors, **_staff_page_context()
    )


@bp.post("/status/login")
def staff_login() -> BaseResponse | tuple[str, int]:
    gate = _gate()
    outcome, token = gate.attempt(request.form.get("pin", "")[:64])
    if outcome == "ok" and token is not None:
        response = redirect(url_for(".staff_status", lang=page_language()), code=303)
        response.set_cookie(
            STAFF_COOKIE,
            token,
            max_age=int(gate.sign_in_s),
            httponly=True,
            samesite="Strict",
            path="/status",
        )
        return response
    status = {"wrong": 401, "locked": 429, "no_pin": 503}[outcome]
    return _login_page(gate, outcome), status


@bp.post("/status/logout")
def staff_logout() -> BaseResponse:
    _gate().sign_out(request.cookies.get(STAFF_COOKIE))
    response = redirect(url_for(".staff_status", lang=page_language()), code=303)
    response.delete_cookie(STAFF_COOKIE, path="/status")
    return response


def _login_page(gate: StaffGate, outcome: str | None) -> str:
    if outcome is None and not gate.pin_configured():
        outcome = "no_pin"
    return render_template(
        "staff/login.html",
        outcome=outcome,
        locked_s=int(gate.locked_for_s() + 0.999),
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
