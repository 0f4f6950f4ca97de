"""What every report shares: the library's calendar, a report's columns and rows, its period as JSON."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from db.models import Loan, Patron
from kiosk.circulation.schoolyear import ClassKey, Period, SchoolCalendar, class_key, class_label
from kiosk.config import Settings


@dataclass(frozen=True)
class LibraryCalendar:
    """The school's calendar and the library's time zone: which instants a period's days cover."""

    school: SchoolCalendar
    zone: ZoneInfo
    ranking_measure: str = "loans_per_student"

    @classmethod
    def from_settings(cls, settings: Settings) -> LibraryCalendar:
        return cls(
            school=settings.school.calendar(),
            zone=ZoneInfo(settings.circulation.timezone),
            ranking_measure=settings.school.ranking_measure,
        )

    def start_of(self, day: dt.date) -> dt.datetime:
        """The first instant of `day` in the library's zone, in UTC."""
        return dt.datetime.combine(day, dt.time(0), self.zone).astimezone(dt.UTC)

    def bounds(self, period: Period) -> tuple[dt.datetime, dt.datetime]:
        """[first instant, first instant after) of the period's days, in UTC."""
        return self.start_of(period.start), self.start_of(period.end)

    def local_date(self, at: dt.datetime) -> dt.date:
        return at.astimezone(self.zone).date()

    def today(self, now: dt.datetime) -> dt.date:
        return self.local_date(now)


@dataclass(frozen=True)
class Column:
    """One column of a report: its JSON name and its heading in Chinese and English."""

    key: str
    zh: str
    en: str
    # "int", "float", "percent", "text", "date": how exports and pages show it.
    kind: str = "int"

    def heading(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Report:
    """A report's rows (dicts keyed by column), the columns in order and the period it covers."""

    name: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    period: Mapping[str, Any]
    # Figures beside the rows (the school's totals, the definition of a visit), for pages and JSON.
    notes: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "period": dict(self.period), **dict(self.notes)}


def period_json(period: Period, lang: str = "zh") -> dict[str, Any]:
    return {
        "key": period.key,
        "kind": period.kind,
        "from": period.start.isoformat(),
        "to": period.last_day.isoformat(),
        "label": period.label(lang),
    }


@dataclass(frozen=True)
class ClassGroup:
    """Where the roster puts a student: the class key when its text names one, else the text."""

    key: ClassKey | None
    text: str

    @property
    def sort_key(self) -> tuple[int, int, str]:
        if self.key is None:
            return (99, 0, self.text)
        return (self.key.grade, self.key.number, "")

    @property
    def id(self) -> str:
        """What JSON carries: "3-2" for a class, the roster's text otherwise ("" for none)."""
        return str(self.key) if self.key else self.text

    def label(self, lang: str) -> str:
        if self.key is not None:
            return class_label(self.key, lang)
        if self.text:
            return self.text
        return "未分班" if lang == "zh" else "No class"

    @property
    def grade(self) -> int | None:
        return self.key.grade if self.key else None


def class_group(grade: str, class_name: str) -> ClassGroup:
    """The class a roster row names: its class column alone ("三年级2班", "3-2"), or with the
    grade column in front when the class column says only "2班"."""
    key = class_key(class_name) or class_key(f"{grade}{class_name}")
    text = class_name.strip() or grade.strip()
    return ClassGroup(key, "" if key else text)


def roster_groups(session: Session) -> dict[tuple[str, str], ClassGroup]:
    """Every (grade, class_name) pair on the roster with the class it names."""
    pairs = session.execute(select(Patron.grade, Patron.class_name).distinct()).all()
    return {(g or "", c or ""): class_group(g or "", c or "") for g, c in pairs}


def pairs_in_grade(
    groups: Mapping[tuple[str, str], ClassGroup], grade: int
) -> list[tuple[str, str]]:
    return [pair for pair, group in groups.items() if group.grade == grade]


# Periods longer than this many days are read on SQLite by student or by copy, not by time.
LONG_DAYS = 90


def checked_out_at(session: Session, *, by_time: bool) -> ColumnElement[dt.datetime]:
    """loans.checked_out_at for a report's WHERE clause. With `by_time` False, on SQLite it is
    written `+loans.checked_out_at`: the unary + keeps SQLite off the by-time index, so it reads
    the loans by the student's or the copy's index instead (the caller says why that is faster)."""
    if by_time or session.get_bind().dialect.name != "sqlite":
        return Loan.checked_out_at.expression
    return literal_column(f"+{Loan.__tablename__}.checked_out_at", Loan.checked_out_at.type)


def share(part: int, whole: int) -> float:
    """`part` of `whole` as a fraction with 4 decimals; 0 when there is no whole."""
    return round(part / whole, 4) if whole else 0.0


def ratio(numerator: int, denominator: int) -> float:
    return round(numerator / denominator, 2) if denominator else 0.0


def rank(rows: Iterable[dict[str, Any]], measure: str) -> None:
    """Number the rows 1, 2, 2, 4… by `measure`, highest first; ties share a rank."""
    ordered = sorted(rows, key=lambda r: -r[measure])
    previous: Any = None
    for position, row in enumerate(ordered, start=1):
        if row[measure] != previous:
            current = position
            previous = row[measure]
        row["rank"] = current


# Each report's name on pages, files and papers.
REPORT_TITLES = {
    "class-ranking": ("书香班级排行", "Class ranking"),
    "popular": ("好书借阅排行榜", "Popular books"),
    "new-books": ("新书通报", "New books"),
    "circulation": ("借阅册次与到馆人次", "Loans and visits"),
    "year-summary": ("年度借阅总结", "Year-end summary"),
}


def report_title(name: str, lang: str) -> str:
    zh, en = REPORT_TITLES[name]
    return zh if lang == "zh" else en
