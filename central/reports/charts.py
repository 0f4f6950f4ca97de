"""Each report's chart as a standalone SVG drawn on the server by pygal (no script: pages show it as an image)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pygal
from pygal.style import Style

from central.reports.base import Report, report_title

# Fonts a school PC or the server has for Chinese; pygal writes them into the SVG's own style.
FONTS = "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', sans-serif"
STYLE = Style(
    font_family=FONTS,
    background="white",
    plot_background="white",
    foreground="#1d1d1d",
    foreground_strong="#1d1d1d",
    foreground_subtle="#d9d9d9",
    colors=("#23395d", "#9bb0cf", "#1b6e3a", "#8fc4a0", "#8a5a00"),
    title_font_size=18,
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    value_font_size=12,
)
# Too many bars become a comb: a chart shows the first ones, the table shows all.
MAX_BARS = 30
WIDTH, HEIGHT = 900, 420


def _config(**options: Any) -> dict[str, Any]:
    # js=[]: pygal would otherwise link its tooltip script from a CDN.
    return {
        "style": STYLE,
        "js": [],
        "width": WIDTH,
        "height": HEIGHT,
        "disable_xml_declaration": False,
        "print_values": False,
        "show_legend": True,
        "explicit_size": True,
        "legend_at_bottom": True,
        **options,
    }


_SUBJECT = {
    "loans": ("借阅册次", "Loans"),
    "visits": ("到馆人次", "Visits"),
    "year_before": ("去年同期", "A year before"),
    "loans_per_student": ("人均册次", "Loans per student"),
    "borrowers": ("借书人数", "Borrowers"),
    "share_borrowed": ("借阅率 %", "Share who borrowed %"),
    "this_year": ("本学年", "This school year"),
    "last_year": ("上学年", "The year before"),
}


def _count_axis(values: list[int]) -> dict[str, Any]:
    """Whole-number ticks for a chart of counts: pygal would label a small range 0, 0.1, … 1,
    and half a loan means nothing to a librarian."""
    top = max(values, default=0)
    if top > 10:
        return {}
    return {"y_labels": list(range(top + 1 if top > 0 else 2))}


def _circulation_counts(rows: list[dict[str, Any]]) -> list[int]:
    """Every count a circulation chart draws: loans and visits, now and a year before."""
    return [
        r[k] for r in rows for k in ("loans", "loans_year_before", "visits", "visits_year_before")
    ]


def _word(key: str, lang: str) -> str:
    zh, en = _SUBJECT[key]
    return zh if lang == "zh" else en


def chart_svg(report: Report, lang: str) -> bytes | None:
    """The report's chart, or None for a report that is a list (new books)."""
    title = f"{report_title(report.name, lang)} · {report.period.get('label', '')}"
    if report.name == "class-ranking":
        measure = str(report.notes.get("measure", "loans_per_student"))
        rows = [r for r in report.rows if r["rank"] is not None][:MAX_BARS]
        bars = pygal.HorizontalBar(
            **_config(title=title, show_legend=False, height=max(HEIGHT, 26 * len(rows) + 120))
        )
        scale = 100 if measure == "share_borrowed" else 1
        # Horizontal bars are drawn bottom-up: reversed, the first in rank is at the top.
        bars.x_labels = [r["class"] for r in reversed(rows)]
        bars.add(_word(measure, lang), [round(r[measure] * scale, 2) for r in reversed(rows)])
        return _svg(bars)
    if report.name == "popular":
        rows = report.rows[:MAX_BARS]
        bars = pygal.HorizontalBar(
            **_config(
                title=title,
                show_legend=False,
                height=max(HEIGHT, 26 * len(rows) + 120),
                **_count_axis([r["loans"] for r in rows]),
            )
        )
        bars.x_labels = [_short(r["title"]) for r in reversed(rows)]
        bars.add(_word("loans", lang), [r["loans"] for r in reversed(rows)])
        return _svg(bars)
    if report.name == "circulation":
        rows = report.rows
        chart = pygal.Bar(
            **_config(
                title=title,
                x_label_rotation=30 if len(rows) > 8 else 0,
                show_minor_x_labels=len(rows) <= 31,
                **_count_axis(_circulation_counts(rows)),
            )
        )
        chart.x_labels = [r["label"] for r in rows]
        if len(rows) > 31:
            chart.x_labels_major = [r["label"] for r in rows[:: max(1, len(rows) // 12)]]
        chart.add(_word("loans", lang), [r["loans"] for r in rows])
        chart.add(
            f"{_word('loans', lang)} · {_word('year_before', lang)}",
            [r["loans_year_before"] for r in rows],
        )
        chart.add(_word("visits", lang), [r["visits"] for r in rows])
        chart.add(
            f"{_word('visits', lang)} · {_word('year_before', lang)}",
            [r["visits_year_before"] for r in rows],
        )
        return _svg(chart)
    if report.name == "year-summary":
        terms = report.notes.get("by_term", [])
        chart = pygal.Bar(**_config(title=title, **_count_axis(_circulation_counts(terms))))
        # Every term is in the title's school year: the axis names the term alone ("寒假",
        # "term 1"), which pygal would otherwise cut to "School year 2026-2…" four times.
        year = str(report.period.get("label", ""))
        chart.x_labels = [str(r["label"]).removeprefix(year).lstrip(", ") for r in terms]
        chart.add(
            f"{_word('loans', lang)} · {_word('this_year', lang)}", [r["loans"] for r in terms]
        )
        chart.add(
            f"{_word('loans', lang)} · {_word('last_year', lang)}",
            [r["loans_year_before"] for r in terms],
        )
        chart.add(
            f"{_word('visits', lang)} · {_word('this_year', lang)}", [r["visits"] for r in terms]
        )
        chart.add(
            f"{_word('visits', lang)} · {_word('last_year', lang)}",
            [r["visits_year_before"] for r in terms],
        )
        return _svg(chart)
    return None


def _svg(chart: Any) -> bytes:
    """The chart without pygal's inline script (its tooltips' settings): an image needs none,
    and the console's pages run no inline script."""
    root = chart.render_tree()
    for parent in list(root.iter()):
        for child in list(parent):
            if str(child.tag).rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def _short(title: str, limit: int = 18) -> str:
    return title if len(title) <= limit else title[: limit - 1] + "…"
