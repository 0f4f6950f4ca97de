"""Books reports: the most borrowed titles of a period (好书借阅排行榜) and the titles added since a date (新书通报)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import Subquery

from central.reports.base import (
    LONG_DAYS,
    Column,
    LibraryCalendar,
    Report,
    checked_out_at,
    pairs_in_grade,
    period_json,
    roster_groups,
)
from central.rollup import counted_period
from db.central_models import ReportTitlePeriod
from db.models import Item, Loan, Patron, Title
from kiosk.circulation.schoolyear import Period, grade_label

POPULAR_COLUMNS = (
    Column("rank", "名次", "Rank"),
    Column("title", "书名", "Title", "text"),
    Column("author", "作者", "Author", "text"),
    Column("call_number", "索书号", "Call number", "text"),
    Column("loans", "借阅次数", "Loans"),
    Column("borrowers", "借阅人数", "Borrowers"),
)
NEW_BOOKS_COLUMNS = (
    Column("title", "书名", "Title", "text"),
    Column("author", "作者", "Author", "text"),
    Column("publisher", "出版社", "Publisher", "text"),
    Column("year", "出版年", "Year", "text"),
    Column("call_number", "索书号", "Call number", "text"),
    Column("copies", "册数", "Copies"),
    Column("added_on", "入藏日期", "Added on", "date"),
)
DEFAULT_LIMIT = 20
MAX_LIMIT = 500


def popular_books(
    session: Session,
    period: Period,
    calendar: LibraryCalendar,
    *,
    grade: int | None = None,
    limit: int = DEFAULT_LIMIT,
    lang: str = "zh",
) -> Report:
    """The `limit` titles lent most often in `period` (by students of `grade` when given), most
    first, ties by title; with how many different students borrowed each.

    Loans are counted per title first and the borrowers only for the titles shown: a distinct
    count over every title lent in the period is what made a long period slow.
    """
    start, end = calendar.bounds(period)
    in_grade = _students_in_grade(session, grade) if grade is not None else None
    key = counted_period(session, period, calendar)
    counts = (
        _rolled_up_title_counts(key, limit)
        if key is not None and grade is None
        else _title_counts(session, period, calendar, in_grade)
    )
    query = (
        select(Title.id, Title.title, Title.author, Title.call_number, counts.c.loans)
        .join(counts, counts.c.title_id == Title.id)
        .order_by(counts.c.loans.desc(), Title.title, Title.id)
        .limit(limit)
    )
    shown = session.execute(query).all()
    borrowers = _borrowers(session, [row[0] for row in shown], (start, end), in_grade)
    rows: list[dict[str, Any]] = []
    previous, current = None, 0
    for position, (title_id, title, author, call_number, count) in enumerate(shown, start=1):
        if count != previous:
            current, previous = position, count
        rows.append(
            {
                "rank": current,
                "title_id": title_id,
                "title": title,
                "author": author,
                "call_number": call_number,
                "loans": count,
                "borrowers": borrowers.get(title_id, 0),
            }
        )
    notes: dict[str, Any] = {"grade": grade}
    if grade is not None:
        notes["grade_label"] = grade_label(grade, lang)
    return Report("popular", POPULAR_COLUMNS, rows, period_json(period, lang), notes)


def _students_in_grade(session: Session, grade: int) -> Select[Any]:
    """The ids of the students whose class is in `grade`, as a subquery."""
    pairs = pairs_in_grade(roster_groups(session), grade)
    return select(Patron.id).where(
        or_(*(and_(Patron.grade == g, Patron.class_name == c) for g, c in pairs))
        if pairs
        else Patron.id.is_(None)
    )


def _title_counts(
    session: Session,
    period: Period,
    calendar: LibraryCalendar,
    in_grade: Select[Any] | None,
) -> Subquery:
    """(title_id, loans) of each title lent in `period`, counted from the loans."""
    start, end = calendar.bounds(period)
    # Over a long period SQLite is faster copy by copy in title order (the items' title index,
    # then each copy's loans from the (item_id, checked_out_at, patron_id) index) than reading
    # the period's loans by time and sorting them by title: a school year at the district's
    # scale 1 050 -> 300 ms.
    at = checked_out_at(session, by_time=in_grade is not None or period.days <= LONG_DAYS)
    # Per title id first, from the loans' (checked_out_at, item_id, patron_id) index and the
    # copies, and only then join the titles: their text is read for one row per title, not per loan.
    per_title = (
        select(Item.title_id.label("title_id"), func.count().label("loans"))
        .select_from(Loan)
        .join(Item, Item.id == Loan.item_id)
        .where(at >= start, at < end)
        .group_by(Item.title_id)
    )
    if in_grade is not None:
        # The grade's students as a set, not a join: SQLite then reads only their loans (by the
        # (patron_id, checked_out_at) index) instead of looking up the student of every loan of
        # the period: a term for one grade 930 -> 225 ms at the district's scale.
        per_title = per_title.where(Loan.patron_id.in_(in_grade))
    return per_title.subquery()


def _rolled_up_title_counts(period_key: str, limit: int) -> Subquery:
    """(title_id, loans) of the titles lent in a month or school year, from the roll-up's
    per-title counts; only those lent at least as often as the `limit`-th (read from the
    (period, loans) index), as the rest cannot be shown."""
    counted = ReportTitlePeriod
    floor = (
        select(counted.loans)
        .where(counted.period == period_key)
        .order_by(counted.loans.desc())
        .offset(limit - 1)
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(counted.title_id, counted.loans)
        .where(counted.period == period_key, counted.loans >= func.coalesce(floor, 0))
        .subquery()
    )


def _borrowers(
    session: Session,
    title_ids: list[int],
    bounds: tuple[dt.datetime, dt.datetime],
    in_grade: Select[Any] | None,
) -> dict[int, int]:
    """How many different students (of the grade, when given) borrowed each title in `bounds`."""
    if not title_ids:
        return {}
    # A few titles' copies, each read by the (item_id, checked_out_at, patron_id) index, not the
    # whole period by time.
    at = checked_out_at(session, by_time=False)
    query = (
        select(Item.title_id, func.count(func.distinct(Loan.patron_id)))
        .select_from(Loan)
        .join(Item, Item.id == Loan.item_id)
        .where(Item.title_id.in_(title_ids), at >= bounds[0], at < bounds[1])
        .group_by(Item.title_id)
    )
    if in_grade is not None:
        query = query.where(Loan.patron_id.in_(in_grade))
    return {title_id: n for title_id, n in session.execute(query).all()}


def new_books(
    session: Session,
    since: dt.date,
    calendar: LibraryCalendar,
    today: dt.date,
    *,
    limit: int = MAX_LIMIT,
    lang: str = "zh",
) -> Report:
    """Titles added to the catalogue from `since` to `today`, newest first, with their call
    number and how many copies the library has."""
    start = calendar.start_of(since)
    query = (
        select(
            Title.id,
            Title.title,
            Title.author,
            Title.publisher,
            Title.year,
            Title.call_number,
            Title.created_at,
            func.count(Item.id),
        )
        .outerjoin(Item, Item.title_id == Title.id)
        .where(Title.created_at >= start)
        .group_by(Title.id)
        .order_by(Title.created_at.desc(), Title.id.desc())
        .limit(limit)
    )
    rows = [
        {
            "title_id": title_id,
            "title": title,
            "author": author,
            "publisher": publisher,
            "year": year,
            "call_number": call_number,
            "copies": copies,
            "added_on": calendar.local_date(created_at).isoformat() if created_at else None,
        }
        for title_id, title, author, publisher, year, call_number, created_at, copies in session.execute(
            query
        )
    ]
    period = {
        "key": f"{since.isoformat()}..",
        "kind": "since",
        "from": since.isoformat(),
        "to": today.isoformat(),
        "label": (
            f"{since.year}年{since.month}月{since.day}日以来"
            if lang == "zh"
            else f"since {since.isoformat()}"
        ),
    }
    return Report("new-books", NEW_BOOKS_COLUMNS, rows, period)
