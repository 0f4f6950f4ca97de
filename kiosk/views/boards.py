"""GET /api/boards: the idle screen's boards as last pulled from the central, when [kiosk] idle_boards is on."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from kiosk.context import services
from kiosk.i18n import LANGUAGES, translations
from kiosk.sync.boards import stored_boards
from kiosk.views.wording import N_

bp = Blueprint("boards", __name__)

# How often the page asks again: the boards change with a sync, at most every few minutes.
REFRESH_S = 600
# How long each board stays before the next slides in: slow enough to read a list.
ROTATE_S = 15

# The boards' headings and figures; boards.js fills in {n}.
_BOARD_WORDS: dict[str, str] = {
    "new_books": N_("New books"),
    "new_books_note": N_("Added in the last 30 days"),
    "popular": N_("Most borrowed"),
    "classes": N_("Reading classes"),
    "per_student": N_("{n} per student"),
}


def board_words(language: str) -> dict[str, str]:
    catalog = translations(language if language in LANGUAGES else "en")
    return {key: catalog.gettext(msgid) for key, msgid in _BOARD_WORDS.items()}


@bp.get("/api/boards")
def boards() -> Response:
    """`{"enabled": false}` when switched off; else the boards (null before the first pull)."""
    svc = services()
    if not svc.settings.kiosk.idle_boards:
        return jsonify({"enabled": False})
    document = stored_boards(svc.read_session_factory)
    return jsonify(
        {
            "enabled": True,
            "boards": document,
            "words": {code: board_words(code) for code in LANGUAGES},
            "refresh_s": REFRESH_S,
            "rotate_s": ROTATE_S,
        }
    )
