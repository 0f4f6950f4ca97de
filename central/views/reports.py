"""The reports: console pages with a chart (permission `reports`), downloads (`export`) and JSON (monitor token)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request, url_for

from central.auth import token_matches
from central.context import get_db, get_read_db, services
from central.permissions import Permission
from central.reports.base import LibraryCalendar, report_title
from central.reports.boards import idle_boards
from central.reports.charts import chart_svg
from central.reports.export import CONTENT_TYPES, render
from central.reports.run import REPORT_NAMES, ReportRequest, build_report, parse_request
from central.views.guard import audit, can, requires
from central.views.language import current_language
from central.views.sync import kiosk_required
from kiosk.circulation.schoolyear import month_period
from kiosk.config import school_name

bp = Blueprint("reports", __name__)

ARGUMENTS = ("period", "as_of", "from", "to", "since", "by", "grade", "limit")
DOWNLOADS = ("csv", "xlsx", "pdf")
# The chart is an image: its own styles may stay inline, and nothing in it may run.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'"


def _calendar() -> LibraryCalendar:
    return LibraryCalendar.from_settings(services().settings)


def _request_for(name: str) -> tuple[ReportRequest | str, LibraryCalendar]:
    calendar = _calendar()
    args = {key: request.args.get(key) for key in ARGUMENTS}
    return parse_request(name, args, calendar, calendar.today(services().clock())), calendar


def _bad_request(message: str) -> Response:
    response = jsonify({"error": "bad_request", "message": message})
    response.status_code = 400
    return response


def _api_allowed() -> bool:
    """A script holding the monitor token, or a signed-in user who may take reports away."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token_matches(services().monitor_token, token.strip()):
        return True
    return can(Permission.EXPORT)


@bp.get("/api/v1/reports/<name>")
def api_report(name: str) -> Response:
    """`{"rows": [...], "period": {...}}` and the report's own figures (docs/reports.md)."""
    if not _api_allowed():
        response = jsonify(
            {"error": "unauthorized", "message": "send the monitor token or sign in"}
        )
        response.status_code = 401
        return response
    if name not in REPORT_NAMES:
        abort(404)
    asked, calendar = _request_for(name)
    if isinstance(asked, str):
        return _bad_request(asked)
    lang = request.args.get("lang", "zh") if request.args.get("lang") in ("zh", "en") else "zh"
    return jsonify(build_report(get_read_db(), asked, calendar, lang=lang).as_json())


@bp.get("/sync/v1/boards")
@kiosk_required
def kiosk_boards() -> Response:
    """The idle screen's boards for a kiosk (its own token): titles and classes, no students."""
    calendar = _calendar()
    return jsonify(idle_boards(get_read_db(), calendar, calendar.today(services().clock())))


@bp.get("/reports")
@requires(Permission.REPORTS)
def index() -> str:
    calendar = _calendar()
    today = calendar.today(services().clock())
    return render_template("central/reports/index.html", reports=_menu(calendar, today))


def _menu(calendar: LibraryCalendar, today: dt.date) -> list[dict[str, Any]]:
    lang = current_language()
    school = calendar.school
    this_month = month_period(today.year, today.month)
    last_month = month_period(
        this_month.start.year - (this_month.start.month == 1), (this_month.start.month - 2) % 12 + 1
    )
    this_year = school.current_school_year(today)
    last_year = school.school_year(int(this_year.key[:4]) - 1)
    term = school.current_term(today)
    periods = [this_month, last_month, *([term] if term else []), this_year, last_year]
    choices = [(p.key, p.label(lang)) for p in periods]
    return [
        {"name": "class-ranking", "title": report_title("class-ranking", lang), "periods": choices},
        {"name": "popular", "title": report_title("popular", lang), "periods": choices},
        {"name": "new-books", "title": report_title("new-books", lang), "periods": []},
        {"name": "circulation", "title": report_title("circulation", lang), "periods": []},
        {
            "name": "year-summary",
            "title": report_title("year-summary", lang),
            "periods": [(p.key, p.label(lang)) for p in (this_year, last_year)],
        },
    ]


@bp.get("/reports/<name>")
@requires(Permission.REPORTS)
def page(name: str) -> Any:
    if name not in REPORT_NAMES:
        abort(404)
    asked, calendar = _request_for(name)
    lang = current_language()
    if isinstance(asked, str):
        return render_template(
            "central/reports/report.html",
            name=name,
            title=report_title(name, lang),
            problem=asked,
            args=request.args,
            report=None,
        ), 400
    report = build_report(get_read_db(), asked, calendar, lang=lang)
    query: dict[str, Any] = {k: v for k, v in request.args.items() if k in ARGUMENTS and v}
    return render_template(
        "central/reports/report.html",
        name=name,
        title=report_title(name, lang),
        report=report,
        problem=None,
        args=request.args,
        asked=asked,
        chart_url=url_for("reports.chart", name=name, **query) if name != "new-books" else None,
        downloads=[
            (fmt, url_for("reports.download", name=name, fmt=fmt, **query)) for fmt in DOWNLOADS
        ],
        lang=lang,
    )


@bp.get("/reports/<name>/chart.svg")
@requires(Permission.REPORTS)
def chart(name: str) -> Response:
    if name not in REPORT_NAMES:
        abort(404)
    asked, calendar = _request_for(name)
    if isinstance(asked, str):
        abort(400)
    lang = current_language()
    svg = chart_svg(build_report(get_read_db(), asked, calendar, lang=lang), lang)
    if svg is None:
        abort(404)
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = SVG_POLICY
    return response


@bp.get("/reports/<name>/download.<fmt>")
@requires(Permission.EXPORT)
def download(name: str, fmt: str) -> Any:
    if name not in REPORT_NAMES or fmt not in DOWNLOADS:
        abort(404)
    asked, calendar = _request_for(name)
    if isinstance(asked, str):
        abort(400)
    lang = current_language()
    report = build_report(get_read_db(), asked, calendar, lang=lang)
    data = render(report, fmt, lang, school_name(services().settings))
    audit("report.export", name, {"period": str(report.period.get("key", "")), "format": fmt})
    get_db().commit()
    filename = f"{name}-{report.period.get('key', '')}.{fmt}".replace("..", "_to_").replace(
        "/", "-"
    )
    response = Response(data, mimetype=CONTENT_TYPES[fmt].split(";")[0])
    if fmt == "csv":
        response.headers["Content-Type"] = CONTENT_TYPES["csv"]
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
