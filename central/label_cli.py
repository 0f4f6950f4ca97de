"""The `labels` command: label and card sheets as PDF from the central database."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any

from central.label_sources import CopySelection, SheetRequest, plan_sheets, split_barcodes
from central.labels import DEFAULT_LAYOUT, LAYOUTS, LabelKind, render_sheets
from central.pdf import MissingCJKFont
from kiosk.config import Settings, school_name
from kiosk.exitcodes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK

log = logging.getLogger(__name__)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2026-09-01: {text!r}") from None


def _item_ids(text: str) -> tuple[int, ...]:
    try:
        ids = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a list of copy ids like 12,15,16: {text!r}"
        ) from None
    if not ids:
        raise argparse.ArgumentTypeError("give at least one copy id")
    return ids


def _barcodes(text: str) -> tuple[str, ...]:
    codes = tuple(split_barcodes(text))
    if not codes:
        raise argparse.ArgumentTypeError("give at least one barcode")
    return codes


def register_commands(sub: Any, common: argparse.ArgumentParser, commands: dict[str, Any]) -> None:
    """Add `labels` to run_kiosk.py's subparsers and its COMMANDS table."""
    labels = sub.add_parser(
        "labels",
        parents=[common],
        help="print book labels, spine labels or a class's library cards to a PDF",
        description="Label sheets for copies (accession labels: barcode, call number, school; "
        "--spine: call numbers in large type) or library cards for a class, read from the "
        "central database.",
    )
    what = labels.add_mutually_exclusive_group(required=True)
    what.add_argument("--since", type=_date, metavar="DATE", help="copies added on or after DATE")
    what.add_argument(
        "--needing",
        action="store_true",
        help="copies whose barcode the catalogue import made up (G…, GEN…): no label has it yet",
    )
    what.add_argument("--title", type=int, metavar="ID", help="every copy of the title ID")
    what.add_argument("--items", type=_item_ids, metavar="IDS", help="copies by id: 12,15,16")
    what.add_argument(
        "--barcodes",
        type=_barcodes,
        metavar="CODES",
        help="copies by barcode, printed in this order: SX00001,SX00002",
    )
    what.add_argument(
        "--class",
        dest="class_text",
        metavar="KEY",
        help='library cards for a class: "3-2", "三年级2班", or the roster\'s class as written',
    )
    labels.add_argument(
        "--spine", action="store_true", help="spine labels (书标) instead of accession labels"
    )
    labels.add_argument(
        "--layout",
        choices=sorted(LAYOUTS),
        help="the label sheet (default: a4-3x10 for labels, a4-65 for spine labels, "
        "cards-cr80 for cards)",
    )
    labels.add_argument(
        "--start",
        type=int,
        default=1,
        metavar="N",
        help="first free label on the first sheet, counted row by row from 1 (reuse a "
        "half-used sheet)",
    )
    labels.add_argument("--output", required=True, metavar="PATH", help="the PDF to write")
    commands["labels"] = cmd_labels


def cmd_labels(settings: Settings, args: argparse.Namespace) -> int:
    from central.db import make_central_session_factory, open_central_engine

    if args.class_text is not None:
        kind = LabelKind.CARD
        if args.spine:
            print("--spine is for copies' labels, not for --class cards.", file=sys.stderr)
            return EXIT_BAD_INPUT
    else:
        kind = LabelKind.SPINE if args.spine else LabelKind.ACCESSION
    request = SheetRequest(
        kind=kind,
        layout=args.layout or DEFAULT_LAYOUT[kind],
        start=args.start,
        copies=CopySelection(
            item_ids=args.items or (),
            barcodes=args.barcodes or (),
            added_since=args.since,
            needing_labels=args.needing,
            title_id=args.title,
        ),
        class_text=args.class_text or "",
    )
    output = Path(args.output)
    if not output.parent.is_dir():
        print(f"--output: the folder {output.parent} does not exist.", file=sys.stderr)
        return EXIT_BAD_INPUT
    engine = open_central_engine(settings.central.database_url)
    try:
        with make_central_session_factory(engine)() as session:
            plan = plan_sheets(
                session,
                request,
                timezone=settings.circulation.timezone,
                # A card has room for the school's full name; a book label only for the short one.
                school=school_name(settings, short=kind is not LabelKind.CARD),
            )
    finally:
        engine.dispose()
    if plan.no_call_number:
        print(
            f"{len(plan.no_call_number)} copies have no call number and get no spine label: "
            + ", ".join(plan.no_call_number),
            file=sys.stderr,
        )
    if not plan.printable:
        for problem in plan.problems:
            print(f"Nothing written: {problem}.", file=sys.stderr)
        return EXIT_BAD_INPUT
    layout = LAYOUTS[request.layout]
    try:
        pdf = render_sheets(kind, plan.labels, layout, start=request.start)
    except MissingCJKFont as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    try:
        output.write_bytes(pdf)
    except OSError as exc:
        print(f"--output: can't write {output}: {exc.strerror}.", file=sys.stderr)
        return EXIT_BAD_INPUT
    noun = "cards" if kind is LabelKind.CARD else f"{kind} labels"
    print(
        f"{len(plan.labels)} {noun} on {plan.sheets} sheet(s) of {layout.description}, "
        f"from position {request.start}: {output}"
    )
    log.info("label sheet written: %s %s, %d labels", kind, layout.name, len(plan.labels))
    return EXIT_OK
