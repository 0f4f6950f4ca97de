"""The sync API kiosks call: /sync/v1/push, /sync/v1/pull and /sync/v1/heartbeat (bearer token)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy.exc import DBAPIError

from central.changes import changes_since
from central.context import get_db, services
from central.events import MalformedEvent
from central.intake import (
    MAX_BATCH_EVENTS,
    kiosk_for_token,
    parse_push,
    push_batch,
    record_heartbeat,
    record_pull,
    record_rejected_push,
)
from kiosk.jsonapi import INT64_MAX, json_error

log = logging.getLogger(__name__)

bp = Blueprint("sync", __name__, url_prefix="/sync/v1")

RETRY_BUSY_S = 2
RETRY_DATABASE_S = 5
DEFAULT_PULL_LIMIT = 500
# A pushed event is ~350 bytes (~700 pretty-printed, with every text field at its longest);
# 2 KiB each leaves room for new fields. The push is the one body allowed past the app's limit.
MAX_EVENT_BYTES = 2048
MAX_PUSH_BYTES = MAX_BATCH_EVENTS * MAX_EVENT_BYTES + 64 * 1024

F = TypeVar("F", bound=Callable[..., Any])


@bp.before_request
def _push_body_limit() -> None:
    if request.endpoint == "sync.push":
        request.max_content_length = MAX_PUSH_BYTES


_error = json_error


def _retry_later(seconds: int, error: str) -> Response:
    response = _error(503, error, "try again later")
    response.headers["Retry-After"] = str(seconds)
    return response


def kiosk_required(view: F) -> F:
    """Authenticate the kiosk by its bearer token; database trouble becomes 503 + Retry-After.

    A push also takes the kiosk's row lock here, in the same query, to serialise its batches.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        try:
            lock = view.__name__ == "push"
            kiosk = (
                kiosk_for_token(get_db(), token.strip(), lock=lock)
                if scheme.lower() == "bearer"
                else None
            )
            if kiosk is None:
                return _error(401, "bad_token", "unknown or missing kiosk token")
            g.kiosk = kiosk
            g.kiosk_id = kiosk.id
            return view(*args, **kwargs)
        except DBAPIError:
            # Locked SQLite file, PostgreSQL restarting, a serialisation failure: nothing was
            # committed, so the kiosk simply sends the same request again later.
            log.warning("sync request failed on the database; kiosk told to retry", exc_info=True)
            get_db().rollback()
            return _retry_later(RETRY_DATABASE_S, "database_unavailable")

    return cast(F, wrapper)


def counted_as_push(view: F) -> F:
    """Count the request as a push in flight from before its first query to its answer.

    The ledger worker starts no step while a push is in flight (`central.worker.PushPriority`):
    on SQLite its step would hold the one write lock this push is about to ask for.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with services().push_priority.pushing():
            return view(*args, **kwargs)

    return cast(F, wrapper)


@bp.post("/push")
@counted_as_push
@kiosk_required
def push() -> Response:
    svc = services()
    if not svc.push_slots.acquire(blocking=False):
        return _retry_later(RETRY_BUSY_S, "busy")
    try:
        db = get_db()
        try:
            req = parse_push(request.get_json(silent=True))
        except MalformedEvent as exc:
            record_rejected_push(db, g.kiosk_id, str(exc), svc.clock())
            db.commit()
            log.warning("push from kiosk %s rejected: %s", g.kiosk_id, exc)
            return _error(400, "malformed", str(exc))
        if req.kiosk_id != g.kiosk_id:
            return _error(401, "bad_token", "this token belongs to another kiosk")
        result = push_batch(db, g.kiosk, req, svc.clock)
        db.commit()
        if result.stored:
            svc.ledger_wakeup.set()
        log.info(
            "push kiosk=%s epoch=%s sent=%d new=%d acked_through=%d status=%d",
            req.kiosk_id,
            req.epoch,
            len(req.events),
            result.stored,
            result.acked_through,
            result.status,
        )
        response = jsonify(result.as_json())
        response.status_code = result.status
        return response
    finally:
        svc.push_slots.release()


@bp.get("/pull")
@kiosk_required
def pull() -> Response:
    try:
        since = int(request.args.get("since", "0"))
        limit = int(request.args.get("limit", str(DEFAULT_PULL_LIMIT)))
    except ValueError:
        return _error(400, "malformed", "since and limit must be whole numbers")
    # Versions are 64-bit in the database; a larger `since` could never have been handed out.
    if not 0 <= since <= INT64_MAX or not 1 <= limit <= INT64_MAX:
        return _error(400, "malformed", "since must be >= 0 and limit >= 1 (64-bit)")
    db = get_db()
    page = changes_since(db, since, limit)
    if page.changes:
        record_pull(db, g.kiosk_id, len(page.changes), services().clock())
        db.commit()
    return jsonify({"changes": page.changes, "next_since": page.next_since, "more": page.more})


@bp.post("/heartbeat")
@kiosk_required
def heartbeat() -> Response:
    db = get_db()
    now = services().clock()
    try:
        kiosk = record_heartbeat(db, g.kiosk_id, request.get_json(silent=True), now)
    except MalformedEvent as exc:
        return _error(400, "malformed", str(exc))
    offset = kiosk.clock_offset_s
    db.commit()
    return jsonify({"server_time": now.isoformat(), "clock_offset_s": offset})
