"""The `rollover` command: preview or apply the school-year rollover (central/rollover.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from central.rollover import RolloverPlan, apply_rollover, plan_rollover
from kiosk.circulation.schoolyear import MAX_GRADE, class_label
from kiosk.clock import utc_now
from kiosk.config import Settings
from kiosk.exitcodes import EXIT_BAD_INPUT, EXIT_OK
from kiosk.policies import chase_policy

Command = Callable[[Settings, argparse.Namespace], int]


def register_commands(
    sub: Any, common: argparse.ArgumentParser, commands: dict[str, Command]
) -> None:
    """Add `rollover` to run_kiosk.py's subparsers and its COMMANDS table."""
    rollover = sub.add_parser(
        "rollover",
        parents=[common],
        help="move every class up a grade and mark the top grade as left (once a school year)",
    )
    rollover.add_argument(
        "--preview", action="store_true", help="show what would change and leavers' books"
    )
    rollover.add_argument(
        "--top-grade",
        type=int,
        metavar="N",
        help="the grade that leaves (default: the highest in the roster; 6, 9 or 12)",
    )
    commands["rollover"] = cmd_rollover


def cmd_rollover(settings: Settings, args: argparse.Namespace) -> int:
    from central.db import make_central_session_factory, open_central_engine

    if args.top_grade is not None and not 1 <= args.top_grade <= MAX_GRADE:
        print(f"--top-grade must be between 1 and {MAX_GRADE}.", file=sys.stderr)
        return EXIT_BAD_INPUT
    # A central session: the kiosks pull every student the rollover changes.
    factory = make_central_session_factory(open_central_engine(settings.central.database_url))
    now = utc_now()
    policy = chase_policy(settings)
    with factory.begin() as session:
        plan = plan_rollover(
            session, settings.school.calendar(), policy, now, top_grade=args.top_grade
        )
        print_plan(plan)
        if plan.done_at is not None:
            print(
                f"The rollover into {plan.school_year}-{plan.school_year + 1} was done on "
                f"{policy.calendar.local_date(plan.done_at).isoformat()}; nothing changed.",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        if args.preview:
            print("Preview only: nothing changed. Run without --preview to apply.")
            return EXIT_OK
        result = apply_rollover(session, plan, now, by_username="rollover")
    print(
        f"Rollover done: {result.students_moved} student(s) moved up a grade, "
        f"{result.students_left} marked as left. Kiosks receive it at their next pull."
    )
    return EXIT_OK


def print_plan(plan: RolloverPlan) -> None:
    print(
        f"School-year rollover into {plan.school_year}-{plan.school_year + 1} "
        f"(grade {plan.top_grade} leaves):"
    )
    for move in plan.moves:
        print(f"  {move.class_name} → {move.to_class_name}: {move.students} student(s)")
    for move in plan.leaving:
        print(f"  {move.class_name}: {move.students} student(s) leave")
    for name, students in plan.unknown:
        print(f"  {name or '(no class)'}: {students} student(s) stay (class not recognised)")
    if plan.leavers_loans:
        print(f"Leavers' unreturned books ({len(plan.leavers_loans)}):")
        for key, loans in plan.leavers_loans_by_class():
            print(f"  {class_label(key, 'zh')}:")
            for loan in loans:
                late = f", {loan.days_overdue} day(s) overdue" if loan.days_overdue else ""
                print(
                    f"    {loan.student_number} {loan.item_barcode} 《{loan.title}》 "
                    f"due {loan.due_date.isoformat()}{late}"
                )
    else:
        print("Leavers have no unreturned books.")
