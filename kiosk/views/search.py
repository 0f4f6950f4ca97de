"""The kiosk's find-a-book screen: GET /api/search as the student types, and the screen's words."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from kiosk.context import get_db, services
from kiosk.i18n import LANGUAGES, translations
from kiosk.search.query import parse_query_args, search_titles
from kiosk.views.wording import N_

bp = Blueprint("search", __name__)

# Results the screen asks for: what fits a 1024x768 screen above the keyboard, and a little more.
RESULTS_ON_SCREEN = 12
# Typing pauses this long before the kiosk asks; each key press would otherwise be a query.
DEBOUNCE_MS = 250
# Where the 预约 button posts {"title_id": N}: the holds endpoint, named by issue 10's interface.
HOLDS_URL = "/api/holds"

# Everything the find-a-book screen says; {n} is filled in by search.js.
_SEARCH_SCREEN: dict[str, str] = {
    "open": N_("Find a book"),
    "title": N_("Find a book"),
    "close": N_("Close"),
    "hint": N_("Type a title, an author, pinyin or its initials, an ISBN or a call number."),
    "delete": N_("Delete"),
    "clear": N_("Clear"),
    "space": N_("Space"),
    "searching": N_("Looking…"),
    "nothing": N_("No book found. Try fewer letters, or the pinyin initials."),
    "found_one": N_("1 book found"),
    "found_other": N_("{n} books found"),
    "on_shelf_one": N_("1 on the shelf"),
    "on_shelf_other": N_("{n} on the shelf"),
    "all_out": N_("All out on loan"),
    "no_copies": N_("Not in the library"),
    "call_number": N_("Call number"),
    "reserve": N_("Reserve"),
    "reserving": N_("Reserving…"),
    "error": N_("Sorry, the search didn't work. Please try again."),
}


def search_strings(language: str) -> dict[str, str]:
    """The find-a-book screen's words in `language`, by key."""
    catalog = translations(language if language in LANGUAGES else "en")
    return {key: catalog.gettext(msgid) for key, msgid in _SEARCH_SCREEN.items()}


@bp.app_context_processor
def _search_screen() -> dict[str, Any]:
    """What templates/kiosk/_search.html and the kiosk page's "Find a book" button need."""
    strings = {code: search_strings(code) for code in LANGUAGES}
    return {
        "search_strings": strings,
        "search_config": {
            "strings": strings,
            "urls": {"search": url_for("search.search"), "holds": HOLDS_URL},
            "idleTimeoutS": services().settings.kiosk.idle_timeout_s,
            "debounceMs": DEBOUNCE_MS,
            "limit": RESULTS_ON_SCREEN,
            # Longer than any title a child would type; the server takes up to 200.
            "maxChars": 40,
            "requestTimeoutMs": 8000,
        },
    }


@bp.get("/api/search")
def search() -> Response:
    args = parse_query_args(request.args.get("q"), request.args.get("limit"))
    if isinstance(args, str):
        response = jsonify({"error": "bad_request", "message": args})
        response.status_code = 400
        return response
    query, limit = args
    hits = search_titles(get_db(), query, limit=limit)
    return jsonify({"results": [hit.as_json() for hit in hits]})


__all__ = ["bp", "search_strings"]
