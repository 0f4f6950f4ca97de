"""School years, terms and report periods, and one key for a class however the roster writes it."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

# --- school years and terms --------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class MonthDay:
    """A day of the year without the year ("09-01"): where a school year or a term starts."""

    month: int
    day: int

    @classmethod
    def parse(cls, text: str) -> MonthDay | None:
        """ "09-01" → MonthDay(9, 1); None when it is not a day every year has (02-29 is not)."""
        match = re.fullmatch(r"\s*(\d{1,2})-(\d{1,2})\s*", text)
        if not match:
            return None
        month, day = int(match[1]), int(match[2])
        try:
            dt.date(2001, month, day)  # a year without 29 February
        except ValueError:
            return None
        return cls(month, day)

    def in_year(self, year: int) -> dt.date:
        return dt.date(year, self.month, self.day)

    def __str__(self) -> str:
        return f"{self.month:02d}-{self.day:02d}"


@dataclass(frozen=True)
class SchoolCalendar:
    """When the school year starts and the first and last day of each of its two terms.

    A term's days are month-days counted forward from the school year's start: with the year
    starting 09-01, a first term "09-01".."01-20" ends in January of the next calendar year.
    """

    year_start: MonthDay = MonthDay(9, 1)
    terms: tuple[tuple[MonthDay, MonthDay], tuple[MonthDay, MonthDay]] = (
        (MonthDay(9, 1), MonthDay(1, 20)),
        (MonthDay(2, 20), MonthDay(7, 10)),
    )

    def school_year_of(self, day: dt.date) -> int:
        """The calendar year in which the school year holding `day` started (2026 for 2026-2027)."""
        start = self.year_start.in_year(day.year)
        return day.year if day >= start else day.year - 1

    def _on_or_after(self, month_day: MonthDay, day: dt.date) -> dt.date:
        candidate = month_day.in_year(day.year)
        return candidate if candidate >= day else month_day.in_year(day.year + 1)

    def school_year(self, start_year: int) -> Period:
        start = self.year_start.in_year(start_year)
        end = self.year_start.in_year(start_year + 1)
        return Period("year", f"{start_year}-{start_year + 1}", start, end)

    def term(self, start_year: int, number: int) -> Period:
        """Term 1 or 2 of the school year starting in `start_year` ("2026-T1"), first to last day."""
        first_md, last_md = self.terms[number - 1]
        year_start = self.year_start.in_year(start_year)
        first = self._on_or_after(first_md, year_start)
        last = self._on_or_after(last_md, first)
        return Period("term", f"{start_year}-T{number}", first, last + dt.timedelta(days=1))

    def problems(self) -> list[str]:
        """What is wrong with these dates, each naming the term; empty when they make sense.

        The terms must follow each other inside one school year (checked on a year with
        29 February so a leap year cannot push a term out).
        """
        out = []
        year = self.school_year(2027)
        first, second = self.term(2027, 1), self.term(2027, 2)
        for number, term in ((1, first), (2, second)):
            if term.end > year.end:
                out.append(
                    f"term{number}: ends after the school year does "
                    f"(the school year starts {self.year_start})"
                )
        if second.start < first.end:
            out.append("term2: must start after term1 ends")
        return out

    def current_month(self, today: dt.date) -> Period:
        return month_period(today.year, today.month)

    def current_term(self, today: dt.date) -> Period | None:
        """The term `today` falls in, or None during a holiday between or after the terms."""
        year = self.school_year_of(today)
        for number in (1, 2):
            term = self.term(year, number)
            if term.start <= today < term.end:
                return term
        return None

    def current_school_year(self, today: dt.date) -> Period:
        return self.school_year(self.school_year_of(today))


@dataclass(frozen=True)
class Period:
    """A span of days for a report: [start, end) in the library's calendar.

    `kind` is "day", "month", "term", "year" (a school year) or "range"; `key` is how it is
    written in a URL or on the command line: "2026-12-09", "2026-12", "2026-T1", "2026-2027",
    "2026-09-01..2026-12-31".
    """

    kind: str
    key: str
    start: dt.date
    end: dt.date  # the first day after the period

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def contains(self, day: dt.date) -> bool:
        return self.start <= day < self.end

    def label(self, lang: str) -> str:
        """How a page names the period: "2026年12月" / "Dec 2026", "2026-2027学年第一学期" / ..."""
        if self.kind == "day":
            d = self.start
            return (
                f"{d.year}年{d.month}月{d.day}日"
                if lang == "zh"
                else f"{d.day} {_MONTHS[d.month - 1]} {d.year}"
            )
        if self.kind == "month":
            d = self.start
            return f"{d.year}年{d.month}月" if lang == "zh" else f"{_MONTHS[d.month - 1]} {d.year}"
        if self.kind in ("term", "year"):
            start_year = int(self.key[:4])
            years = f"{start_year}-{start_year + 1}"
            if self.kind == "year":
                return f"{years}学年" if lang == "zh" else f"School year {years}"
            number = int(self.key[-1])
            if lang == "zh":
                return f"{years}学年第{'一二'[number - 1]}学期"
            return f"School year {years}, term {number}"
        if self.kind == "break":
            start_year = int(self.key[:4])
            winter = self.key.endswith("B1")
            if lang == "zh":
                return f"{start_year}-{start_year + 1}学年{'寒假' if winter else '暑假'}"
            holiday = "winter" if winter else "summer"
            return f"School year {start_year}-{start_year + 1}, {holiday} holiday"
        first = Period("day", "", self.start, self.start).label(lang)
        last = Period("day", "", self.last_day, self.last_day).label(lang)
        return f"{first}至{last}" if lang == "zh" else f"{first} to {last}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_period(day: dt.date) -> Period:
    return Period("day", day.isoformat(), day, day + dt.timedelta(days=1))


def month_period(year: int, month: int) -> Period:
    start = dt.date(year, month, 1)
    end = dt.date(year + month // 12, month % 12 + 1, 1)
    return Period("month", f"{year}-{month:02d}", start, end)


def date_range(first: dt.date, last: dt.date) -> Period:
    """The days from `first` to `last`, both included."""
    return Period(
        "range", f"{first.isoformat()}..{last.isoformat()}", first, last + dt.timedelta(days=1)
    )


def parse_period(text: str, calendar: SchoolCalendar) -> Period | None:
    """A period from how it is written ("2026-12", "2026-T1", "2026-2027", "2026-12-09",
    "2026-09-01..2026-12-31"); None when it is none of these."""
    text = text.strip()
    if match := re.fullmatch(r"(\d{4})-(\d{1,2})", text):
        year, month = int(match[1]), int(match[2])
        return month_period(year, month) if 1 <= month <= 12 and year >= 1900 else None
    if match := re.fullmatch(r"(\d{4})-[Tt]([12])", text):
        return calendar.term(int(match[1]), int(match[2]))
    if match := re.fullmatch(r"(\d{4})-(\d{4})", text):
        first, second = int(match[1]), int(match[2])
        return calendar.school_year(first) if second == first + 1 else None
    if match := re.fullmatch(r"(\S+)\.\.(\S+)", text):
        first_day, last_day = _iso_date(match[1]), _iso_date(match[2])
        if first_day is None or last_day is None or last_day < first_day:
            return None
        return date_range(first_day, last_day)
    day = _iso_date(text)
    return day_period(day) if day is not None else None


def _iso_date(text: str) -> dt.date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def year_earlier(period: Period, calendar: SchoolCalendar) -> Period:
    """The same period a year before: 2026-12 → 2025-12, 2026-T1 → 2025-T1, 2026-2027 →
    2025-2026; a day or a range moves back one year (29 February to the 28th)."""
    if period.kind == "month":
        return month_period(period.start.year - 1, period.start.month)
    if period.kind == "term":
        return calendar.term(int(period.key[:4]) - 1, int(period.key[-1]))
    if period.kind == "year":
        return calendar.school_year(int(period.key[:4]) - 1)
    first, last = _year_back(period.start), _year_back(period.last_day)
    return day_period(first) if period.kind == "day" else date_range(first, last)


def _year_back(day: dt.date) -> dt.date:
    if day.month == 2 and day.day == 29:
        return dt.date(day.year - 1, 2, 28)
    return day.replace(year=day.year - 1)


BUCKET_KINDS = ("day", "month", "term", "year")


def buckets(span: Period, by: str, calendar: SchoolCalendar) -> list[Period]:
    """`span` cut into days, months, terms or school years, each clipped to `span`.

    Cut by term, the holidays between and after the terms are buckets of their own (kind
    "break", keys "2026-B1" for the winter holiday after term 1 and "2026-B2" for the summer
    one, "2026-B0" before term 1 if the year starts earlier), so the buckets always add up to
    the span. A clipped bucket keeps its natural key; its dates are the clipped ones.
    """
    if by not in BUCKET_KINDS:
        raise ValueError(f"by must be one of {BUCKET_KINDS}, not {by!r}")
    natural: list[Period] = []
    if by == "day":
        natural = [day_period(span.start + dt.timedelta(days=i)) for i in range(span.days)]
    elif by == "month":
        year, month = span.start.year, span.start.month
        while dt.date(year, month, 1) < span.end:
            natural.append(month_period(year, month))
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    else:
        for start_year in range(
            calendar.school_year_of(span.start), calendar.school_year_of(span.last_day) + 1
        ):
            natural += (
                [calendar.school_year(start_year)]
                if by == "year"
                else _term_segments(calendar, start_year)
            )
    out = []
    for bucket in natural:
        start, end = max(bucket.start, span.start), min(bucket.end, span.end)
        if start < end:
            out.append(Period(bucket.kind, bucket.key, start, end))
    return out


def _term_segments(calendar: SchoolCalendar, start_year: int) -> list[Period]:
    year = calendar.school_year(start_year)
    first, second = calendar.term(start_year, 1), calendar.term(start_year, 2)
    segments = [
        Period("break", f"{start_year}-B0", year.start, first.start),
        first,
        Period("break", f"{start_year}-B1", first.end, second.start),
        second,
        Period("break", f"{start_year}-B2", second.end, year.end),
    ]
    return [s for s in segments if s.start < s.end]


def change_percent(now: int, before: int) -> float | None:
    """The change from `before` to `now` in %, one decimal; None when there was nothing before."""
    if before == 0:
        return None
    return round((now - before) * 100.0 / before, 1)


# --- classes -----------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class ClassKey:
    """A class as one key: the grade counted from the first year of primary school (1-6 primary,
    7-9 junior middle school 初一…初三, 10-12 senior 高一…高三) and the class number in it."""

    grade: int
    number: int

    def __str__(self) -> str:
        return f"{self.grade}-{self.number}"


MAX_GRADE = 12
MAX_CLASS_NUMBER = 99

_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_NUMBER = r"[零〇一二两三四五六七八九十]+"
_NUMBER = rf"(?:\d+|{_CN_NUMBER})"
# 初一…初三 and 高一…高三 count from the start of their school; 七年级 is 初一 written as a grade.
_STAGE_OFFSET = {"": 0, "小学": 0, "初": 6, "初中": 6, "高": 9, "高中": 9}
# 初一(3)班, 高二5班: the grade after 初/高 is one character, so 初一十一班 is 初一's class 11.
_ZH_SHORT = re.compile(rf"(?P<stage>初|高)(?P<grade>[一二三123])\(?(?P<number>{_NUMBER})\)?班?")
_ZH_LONG = re.compile(
    rf"(?P<stage>初中|高中|小学)?(?P<grade>{_NUMBER})(?P<nianji>年级|年)?"
    rf"\(?(?P<number>{_NUMBER})\)?班?"
)
# Spaces are squeezed out first: "Grade 3, Class 2" arrives as "grade3,class2".
_EN_CLASS = re.compile(r"(?:grade|year|g)(?P<grade>\d+)[,;]?(?:class|c)(?P<number>\d+)")
_DASHED = re.compile(r"(?P<grade>\d+)[-/.·—–](?P<number>\d+)班?")


def _number(text: str) -> int | None:
    """Arabic or Chinese digits up to 99: "12", "十二", "二十三", "十"."""
    if text.isdigit():
        return int(text)
    if "十" not in text:
        if len(text) != 1:
            return None
        return _DIGITS.get(text)
    tens_text, _, ones_text = text.partition("十")
    if "十" in ones_text or len(tens_text) > 1 or len(ones_text) > 1:
        return None
    tens = 1 if tens_text == "" else _DIGITS.get(tens_text)
    ones = 0 if ones_text == "" else _DIGITS.get(ones_text)
    if tens is None or ones is None:
        return None
    return tens * 10 + ones


def class_key(text: str) -> ClassKey | None:
    """The class `text` names, or None when it names none.

    Accepts "三年级2班", "三年级(2)班", "3年级2班", "三(2)班", "初一(3)班", "七年级3班",
    "高二5班", "高二 5班", "3-2", "Grade 3 Class 2" (full-width characters and spaces too).
    Digits alone ("3-2") count from the start of primary school, so a middle school that writes
    初一(3)班 as "1-3" must write its grades out.
    """
    # NFKC folds full-width digits, brackets and spaces into their plain forms.
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    squeezed = re.sub(r"\s+", "", folded)
    if not squeezed:
        return None
    grade: int | None
    number: int | None
    if (match := _DASHED.fullmatch(squeezed)) or (match := _EN_CLASS.fullmatch(squeezed)):
        grade, number = int(match["grade"]), int(match["number"])
    elif match := _ZH_SHORT.fullmatch(squeezed):
        grade, number = _number(match["grade"]), _number(match["number"])
        if grade is not None:
            grade += _STAGE_OFFSET[match["stage"]]
    elif match := _ZH_LONG.fullmatch(squeezed):
        stage = match["stage"] or ""
        grade, number = _number(match["grade"]), _number(match["number"])
        # "三2班" with neither 年级 nor brackets could be class 32: only written out is it a class.
        if not (stage or match["nianji"] or "(" in squeezed):
            return None
        if grade is not None and stage:
            if not 1 <= grade <= (6 if stage == "小学" else 3):
                return None
            grade += _STAGE_OFFSET[stage]
    else:
        return None
    if grade is None or number is None:
        return None
    if not (1 <= grade <= MAX_GRADE and 1 <= number <= MAX_CLASS_NUMBER):
        return None
    return ClassKey(grade, number)


def parse_class_key_text(text: str) -> ClassKey | None:
    """The key back from its own text form "3-2" (what JSON and URLs carry)."""
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", text.strip())
    if not match:
        return None
    key = ClassKey(int(match[1]), int(match[2]))
    if 1 <= key.grade <= MAX_GRADE and 1 <= key.number <= MAX_CLASS_NUMBER:
        return key
    return None


_ZH_NUMERALS = "零一二三四五六七八九"


def _zh_numeral(n: int) -> str:
    if n < 10:
        return _ZH_NUMERALS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _ZH_NUMERALS[tens]) + "十" + (_ZH_NUMERALS[ones] if ones else "")


def grade_label(grade: int, lang: str) -> str:
    """ "三年级", "初一", "高二" / "Grade 3", "Grade 7", "Grade 11"."""
    if lang != "zh":
        return f"Grade {grade}"
    if grade <= 6:
        return f"{_zh_numeral(grade)}年级"
    if grade <= 9:
        return f"初{_zh_numeral(grade - 6)}"
    return f"高{_zh_numeral(grade - 9)}"


def class_label(key: ClassKey, lang: str) -> str:
    """ "三年级2班", "初一3班", "高二5班" / "Grade 3 Class 2"."""
    if lang != "zh":
        return f"Grade {key.grade} Class {key.number}"
    return f"{grade_label(key.grade, 'zh')}{key.number}班"


def class_display(text: str, lang: str) -> str:
    """How the console shows the class a roster wrote as `text`: by its label when `text` names
    a class ("三年级二班" and "3-2" both read "三年级2班" / "Grade 3 Class 2", as reports, the
    chase and the school-year rollover write it), else as the roster wrote it ("" stays "")."""
    key = class_key(text)
    return class_label(key, lang) if key is not None else text
