"""The `report` command: any report for any period, written as CSV, XLSX, JSON or PDF."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from central.pdf import MissingCJKFont
from central.reports.base import LibraryCalendar
from central.reports.export import FORMATS, render
from central.reports.run import REPORT_NAMES, ReportRequest, build_report, parse_request
from kiosk.clock import utc_now
from kiosk.config import Settings, school_name

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def register_commands(sub: Any, common: argparse.ArgumentParser, commands: dict[str, Any]) -> None:
    report = sub.add_parser(
        "report",
        parents=[common],
        help="write a report (class ranking, popular books, new books, circulation, year summary)",
        description="Reports read the central database ([central] database_url).",
    )
    report.add_argument("name", metavar="NAME", choices=REPORT_NAMES, help=", ".join(REPORT_NAMES))
    report.add_argument(
        "--period", help="2026-12, 2026-T1, 2026-2027, 2026-12-09 or 2026-09-01..2026-12-31"
    )
    report.add_argument(
        "--as-of", help="the day 'this month' and 'this school year' count from (default: today)"
    )
    report.add_argument("--from", dest="first", help="circulation: the first day (with --to)")
    report.add_argument("--to", dest="last", help="circulation: the last day (with --from)")
    report.add_argument("--by", choices=("day", "month", "term", "year"), default="month")
    report.add_argument("--since", help="new-books: titles added from this date")
    report.add_argument("--grade", help="popular: only this grade (3, 三年级, 初一)")
    report.add_argument("--limit", help="popular: how many titles (default 20)")
    report.add_argument("--lang", choices=("zh", "en"), default="zh")
    report.add_argument("--format", choices=FORMATS, required=True)
    report.add_argument(
        "--output", required=True, help="the file to write ('-' for standard output)"
    )
    commands["report"] = cmd_report


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from central.db import make_central_session_factory, open_central_engine

    calendar = LibraryCalendar.from_settings(settings)
    request = parse_request(
        args.name,
        {
            "period": args.period,
            "as_of": args.as_of,
            "from": args.first,
            "to": args.last,
            "by": args.by,
            "since": args.since,
            "grade": args.grade,
            "limit": args.limit,
        },
        calendar,
        calendar.today(utc_now()),
    )
    if isinstance(request, str):
        print(f"report {args.name}: {request}", file=sys.stderr)
        return EXIT_BAD_INPUT
    assert isinstance(request, ReportRequest)
    output = None if args.output == "-" else Path(args.output)
    if output is not None and not output.parent.is_dir():
        print(
            f"report: --output {output}: the folder {output.parent} does not exist", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    engine = open_central_engine(settings.central.database_url)
    try:
        with make_central_session_factory(engine)() as session:
            report = build_report(session, request, calendar, lang=args.lang)
    finally:
        engine.dispose()
    try:
        data = render(report, args.format, args.lang, school_name(settings))
    except MissingCJKFont as exc:
        print(f"report: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if output is None:
        sys.stdout.buffer.write(data)
        return EXIT_OK
    # Written beside and renamed, so a reader never sees half a file.
    partial = output.with_name(output.name + ".partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, output)
    except OSError as exc:
        print(f"report: cannot write {output}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(
        f"report {args.name} ({report.period.get('label', '')}): {len(report.rows)} rows → {output}"
    )
    return EXIT_OK
