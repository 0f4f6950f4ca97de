"""A database that can't take a write (disk full, read-only) refuses the scan and moves nothing.

Every scan here goes through the real paths: POST /api/scan (and the Renew/Return buttons) on
the Flask test client, or bytes on a pseudo-terminal read by the serial scanner and handed to
the scan worker. Both end in `Desk.process_scan`. Each case checks that the scan is refused
with a stable error code and a sentence for the student, that the database holds exactly what
it held before, that GET /api/session did not move, and that once the fault clears the next
scan works and records its outbox event.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from db.engine import SessionFactory, make_engine, make_session_factory, write_transaction
from db.migrate import upgrade
from kiosk.app import create_app
from kiosk.config import Settings
from kiosk.desk import DB_UNAVAILABLE, Desk, ScanWorker
from kiosk.events import (
    BarcodeScanned,
    Event,
    EventBus,
    ScannerStatusChanged,
    ScanProcessed,
    Subscription,
)
from kiosk.services import outbox
from kiosk.services.demo import seed_demo_library
from kiosk.views.api import with_message
from run_kiosk import build_scanner
from tests.conftest import FakeClock, make_settings
from tests.faults import FullDisk, read_only_view, tiny_tmpfs
from tests.support import PtyScanner

pytestmark = pytest.mark.timeout(120)

WAIT_S = 5.0
E = TypeVar("E", bound=Event)
# Demo library: two students in good standing and copies on the shelf.
CARD_A, CARD_B = "20260001", "20260002"
NAME_A, NAME_B = "张同学", "李同学"  # how the kiosk greets 张小明 and 李华 (by surname)
BOOK, OTHER_BOOK = "SX00001", "SX00003"
REFUSED = {
    "zh": "本机暂时无法记录借还，请到服务台办理。",
    "en": "The kiosk can't record loans right now — please go to the desk.",
}
# SQLite's own ceiling for max_page_count: "no limit" again once the disk has room.
UNLIMITED_PAGES = 0xFFFFFFFE


# --- faults ----------------------------------------------------------------------------------


class Fault(Protocol):
    def start(self) -> None: ...

    def clear(self) -> None: ...


class PageLimit:
    """Disk full as SQLite's pager sees it: `PRAGMA max_page_count` on the desk's own connection.

    The cap alone is not enough: a row that still fits in a page the file already has is
    written without growing it. So the outbox is first padded with the smallest events there
    are until even those no longer fit; every real event (never smaller, appended at the same
    end of the table and of its sequence index) then needs a page the cap refuses.
    """

    # Padding stops after this many refusals in a row: a single refusal can be an index page
    # that a random event id happened to land on, while the others still have room.
    REFUSALS_IN_A_ROW = 12

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def start(self) -> None:
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        self.db.execute(f"PRAGMA max_page_count = {pages}")
        refusals = 0
        while refusals < self.REFUSALS_IN_A_ROW:
            try:
                with write_transaction(self.db):
                    outbox.record_event(self.db, "padding", {}, "test", FakeClock().now)
            except sqlite3.OperationalError as exc:
                assert exc.sqlite_errorcode == sqlite3.SQLITE_FULL, exc
                refusals += 1
            else:
                refusals = 0

    def clear(self) -> None:
        self.db.execute(f"PRAGMA max_page_count = {UNLIMITED_PAGES}")


class TmpfsFull:
    """A real full disk: the database lives on a tiny tmpfs, then a filler takes every byte.

    The next COMMIT has to grow the WAL and gets ENOSPC (SQLITE_FULL) at COMMIT itself, after
    every statement of the scan succeeded.
    """

    def __init__(self, db_path: Path) -> None:
        self.disk = FullDisk(db_path)

    def start(self) -> None:
        self.disk.fill()

    def clear(self) -> None:
        self.disk.free()


class ReadOnly:
    """The database file turned read-only under the running kiosk.

    The tests run as root, and root writes through a 0444 file mode; Linux also refuses to
    remount a file system read-only while the kiosk holds the database open for writing
    (EBUSY). `PRAGMA query_only` on the desk's own connection makes SQLite refuse every write
    with SQLITE_READONLY, the error a read-only file gives, and can be lifted again. The last
    test below starts a kiosk on a really read-only file (a read-only bind mount).
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def start(self) -> None:
        self.db.execute("PRAGMA query_only = ON")

    def clear(self) -> None:
        self.db.execute("PRAGMA query_only = OFF")


FAULTS = ("page_limit", "tmpfs_full", "read_only")


def table_rows(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read on a connection of its own."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        # Ordinary tables only: the search index's FTS5 table and its shadow tables (some
        # WITHOUT ROWID) follow title_search, which is compared.
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table'"
                " AND name NOT LIKE 'sqlite%' ORDER BY name"
            )
        ]
        return {t: db.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}


def outbox_events(database: Path, kind: str) -> list[dict[str, Any]]:
    """The payloads of the outbox events of `kind`, in the order they were recorded."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return [
            json.loads(payload)
            for (payload,) in db.execute(
                "SELECT payload FROM outbox_events WHERE kind = ? ORDER BY sequence", (kind,)
            )
        ]


def next_event(heard: Subscription, wanted: type[E]) -> E:
    """The next event of type `wanted` on the bus, skipping others."""
    deadline = time.monotonic() + WAIT_S
    while (left := deadline - time.monotonic()) > 0:
        event: Event | None = heard.get(timeout_s=left)
        if isinstance(event, wanted):
            return event
    pytest.fail(f"no {wanted.__name__} within {WAIT_S} s")


# --- the kiosk under test --------------------------------------------------------------------


@dataclass
class Reply:
    """A scan's answer: the HTTP status (None on the serial path, which has none) and body."""

    status: int | None
    body: dict[str, Any]


@dataclass
class Kiosk:
    """What `run_kiosk.cmd_serve` builds, minus waitress, plus a listener on the bus."""

    client: FlaskClient
    desk: Desk
    device: PtyScanner
    heard: Subscription
    db_path: Path
    clock: FakeClock

    def next_scan(self, source: str) -> ScanProcessed:
        while True:
            event = next_event(self.heard, ScanProcessed)
            if event.source == source:
                return event

    def scan(self, code: str, path: str, language: str = "zh") -> Reply:
        if path == "http":
            response = self.client.post(
                "/api/scan", json={"code": code}, headers={"X-Kiosk-Language": language}
            )
            heard = self.next_scan("keyboard")
            body: dict[str, Any] = response.get_json()
            # The page and the event stream hear the same reply.
            assert {k: v for k, v in body.items() if k != "message"} == heard.result
            return Reply(response.status_code, body)
        self.device.scan(code)
        # The event stream sends the page this, sentence included.
        return Reply(None, with_message(self.next_scan("serial").result, language))

    def button(self, what: str, code: str, language: str = "zh") -> Reply:
        response = self.client.post(
            f"/api/{what}", json={"code": code}, headers={"X-Kiosk-Language": language}
        )
        return Reply(response.status_code, response.get_json())

    def session(self) -> dict[str, Any]:
        response = self.client.get("/api/session")
        assert response.status_code == 200
        info: dict[str, Any] = response.get_json()
        return info

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        return table_rows(self.db_path)

    def events(self, kind: str) -> list[dict[str, Any]]:
        return outbox_events(self.db_path, kind)

    def visits_of(self, student_number: str) -> int:
        return sum(1 for e in self.events("visit") if e["student_number"] == student_number)

    def open_loans(self) -> list[tuple[str, str, int]]:
        """(copy barcode, student's card, renewals) of every loan not yet returned."""
        with closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)) as db:
            return db.execute(
                "SELECT items.barcode, patrons.card_barcode, loans.renewals FROM loans "
                "JOIN items ON items.id = loans.item_id "
                "JOIN patrons ON patrons.id = loans.patron_id "
                "WHERE loans.returned_at IS NULL ORDER BY loans.id"
            ).fetchall()

    def assert_outbox_complete(self) -> None:
        """No loan without its checkout event, no return without its checkin event."""
        with closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)) as db:
            loans = db.execute("SELECT uuid, returned_at FROM loans").fetchall()
        checkouts = {e["loan_uuid"] for e in self.events("checkout")}
        checkins = {e["loan_uuid"] for e in self.events("checkin")}
        for loan_uuid, returned_at in loans:
            assert loan_uuid in checkouts
            assert (loan_uuid in checkins) == (returned_at is not None)


@pytest.fixture(params=FAULTS)
def fault_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def db_dir(fault_kind: str, tmp_path: Path) -> Iterator[Path]:
    if fault_kind == "tmpfs_full":
        with tiny_tmpfs(tmp_path / "tmpfs") as directory:
            yield directory
    else:
        yield tmp_path


@pytest.fixture
def settings(tmp_path: Path, db_dir: Path) -> Settings:
    # Overrides the shared fixture, so `engine` and `demo_library` use this file and scanner.
    return make_settings(
        tmp_path,
        database={"path": str(db_dir / "kiosk.sqlite3")},
        scanner={"type": "serial", "port": str(tmp_path / "scanner"), "reconnect_delay_s": 0.05},
    )


@pytest.fixture
def kiosk(
    settings: Settings,
    engine: Engine,
    session_factory: SessionFactory,
    demo_library: object,
    clock: FakeClock,
) -> Iterator[Kiosk]:
    device = PtyScanner(Path(settings.scanner.port))
    device.plug()
    bus = EventBus()
    heard = bus.subscribe()
    scanner = build_scanner(settings, bus)
    app = create_app(settings, scanner=scanner, engine=engine, bus=bus, clock=clock)
    desk = app.extensions["shuxiang"].desk
    worker = ScanWorker(desk, bus)
    worker.start()
    scanner.start()
    try:
        # pyserial flushes the input when it opens the port: write only once connected.
        deadline = time.monotonic() + WAIT_S
        while not isinstance(
            heard.get(timeout_s=deadline - time.monotonic()), ScannerStatusChanged
        ):
            assert time.monotonic() < deadline, "the scanner never reported its status"
        yield Kiosk(app.test_client(), desk, device, heard, Path(settings.database.path), clock)
    finally:
        scanner.stop()
        worker.stop()
        heard.close()
        device.unplug()
        desk.close()


class WhileDeskIdle:
    """Starts and clears `fault` holding the desk's lock: the scan worker's write probe uses the
    desk's connection too, and a sqlite3 connection takes one thread at a time."""

    def __init__(self, fault: Fault, desk: Desk) -> None:
        self.fault = fault
        self.desk = desk

    def start(self) -> None:
        with self.desk._lock:
            self.fault.start()

    def clear(self) -> None:
        with self.desk._lock:
            self.fault.clear()


@pytest.fixture
def fault(fault_kind: str, kiosk: Kiosk, db_dir: Path) -> Fault:
    # The desk's own connection: the one every scan writes on.
    desk_db = kiosk.desk._db
    if fault_kind == "page_limit":
        return WhileDeskIdle(PageLimit(desk_db), kiosk.desk)
    if fault_kind == "tmpfs_full":
        return WhileDeskIdle(TmpfsFull(kiosk.db_path), kiosk.desk)
    return WhileDeskIdle(ReadOnly(desk_db), kiosk.desk)


def assert_refused(reply: Reply, language: str = "zh") -> None:
    """Refused clearly: 503 over HTTP, a stable error code, and the sentence for the student."""
    if reply.status is not None:
        assert reply.status == 503, reply.body
    assert reply.body["error"] == DB_UNAVAILABLE
    assert reply.body["action"] == "refused"
    assert reply.body["message"] == REFUSED[language]


def ok(reply: Reply) -> dict[str, Any]:
    assert reply.status in (None, 200), reply.body
    assert "error" not in reply.body
    return reply.body


PATHS = pytest.mark.parametrize("path", ["http", "serial"])


def refused_without_a_trace(kiosk: Kiosk, fault: Fault, code: str, path: str) -> Reply:
    """Scan `code` while the disk refuses every write: the kiosk answers that it could not
    record it, and neither its rows nor its session (as the reply tells it) change."""
    session = kiosk.session()
    fault.start()
    before = kiosk.rows()
    reply = kiosk.scan(code, path)
    assert kiosk.session() == session
    assert kiosk.rows() == before
    assert_refused(reply)
    assert reply.body["session"]["active"] is session["active"]
    return reply


# --- the cases -------------------------------------------------------------------------------


@PATHS
def test_failed_sign_in_signs_nobody_in(kiosk: Kiosk, fault: Fault, path: str) -> None:
    reply = refused_without_a_trace(kiosk, fault, CARD_A, path)
    assert reply.body["session"] == {"active": False}
    assert kiosk.desk.last_write_ok is False
    assert kiosk.desk.last_write_error in ("SQLITE_FULL", "SQLITE_READONLY")

    fault.clear()
    # The student whose sign-in failed is not signed in: the next book is a return, not a loan.
    book = ok(kiosk.scan(BOOK, path))
    assert book["action"] == "refused" and book["reason"] == "not_on_loan"
    assert kiosk.open_loans() == []
    # Scanning the card again signs them in, and that sign-in's visit reaches the outbox.
    signed_in = ok(kiosk.scan(CARD_A, path))
    assert signed_in["action"] == "signed_in"
    assert signed_in["patron"]["first_name"] == NAME_A
    assert kiosk.session()["patron"]["first_name"] == NAME_A
    assert kiosk.visits_of("S2026001") == 1
    assert kiosk.desk.last_write_ok is True


@PATHS
def test_failed_switch_keeps_the_first_student(kiosk: Kiosk, fault: Fault, path: str) -> None:
    assert ok(kiosk.scan(CARD_A, path))["action"] == "signed_in"
    refused_without_a_trace(kiosk, fault, CARD_B, path)

    fault.clear()
    # The switch never happened, so the first student is still the one borrowing.
    lent = ok(kiosk.scan(BOOK, path))
    assert lent["action"] == "checked_out" and lent["patron"]["first_name"] == NAME_A
    assert kiosk.open_loans() == [(BOOK, CARD_A, 0)]
    switched = ok(kiosk.scan(CARD_B, path))
    assert switched["action"] == "switched" and switched["patron"]["first_name"] == NAME_B
    assert kiosk.session()["patron"]["first_name"] == NAME_B
    assert kiosk.visits_of("S2026002") == 1
    kiosk.assert_outbox_complete()


@PATHS
def test_failed_loan_lends_nothing(kiosk: Kiosk, fault: Fault, path: str) -> None:
    assert ok(kiosk.scan(CARD_A, path))["action"] == "signed_in"
    refused_without_a_trace(kiosk, fault, BOOK, path)

    fault.clear()
    lent = ok(kiosk.scan(BOOK, path))
    assert lent["action"] == "checked_out" and lent["item_barcode"] == BOOK
    assert kiosk.open_loans() == [(BOOK, CARD_A, 0)]
    assert [e["item_barcode"] for e in kiosk.events("checkout")] == [BOOK]
    kiosk.assert_outbox_complete()


@PATHS
def test_failed_return_keeps_the_loan(kiosk: Kiosk, fault: Fault, path: str) -> None:
    ok(kiosk.scan(CARD_A, path))
    assert ok(kiosk.scan(BOOK, path))["action"] == "checked_out"
    assert kiosk.client.post("/api/session/end").status_code == 200
    reply = refused_without_a_trace(kiosk, fault, BOOK, path)
    assert reply.body["session"] == {"active": False}
    assert kiosk.open_loans() == [(BOOK, CARD_A, 0)]

    fault.clear()
    returned = ok(kiosk.scan(BOOK, path))
    assert returned["action"] == "returned"
    assert kiosk.open_loans() == []
    assert [e["item_barcode"] for e in kiosk.events("checkin")] == [BOOK]
    kiosk.assert_outbox_complete()


def test_failed_renew_and_return_buttons_change_nothing(kiosk: Kiosk, fault: Fault) -> None:
    ok(kiosk.scan(CARD_A, "http"))
    ok(kiosk.scan(BOOK, "http"))
    ok(kiosk.scan(OTHER_BOOK, "http"))
    kiosk.client.post("/api/session/end")
    # Come back the day before the first book is due: renewing is allowed then, whatever the
    # renewal window.
    kiosk.clock.advance(days=13)
    ok(kiosk.scan(CARD_A, "http"))
    session = kiosk.session()
    fault.start()
    before = kiosk.rows()

    renew = kiosk.button("renew", BOOK, language="en")
    assert_refused(renew, language="en")
    back = kiosk.button("return", OTHER_BOOK)
    assert_refused(back)
    assert back.body["session"]["active"] is True
    assert kiosk.session() == session
    assert kiosk.rows() == before

    fault.clear()
    renewed = ok(kiosk.button("renew", BOOK))
    assert renewed["action"] == "renewed"
    returned = ok(kiosk.button("return", OTHER_BOOK))
    assert returned["action"] == "returned"
    assert kiosk.open_loans() == [(BOOK, CARD_A, 1)]
    assert [e["item_barcode"] for e in kiosk.events("renewal")] == [BOOK]
    kiosk.assert_outbox_complete()


def test_session_end_needs_no_write_and_still_signs_out(kiosk: Kiosk, fault: Fault) -> None:
    """Ending a session writes nothing, so a full or read-only disk can't keep a student signed
    in: Done signs them out, and the next book scanned is never lent to them."""
    ok(kiosk.scan(CARD_A, "http"))
    fault.start()
    before = kiosk.rows()

    ended = kiosk.client.post("/api/session/end", headers={"X-Kiosk-Language": "zh"})
    assert ended.status_code == 200
    assert ended.get_json()["session"] == {"active": False}
    assert kiosk.session() == {"active": False}
    assert kiosk.rows() == before

    fault.clear()
    book = ok(kiosk.scan(BOOK, "serial"))
    assert book["action"] == "refused" and book["reason"] == "not_on_loan"
    assert kiosk.open_loans() == []


def test_kiosk_on_a_read_only_file_system_records_nothing_and_signs_nobody_in(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A database file the kiosk really cannot write: its connections opened through a
    read-only mount (as when the kiosk starts on a file system the kernel made read-only)."""
    database = tmp_path / "data" / "kiosk.sqlite3"
    settings = make_settings(tmp_path, database={"path": str(database)})
    engine = make_engine(database)
    upgrade(engine)
    with make_session_factory(engine).begin() as session:
        seed_demo_library(session, clock())
    # SQLite keeps a closed connection's file open while another connection in the process
    # uses the same file; with none left, the read-only mount can be unmounted afterwards.
    engine.dispose()
    before = table_rows(database)

    with read_only_view(database.parent, tmp_path / "read-only") as view:
        read_only_engine = make_engine(view / database.name)
        bus = EventBus()
        heard = bus.subscribe()
        app = create_app(settings, engine=read_only_engine, bus=bus, clock=clock)
        desk = app.extensions["shuxiang"].desk
        worker = ScanWorker(desk, bus)
        worker.start()
        try:
            response = app.test_client().post("/api/scan", json={"code": CARD_A})
            assert_refused(Reply(response.status_code, response.get_json()))
            # The serial path: what the scanner's reader thread publishes, taken by the worker.
            bus.publish(BarcodeScanned(CARD_B))
            serial = next_event(heard, ScanProcessed)
            assert_refused(Reply(None, with_message(serial.result, "zh")))
            assert app.test_client().get("/api/session").get_json() == {"active": False}
            assert desk.last_write_error == "SQLITE_READONLY"
        finally:
            worker.stop()
            heard.close()
            desk.close()
            read_only_engine.dispose()
    assert table_rows(database) == before

    # Writable again (the kiosk restarted on its repaired disk): the sign-in and its visit count.
    engine = make_engine(database)
    app = create_app(settings, engine=engine, clock=clock)
    try:
        response = app.test_client().post("/api/scan", json={"code": CARD_A})
        assert response.status_code == 200 and response.get_json()["action"] == "signed_in"
        visits = outbox_events(database, "visit")
        assert [visit["student_number"] for visit in visits] == ["S2026001"]
    finally:
        app.extensions["shuxiang"].desk.close()
        engine.dispose()
