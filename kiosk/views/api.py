"""The kiosk's JSON API and event stream: scans, the student session, status."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from kiosk.context import services
from kiosk.desk import DB_UNAVAILABLE
from kiosk.events import (
    Event,
    ScannerStatusChanged,
    ScanProcessed,
    SessionEnded,
    SyncFinished,
)
from kiosk.jsonapi import json_error
from kiosk.status import build_status, status_json
from kiosk.views.wording import LANGUAGES, message_for
from kiosk.views.wording import text as wording_text

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__)

MAX_CODE_CHARS = 1024
SSE_KEEPALIVE_S = 15.0
# How often an open stream looks up from its queue to see whether it should end (superseded
# by a newer page, client gone, server stopping): the longest a finished stream holds a thread.
STREAM_POLL_S = 0.25


def _language() -> str:
    lang = request.args.get("lang") or request.headers.get("X-Kiosk-Language")
    if lang in LANGUAGES:
        return str(lang)
    return services().settings.kiosk.language


def _code_from_request() -> str:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        abort(_bad_request('send JSON like {"code": "12345678"}'))
    code: str = body["code"]
    if len(code) > MAX_CODE_CHARS:
        abort(_bad_request("code is too long"))
    return code


def _bad_request(message: str) -> Response:
    return json_error(400, "bad_request", message)


def with_message(reply: dict[str, Any], language: str) -> dict[str, Any]:
    return reply | {"message": message_for(reply, language)}


def _scan_response(reply: dict[str, Any]) -> Response:
    """A scan reply as JSON; 503 when the database could not record it (the page says why)."""
    response = jsonify(with_message(reply, _language()))
    if reply.get("error") == DB_UNAVAILABLE:
        response.status_code = 503
    return response


@bp.post("/api/scan")
def scan() -> Response:
    return _scan_response(services().desk.process_scan(_code_from_request(), source="keyboard"))


@bp.post("/api/renew")
def renew() -> Response:
    return _scan_response(services().desk.renew(_code_from_request()))


@bp.post("/api/return")
def return_item() -> Response:
    return _scan_response(services().desk.return_item(_code_from_request()))


@bp.post("/api/session/end")
def end_session() -> Response:
    services().desk.end_session("done")
    return jsonify(
        {"session": {"active": False}, "message": wording_text("session_ended", _language())}
    )


@bp.post("/api/session/touch")
def touch_session() -> Response:
    return jsonify({"session": services().desk.touch()})


@bp.get("/api/session")
def session_info() -> Response:
    return jsonify(services().desk.session_info())


@bp.get("/api/status")
def status() -> Response:
    svc = services()
    return jsonify(status_json(build_status(svc, svc.clock())))


def _sse(event_type: str, data: dict[str, Any]) -> str:
    return f"event: {event_type}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _event_payload(event: Event, language: str) -> tuple[str, dict[str, Any]] | None:
    if isinstance(event, ScanProcessed):
        return "scan", {"source": event.source, "reply": with_message(event.result, language)}
    if isinstance(event, ScannerStatusChanged):
        return "scanner", {"connected": event.connected}
    if isinstance(event, SessionEnded):
        return "session_ended", {"reason": event.reason}
    if isinstance(event, SyncFinished):
        return "sync", {"ok": event.ok}
    return None


@bp.get("/events")
def events() -> Response:
    """Server-sent events for the kiosk page: scans, scanner status, session ends.

    The generator runs after Flask has torn the request down, so it subscribes before
    returning, unsubscribes in `finally`, and never touches the database.
    """
    svc = services()
    language = _language()
    subscription = svc.bus.subscribe()
    shutting_down = svc.shutting_down
    connected = bool(svc.scanner.connected)
    # A newer page's stream supersedes the oldest past the cap (kiosk.streams).
    superseded = svc.streams.open()
    # Waitress tells a stream its client has gone (serving.py keeps reading to notice);
    # otherwise only the next write would, up to SSE_KEEPALIVE_S later.
    client_gone: Callable[[], bool] = request.environ.get(
        "waitress.client_disconnected", lambda: False
    )

    def ended() -> bool:
        return shutting_down.is_set() or superseded.is_set() or client_gone()

    def stream() -> Iterator[str]:
        try:
            yield "retry: 2000\n\n"
            yield _sse("scanner", {"connected": connected})
            last_sent = time.monotonic()
            while not ended():
                event = subscription.get(timeout_s=STREAM_POLL_S)
                if event is not None:
                    payload = _event_payload(event, language)
                    if payload is not None:
                        yield _sse(*payload)
                        last_sent = time.monotonic()
                elif time.monotonic() - last_sent >= SSE_KEEPALIVE_S:
                    # A comment line keeps proxies and the browser from timing the stream out.
                    yield ": keepalive\n\n"
                    last_sent = time.monotonic()
        finally:
            subscription.close()
            svc.streams.close(superseded)

    response = Response(stream(), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response
