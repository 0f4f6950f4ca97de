"""The `rebuild-rollup` command: count the reports' roll-up again from the loans and sign-ins."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from kiosk.clock import utc_now
from kiosk.config import Settings
from kiosk.exitcodes import EXIT_BAD_INPUT, EXIT_OK

Command = Callable[[Settings, argparse.Namespace], int]


def register_commands(
    sub: Any, common: argparse.ArgumentParser, commands: dict[str, Command]
) -> None:
    """Add `rebuild-rollup` to run_kiosk.py's subparsers and its COMMANDS table."""
    rebuild = sub.add_parser(
        "rebuild-rollup",
        parents=[common],
        help="count the reports' loans and visits again (after [circulation] timezone or [school] year_start changed)",
    )
    rebuild.add_argument(
        "--central", action="store_true", help="the central database (the only one with reports)"
    )
    commands["rebuild-rollup"] = cmd_rebuild_rollup


def cmd_rebuild_rollup(settings: Settings, args: argparse.Namespace) -> int:
    from central.db import make_central_session_factory, open_central_engine
    from central.rollup import RollupBasis, rebuild_rollup

    if not args.central:
        print(
            "rebuild-rollup: reports live in the central database; add --central.", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    basis = RollupBasis.of(settings)
    engine = open_central_engine(settings.central.database_url)
    started = time.perf_counter()
    try:
        with make_central_session_factory(engine).begin() as session:
            student_days = rebuild_rollup(session, basis, utc_now())
    finally:
        engine.dispose()
    print(
        f"Report roll-up rebuilt in {basis.timezone}, school years from {basis.year_start}: "
        f"{student_days} student-days "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return EXIT_OK
