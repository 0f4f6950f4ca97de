"""The year-end summary (年度总结): a school year's figures beside the year before, for the annual report."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from central.reports.base import Column, LibraryCalendar, Report, period_json, ratio, share
from central.reports.books import popular_books
from central.reports.circulation import VISITS_DEFINITION, circulation
from central.reports.classes import class_ranking
from db.models import Item, Title
from kiosk.circulation.schoolyear import Period, change_percent, year_earlier

COLUMNS = (
    Column("label", "项目", "Figure", "text"),
    Column("value", "本学年", "This school year", "float"),
    Column("year_before", "上学年", "The year before", "float"),
    Column("change_pct", "增减%", "Change %", "float"),
)
TOP = 10


def _added(
    session: Session, calendar: LibraryCalendar, years: tuple[Period, Period]
) -> list[tuple[int, int]]:
    """(titles, copies) added to the catalogue in each of two school years: each table read once
    for both (neither is indexed by when a row was added, and an index would slow imports)."""
    bounds = [calendar.bounds(year) for year in years]
    first, last = min(b[0] for b in bounds), max(b[1] for b in bounds)
    out: list[list[int]] = [[0, 0] for _ in years]
    for column, added in enumerate((Title.created_at, Item.created_at)):
        counts = session.execute(
            select(
                *(
                    func.coalesce(func.sum(case(((added >= a) & (added < b), 1), else_=0)), 0)
                    for a, b in bounds
                )
            ).where(added >= first, added < last)
        ).one()
        for n, count in enumerate(counts):
            out[n][column] = int(count)
    return [(titles, copies) for titles, copies in out]


def _year_figures(ranking: Report, added: tuple[int, int]) -> dict[str, float]:
    """The year's figures beside circulation's; `ranking` is the year's class ranking, whose
    school totals already hold the distinct borrowers (each student is in one class); `added`
    the titles and copies added that year."""
    titles_added, copies_added = added
    school = ranking.notes["school"]
    students = int(school["students"])
    loans = int(school["loans"])
    on_roster = int(school["borrowers_on_roster"])
    return {
        "borrowers": int(school["borrowers"]),
        "students": students,
        # In %, of the students on the roster now.
        "share_borrowed": round(share(on_roster, students) * 100, 1),
        "loans_per_student": ratio(loans, students),
        "titles_added": titles_added,
        "copies_added": copies_added,
    }


_LABELS = {
    "loans": ("借阅册次", "Loans"),
    "visits": ("到馆人次", "Visits"),
    "borrowers": ("借书学生人数", "Students who borrowed"),
    "students": ("在册学生人数", "Students on the roster"),
    "share_borrowed": ("借阅率（%）", "Share who borrowed (%)"),
    "loans_per_student": ("人均借阅册次", "Loans per student"),
    "titles_added": ("新增图书种数", "Titles added"),
    "copies_added": ("新增图书册数", "Copies added"),
}


def year_summary(
    session: Session, year: Period, calendar: LibraryCalendar, *, lang: str = "zh"
) -> Report:
    """The school year `year` beside the year before: loans, visits, borrowers, students, the
    share who borrowed, loans per student, titles and copies added; with the year's circulation
    by term and by grade, its top classes and its most borrowed books in `notes`.

    Students on the roster are today's for both years (the roster keeps no history).
    """
    before = year_earlier(year, calendar.school)
    by_term = circulation(session, year, "term", calendar, lang=lang)
    ranking = class_ranking(session, year, calendar, lang=lang)
    added_now, added_before = _added(session, calendar, (year, before))
    now_figures = _year_figures(ranking, added_now)
    before_figures = _year_figures(class_ranking(session, before, calendar), added_before)
    total = by_term.notes["total"]
    now_figures |= {"loans": total["loans"], "visits": total["visits"]}
    before_figures |= {"loans": total["loans_year_before"], "visits": total["visits_year_before"]}
    rows: list[dict[str, Any]] = []
    for key, (zh, en) in _LABELS.items():
        value, earlier = now_figures[key], before_figures[key]
        is_count = isinstance(value, int) and key not in ("share_borrowed", "loans_per_student")
        rows.append(
            {
                "figure": key,
                "label": zh if lang == "zh" else en,
                "value": value,
                "year_before": earlier,
                "change_pct": change_percent(int(value), int(earlier)) if is_count else None,
            }
        )
    notes = {
        "year_before": period_json(before, lang),
        "visits_definition": VISITS_DEFINITION[lang],
        "by_term": by_term.rows,
        "by_grade": total["by_grade"],
        "by_source": total["by_source"],
        # A class that lent nothing is no 书香班级, whatever its rank among the others.
        "top_classes": [r for r in ranking.rows if r["rank"] is not None and r["loans"]][:TOP],
        "popular": popular_books(session, year, calendar, limit=TOP, lang=lang).rows,
    }
    return Report("year-summary", COLUMNS, rows, period_json(year, lang), notes)
