"""Command-line commands of the central server, added to run_kiosk.py's parser."""

from __future__ import annotations

import argparse
import getpass
import logging
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from db.central_models import StaffRole
from db.files import write_secret_file
from kiosk.clock import utc_now
from kiosk.config import Settings, read_secret
from kiosk.exitcodes import EXIT_BAD_INPUT, EXIT_OK

log = logging.getLogger(__name__)

Command = Callable[[Settings, argparse.Namespace], int]


def register_commands(
    sub: Any, common: argparse.ArgumentParser, commands: dict[str, Command]
) -> None:
    """Add the central's commands to run_kiosk.py's subparsers and its COMMANDS table."""
    sub.add_parser("central", parents=[common], help="serve the central server and console")

    add_kiosk = sub.add_parser(
        "central-add-kiosk", parents=[common], help="register a kiosk and print its token once"
    )
    add_kiosk.add_argument("kiosk_id", metavar="KIOSK_ID")
    add_kiosk.add_argument("--name", default="", help="a display name for the monitor")
    add_kiosk.add_argument(
        "--token-file", help="write the token to this file (mode 600) instead of printing it"
    )
    add_kiosk.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing if the kiosk is registered and its --token-file exists",
    )
    add_kiosk.add_argument(
        "--rotate", action="store_true", help="give an already registered kiosk a new token"
    )

    add_user = sub.add_parser(
        "add-user",
        parents=[common],
        help="add a console user, set a new password, or disable/enable one",
    )
    add_user.add_argument("username", metavar="NAME")
    add_user.add_argument(
        "--role",
        choices=[role.value for role in StaffRole],
        default=StaffRole.LIBRARIAN.value,
        help="admin: users and kiosks; librarian: everything else; helper: the desk and search",
    )
    add_user.add_argument("--password-file", help="read the password from this file")
    add_user.add_argument(
        "--if-missing", action="store_true", help="do nothing if the user already exists"
    )
    switch = add_user.add_mutually_exclusive_group()
    switch.add_argument(
        "--disable",
        action="store_true",
        help="stop the user signing in; their open console sessions end at once",
    )
    switch.add_argument("--enable", action="store_true", help="let a disabled user sign in again")

    demo = sub.add_parser(
        "central-demo-data", parents=[common], help="add the demo library to the central database"
    )
    demo.add_argument("--if-empty", action="store_true", help="do nothing if data exists")

    commands.update(
        {
            "central": cmd_central,
            "central-add-kiosk": cmd_add_kiosk,
            "add-user": cmd_add_user,
            "central-demo-data": cmd_demo_data,
        }
    )


def _engine(settings: Settings) -> Engine:
    from central.db import open_central_engine

    return open_central_engine(settings.central.database_url)


def _write_secret(path: Path, value: str) -> None:
    """Create (or replace) a secret file readable by its owner only, atomically."""
    write_secret_file(path, value)


def ensure_secret_files(settings: Settings) -> None:
    """Create the console's session key and the monitor token when their files are missing."""
    for path in (settings.central.secret_key_file, settings.central.monitor_token_file):
        if path is not None and read_secret(path) is None:
            _write_secret(path, secrets.token_urlsafe(32))
            print(f"Created secret file {path}", flush=True)


# --- central -----------------------------------------------------------------------------------


def cmd_central(settings: Settings, args: argparse.Namespace) -> int:
    from central.app import create_central_app
    from central.context import services_of
    from central.db import make_central_session_factory
    from central.rollup import RollupBasis, ensure_rollup
    from central.worker import LedgerWorker
    from kiosk.policies import hold_policy
    from kiosk.serving import serve_until_stopped

    ensure_secret_files(settings)
    engine = _engine(settings)
    # The reports' roll-up counts days in the library's zone and school years from its start:
    # built the first time, and again when [circulation] timezone or [school] year_start changed,
    # before anyone asks for a report.
    basis = RollupBasis.of(settings)
    if ensure_rollup(make_central_session_factory(engine), basis, utc_now()):
        print(
            f"Report roll-up built in {basis.timezone}, school years from {basis.year_start}",
            flush=True,
        )
    app = create_central_app(settings, engine=engine)
    svc = services_of(app)
    worker = LedgerWorker(
        svc.session_factory,
        svc.clock,
        svc.ledger_wakeup,
        priority=svc.push_priority,
        hold_policy=hold_policy(settings),
    )
    worker.start()
    stoppers = [worker.stop]
    if settings.chase.send_at is not None:
        from central.chase_schedule import start_chase_schedule

        stoppers.insert(0, start_chase_schedule(settings, svc.session_factory, svc.clock))
    host, port = settings.central.host, settings.central.port
    print(f"Shuxiang central serving on http://{host}:{port}/", flush=True)
    serve_until_stopped(
        app, host=host, port=port, threads=settings.central.threads, stoppers=stoppers
    )
    engine.dispose()
    return EXIT_OK


# --- central-add-kiosk -------------------------------------------------------------------------


def cmd_add_kiosk(settings: Settings, args: argparse.Namespace) -> int:
    from central.db import make_central_session_factory
    from central.desk import CENTRAL_SOURCES
    from central.intake import register_kiosk
    from db.central_models import Kiosk

    kiosk_id = args.kiosk_id.strip()
    if not kiosk_id or len(kiosk_id) > 64:
        print("KIOSK_ID must be 1 to 64 characters.", file=sys.stderr)
        return EXIT_BAD_INPUT
    if kiosk_id in CENTRAL_SOURCES:
        # The central records its own desk's events under these names (central.desk).
        print(f"KIOSK_ID {kiosk_id!r} is reserved for the central's own events.", file=sys.stderr)
        return EXIT_BAD_INPUT
    token_file = Path(args.token_file) if args.token_file else None
    factory = make_central_session_factory(_engine(settings))
    with factory.begin() as session:
        exists = session.get(Kiosk, kiosk_id) is not None
        if exists and args.if_missing and token_file is not None and read_secret(token_file):
            print(f"Kiosk {kiosk_id!r} is already registered; token file {token_file} kept.")
            return EXIT_OK
        if exists and not (args.rotate or args.if_missing):
            print(
                f"Kiosk {kiosk_id!r} is already registered. Use --rotate to give it a new token "
                "(the old one stops working).",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        _, token = register_kiosk(session, kiosk_id, args.name, utc_now())
    if token_file is not None:
        _write_secret(token_file, token)
        print(f"Kiosk {kiosk_id!r} registered; its token is in {token_file}.")
    else:
        print(f"Kiosk {kiosk_id!r} registered. Its token (shown only this once):\n{token}")
        print("Put it in the kiosk's [sync] token_file.", file=sys.stderr)
    return EXIT_OK


# --- add-user ----------------------------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_file:
        password = read_secret(Path(args.password_file))
        if password is None:
            print(f"The password file {args.password_file} is missing or empty.", file=sys.stderr)
        return password
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Password again: ")
    if first != second:
        print("The two passwords differ.", file=sys.stderr)
        return None
    return first


def cmd_add_user(settings: Settings, args: argparse.Namespace) -> int:
    from central.auth import add_user, check_password_strength, find_user
    from central.db import make_central_session_factory

    username = args.username.strip()
    if not username or len(username) > 64:
        print("NAME must be 1 to 64 characters.", file=sys.stderr)
        return EXIT_BAD_INPUT
    factory = make_central_session_factory(_engine(settings))
    if args.disable or args.enable:
        return _switch_user(factory, username, disabled=args.disable)
    if args.if_missing:
        with factory() as session:
            if find_user(session, username) is not None:
                print(f"User {username!r} already exists; nothing changed.")
                return EXIT_OK
    password = _read_password(args)
    if password is None:
        return EXIT_BAD_INPUT
    problem = check_password_strength(password)
    if problem:
        print(f"Password refused: {problem}.", file=sys.stderr)
        return EXIT_BAD_INPUT
    with factory.begin() as session:
        add_user(session, username, password, args.role, utc_now())
    print(f"Console user {username!r} saved with role {args.role}.")
    return EXIT_OK


def _switch_user(factory: Any, username: str, *, disabled: bool) -> int:
    from central.auth import find_user, set_user_disabled

    with factory.begin() as session:
        user = find_user(session, username)
        if user is None:
            print(f"There is no console user {username!r}.", file=sys.stderr)
            return EXIT_BAD_INPUT
        ended = set_user_disabled(session, user, disabled)
    if disabled:
        print(f"Console user {username!r} disabled; {ended} open session(s) ended.")
    else:
        print(f"Console user {username!r} may sign in again.")
    return EXIT_OK


# --- central-demo-data -------------------------------------------------------------------------


def cmd_demo_data(settings: Settings, args: argparse.Namespace) -> int:
    from central.db import make_central_session_factory
    from kiosk.services.demo import library_is_empty, seed_demo_library

    factory = make_central_session_factory(_engine(settings))
    with factory.begin() as session:
        if not library_is_empty(session):
            if args.if_empty:
                print("The central library already has data; demo data not added.")
                return EXIT_OK
            print(
                "The central library already has data; refusing to add demo data.", file=sys.stderr
            )
            return EXIT_BAD_INPUT
        info = seed_demo_library(session, utc_now())
    print(
        f"Demo library added to the central: {info.patrons} students, {info.titles} titles, "
        f"{info.items} copies. Kiosks receive them at their next pull."
    )
    return EXIT_OK
