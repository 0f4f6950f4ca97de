"""The kiosk's hold API: reserve a title for the signed-in student, cancel one of their holds."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from typing import Any

from flask import Blueprint, Response, jsonify, request

from kiosk.context import services
from kiosk.desk import DB_UNAVAILABLE, NOT_SIGNED_IN
from kiosk.services import circulation as circ
from kiosk.services import holds as hold_service
from kiosk.services.holds import HoldLine, HoldResult
from kiosk.views.wording import LANGUAGES, hold_message

log = logging.getLogger(__name__)

bp = Blueprint("holds", __name__)


def _language() -> str:
    """The language the page asked in (?lang= or X-Kiosk-Language), as for scans; else the
    kiosk's own."""
    lang = request.args.get("lang") or request.headers.get("X-Kiosk-Language")
    return str(lang) if lang in LANGUAGES else services().settings.kiosk.language


def _hold_json(hold: HoldLine | None) -> dict[str, Any] | None:
    if hold is None:
        return None
    return {
        "id": hold.id,
        "title_id": hold.title_id,
        "title": hold.title,
        "status": hold.status,
        "placed_at": hold.placed_at.isoformat(),
        "ready_at": hold.ready_at.isoformat() if hold.ready_at else None,
    }


def _reply(result: HoldResult, success_key: str, status: int = 200) -> Response:
    svc = services()
    language = _language()
    fields: dict[str, object] = {
        "title": result.title or "",
        "days": svc.desk.hold_policy.shelf_days,
        "max": svc.desk.hold_policy.max_holds,
        "call_number": result.shelf.call_number if result.shelf else "",
        "location": result.shelf.location if result.shelf else "",
    }
    key = success_key if result.ok else f"refused:{result.refusal}"
    body = {
        "ok": result.ok,
        "reason": None if result.ok else str(result.refusal),
        "message": hold_message(key, language, **fields),
        "hold": _hold_json(result.hold),
        "session": svc.desk.session_info(),
    }
    if result.shelf is not None:
        body["shelf"] = {"call_number": result.shelf.call_number, "location": result.shelf.location}
    response = jsonify(body)
    response.status_code = status
    return response


def _refuse(status: int, error: str, message: str) -> Response:
    response = jsonify({"ok": False, "error": error, "message": message})
    response.status_code = status
    return response


def _not_done(why: str) -> Response:
    """Nobody is signed in (401), or the database refused the write (503: go to the desk)."""
    if why == DB_UNAVAILABLE:
        return _refuse(503, DB_UNAVAILABLE, hold_message("db_unavailable", _language()))
    return _refuse(401, NOT_SIGNED_IN, hold_message("sign_in_first", _language()))


@bp.post("/api/holds")
def place() -> Response:
    """Reserve `title_id` for the signed-in student: {"title_id": N}."""
    body = request.get_json(silent=True)
    title_id = body.get("title_id") if isinstance(body, dict) else None
    if isinstance(title_id, bool) or not isinstance(title_id, int) or title_id < 1:
        return _refuse(400, "bad_request", 'send JSON like {"title_id": 12}')
    desk = services().desk

    def place_for(
        db: sqlite3.Connection, patron: circ.PatronRecord, now: dt.datetime
    ) -> HoldResult:
        return hold_service.place_hold(
            db,
            patron.id,
            patron.student_number,
            circ.patron_standing(db, patron, now),
            title_id,
            desk.hold_policy,
            desk.kiosk_id,
            now,
        )

    result = desk.for_signed_in(place_for)
    if isinstance(result, str):
        return _not_done(result)
    log.info("hold on title %d: %s", title_id, "placed" if result.ok else result.refusal)
    return _reply(result, "placed")


# Ids are 64-bit in the database: a larger one is simply not found (404), never a 500.
@bp.delete("/api/holds/<int(max=9223372036854775807):hold_id>")
def cancel(hold_id: int) -> Response:
    """Cancel one of the signed-in student's own holds."""
    desk = services().desk

    def cancel_for(
        db: sqlite3.Connection, patron: circ.PatronRecord, now: dt.datetime
    ) -> HoldResult:
        return hold_service.cancel_hold(
            db, patron.id, patron.student_number, hold_id, desk.kiosk_id, now
        )

    result = desk.for_signed_in(cancel_for)
    if isinstance(result, str):
        return _not_done(result)
    log.info("hold %d cancel: %s", hold_id, "done" if result.ok else result.refusal)
    return _reply(result, "cancelled", 200 if result.ok else 404)
