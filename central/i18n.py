"""The console's languages and catalog (the union of every team's .po), and dates in the library's zone.

Flask-free, so services and PDFs can word dates and load the catalog without a request.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.support import NullTranslations, Translations

from kiosk.i18n import compile_merged_catalogs

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
# Each team keeps its own `<name>.po` beside the others; they are compiled into this domain.
DOMAIN = "messages"
# The frame's own words come first: where another team's file translates the same msgid
# differently, the console's translation is the one every page shows.
FIRST_CATALOGS = ("console.po",)
# msgids are English, so "en" needs no catalog; Chinese is the default.
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANG_TAGS = {"zh": "zh-CN", "en": "en"}

# CLDR patterns: "2026年12月9日 周三 14:05" and "Wed 9 Dec 2026 14:05".
_DATETIME_PATTERNS = {"zh": "y年M月d日 EEE HH:mm", "en": "EEE d MMM y HH:mm"}
_DATE_PATTERNS = {"zh": "y年M月d日", "en": "d MMM y"}
_BABEL_LOCALES = {"zh": "zh_Hans_CN", "en": "en_GB"}


def compile_console_catalogs() -> None:
    """Compile the union of `central/translations/<lang>/LC_MESSAGES/*.po` when stale."""
    compile_merged_catalogs(TRANSLATIONS_DIR, DOMAIN, FIRST_CATALOGS)


@functools.cache
def translations(language: str) -> NullTranslations:
    """The console's compiled catalog for `language` (English falls through to the msgids)."""
    compile_console_catalogs()
    return Translations.load(str(TRANSLATIONS_DIR), [language], DOMAIN)


def _language(language: str) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def _aware(at: dt.datetime) -> dt.datetime:
    # Stored times are aware UTC; a naive one can only have come from UTC as well.
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def local_datetime(at: dt.datetime, zone: zoneinfo.ZoneInfo, language: str) -> str:
    """`at` in the library's `zone`: "2026年12月9日 周三 14:05" / "Wed 9 Dec 2026 14:05"."""
    lang = _language(language)
    return format_datetime(
        _aware(at).astimezone(zone), _DATETIME_PATTERNS[lang], locale=_BABEL_LOCALES[lang]
    )


def local_time(at: dt.datetime, zone: zoneinfo.ZoneInfo) -> str:
    """The time of day of `at` in the library's `zone`: "14:05"."""
    return _aware(at).astimezone(zone).strftime("%H:%M")


def local_date(at: dt.datetime | dt.date, zone: zoneinfo.ZoneInfo, language: str) -> str:
    """The day `at` falls on in the library's `zone`: "2026年12月9日" / "9 Dec 2026". A plain
    date is taken as it is."""
    lang = _language(language)
    day = _aware(at).astimezone(zone) if isinstance(at, dt.datetime) else at
    return format_date(day, _DATE_PATTERNS[lang], locale=_BABEL_LOCALES[lang])
