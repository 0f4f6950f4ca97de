"""The console's language (Chinese unless the person chose English), its date and class filters."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, request
from flask_babel import Babel, get_locale  # type: ignore[import-untyped]  # ships no type hints

from central import i18n
from central.context import services
from kiosk.circulation.schoolyear import class_display

COOKIE = "console_lang"
# A choice of language is kept for a school year; it is not personal data.
COOKIE_MAX_AGE_S = 365 * 24 * 3600


def init_app(app: Flask) -> None:
    """Flask-Babel over the console's merged catalog, the `?lang=` switch and the filters."""
    i18n.compile_console_catalogs()
    Babel(
        app,
        locale_selector=page_language,
        default_locale=i18n.DEFAULT_LANGUAGE,
        default_translation_directories=str(i18n.TRANSLATIONS_DIR),
        default_domain=i18n.DOMAIN,
    )
    app.after_request(_remember_choice)
    app.add_template_filter(local_datetime_filter, "local_datetime")
    app.add_template_filter(local_date_filter, "local_date")
    app.add_template_filter(local_time_filter, "local_time")
    app.add_template_filter(class_filter, "class_label")
    app.context_processor(_language_helpers)


def page_language() -> str:
    """?lang= (which is then remembered), then the cookie, then Chinese."""
    asked = request.args.get("lang")
    if asked in i18n.LANGUAGES:
        return str(asked)
    kept = request.cookies.get(COOKIE)
    return str(kept) if kept in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE


def _remember_choice(response: Response) -> Response:
    asked = request.args.get("lang")
    if asked in i18n.LANGUAGES and request.cookies.get(COOKIE) != asked:
        response.set_cookie(
            COOKIE, str(asked), max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="Lax"
        )
    return response


def current_language() -> str:
    locale = get_locale()
    language = locale.language if locale is not None else i18n.DEFAULT_LANGUAGE
    return language if language in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(services().settings.circulation.timezone)


def _as_datetime(value: Any) -> dt.datetime | dt.date | None:
    # The monitor's rows carry ISO strings (the same rows the JSON API sends).
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.date):
        return value
    return None


def local_datetime_filter(value: Any) -> str:
    """`{{ at|local_datetime }}`: "2026年12月9日 周三 14:05"; "—" for nothing."""
    at = _as_datetime(value)
    if at is None:
        return "—"
    if not isinstance(at, dt.datetime):
        return i18n.local_date(at, _zone(), current_language())
    return i18n.local_datetime(at, _zone(), current_language())


def local_date_filter(value: Any) -> str:
    """`{{ at|local_date }}`: "2026年12月9日"; "—" for nothing."""
    at = _as_datetime(value)
    if at is None:
        return "—"
    return i18n.local_date(at, _zone(), current_language())


def local_time_filter(value: Any) -> str:
    """`{{ at|local_time }}`: "14:05" in the library's zone; "—" for nothing."""
    at = _as_datetime(value)
    if not isinstance(at, dt.datetime):
        return "—"
    return i18n.local_time(at, _zone())


def class_filter(roster_text: str | None) -> str:
    """`{{ patron.class_name|class_label }}`: a class as the console shows it everywhere
    (kiosk.circulation.schoolyear.class_display)."""
    return class_display(roster_text or "", current_language())


def _language_helpers() -> dict[str, Any]:
    language = current_language()
    other = "en" if language == "zh" else "zh"
    args = {key: value for key, value in request.args.items() if key != "lang"}
    args["lang"] = other
    return {
        "lang": language,
        "lang_tag": i18n.LANG_TAGS[language],
        "other_language": other,
        "other_language_url": f"{request.path}?{urlencode(args)}",
    }
