"""The `chase` command: the overdue chase from the command line, per stage, with --dry-run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from central.chase import (
    ChaseOutcome,
    catch_up_ledger,
    group_by_class,
    new_batch,
    overdue_rows,
    record_class_list,
    run_chase,
    sms_csv,
)
from central.mail import make_mailer
from db.files import write_secret_file
from kiosk.circulation.overdue import ChasePolicy, Stage
from kiosk.clock import utc_now
from kiosk.config import Settings, school_name
from kiosk.exitcodes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from kiosk.policies import chase_policy

Command = Callable[[Settings, argparse.Namespace], int]


def register_commands(
    sub: Any, common: argparse.ArgumentParser, commands: dict[str, Command]
) -> None:
    """Add `chase` to run_kiosk.py's subparsers and its COMMANDS table."""
    chase = sub.add_parser(
        "chase",
        parents=[common],
        help="overdue chase (催还): e-mail parents, export SMS, print class lists",
    )
    chase.add_argument(
        "--dry-run", action="store_true", help="say what would be sent, per stage; send nothing"
    )
    chase.add_argument(
        "--sms-csv",
        metavar="PATH",
        help="write the parents' SMS export (parents without e-mail) to PATH and record it",
    )
    chase.add_argument(
        "--class-lists",
        metavar="DIR",
        help="write each class's 催还单 PDF into DIR and record the class-list stage",
    )
    commands["chase"] = cmd_chase


def cmd_chase(settings: Settings, args: argparse.Namespace) -> int:
    from central.db import make_central_session_factory, open_central_engine

    class_dir = Path(args.class_lists) if args.class_lists else None
    if class_dir is not None and not class_dir.is_dir():
        print(f"--class-lists: {class_dir} is not a folder.", file=sys.stderr)
        return EXIT_BAD_INPUT
    sms_path = Path(args.sms_csv) if args.sms_csv else None
    if sms_path is not None and not sms_path.parent.is_dir():
        print(f"--sms-csv: the folder {sms_path.parent} does not exist.", file=sys.stderr)
        return EXIT_BAD_INPUT
    factory = make_central_session_factory(open_central_engine(settings.central.database_url))
    policy = chase_policy(settings)
    now = utc_now()
    school = school_name(settings)
    outcome = run_chase(
        factory,
        policy,
        make_mailer(settings.mail),
        now,
        school=school,
        return_hint=settings.chase.return_hint,
        dry_run=args.dry_run,
        record_sms=sms_path is not None,
    )
    _print_outcome(outcome, policy, dry_run=args.dry_run)
    if not args.dry_run and sms_path is not None and outcome.sms_recorded:
        # Parents' phone numbers: readable by this user only, like the other secrets.
        write_secret_file(sms_path, sms_csv(outcome.sms_recorded, school=school))
        print(f"  SMS export written to {sms_path} ({len(outcome.sms_recorded)} row(s)).")
    if class_dir is not None and not args.dry_run:
        from central.pdf import MissingCJKFont

        try:
            _write_class_lists(factory, policy, class_dir, school=school)
        except MissingCJKFont as exc:
            print(exc, file=sys.stderr)
            return EXIT_FAILED
    return EXIT_FAILED if outcome.failed else EXIT_OK


def _print_outcome(outcome: ChaseOutcome, policy: ChasePolicy, *, dry_run: bool) -> None:
    plan = outcome.plan
    today = policy.calendar.local_date(plan.now)
    head = "Overdue chase (dry run: nothing sent or recorded)" if dry_run else "Overdue chase"
    print(f"{head}, {today.isoformat()} (library time).")
    if outcome.ledger_events:
        print(f"  Applied {outcome.ledger_events} pushed event(s) first.")

    def threshold(stage: Stage) -> str:
        return f"from {policy.threshold_days(stage)} day(s) overdue"

    lists = plan.class_lists
    print(
        f"- Class teachers' 催还单 ({threshold(Stage.CLASS_LIST)}): "
        f"{sum(len(g.rows) for g in lists)} loan(s) new on the lists of {len(lists)} class(es)"
    )
    for group in lists:
        print(f"    {group.label('zh')}: {len(group.rows)}")
    verb = "would e-mail" if dry_run else "e-mailed"
    print(f"- Parents by e-mail ({threshold(Stage.PARENTS)}): {verb} {len(plan.emails)}")
    for planned in plan.emails:
        row = planned.row
        print(
            f"    {planned.recipient}: {row.item_barcode} 《{row.title}》 "
            f"{row.days_overdue} day(s), {row.class_label('zh')}"
        )
    if plan.email_unavailable:
        print("    (no mail server: set [mail] host; parents with e-mail wait for it)")
    if not dry_run:
        print(f"    sent {outcome.sent}, failed {len(outcome.failed)}")
        for row, reason in outcome.failed:
            print(f"    FAILED {row.item_barcode}: {reason}")
    print(f"- Parents for the SMS export (no e-mail address): {len(plan.sms)}")
    print(f"- Parents' stage without any contact in the roster: {len(plan.no_contact)}")
    for row in plan.no_contact:
        print(f"    {row.item_barcode} 《{row.title}》, {row.class_label('zh')}")
    print(
        f"- Long overdue ({threshold(Stage.LONG_OVERDUE)}), consider a loss case: "
        f"{len(plan.long_overdue)}"
    )
    for row in plan.long_overdue:
        print(f"    {row.item_barcode} 《{row.title}》 {row.days_overdue} day(s)")


def _write_class_lists(factory: Any, policy: ChasePolicy, folder: Path, *, school: str) -> None:
    from central.chase_slips import class_slip_pdf

    now = utc_now()
    catch_up_ledger(factory, now)
    batch = new_batch()
    with factory.begin() as session:
        rows = [
            r
            for r in overdue_rows(session, policy, now)
            if r.days_overdue >= policy.class_list_days
        ]
        for group in group_by_class(rows):
            pdf = class_slip_pdf(
                [group],
                school=school,
                today=policy.calendar.local_date(now),
                threshold_days=policy.class_list_days,
            )
            path = folder / f"催还单-{group.class_text.replace('/', '-')}.pdf"
            path.write_bytes(pdf)
            record_class_list(session, group, now=now, batch=batch, by_username="chase")
            print(f"  {path} ({len(group.rows)} loan(s))")
