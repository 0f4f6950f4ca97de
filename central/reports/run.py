"""One way to ask for a report by name with text arguments (the command line, the JSON API, the console)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from central.reports.base import LibraryCalendar, Report
from central.reports.books import DEFAULT_LIMIT, MAX_LIMIT, new_books, popular_books
from central.reports.circulation import circulation
from central.reports.classes import class_ranking
from central.reports.summary import year_summary
from kiosk.circulation.schoolyear import (
    BUCKET_KINDS,
    Period,
    class_key,
    date_range,
    month_period,
    parse_period,
)

REPORT_NAMES = ("class-ranking", "popular", "new-books", "circulation", "year-summary")
# How far back the new-books notice looks when no date is given.
NEW_BOOKS_DEFAULT_DAYS = 30


@dataclass(frozen=True)
class ReportRequest:
    """A report's name and its arguments, checked."""

    name: str
    period: Period | None = None
    since: dt.date | None = None
    by: str = "month"
    grade: int | None = None
    limit: int = DEFAULT_LIMIT
    today: dt.date | None = None


def _date(text: str, what: str) -> dt.date | str:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return f"{what} must be a date like 2026-12-09, not {text!r}"


def parse_grade(text: str) -> int | None:
    """A grade as a number (1-12, 初一 = 7) or as a school writes it: "三年级", "初一", "高二"."""
    text = text.strip()
    if text.isdigit():
        grade = int(text)
        return grade if 1 <= grade <= 12 else None
    # A grade's name followed by a class number is a class: the grade is the class's.
    key = class_key(f"{text}1班")
    return key.grade if key else None


def parse_request(
    name: str, args: Mapping[str, str | None], calendar: LibraryCalendar, today: dt.date
) -> ReportRequest | str:
    """The request for report `name` from text arguments (period, as_of, from, to, since, by,
    grade, limit), or one sentence saying what is wrong. Missing periods default to this month
    (class ranking, popular), the last 30 days (new books), this school year so far
    (circulation) and this school year (year summary), counted from `as_of` or `today`."""
    if name not in REPORT_NAMES:
        return f"unknown report {name!r}; the reports are {', '.join(REPORT_NAMES)}"
    as_of_text = args.get("as_of")
    if as_of_text:
        as_of = _date(as_of_text, "as_of")
        if isinstance(as_of, str):
            return as_of
        today = as_of
    period: Period | None = None
    period_text = args.get("period")
    if period_text:
        period = parse_period(period_text, calendar.school)
        if period is None:
            return (
                f"period must be a month (2026-12), a term (2026-T1), a school year (2026-2027), "
                f"a day (2026-12-09) or days (2026-09-01..2026-12-31), not {period_text!r}"
            )
    first_text, last_text = args.get("from"), args.get("to")
    if first_text or last_text:
        if not (first_text and last_text):
            return "from and to go together: both dates, like from=2026-09-01 to=2026-12-31"
        first, last = _date(first_text, "from"), _date(last_text, "to")
        if isinstance(first, str):
            return first
        if isinstance(last, str):
            return last
        if last < first:
            return f"to ({last}) is before from ({first})"
        period = date_range(first, last)
    grade: int | None = None
    grade_text = args.get("grade")
    if grade_text:
        grade = parse_grade(grade_text)
        if grade is None:
            return (
                f"grade must be 1 to 12 or a grade's name like 三年级 or 初一, not {grade_text!r}"
            )
    limit = DEFAULT_LIMIT
    limit_text = args.get("limit")
    if limit_text:
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            return f"limit must be a whole number from 1 to {MAX_LIMIT}, not {limit_text!r}"
        limit = int(limit_text)
    by = args.get("by") or "month"
    if by not in BUCKET_KINDS:
        return f"by must be one of {', '.join(BUCKET_KINDS)}, not {by!r}"
    since: dt.date | None = None
    if name == "new-books":
        since_text = args.get("since")
        if since_text:
            since_date = _date(since_text, "since")
            if isinstance(since_date, str):
                return since_date
            since = since_date
        else:
            since = today - dt.timedelta(days=NEW_BOOKS_DEFAULT_DAYS)
    if period is None:
        if name in ("class-ranking", "popular"):
            period = month_period(today.year, today.month)
        elif name == "circulation":
            period = date_range(calendar.school.current_school_year(today).start, today)
        elif name == "year-summary":
            period = calendar.school.current_school_year(today)
    if name == "year-summary" and period is not None and period.kind != "year":
        return f"the year summary is of a school year like 2026-2027, not {period.key!r}"
    if name == "circulation" and period is not None and period.days > 3 * 366 and by == "day":
        return "by day covers at most three years; cut by month, term or year for longer spans"
    return ReportRequest(name, period, since, by, grade, limit, today)


def build_report(
    session: Session, request: ReportRequest, calendar: LibraryCalendar, *, lang: str = "zh"
) -> Report:
    """Run the report `request` names. Reads only."""
    if request.name == "new-books":
        assert request.since is not None and request.today is not None
        return new_books(session, request.since, calendar, request.today, lang=lang)
    assert request.period is not None
    if request.name == "class-ranking":
        return class_ranking(session, request.period, calendar, lang=lang)
    if request.name == "popular":
        return popular_books(
            session, request.period, calendar, grade=request.grade, limit=request.limit, lang=lang
        )
    if request.name == "circulation":
        return circulation(session, request.period, request.by, calendar, lang=lang)
    return year_summary(session, request.period, calendar, lang=lang)
