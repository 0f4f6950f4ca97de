"""Rebuild a damaged kiosk database: move it aside, start afresh, keep its readable unsent events."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sqlite3
import sys
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from db.engine import (
    DatabaseDamaged,
    SessionFactory,
    check_sqlite_file,
    make_engine,
    make_session_factory,
    plain_connection,
)
from db.files import sqlite_siblings
from db.migrate import upgrade
from db.models import OutboxEvent, OutboxState
from kiosk.config import Settings
from kiosk.exitcodes import EXIT_BAD_INPUT, EXIT_OK
from kiosk.services import outbox
from kiosk.services.state import OUTBOX_EPOCH, OUTBOX_NEXT_SEQUENCE

log = logging.getLogger(__name__)


# After a failed page read: ids looked up singly until this many in a row read cleanly.
CLEAN_RUN_IDS = 1_000
# How many unreadable ids in a row end the search for more.
MAX_IDS_SKIPPED = 200_000

_COLUMNS = "id, event_uuid, kind, payload, created_at, state"

Command = Callable[[Settings, argparse.Namespace], int]


@dataclass
class SalvagedRow:
    id: int
    event_uuid: str
    kind: str
    body: dict[str, Any]
    created_at: dt.datetime
    state: str


@dataclass
class SalvageResult:
    """What came out of the damaged file's outbox."""

    copied: int = 0
    # Acknowledged by the central already: nothing to send.
    acked: int = 0
    # Already in the new outbox (salvage run twice).
    present: int = 0
    # Rows read as garbage from a damaged page, or another kiosk's events.
    unusable: int = 0
    # Runs of ids (first, last) with no sound row: on damaged pages, so lost.
    missing: list[tuple[int, int]] = field(default_factory=list)
    # Set when the outbox could not be read at all (schema or header damaged).
    failure: str = ""


def read_outbox_rows(path: Path, result: SalvageResult) -> Iterator[SalvagedRow]:
    """Every sound outbox row SQLite can still read from the database at `path`, in id order.

    The file is opened read-only (it stays as evidence). A damaged page shows up as a read
    that fails ("database disk image is malformed"), as garbage read without complaint
    (told from rows by their content, `_sound`, and counted in `result.unusable`), or as
    rows silently missing. Outbox ids are handed out one after another, so every run of
    ids missing between sound rows is recorded in `result.missing`. After a failed read,
    ids are looked up one by one until a run of them reads cleanly, and the scan resumes.
    """
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        result.failure = str(exc)
        return
    try:
        last: SalvagedRow | None = None
        for row in _scan(db, result):
            last_id = last.id if last is not None else 0
            if row.id <= last_id:
                # Out of order: a damaged page's cell pointers led to another row.
                result.unusable += 1
                continue
            if row.id > last_id + 1:
                result.missing.append((last_id + 1, row.id - 1))
            last = row
            yield row
        if last is not None:
            unseen = _events_after(db, last)
            if unseen:
                result.missing.append((last.id + 1, last.id + unseen))
    finally:
        db.close()


def _scan(db: sqlite3.Connection, result: SalvageResult) -> Iterator[SalvagedRow]:
    """Sound rows along the table's leaves, stepping over what cannot be read."""
    last = 0
    while True:
        try:
            for row in db.execute(
                f"SELECT {_COLUMNS} FROM outbox_events WHERE id > ? ORDER BY id", (last,)
            ):
                sound = _sound(row, result)
                if sound is not None:
                    last = max(last, sound.id)
                    yield sound
            return
        except sqlite3.DatabaseError as exc:
            if last == 0 and _unreadable_table(db):
                result.failure = str(exc)
                return
            stepped = yield from _read_one_by_one(db, last, result)
            if stepped is None:
                return
            last = stepped


def _sound(row: tuple[Any, ...], result: SalvageResult) -> SalvagedRow | None:
    """The row as an event, or None (counted as unusable) when its content is not one."""
    row_id, event_uuid, kind, payload, created_at, state = row
    try:
        if not all(isinstance(v, str) for v in (event_uuid, kind, payload, created_at, state)):
            raise ValueError("not text")
        body = json.loads(payload)
        if not isinstance(body, dict) or body.get("event_id") != event_uuid:
            raise ValueError("payload of another event")
        if body.get("kind") != kind:
            raise ValueError("payload of another kind")
        recorded = dt.datetime.fromisoformat(created_at).replace(tzinfo=dt.UTC)
    except ValueError:
        result.unusable += 1
        return None
    return SalvagedRow(int(row_id), event_uuid, kind, body, recorded, state)


def _unreadable_table(db: sqlite3.Connection) -> bool:
    """True when even the table's definition cannot be read (header or schema damaged)."""
    try:
        db.execute("SELECT 1 FROM outbox_events WHERE id = 0").fetchall()
    except sqlite3.DatabaseError:
        return True
    return False


def _events_after(db: sqlite3.Connection, last: SalvagedRow) -> int:
    """How many events the file numbered after `last` (0 when its counter cannot be read).

    The outbox's own counter in kiosk_state knows the last sequence handed out, so rows
    lost at the very end of the table are noticed too.
    """
    try:
        state = dict(
            db.execute(
                "SELECT key, value FROM kiosk_state WHERE key IN (?, ?)",
                (OUTBOX_EPOCH, OUTBOX_NEXT_SEQUENCE),
            ).fetchall()
        )
        next_sequence = int(state[OUTBOX_NEXT_SEQUENCE])
    except (sqlite3.DatabaseError, KeyError, ValueError, TypeError):
        return 0
    sequence = last.body.get("sequence")
    if state.get(OUTBOX_EPOCH) != last.body.get("epoch") or not isinstance(sequence, int):
        return 0
    return max(0, next_sequence - 1 - sequence)


def _read_one_by_one(
    db: sqlite3.Connection, last: int, result: SalvageResult
) -> Generator[SalvagedRow, None, int | None]:
    """Look ids up singly after `last` until CLEAN_RUN_IDS in a row read without error.

    Returns (as the generator's value) the id to resume the scan after, or None when
    MAX_IDS_SKIPPED ids in a row failed.
    """
    failed = clean = 0
    candidate = last
    while clean < CLEAN_RUN_IDS:
        candidate += 1
        try:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM outbox_events WHERE id = ?", (candidate,)
            ).fetchone()
        except sqlite3.DatabaseError:
            clean = 0
            failed += 1
            if failed >= MAX_IDS_SKIPPED:
                return None
            continue
        failed = 0
        clean += 1
        sound = _sound(row, result) if row is not None else None
        if sound is not None:
            yield sound
    return candidate


def salvage_outbox(damaged: Path, session_factory: SessionFactory, kiosk_id: str) -> SalvageResult:
    """Copy the unacknowledged events readable in `damaged` into the outbox at `session_factory`.

    Each keeps its event id and payload and gets the next position (epoch, sequence) of the
    new database, as a renumbered epoch does (docs/sync-protocol.md). The central stores an
    event id it already holds as a duplicate without applying it again, so an event whose
    acknowledgement was lost with the old file is still applied exactly once. Running it
    again copies nothing twice. One transaction.
    """
    result = SalvageResult()
    with session_factory.begin() as session:
        present = set(session.scalars(select(OutboxEvent.event_uuid)))
        db = plain_connection(session)
        for row in read_outbox_rows(damaged, result):
            if row.state != OutboxState.PENDING.value:
                result.acked += 1
                continue
            if row.event_uuid in present:
                result.present += 1
                continue
            if row.body.get("kiosk_id") != kiosk_id:
                # The central refuses a whole batch holding another kiosk's event.
                result.unusable += 1
                continue
            epoch, sequence = outbox.take_position(db)
            body = {**row.body, "epoch": epoch, "sequence": sequence}
            session.add(
                OutboxEvent(
                    event_uuid=row.event_uuid,
                    epoch=epoch,
                    sequence=sequence,
                    kind=row.kind,
                    payload=json.dumps(body, ensure_ascii=False, sort_keys=True),
                    created_at=row.created_at,
                    state=OutboxState.PENDING,
                )
            )
            # Flushed one by one: take_position's next statement goes around the ORM.
            session.flush()
            present.add(row.event_uuid)
            result.copied += 1
    log.info(
        "salvaged %d unsent events from %s (%d acknowledged, %d already present, %d unusable, "
        "%d runs of ids missing)",
        result.copied,
        damaged,
        result.acked,
        result.present,
        result.unusable,
        len(result.missing),
    )
    return result


def move_aside(path: Path, now: dt.datetime) -> Path:
    """Rename the database and its -wal/-shm to `<name>.damaged-<UTC time>`; returns the new path.

    The companions move with it: a -wal left behind would be replayed into the next database
    of that name, and the damaged file's last commits live in it.
    """
    target = path.with_name(f"{path.name}.damaged-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}")
    for source, destination in zip(sqlite_siblings(path), sqlite_siblings(target), strict=True):
        if source.exists():
            source.rename(destination)
    return target


# --- command ---------------------------------------------------------------------------------


def register_commands(
    subparsers: Any, common: argparse.ArgumentParser, commands: dict[str, Command]
) -> None:
    """Add `rebuild-db` to run_kiosk.py."""
    parser = subparsers.add_parser(
        "rebuild-db",
        parents=[common],
        help="move a damaged kiosk database aside and start a new one (then run sync)",
        description=(
            "Stop the kiosk first. Moves [database] path (and its -wal/-shm) aside, creates a "
            "new empty database and copies the unsent events still readable in the old one "
            "into its outbox; `sync` then sends them and pulls the library from the central."
        ),
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="rebuild even though the database passes PRAGMA quick_check",
    )
    commands["rebuild-db"] = cmd_rebuild_db


def cmd_rebuild_db(settings: Settings, args: argparse.Namespace) -> int:
    path = settings.database.path
    if not path.exists():
        print(f"There is no database at {path}; `serve` or `sync` will create one.")
        return EXIT_OK
    try:
        check_sqlite_file(path)
    except DatabaseDamaged as exc:
        print(exc)
    else:
        if not args.force:
            print(
                f"The database {path} passes PRAGMA quick_check; nothing to rebuild "
                "(add --force to rebuild it anyway).",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
    damaged = move_aside(path, dt.datetime.now(dt.UTC))
    print(f"Moved it aside to {damaged}.")
    engine = make_engine(path)
    try:
        upgrade(engine)
        result = salvage_outbox(damaged, make_session_factory(engine), settings.kiosk.id)
    finally:
        engine.dispose()
    print(f"New empty database at {path}.")
    print(_describe(result))
    if settings.sync.central_url:
        print(
            f"Next: `python run_kiosk.py sync --config {settings.path}` sends those events and "
            f"pulls students, books and loans from {settings.sync.central_url}; then start the "
            "kiosk."
        )
    else:
        print(
            "This kiosk has no central server ([sync] central_url is empty): import the "
            "students and the catalog again (import-students, import-catalog) or restore a "
            "backup; its loans cannot be pulled from anywhere."
        )
    return EXIT_OK


def _describe(result: SalvageResult) -> str:
    if result.failure:
        return (
            f"Its outbox could not be read at all ({result.failure}): events it had not yet "
            "sent to the central are lost; the old file is kept for a specialist "
            "(sqlite3's .recover may still find them)."
        )
    text = (
        f"Unsent events copied into the new outbox: {result.copied} "
        f"({result.acked} already acknowledged by the central were left behind"
        + (f", {result.present} were already there" if result.present else "")
        + ")."
    )
    if result.missing or result.unusable:
        ranges = ", ".join(f"{first}–{last}" for first, last in result.missing)
        text += (
            " Part of the outbox sat on damaged pages"
            + (f" ({result.unusable} row(s) read as garbage)" if result.unusable else "")
            + (f" (row ids {ranges} missing)" if ranges else "")
            + ": loans and returns made since the last sync that the central does not show "
            "must be checked on the shelf."
        )
    return text
