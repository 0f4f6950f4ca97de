"""JSON for scripts (/api/v1/kiosks, /api/v1/stats, /api/v1/search) and Prometheus metrics (/metrics)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, session
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from central.auth import SESSION_KEY, console_session_user, token_matches
from central.context import get_read_db, services
from central.metrics import CentralCollector
from central.monitor import kiosk_rows, stats
from kiosk.search.query import parse_query_args, search_titles

bp = Blueprint("api", __name__)


def _reader_allowed() -> bool:
    """A signed-in librarian, or a script holding the read-only monitor token."""
    svc = services()
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token_matches(svc.monitor_token, token.strip()):
        return True
    # The monitor page refreshes itself through here; that is not activity of the librarian.
    user = console_session_user(get_read_db(), session.get(SESSION_KEY), svc.clock(), touch=False)
    return user is not None


def _unauthorized() -> Response:
    response = jsonify(
        {"error": "unauthorized", "message": "sign in to the console or send the monitor token"}
    )
    response.status_code = 401
    return response


@bp.get("/api/v1/kiosks")
def kiosks() -> Response:
    if not _reader_allowed():
        return _unauthorized()
    svc = services()
    now = svc.clock()
    silent = svc.settings.central.kiosk_silent_after_s
    rows = kiosk_rows(get_read_db(), now, silent)
    return jsonify(
        {
            "kiosks": [r.as_json() for r in rows],
            "server_time": now.isoformat(),
            "silent_after_s": silent,
        }
    )


@bp.get("/api/v1/stats")
def api_stats() -> Response:
    if not _reader_allowed():
        return _unauthorized()
    svc = services()
    return jsonify(stats(get_read_db(), svc.clock(), svc.settings.central.kiosk_silent_after_s))


@bp.get("/metrics")
def metrics() -> Response:
    # Open like most Prometheus endpoints: kiosk ids and counts only, nothing about people.
    svc = services()
    collector = CentralCollector(
        get_read_db(), svc.clock(), svc.settings.central.kiosk_silent_after_s
    )
    return Response(generate_latest(collector), content_type=CONTENT_TYPE_PLAIN_0_0_4)


@bp.get("/api/v1/search")
def search() -> Response:
    """Titles for a query, in the kiosk's GET /api/search result shape."""
    if not _reader_allowed():
        return _unauthorized()
    args = parse_query_args(request.args.get("q"), request.args.get("limit"))
    if isinstance(args, str):
        response = jsonify({"error": "bad_request", "message": args})
        response.status_code = 400
        return response
    query, limit = args
    hits = search_titles(get_read_db(), query, limit=limit)
    return jsonify({"results": [hit.as_json() for hit in hits]})
