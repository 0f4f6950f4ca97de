"""The kiosk's touch screen at /, its sentences in the other language, and page headers."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    has_request_context,
    jsonify,
    render_template,
    request,
    url_for,
)
from flask_babel import Babel  # type: ignore[import-untyped]  # ships no type hints

from kiosk import errorlog
from kiosk.context import services
from kiosk.i18n import TRANSLATIONS_DIR, compile_catalogs
from kiosk.views.wording import LANGUAGE_NAMES, LANGUAGES, message_for, ui_strings

log = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)

LANG_TAGS = {"zh": "zh-CN", "en": "en"}
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
            "staff": url_for("staff.status"),
            "holds": url_for("holds.place"),
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
    for key in (
        "action",
        "reason",
        "block_reason",
        "destination",
        "title",
        "due_date",
        "renewable_on",
    ):
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
