"""The overdue chase in the console (/overdue) and as JSON (GET /api/v1/reports/overdue)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, jsonify, request

from central.chase import end_of_day, overdue_rows
from central.context import get_read_db, services
from central.views.api import _reader_allowed, _unauthorized
from kiosk.policies import chase_policy

bp = Blueprint("chase", __name__)


@bp.get("/api/v1/reports/overdue")
def api_overdue() -> Response:
    """The overdue list as of the end of `as_of` (default: now), by class, oldest first."""
    if not _reader_allowed():
        return _unauthorized()
    svc = services()
    policy = chase_policy(svc.settings)
    as_of_text = request.args.get("as_of", "").strip()
    if as_of_text:
        try:
            as_of = dt.date.fromisoformat(as_of_text)
        except ValueError:
            response = jsonify(
                {"error": "bad_request", "message": "as_of must be a date like YYYY-MM-DD"}
            )
            response.status_code = 400
            return response
        now = min(end_of_day(policy, as_of), svc.clock())
    else:
        now = svc.clock()
        as_of = policy.calendar.local_date(now)
    rows = overdue_rows(get_read_db(), policy, now)
    return jsonify({"rows": [row.as_json() for row in rows], "as_of": as_of.isoformat()})
