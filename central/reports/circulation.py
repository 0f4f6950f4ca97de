"""Circulation: 册次 (loans) and 人次 (visits) by day, month, term or school year, beside the same period a year earlier, split by grade and by kiosk or desk."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.reports.base import Column, LibraryCalendar, Report, class_group, period_json
from central.reports.daycounts import (
    DayCounts,
    count_days,
    fixed_offset,
    rolled_up_days,
    rolled_up_sums,
)
from central.rollup import rollup_zone, student_number_in
from db.central_models import CentralEvent, EventState, Kiosk
from db.models import Loan, Patron
from kiosk.circulation.schoolyear import (
    Period,
    buckets,
    change_percent,
    date_range,
    grade_label,
    parse_period,
    year_earlier,
)

log = logging.getLogger(__name__)

COLUMNS = (
    Column("label", "期间", "Period", "text"),
    Column("loans", "册次", "Loans"),
    Column("loans_year_before", "去年同期册次", "Loans a year before"),
    Column("loans_change_pct", "册次增减%", "Loans change %", "float"),
    Column("visits", "人次", "Visits"),
    Column("visits_year_before", "去年同期人次", "Visits a year before"),
    Column("visits_change_pct", "人次增减%", "Visits change %", "float"),
)
VISITS_DEFINITION = {
    "zh": "人次：一名学生一天内在自助机上刷卡登录或借书（自助机、服务台或导入的历史记录）记一人次，一天内多次来馆只记一次。导入的历史记录没有刷卡登录，只按借书计。",
    "en": "Visits: a student counts once a day when they signed in at a kiosk or borrowed a book (kiosk, desk or imported history), however often they came that day. Imported history has no sign-ins, so there only loans count.",
}
# Loans written at the central rather than pushed by a kiosk carry these sources (Loan.kiosk_id).
DESK_SOURCE = "desk"
IMPORT_SOURCE = "import"
SOURCE_LABELS = {
    DESK_SOURCE: ("服务台", "Desk"),
    IMPORT_SOURCE: ("历史导入", "Imported history"),
}


# From the roll-up, periods of a week or more on average are summed in the database, one statement
# for all; shorter ones (by day) read the days and sum them here, which is then fewer rows.
SUMMED_DAYS_PER_PERIOD = 7


class _Activity:
    """Loans and visits of some periods, each read once.

    From the daily roll-up (central.rollup) when it counts days in the library's zone: each
    period summed in the database, or by day the days read and summed here.
    Without it, counted in the database by local day when the zone keeps one UTC offset over a
    span; where it changes (DST) each loan and sign-in is read and placed in its day here."""

    def __init__(self, session: Session, calendar: LibraryCalendar, periods: list[Period]) -> None:
        self.days: dict[dt.date, DayCounts] = {}
        self.sums: dict[tuple[dt.date, dt.date], DayCounts] = {}
        spans = _merged(periods)
        zone = rollup_zone(session)
        if zone == calendar.zone.key:
            wanted = list(dict.fromkeys((p.start, p.end) for p in periods))
            if len(wanted) * SUMMED_DAYS_PER_PERIOD <= sum(span.days for span in spans):
                self.sums = dict(zip(wanted, rolled_up_sums(session, wanted), strict=True))
                return
            for span in spans:
                self.days |= rolled_up_days(session, span)
            return
        # Right figures, slowly: the central builds the roll-up when it starts.
        log.warning(
            "report roll-up %s; counting from the loans (run rebuild-rollup --central)",
            "not built" if zone is None else f"counts days in {zone}, not {calendar.zone.key}",
        )
        for span in spans:
            offset = fixed_offset(calendar, span)
            if offset is None:
                self.days |= _exact_days(session, calendar, span)
            else:
                self.days |= count_days(session, calendar, span, offset)

    def _records(self, period: Period) -> list[DayCounts]:
        summed = self.sums.get((period.start, period.end))
        if summed is not None:
            return [summed]
        days = (period.start + dt.timedelta(days=n) for n in range(period.days))
        return [record for day in days if (record := self.days.get(day)) is not None]

    def figures(self, period: Period) -> dict[str, Any]:
        loans = visits = 0
        by_grade: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
        by_source: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for record in self._records(period):
            for (grade, source), n in record.loans.items():
                loans += n
                by_grade[grade][0] += n
                by_source[source][0] += n
            for (grade, source), n in record.visits.items():
                visits += n
                by_grade[grade][1] += n
                by_source[source][1] += n
        return {"loans": loans, "visits": visits, "by_grade": by_grade, "by_source": by_source}


def _exact_days(
    session: Session, calendar: LibraryCalendar, span: Period
) -> dict[dt.date, DayCounts]:
    """count_days for a span whose UTC offset changes: every loan and sign-in read and placed in
    its local day one by one."""
    patrons = session.execute(
        select(Patron.id, Patron.student_number, Patron.grade, Patron.class_name)
    ).all()
    grade_of = {pid: class_group(g or "", c or "").grade for pid, _, g, c in patrons}
    by_number = {number: pid for pid, number, _, _ in patrons}
    days: dict[dt.date, DayCounts] = defaultdict(DayCounts)
    # (day, patron id) → (when, where) they were first seen that day: the visit is counted there.
    first_seen: dict[tuple[dt.date, int], tuple[dt.datetime, bool, str]] = {}

    def saw(patron_id: int, at: dt.datetime, source: str, is_visit: bool) -> None:
        key = (calendar.local_date(at), patron_id)
        first = first_seen.get(key)
        # Earliest first; on a tie the loan, then the source's name (central.rollup.Sighting).
        if first is None or (at, is_visit, source) < first:
            first_seen[key] = (at, is_visit, source)

    start, end = calendar.bounds(span)
    for patron_id, at, source in session.execute(
        select(Loan.patron_id, Loan.checked_out_at, Loan.kiosk_id)
        .where(Loan.checked_out_at >= start, Loan.checked_out_at < end)
        .order_by(Loan.checked_out_at, Loan.id)
    ):
        days[calendar.local_date(at)].loans[(grade_of.get(patron_id), source)] += 1
        saw(patron_id, at, source, False)
    # Sign-ins reach the central as "visit" events; a copy a kiosk sent twice is not counted.
    for payload, seen_at, kiosk_id in session.execute(
        select(CentralEvent.payload, CentralEvent.recorded_at, CentralEvent.kiosk_id)
        .where(
            CentralEvent.kind == "visit",
            CentralEvent.state != EventState.DUPLICATE,
            CentralEvent.recorded_at >= start,
            CentralEvent.recorded_at < end,
        )
        .order_by(CentralEvent.recorded_at, CentralEvent.id)
    ):
        visitor = by_number.get(student_number_in(payload) or "")
        if visitor is not None and seen_at is not None:
            saw(visitor, seen_at, kiosk_id, True)
    for (day, patron_id), (_, _, source) in first_seen.items():
        days[day].visits[(grade_of.get(patron_id), source)] += 1
    return days


def _year_before(bucket: Period, calendar: LibraryCalendar) -> Period:
    natural = parse_period(bucket.key, calendar.school)
    if natural is not None and (natural.start, natural.end) == (bucket.start, bucket.end):
        return year_earlier(natural, calendar.school)
    return year_earlier(date_range(bucket.start, bucket.last_day), calendar.school)


def _merged(periods: list[Period]) -> list[Period]:
    """The days of `periods` as few spans that do not overlap, so each day is read once."""
    spans: list[Period] = []
    for period in sorted(periods, key=lambda p: p.start):
        if spans and period.start <= spans[-1].end:
            if period.end > spans[-1].end:
                spans[-1] = Period("range", "", spans[-1].start, period.end)
        else:
            spans.append(Period("range", "", period.start, period.end))
    return spans


def _label(bucket: Period, calendar: LibraryCalendar, lang: str) -> str:
    """The bucket's own name, or its dates when the span cut it short."""
    natural = parse_period(bucket.key, calendar.school)
    if bucket.kind == "break" or (
        natural is not None and (natural.start, natural.end) == (bucket.start, bucket.end)
    ):
        return bucket.label(lang)
    return date_range(bucket.start, bucket.last_day).label(lang)


def _grade_name(grade: int | None, lang: str) -> str:
    if grade is None:
        return "未分班" if lang == "zh" else "No class"
    return grade_label(grade, lang)


def _source_name(source: str, kiosk_names: dict[str, str], lang: str) -> str:
    if source in SOURCE_LABELS:
        zh, en = SOURCE_LABELS[source]
        return zh if lang == "zh" else en
    return kiosk_names.get(source) or source


def _split(
    now: dict[Any, list[int]], before: dict[Any, list[int]], name: Any, key: str
) -> list[dict[str, Any]]:
    out = []
    for part in sorted(
        set(now) | set(before), key=lambda p: (p is None, p if p is not None else 0)
    ):
        loans, visits = now.get(part, [0, 0])
        loans_before, visits_before = before.get(part, [0, 0])
        out.append(
            {
                key: part,
                "label": name(part),
                "loans": loans,
                "visits": visits,
                "loans_year_before": loans_before,
                "visits_year_before": visits_before,
            }
        )
    return out


def circulation(
    session: Session,
    span: Period,
    by: str,
    calendar: LibraryCalendar,
    *,
    lang: str = "zh",
) -> Report:
    """册次 and 人次 of each day, month, term or school year of `span` (cut to the span), each
    with the same period a year earlier and the change in %, split by grade and by source (the
    kiosk, the desk, imported history). The definition of a visit is in `notes`."""
    cut = buckets(span, by, calendar.school)
    earlier = [_year_before(b, calendar) for b in cut]
    span_before = _year_before(span, calendar)
    activity = _Activity(session, calendar, [*cut, *earlier, span, span_before])
    kiosk_names: dict[str, str] = {k: n for k, n in session.execute(select(Kiosk.id, Kiosk.name))}

    def row(now: Period, before: Period) -> dict[str, Any]:
        figures, before_figures = activity.figures(now), activity.figures(before)
        return {
            "period": now.key,
            "label": _label(now, calendar, lang),
            "from": now.start.isoformat(),
            "to": now.last_day.isoformat(),
            "loans": figures["loans"],
            "loans_year_before": before_figures["loans"],
            "loans_change_pct": change_percent(figures["loans"], before_figures["loans"]),
            "visits": figures["visits"],
            "visits_year_before": before_figures["visits"],
            "visits_change_pct": change_percent(figures["visits"], before_figures["visits"]),
            "year_before": {"from": before.start.isoformat(), "to": before.last_day.isoformat()},
            "by_grade": _split(
                figures["by_grade"],
                before_figures["by_grade"],
                lambda g: _grade_name(g, lang),
                "grade",
            ),
            "by_source": _split(
                figures["by_source"],
                before_figures["by_source"],
                lambda s: _source_name(s, kiosk_names, lang),
                "source",
            ),
        }

    rows = [row(b, e) for b, e in zip(cut, earlier, strict=True)]
    notes = {
        "by": by,
        "visits_definition": VISITS_DEFINITION[lang],
        "total": row(span, span_before),
    }
    return Report("circulation", COLUMNS, rows, period_json(span, lang), notes)
