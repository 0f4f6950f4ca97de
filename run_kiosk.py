"""Composition root and command line: load config, migrate, build the parts, start threads, serve."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from db.engine import DatabaseDamaged, check_sqlite_file, make_engine, make_session_factory
from db.files import FileProblem, make_private, read_secret_file, write_secret_file
from db.migrate import upgrade
from kiosk.config import ConfigError, Settings, load_settings, secret_files

if TYPE_CHECKING:
    from kiosk.parts import KioskServices

log = logging.getLogger("shuxiang")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _open_database(settings: Settings) -> Any:
    """The kiosk's database, checked (DatabaseDamaged if unsound) and migrated."""
    started = time.perf_counter()
    check = check_sqlite_file(settings.database.path)
    if check is not None:
        log.info(
            "database %s: %s ok in %.2f s",
            settings.database.path,
            check,
            time.perf_counter() - started,
        )
    engine = make_engine(settings.database.path)
    upgrade(engine)
    return engine


# --- commands --------------------------------------------------------------------------------


def cmd_check_config(settings: Settings, args: argparse.Namespace) -> int:
    print(f"{settings.path}: OK (kiosk {settings.kiosk.id!r}, database {settings.database.path})")
    path = settings.database.path
    started = time.perf_counter()
    # Raises DatabaseDamaged, which main() reports with the way to recover.
    check = check_sqlite_file(path, deep=args.deep)
    if check is None:
        print(f"{path}: not created yet (a new kiosk starts with an empty database).")
    else:
        print(f"{path}: {check} ok in {time.perf_counter() - started:.2f} s.")
    return EXIT_OK


def cmd_demo_data(settings: Settings, args: argparse.Namespace) -> int:
    from kiosk.clock import utc_now
    from kiosk.services.demo import library_is_empty, seed_demo_library

    refusal = _central_is_authority(settings, args)
    if refusal:
        return refusal
    engine = _open_database(settings)
    factory = make_session_factory(engine)
    with factory.begin() as session:
        if not library_is_empty(session):
            if args.if_empty:
                print("The library already has data; demo data not added.")
                return EXIT_OK
            print(
                "The library already has students or books; refusing to mix in demo data.",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        info = seed_demo_library(session, utc_now())
    print(
        f"Demo library added: {info.patrons} students, {info.titles} titles, {info.items} copies.\n"
        f"  Try student card {info.card}, then the book ISBN {info.isbn} "
        f"(or copy {info.item_barcode})."
    )
    return EXIT_OK


def cmd_import_students(settings: Settings, args: argparse.Namespace) -> int:
    from kiosk.importing.roster import cli_import_roster

    refusal = _central_is_authority(settings, args)
    if refusal:
        return refusal
    factory = _import_session_factory(settings, args)
    return cli_import_roster(
        settings,
        Path(args.file),
        mark_missing_left=args.mark_missing_left,
        session_factory=factory,
        dry_run=args.dry_run,
        sheet=args.sheet,
    )


def cmd_import_catalog(settings: Settings, args: argparse.Namespace) -> int:
    from kiosk.importing.catalog import cli_import_catalog

    refusal = _central_is_authority(settings, args)
    if refusal:
        return refusal
    factory = _import_session_factory(settings, args)
    return cli_import_catalog(
        settings, Path(args.file), session_factory=factory, dry_run=args.dry_run, sheet=args.sheet
    )


def _import_session_factory(settings: Settings, args: argparse.Namespace) -> Any:
    if getattr(args, "central", False):
        from central.db import make_central_session_factory, open_central_engine

        # The central's sessions record every change in its change log, which is what the
        # kiosks pull: an import that bypassed it would never reach them.
        return make_central_session_factory(open_central_engine(settings.central.database_url))
    return make_session_factory(_open_database(settings))


def _central_is_authority(settings: Settings, args: argparse.Namespace) -> int:
    if settings.sync.central_url and not getattr(args, "central", False):
        print(
            f"This kiosk syncs with {settings.sync.central_url}, which owns the student list and "
            "the catalog.\nImport there instead (add --central, or central-demo-data for the "
            "demo library), and the kiosk will pull the changes at its next sync.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_OK


def build_scanner(settings: Settings, bus: Any) -> Any:
    """The serial scanner driver wired to publish on the bus, or None for keyboard-wedge kiosks."""
    if settings.scanner.type != "serial":
        return None
    from hardware.serial_scanner import SerialScanner
    from kiosk.events import BarcodeScanned, ScannerStatusChanged

    return SerialScanner(
        settings.scanner.port,
        baudrate=settings.scanner.baudrate,
        terminator=settings.scanner.terminator,
        # Runs on the reader thread: only publish, never touch the database here.
        on_scan=lambda code: bus.publish(BarcodeScanned(code, "serial")),
        on_status=lambda connected: bus.publish(ScannerStatusChanged(connected)),
        reconnect_delay_s=settings.scanner.reconnect_delay_s,
    )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from kiosk.app import create_app
    from kiosk.context import services_of
    from kiosk.desk import ScanWorker
    from kiosk.events import EventBus
    from kiosk.serving import serve_until_stopped

    engine = _open_database(settings)
    bus = EventBus()
    scanner = build_scanner(settings, bus)
    app = create_app(settings, scanner=scanner, engine=engine, bus=bus)
    services = services_of(app)
    worker = ScanWorker(services.desk, bus)
    worker.start()
    if scanner is not None:
        scanner.start()
    # Open event streams see the flag first and end instead of holding waitress up.
    stoppers: list[Callable[[], None]] = [services.shutting_down.set, worker.stop]
    if scanner is not None:
        stoppers.append(scanner.stop)
    stoppers += _start_background_jobs(settings, services)
    host, port = settings.server.host, settings.server.port
    print(f"Shuxiang kiosk {settings.kiosk.id!r} serving on http://{host}:{port}/", flush=True)
    serve_until_stopped(
        app, host=host, port=port, threads=settings.server.threads, stoppers=stoppers
    )
    services.desk.close()
    engine.dispose()
    return EXIT_OK


def _start_background_jobs(settings: Settings, services: KioskServices) -> list[Callable[[], None]]:
    """Start the sync worker when a central server is configured; returns stop functions."""
    if not settings.sync.central_url:
        return []
    from kiosk.sync.worker import start_sync_worker

    stop: Callable[[], None] = start_sync_worker(settings, services)
    return [stop]


def _ensure_secret(path: Path | None, make: Callable[[], str]) -> str | None:
    """The secret in `path`, written (readable by its owner only) first if it is missing."""
    if path is None:
        return None
    secret = read_secret_file(path)
    if secret is None:
        secret = make()
        write_secret_file(path, secret)
    return secret


def _recovery_hint(settings: Settings) -> str:
    """What the operator does about a damaged kiosk database (docs/recovery.md)."""
    if settings.sync.central_url:
        return (
            "The kiosk will not use it. To rebuild it from the central server: stop the kiosk, "
            "run `python run_kiosk.py rebuild-db`, then `python run_kiosk.py sync` "
            "(docs/recovery.md)."
        )
    return (
        "The kiosk will not use it. Stop the kiosk, run `python run_kiosk.py rebuild-db`, then "
        "import the students and the catalog again or restore a backup (docs/recovery.md)."
    )


def check_secret_files(settings: Settings) -> None:
    """Every secret file the config names that exists is private (0600) and readable.

    Raises FileProblem with one sentence naming the file and its config key.
    """
    for key, path in secret_files(settings):
        what = f"secret file ({key})"
        make_private(path, what)
        read_secret_file(path, what)


def cmd_run_local(settings: Settings, args: argparse.Namespace) -> int:
    """`make run`: the whole system on this machine, for a first look.

    With `[sync] central_url` set: a central server with the demo library, a console login and
    this kiosk registered, then the kiosk, which pulls the demo library at start-up. Without
    it: the kiosk alone with its own demo library.
    """
    import secrets

    from kiosk.staffgate import generate_pin

    staff_pin = _ensure_secret(settings.kiosk.staff_pin_file, generate_pin)
    if staff_pin:
        print(f"  Staff page PIN (hold the library's name on the kiosk for 3 s): {staff_pin}")
    if not settings.sync.central_url:
        cmd_demo_data(settings, argparse.Namespace(if_empty=True))
        return cmd_serve(settings, args)
    import subprocess
    import time
    import urllib.request

    from kiosk.services.demo import DEMO_PATRONS, isbn13_for

    def run(*command: str) -> None:
        subprocess.run(
            [sys.executable, __file__, *command, "--config", str(settings.path)], check=True
        )

    var = settings.database.path.parent
    password_file = var / "console_password"
    _ensure_secret(password_file, lambda: secrets.token_urlsafe(9))
    token_file = settings.sync.token_file or var / "kiosk_token"
    run("central-demo-data", "--if-empty")
    run("central-add-kiosk", settings.kiosk.id, "--token-file", str(token_file), "--if-missing")
    run(
        "add-user",
        "librarian",
        "--role",
        "admin",
        "--password-file",
        str(password_file),
        "--if-missing",
    )
    central = subprocess.Popen(
        [sys.executable, __file__, "central", "--config", str(settings.path)]
    )
    try:
        central_url = f"http://{settings.central.host}:{settings.central.port}/"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and central.poll() is None:
            try:
                urllib.request.urlopen(central_url + "login", timeout=2).close()
                break
            except OSError:
                time.sleep(0.3)
        password = password_file.read_text(encoding="utf-8").strip()
        print(
            "\n"
            f"  Kiosk:   http://{settings.server.host}:{settings.server.port}/\n"
            f"  Console: {central_url}  (login: librarian / {password})\n"
            f"  Try student card {DEMO_PATRONS[0][1]}, then the book ISBN {isbn13_for(1)}.\n",
            flush=True,
        )
        return cmd_serve(settings, args)
    finally:
        central.terminate()
        try:
            central.wait(timeout=10)
        except subprocess.TimeoutExpired:
            central.kill()


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "run-local": cmd_run_local,
    "serve": cmd_serve,
    "check-config": cmd_check_config,
    "demo-data": cmd_demo_data,
    "import-students": cmd_import_students,
    "import-catalog": cmd_import_catalog,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_kiosk.py", description="Shuxiang (书香) self-service library kiosk."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default="config.toml", help="path to config.toml")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    import_options = argparse.ArgumentParser(add_help=False)
    import_options.add_argument(
        "--dry-run", action="store_true", help="show what the import would do; write nothing"
    )
    import_options.add_argument(
        "--sheet", metavar="NAME", help="the sheet of an Excel workbook to read (default: first)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", parents=[common], help="serve the kiosk (default)")
    sub.add_parser(
        "run-local", parents=[common], help="start the central server and this kiosk together"
    )
    check = sub.add_parser(
        "check-config",
        parents=[common],
        help="validate config.toml and check the database (PRAGMA quick_check), then exit",
    )
    check.add_argument(
        "--deep",
        action="store_true",
        help="run PRAGMA integrity_check instead: slower, also matches every index to its table",
    )
    demo = sub.add_parser("demo-data", parents=[common], help="add a small demo library")
    demo.add_argument("--if-empty", action="store_true", help="do nothing if data exists")
    students = sub.add_parser(
        "import-students", parents=[common, import_options], help="import students (CSV, .xlsx)"
    )
    students.add_argument("file")
    students.add_argument(
        "--mark-missing-left",
        action="store_true",
        help="mark active students missing from the file as having left",
    )
    students.add_argument("--central", action="store_true", help="write to the central database")
    catalog = sub.add_parser(
        "import-catalog",
        parents=[common, import_options],
        help="import books from CSV, .xlsx, MARC or MARCXML",
    )
    catalog.add_argument("file")
    catalog.add_argument("--central", action="store_true", help="write to the central database")
    # The browser launcher, the sync and the central server add their own commands.
    import central.chase_cli
    import central.cli
    import central.history
    import central.label_cli
    import central.reports.cli
    import central.rollover_cli
    import central.rollup_cli
    import kiosk.browser
    import kiosk.staffgate
    import kiosk.sync.cli
    import kiosk.sync.salvage

    for module in (
        kiosk.browser,
        kiosk.sync.cli,
        kiosk.sync.salvage,
        kiosk.staffgate,
        central.cli,
        central.reports.cli,
        central.history,
        central.chase_cli,
        central.rollover_cli,
        central.rollup_cli,
        central.label_cli,
    ):
        module.register_commands(sub, common, COMMANDS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "serve")
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(exc.report(), file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        check_secret_files(settings)
        return COMMANDS[args.command](settings, args)
    except DatabaseDamaged as exc:
        print(f"{exc}\n{_recovery_hint(settings)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FileProblem as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    threading.current_thread().name = "main"
    sys.exit(main())
