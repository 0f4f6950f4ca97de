"""Rebuilding a damaged kiosk from the central: real processes, a real damaged SQLite page.

The path docs/recovery.md describes: the kiosk refuses the damaged file; `rebuild-db` moves
it aside, starts an empty database and copies the unsent events it can still read; `sync`
sends them (each applied exactly once, even one the central already held) and pulls the
library and the loans back.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.engine import make_engine, make_session_factory, open_plain_connection, write_transaction
from db.migrate import upgrade
from kiosk.services import outbox
from kiosk.sync.salvage import salvage_outbox
from tests.conftest import ROOT
from tests.damage import damage_table
from tests.sync.fault_harness import Central, Kiosk, check_invariants, run_kiosk_cmd, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Central]:
    c = Central(tmp_path)
    c.start()
    try:
        yield c
    finally:
        c.kill9()


def run(kiosk: Kiosk, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        run_kiosk_cmd(*args, "--config", str(kiosk.config)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def event_ids(kiosk: Kiosk, state: str) -> set[str]:
    return {row[0] for row in kiosk.outbox() if row[3] == state}


def _checkout_event(kiosk: Kiosk, barcode: str) -> str:
    for (payload,) in kiosk._sql("SELECT payload FROM outbox_events WHERE kind = 'checkout'"):
        body = json.loads(payload)
        if body["item_barcode"] == barcode:
            return str(body["event_id"])
    raise AssertionError(f"no checkout of {barcode} in the outbox")


def _write(path: Path, sql: str, *params: str) -> None:
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute(sql, params)
    finally:
        db.close()


def test_a_damaged_kiosk_is_rebuilt_from_the_central_and_its_unsent_events_arrive_once(
    tmp_path, central
):
    kiosk = Kiosk(tmp_path, "kiosk-1", central)
    kiosk.serve()
    try:
        kiosk.lend("20260001", "SX00001", "SX00002")
        # The kiosk syncs every 10 s; these two reach the central and come back acknowledged.
        wait_for(lambda: kiosk.pending() == 0, "the first loans to be acknowledged")
    finally:
        kiosk.stop()
    # The central goes away: what the kiosk records now stays in its outbox.
    central.kill9()
    kiosk.serve()
    try:
        kiosk.lend("20260002", "SX00003", "SX00004")
        kiosk.give_back("SX00001")
    finally:
        kiosk.stop()
    unsent = event_ids(kiosk, "pending")
    assert len(unsent) >= 4  # two loans, the return, and the sign-in visit(s)
    # The acknowledgement of the SX00002 loan is lost with the old file's last write: the
    # central holds that event, the kiosk still counts it as unsent.
    lost_ack = _checkout_event(kiosk, "SX00002")
    _write(
        kiosk.db_path, "UPDATE outbox_events SET state = 'pending' WHERE event_uuid = ?", lost_ack
    )
    unsent.add(lost_ack)

    damage_table(kiosk.db_path, "items")
    refused = run(kiosk, "serve")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "is damaged" in refused.stderr and "rebuild-db" in refused.stderr

    rebuilt = run(kiosk, "rebuild-db")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert f"Unsent events copied into the new outbox: {len(unsent)} " in rebuilt.stdout
    (aside,) = kiosk.dir.glob("kiosk.sqlite3.damaged-*[0-9]Z")
    assert f"Moved it aside to {aside}." in rebuilt.stdout
    assert event_ids(kiosk, "pending") == unsent
    assert kiosk.count("items") == 0
    again = run(kiosk, "rebuild-db")
    assert again.returncode == 2, "a sound database is not rebuilt without --force"

    central.start()
    kiosk.sync()
    assert kiosk.pending() == 0
    central.settle()
    # The second sync pulls the loans the central made from the salvaged events.
    kiosk.sync()
    assert kiosk.count("patrons") == 9 and kiosk.count("items") == 20
    open_loans = kiosk._sql(
        "SELECT i.barcode FROM loans l JOIN items i ON i.id = l.item_id "
        "WHERE l.returned_at IS NULL ORDER BY i.barcode"
    )
    assert [row[0] for row in open_loans] == ["SX00002", "SX00003", "SX00004"]
    assert central.query(
        "SELECT count(*) FROM central_events WHERE event_id = :e AND state <> 'duplicate'",
        e=lost_ack,
    ) == [(1,)]
    assert central.query(
        "SELECT count(*) FROM central_events WHERE event_id = :e AND state = 'duplicate'",
        e=lost_ack,
    ) == [(1,)]
    check_invariants(central, [kiosk])
    assert kiosk.integrity() == "ok"


@pytest.mark.parametrize("page_index", [1, 3, -1], ids=["first-leaf", "middle-leaf", "last-leaf"])
def test_readable_outbox_rows_are_salvaged_around_a_damaged_outbox_page(tmp_path, page_index):
    """Damage on one of the outbox's own pages loses only the rows on it, and says which."""
    damaged = tmp_path / "old.sqlite3"
    engine = make_engine(damaged)
    upgrade(engine)
    db = open_plain_connection(engine)
    now = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
    for n in range(300):
        with write_transaction(db):
            outbox.record_event(db, "visit", {"student_number": f"S{n:07d}"}, "kiosk-1", now)
    db.close()
    engine.dispose()
    originals = _event_ids(damaged)
    damage_table(damaged, "outbox_events", page_index=page_index)
    fresh = make_engine(tmp_path / "new.sqlite3")
    upgrade(fresh)
    result = salvage_outbox(damaged, make_session_factory(fresh), "kiosk-1")
    fresh.dispose()
    copied = _event_ids(tmp_path / "new.sqlite3")
    missing = originals - copied
    # One leaf page of the outbox holds about a dozen events: those, and only those, are gone.
    assert copied <= originals and 0 < len(missing) <= 20
    assert result.copied == len(copied)
    # The operator is told how many are gone.
    assert sum(last - first + 1 for first, last in result.missing) >= len(missing)
    check = sqlite3.connect(tmp_path / "new.sqlite3")
    rows = check.execute("SELECT sequence, payload FROM outbox_events ORDER BY sequence").fetchall()
    check.close()
    assert [r[0] for r in rows] == list(range(1, len(copied) + 1))
    assert all(json.loads(p)["sequence"] == s for s, p in rows)


def _event_ids(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT event_uuid FROM outbox_events")}
    finally:
        db.close()
