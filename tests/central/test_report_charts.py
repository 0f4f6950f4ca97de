"""Report charts count in whole numbers: no 0.5 loans on a small library's axis."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from central.reports.base import Report
from central.reports.charts import chart_svg


def _axis_texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    texts: list[str] = []
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        if "axis" in (group.get("class") or "").split():
            texts += [
                "".join(t.itertext()).strip()
                for t in group.iter("{http://www.w3.org/2000/svg}text")
            ]
    return texts


def _day(label: str, loans: int, visits: int) -> dict[str, object]:
    return {
        "label": label,
        "loans": loans,
        "loans_year_before": 0,
        "visits": visits,
        "visits_year_before": 0,
    }


@pytest.mark.parametrize("top", [0, 1, 3, 10])
def test_a_small_count_axis_has_whole_numbers(top: int) -> None:
    report = Report(
        "circulation", (), [_day("11月29日", 0, 0), _day("11月30日", top, top)], {"label": "x"}
    )
    texts = _axis_texts(chart_svg(report, "zh") or b"")
    assert "0" in texts and str(max(top, 1)) in texts
    assert not [t for t in texts if re.fullmatch(r"\d+\.\d+", t)]


def test_a_large_count_axis_is_left_to_pygal() -> None:
    report = Report("circulation", (), [_day("11月", 4000, 3000)], {"label": "x"})
    texts = _axis_texts(chart_svg(report, "zh") or b"")
    assert "0" in texts and len(texts) < 30


@pytest.mark.parametrize(
    ("year", "terms", "shown"),
    [
        (
            "School year 2026-2027",
            ["School year 2026-2027, term 1", "School year 2026-2027, winter holiday"],
            ["term 1", "winter holiday"],
        ),
        ("2026-2027学年", ["2026-2027学年第一学期", "2026-2027学年寒假"], ["第一学期", "寒假"]),
    ],
)
def test_the_year_summary_axis_names_each_term(year: str, terms: list[str], shown: list[str]):
    by_term = [_day(label, 1, 1) for label in terms]
    report = Report("year-summary", (), [], {"label": year}, {"by_term": by_term})
    texts = _axis_texts(chart_svg(report, "zh") or b"")
    assert all(label in texts for label in shown)
    assert not [t for t in texts if t.startswith(year[:6])]
