"""JSON errors for the kiosk's and the central's JSON APIs, and a JSON parser that refuses hostile bodies."""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

# Deeper than any body our APIs take (a push is 3 levels) and far below the recursion limit, so
# nothing that later walks or re-encodes a parsed body can hit a RecursionError.
MAX_JSON_DEPTH = 32
# SQLite and PostgreSQL integers are signed 64-bit: a larger number could never be stored.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Stable `error` codes for HTTP errors; others fall back to Werkzeug's name in snake case.
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def _parse_int(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("integer out of the 64-bit range")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_depth(value: Any) -> None:
    """Raise ValueError if `value` nests containers deeper than MAX_JSON_DEPTH (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that request bodies the database could never hold are malformed.

    Integers beyond 64 bits, NaN/Infinity and absurd nesting raise ValueError, which
    `request.get_json(silent=True)` turns into None and every view already answers with 400.
    """

    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_int", _parse_int)
        kwargs.setdefault("parse_constant", _refuse_constant)
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        _check_depth(value)
        return value


def json_error(status: int, error: str, message: str = "", **extra: Any) -> Response:
    """The one shape of every JSON API error: {"error": <stable code>, "message": ...}."""
    response = jsonify({"error": error, "message": message, **extra})
    response.status_code = status
    return response


def install_json_errors(app: Flask, is_api: Callable[[Request], bool]) -> None:
    """Answer every error on an API path (`is_api`) as JSON, never as an HTML page.

    Other paths keep Flask's HTML error pages. An unexpected exception is logged with its
    class, the endpoint, an error id (also in the reply) and the stack, but without its text:
    a database error's text quotes the row it failed on, which may name a student.
    """
    app.json = StrictJSONProvider(app)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> HTTPException | Response:
        if not is_api(request) or exc.code is None:
            return exc
        code = ERROR_CODES.get(exc.code) or exc.name.lower().replace(" ", "_").replace("'", "")
        response = json_error(exc.code, code, exc.description or "")
        # 405 says which methods would work; 429/503 may say when to come back.
        headers = dict(exc.get_headers())
        for header in ("Allow", "Retry-After"):
            if header in headers:
                response.headers[header] = headers[header]
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception) -> HTTPException | Response:
        error_id = uuid.uuid4().hex[:12]
        log.error(
            "unexpected %s in %s %s (error id %s)\n%s",
            type(exc).__name__,
            request.method,
            request.endpoint,
            error_id,
            "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
        )
        if not is_api(request):
            return InternalServerError()
        return json_error(
            500, "internal_error", "something went wrong on the server", error_id=error_id
        )
