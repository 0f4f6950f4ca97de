"""School years, terms, report periods and the class key, against dates and class names as schools write them."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.circulation.schoolyear import (
    ClassKey,
    MonthDay,
    SchoolCalendar,
    buckets,
    change_percent,
    class_display,
    class_key,
    class_label,
    grade_label,
    parse_class_key_text,
    parse_period,
    year_earlier,
)

CAL = SchoolCalendar()  # year from 09-01, terms 09-01..01-20 and 02-20..07-10
D = dt.date


# --- periods -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "start", "end"),
    [
        ("2026-12", "month", D(2026, 12, 1), D(2027, 1, 1)),
        ("2027-02", "month", D(2027, 2, 1), D(2027, 3, 1)),
        ("2026-T1", "term", D(2026, 9, 1), D(2027, 1, 21)),
        ("2026-t2", "term", D(2027, 2, 20), D(2027, 7, 11)),
        ("2026-2027", "year", D(2026, 9, 1), D(2027, 9, 1)),
        ("2026-12-09", "day", D(2026, 12, 9), D(2026, 12, 10)),
        ("2026-09-01..2026-12-31", "range", D(2026, 9, 1), D(2027, 1, 1)),
    ],
)
def test_parse_period(text, kind, start, end):
    period = parse_period(text, CAL)
    assert period is not None
    assert (period.kind, period.start, period.end) == (kind, start, end)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026",
        "2026-13",
        "2026-T3",
        "2026-2028",
        "2026-02-30",
        "2026-12-31..2026-12-01",
        "last month",
    ],
)
def test_parse_period_refuses_what_is_no_period(text):
    assert parse_period(text, CAL) is None


@pytest.mark.parametrize(
    ("text", "earlier"),
    [
        ("2026-12", "2025-12"),
        ("2026-T1", "2025-T1"),
        ("2026-T2", "2025-T2"),
        ("2026-2027", "2025-2026"),
        ("2026-12-09", "2025-12-09"),
        ("2028-02-29", "2027-02-28"),
        ("2026-09-01..2026-12-31", "2025-09-01..2025-12-31"),
    ],
)
def test_same_period_a_year_earlier(text, earlier):
    period = parse_period(text, CAL)
    assert period is not None
    assert year_earlier(period, CAL).key == earlier


def test_school_year_of_a_day():
    assert CAL.school_year_of(D(2026, 8, 31)) == 2025
    assert CAL.school_year_of(D(2026, 9, 1)) == 2026
    assert CAL.school_year_of(D(2027, 1, 5)) == 2026


def test_current_term_is_none_in_the_holidays():
    assert CAL.current_term(D(2026, 12, 9)).key == "2026-T1"  # type: ignore[union-attr]
    assert CAL.current_term(D(2027, 1, 20)).key == "2026-T1"  # type: ignore[union-attr]
    assert CAL.current_term(D(2027, 2, 1)) is None
    assert CAL.current_term(D(2027, 3, 1)).key == "2026-T2"  # type: ignore[union-attr]
    assert CAL.current_term(D(2027, 8, 1)) is None


def test_a_calendar_whose_terms_do_not_fit_says_which():
    late = SchoolCalendar(
        terms=((MonthDay(9, 1), MonthDay(1, 20)), (MonthDay(2, 20), MonthDay(9, 15)))
    )
    assert late.problems() == [
        "term2: ends after the school year does (the school year starts 09-01)"
    ]
    swapped = SchoolCalendar(
        terms=((MonthDay(2, 20), MonthDay(7, 10)), (MonthDay(9, 1), MonthDay(1, 20)))
    )
    assert any(p.startswith("term") for p in swapped.problems())
    assert CAL.problems() == []


@pytest.mark.parametrize("text", ["9-1", "09-01", "12-31"])
def test_month_day(text):
    assert MonthDay.parse(text) is not None


@pytest.mark.parametrize("text", ["02-29", "13-01", "09/01", "0901", ""])
def test_month_day_refuses(text):
    assert MonthDay.parse(text) is None


def test_buckets_by_term_cover_the_span_with_the_holidays():
    year = parse_period("2026-2027", CAL)
    assert year is not None
    cut = buckets(year, "term", CAL)
    assert [b.key for b in cut] == ["2026-T1", "2026-B1", "2026-T2", "2026-B2"]
    assert cut[0].start == year.start and cut[-1].end == year.end
    assert all(a.end == b.start for a, b in itertools.pairwise(cut))


@given(
    first=st.dates(min_value=D(2020, 1, 1), max_value=D(2030, 12, 31)),
    days=st.integers(min_value=1, max_value=800),
    by=st.sampled_from(["day", "month", "term", "year"]),
)
def test_buckets_always_tile_the_span(first, days, by):
    span = parse_period(f"{first}..{first + dt.timedelta(days=days - 1)}", CAL)
    assert span is not None
    cut = buckets(span, by, CAL)
    assert cut[0].start == span.start and cut[-1].end == span.end
    assert all(a.end == b.start for a, b in itertools.pairwise(cut))
    assert sum(b.days for b in cut) == span.days


def test_labels():
    assert parse_period("2026-12", CAL).label("zh") == "2026年12月"  # type: ignore[union-attr]
    assert parse_period("2026-12", CAL).label("en") == "Dec 2026"  # type: ignore[union-attr]
    assert parse_period("2026-T1", CAL).label("zh") == "2026-2027学年第一学期"  # type: ignore[union-attr]
    assert parse_period("2026-2027", CAL).label("en") == "School year 2026-2027"  # type: ignore[union-attr]


def test_change_percent():
    assert change_percent(8043, 6377) == 26.1
    assert change_percent(5, 10) == -50.0
    assert change_percent(3, 0) is None


# --- class key ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "grade", "number"),
    [
        ("三年级2班", 3, 2),
        ("三年级二班", 3, 2),
        ("三年级(2)班", 3, 2),
        ("三年级（2）班", 3, 2),
        ("3年级2班", 3, 2),
        ("３年级２班", 3, 2),
        ("三(2)班", 3, 2),
        ("3-2", 3, 2),
        ("3 - 2", 3, 2),
        ("3－2", 3, 2),
        ("Grade 3 Class 2", 3, 2),
        ("grade 3, class 2", 3, 2),
        ("初一(3)班", 7, 3),
        ("初一3班", 7, 3),
        ("七年级3班", 7, 3),
        ("初中一年级3班", 7, 3),
        ("初三（12）班", 9, 12),
        ("高二 5班", 11, 5),
        ("高二5班", 11, 5),
        ("高三(十)班", 12, 10),
        ("六年级十二班", 6, 12),
    ],
)
def test_class_key_reads_how_schools_write_classes(text, grade, number):
    assert class_key(text) == ClassKey(grade, number)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "教师",
        "三年级",
        "32班",
        "初四(1)班",
        "高二",
        "13-1",
        "3-0",
        "Grade 3",
        "七年级",
        "一二班",
    ],
)
def test_class_key_is_none_for_what_names_no_class(text):
    assert class_key(text) is None


def test_labels_of_classes_and_grades():
    assert class_label(ClassKey(3, 2), "zh") == "三年级2班"
    assert class_label(ClassKey(7, 3), "zh") == "初一3班"
    assert class_label(ClassKey(11, 5), "zh") == "高二5班"
    assert class_label(ClassKey(3, 2), "en") == "Grade 3 Class 2"
    assert grade_label(10, "zh") == "高一"
    assert str(ClassKey(3, 2)) == "3-2"


@pytest.mark.parametrize(
    ("roster", "zh", "en"),
    [
        ("三年级二班", "三年级2班", "Grade 3 Class 2"),
        ("三年级2班", "三年级2班", "Grade 3 Class 2"),
        ("3-2", "三年级2班", "Grade 3 Class 2"),
        ("初一(3)班", "初一3班", "Grade 7 Class 3"),
        ("教师", "教师", "教师"),
        ("", "", ""),
    ],
)
def test_a_class_is_shown_by_its_label_whatever_the_roster_wrote(roster, zh, en):
    assert (class_display(roster, "zh"), class_display(roster, "en")) == (zh, en)


keys = st.builds(ClassKey, st.integers(1, 12), st.integers(1, 99))
ZH_DIGITS = "零一二三四五六七八九"


def _zh(n: int) -> str:
    if n < 10:
        return ZH_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else ZH_DIGITS[tens]) + "十" + (ZH_DIGITS[ones] if ones else "")


def _spellings(key: ClassKey) -> st.SearchStrategy[str]:
    """Ways a roster writes this class, built independently of the module's own labels."""
    g, n = key.grade, key.number
    numbers = [str(n), _zh(n), f"({n})", f"（{n}）", f"({_zh(n)})"]
    grades = [f"{g}年级", f"{_zh(g)}年级"]
    if g <= 6:
        grades += [f"{_zh(g)}", f"{g}"]  # only with brackets, below
    elif g <= 9:
        grades += [f"初{_zh(g - 6)}", f"初中{_zh(g - 6)}年级"]
    else:
        grades += [f"高{_zh(g - 9)}", f"高中{_zh(g - 9)}年级"]
    zh = [
        f"{grade}{number}班"
        for grade in grades
        for number in numbers
        # a bare grade digit needs the brackets to be told from a two-digit number
        if "年级" in grade or "初" in grade or "高" in grade or "(" in number or "（" in number
    ]
    other = [
        f"{g}-{n}",
        f"{g} - {n}班",
        f"Grade {g} Class {n}",
        f"GRADE {g}, CLASS {n}",
        f" {g}/{n} ",
    ]
    return st.sampled_from(zh + other)


@given(st.data(), keys)
def test_every_spelling_of_a_class_gives_the_same_key(data, key):
    text = data.draw(_spellings(key))
    assert class_key(text) == key


@given(keys, st.sampled_from(["zh", "en"]))
def test_a_class_label_reads_back_as_its_key(key, lang):
    assert class_key(class_label(key, lang)) == key
    assert parse_class_key_text(str(key)) == key


@given(st.text(max_size=20))
def test_class_key_never_fails_and_always_gives_a_real_class(text):
    key = class_key(text)
    assert key is None or (1 <= key.grade <= 12 and 1 <= key.number <= 99)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # What the console's find box is typed: it reads a class the way the reports do.
        ("三年级二班", ClassKey(3, 2)),
        ("３－２", ClassKey(3, 2)),
        ("十二年级1班", ClassKey(12, 1)),
        ("Grade 5 Class 3", ClassKey(5, 3)),
        ("32", None),
        ("李华", None),
    ],
)
def test_find_box_class_queries(text: str, key: ClassKey | None) -> None:
    assert class_key(text) == key
