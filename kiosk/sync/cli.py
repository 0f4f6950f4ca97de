"""`run_kiosk.py sync`: push the outbox and pull changes now, with a progress bar and a summary."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type information

from db.engine import (
    check_sqlite_file,
    make_engine,
    make_read_session_factory,
    make_session_factory,
)
from db.migrate import upgrade
from kiosk.clock import utc_now
from kiosk.config import Settings
from kiosk.exitcodes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK
from kiosk.services import outbox, state
from kiosk.sync.backoff import Backoff
from kiosk.sync.client import CentralClient
from kiosk.sync.worker import SyncOutcome, sync_once

# On demand, an operator is waiting: a few quick retries, never a long silent wait.
DEFAULT_ATTEMPTS = 3
MAX_WAIT_BETWEEN_ATTEMPTS_S = 30.0

Command = Callable[[Settings, argparse.Namespace], int]


def register_commands(
    subparsers: Any, common: argparse.ArgumentParser, commands: dict[str, Command]
) -> None:
    """Add the `sync` command to run_kiosk.py."""
    parser = subparsers.add_parser(
        "sync",
        parents=[common],
        help="send this kiosk's loans and returns to the central server now",
        description=(
            "Push every pending event to [sync] central_url and pull student and catalog "
            "changes. Exits 0 only when nothing is left pending."
        ),
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=DEFAULT_ATTEMPTS,
        help=f"tries before giving up when the central is away (default {DEFAULT_ATTEMPTS})",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    commands["sync"] = cmd_sync


def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.sync.central_url
    if not url:
        print(
            f"{settings.path}: [sync] central_url is empty, so this kiosk works alone; "
            "set it to the central server's address to sync.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    # A damaged database is refused (run_kiosk.py reports it): rebuild-db, then sync.
    check_sqlite_file(settings.database.path)
    engine = make_engine(settings.database.path)
    upgrade(engine)
    factory = make_session_factory(engine)
    reader = make_read_session_factory(engine)
    client = CentralClient.from_settings(settings)
    with factory() as session:
        pending_before = outbox.pending_count(session)
    attempts = max(1, int(args.attempts))
    backoff = Backoff(0.5, 8.0)
    disable = bool(args.no_progress)
    outcome: SyncOutcome | None = None
    pushed = pulled = 0
    with (
        tqdm(
            total=pending_before, desc="push", unit="event", file=sys.stderr, disable=disable
        ) as push_bar,
        tqdm(desc="pull", unit="change", file=sys.stderr, disable=disable) as pull_bar,
    ):
        for attempt in range(1, attempts + 1):
            outcome = sync_once(
                factory,
                client,
                settings.sync.batch_size,
                utc_now,
                push_progress=push_bar.update,
                pull_progress=pull_bar.update,
                read_factory=reader,
            )
            pushed += outcome.pushed
            pulled += outcome.pulled
            if outcome.ok and outcome.pending == 0:
                break
            if outcome.kind == "auth_failed" or attempt == attempts:
                break
            if outcome.ok:
                # New loans arrived while syncing (the kiosk is serving): take them too.
                push_bar.total = (push_bar.total or 0) + outcome.pending
                push_bar.refresh()
                continue
            delay = backoff.next_delay(outcome.retry_after_s)
            if delay > MAX_WAIT_BETWEEN_ATTEMPTS_S:
                break
            time.sleep(delay)
    engine.dispose()
    assert outcome is not None
    return _report(settings, factory, outcome, pushed, pulled)


def _report(
    settings: Settings, factory: Any, outcome: SyncOutcome, pushed: int, pulled: int
) -> int:
    url = settings.sync.central_url
    with factory() as session:
        last_success = state.get_state(session, state.SYNC_LAST_SUCCESS_AT)
    pending = outcome.pending
    print(
        f"Sent {pushed} event(s), received {pulled} change(s); {pending} event(s) pending; "
        f"last successful sync: {last_success or 'never'}."
    )
    if outcome.ok and pending == 0:
        print(f"Everything recorded on kiosk {settings.kiosk.id!r} has reached {url}.")
        return EXIT_OK
    if outcome.ok:
        print(f"{pending} new event(s) were recorded during the sync; they go at the next one.")
        return EXIT_FAILED
    kept = (
        f"Nothing is lost: {pending} event(s) wait in this kiosk's outbox and will be sent "
        "at the next sync."
    )
    if outcome.kind == "unreachable":
        reason = outcome.error.removeprefix(f"cannot reach {url}: ")
        print(f"Cannot reach the central server at {url} ({reason}).", file=sys.stderr)
    elif outcome.kind == "retry_later":
        print(f"The central server at {url} is busy; try again later.", file=sys.stderr)
    elif outcome.kind == "auth_failed":
        print(f"The central server at {url} refused this kiosk: {outcome.error}", file=sys.stderr)
    else:
        print(f"Sync with {url} failed: {outcome.error}", file=sys.stderr)
    print(kept, file=sys.stderr)
    return EXIT_FAILED
