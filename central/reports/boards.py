"""The kiosks' idle-screen boards: new books, this month's popular books and class ranking, as one small document kiosks pull."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from central.reports.base import LibraryCalendar
from central.reports.books import new_books, popular_books
from central.reports.classes import class_ranking
from kiosk.circulation.schoolyear import ClassKey, Period, class_label, month_period

# What fits the idle screen's empty space in large type (kiosk/static/boards.css shows five).
ROWS_PER_BOARD = 5
NEW_BOOKS_DAYS = 30


def _month_with_loans(
    session: Session, calendar: LibraryCalendar, today: dt.date
) -> tuple[Period, Any]:
    """This month's popular books, or last month's in the first days before anyone borrowed."""
    this_month = month_period(today.year, today.month)
    popular = popular_books(session, this_month, calendar, limit=ROWS_PER_BOARD)
    if popular.rows:
        return this_month, popular
    before = this_month.start - dt.timedelta(days=1)
    last_month = month_period(before.year, before.month)
    return last_month, popular_books(session, last_month, calendar, limit=ROWS_PER_BOARD)


def idle_boards(session: Session, calendar: LibraryCalendar, today: dt.date) -> dict[str, Any]:
    """The boards' document: titles and call numbers, classes and their figures; never a student.

    Each board has its heading's period in Chinese and English; class names come in both.
    """
    month, popular = _month_with_loans(session, calendar, today)
    ranking = class_ranking(session, month, calendar)
    added = new_books(
        session, today - dt.timedelta(days=NEW_BOOKS_DAYS), calendar, today, limit=ROWS_PER_BOARD
    )
    classes: list[dict[str, Any]] = []
    for row in ranking.rows:
        if row["rank"] is None or not row["loans"] or len(classes) >= ROWS_PER_BOARD:
            continue
        grade, number = (int(part) for part in row["class_key"].split("-"))
        key = ClassKey(grade, number)
        classes.append(
            {
                "rank": row["rank"],
                "class_zh": class_label(key, "zh"),
                "class_en": class_label(key, "en"),
                "loans": row["loans"],
                "loans_per_student": row["loans_per_student"],
            }
        )
    return {
        "made_on": today.isoformat(),
        "new_books": {
            "since": (today - dt.timedelta(days=NEW_BOOKS_DAYS)).isoformat(),
            "rows": [
                {"title": r["title"], "author": r["author"], "call_number": r["call_number"]}
                for r in added.rows
            ],
        },
        "popular": {
            "period_zh": month.label("zh"),
            "period_en": month.label("en"),
            "rows": [
                {"rank": r["rank"], "title": r["title"], "author": r["author"]}
                for r in popular.rows
            ],
        },
        "classes": {
            "period_zh": month.label("zh"),
            "period_en": month.label("en"),
            "measure": calendar.ranking_measure,
            "rows": classes,
        },
    }
