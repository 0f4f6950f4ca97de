"""Serial scanner on a pseudo-terminal through the bus, the scan worker and the desk to the database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from db.engine import SessionFactory
from db.models import Item, Loan, OutboxEvent, Patron
from kiosk.app import create_app
from kiosk.config import Settings
from kiosk.desk import ScanWorker
from kiosk.events import Event, EventBus, ScannerStatusChanged, ScanProcessed, Subscription
from run_kiosk import build_scanner
from tests import support
from tests.conftest import FakeClock, make_settings
from tests.support import PtyScanner

pytestmark = pytest.mark.timeout(60)

WAIT_S = 5.0
T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], what: str, timeout_s: float = WAIT_S) -> T:
    return support.wait_for(probe, what, timeout_s)


@dataclass
class Kiosk:
    """Everything `run_kiosk.cmd_serve` builds, minus waitress, plus a listener on the bus."""

    app: Flask
    client: FlaskClient
    bus: EventBus
    device: PtyScanner
    session_factory: SessionFactory
    heard: Subscription

    def next_event(self, wanted: type[T], timeout_s: float = WAIT_S) -> T:
        """The next event of type `wanted` on the bus, skipping others."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            event: Event | None = self.heard.get(timeout_s=left)
            if isinstance(event, wanted):
                return event
        pytest.fail(f"no {wanted.__name__} within {timeout_s} s")

    def scan_serial(self, *chunks: bytes) -> ScanProcessed:
        """Write `chunks` to the pty, pausing between them, and wait for the committed scan."""
        for i, chunk in enumerate(chunks):
            if i:
                # Lets the reader take the first part on its own, as a slow UART would.
                time.sleep(0.05)
            self.device.write(chunk)
        event = self.next_event(ScanProcessed)
        assert event.source == "serial"
        return event

    def scan_http(self, code: str) -> dict[str, Any]:
        """POST the code as the keyboard-wedge page does; check the bus heard the same reply."""
        response = self.client.post("/api/scan", json={"code": code})
        assert response.status_code == 200
        reply: dict[str, Any] = response.get_json()
        heard = self.next_event(ScanProcessed)
        assert heard.source == "keyboard"
        # The HTTP reply is the published result plus the sentence for the screen.
        assert {k: v for k, v in reply.items() if k != "message"} == json.loads(
            json.dumps(heard.result)
        )
        return reply

    def scanner_connected(self) -> bool:
        status = self.client.get("/api/status").get_json()
        assert status["scanner"]["type"] == "serial"
        return bool(status["scanner"]["connected"])

    def patron_id(self, card: str) -> int:
        with self.session_factory() as session:
            patron_id = session.scalar(select(Patron.id).where(Patron.card_barcode == card))
        assert patron_id is not None
        return patron_id

    def committed_loan(self, barcode: str, patron_card: str, *, returned: bool) -> Loan:
        """Poll the database until the loan of `barcode` to the card's owner is committed."""
        patron_id = self.patron_id(patron_card)

        def probe() -> Loan | None:
            with self.session_factory() as session:
                loans = session.scalars(
                    select(Loan)
                    .join(Item, Loan.item_id == Item.id)
                    .where(Item.barcode == barcode, Loan.patron_id == patron_id)
                ).all()
            done = [loan for loan in loans if (loan.returned_at is not None) == returned]
            return done[-1] if done else None

        return wait_for(probe, f"the loan of {barcode} (returned={returned})")

    def outbox_kinds_for(self, loan: Loan) -> list[str]:
        """Kinds of the outbox events that name this loan, in the order they were recorded."""
        with self.session_factory() as session:
            events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.sequence)).all()
        return [e.kind for e in events if json.loads(e.payload).get("loan_uuid") == loan.uuid]


def serial_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in ("serial-scanner", "scan-worker")]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Overrides the shared fixture, so `engine` and `demo_library` use this file and scanner.
    return make_settings(
        tmp_path,
        scanner={"type": "serial", "port": str(tmp_path / "scanner"), "reconnect_delay_s": 0.05},
    )


@pytest.fixture
def kiosk(
    settings: Settings,
    engine: Any,
    session_factory: SessionFactory,
    demo_library: object,
    clock: FakeClock,
) -> Iterator[Kiosk]:
    assert serial_threads() == []
    device = PtyScanner(Path(settings.scanner.port))
    device.plug()
    bus = EventBus()
    heard = bus.subscribe()
    scanner = build_scanner(settings, bus)
    app = create_app(settings, scanner=scanner, engine=engine, bus=bus, clock=clock)
    worker = ScanWorker(app.extensions["shuxiang"].desk, bus)
    worker.start()
    scanner.start()
    try:
        # pyserial flushes the input when it opens the port: write only once connected.
        assert kiosk_status_event(heard).connected
        yield Kiosk(app, app.test_client(), bus, device, session_factory, heard)
    finally:
        scanner.stop()
        worker.stop()
        heard.close()
        if device.plugged:
            device.unplug()
    assert serial_threads() == []


def kiosk_status_event(heard: Subscription) -> ScannerStatusChanged:
    deadline = time.monotonic() + WAIT_S
    while (left := deadline - time.monotonic()) > 0:
        event = heard.get(timeout_s=left)
        if isinstance(event, ScannerStatusChanged):
            return event
    pytest.fail("the scanner never reported its status")


def test_serial_scans_commit_the_loan_and_its_outbox_row(kiosk: Kiosk) -> None:
    signed_in = kiosk.scan_serial(b"20260001\r")
    assert signed_in.result["kind"] == "patron"
    assert signed_in.result["action"] == "signed_in"

    # CRLF: the LF must not turn into a second, empty scan (the next event is the next book).
    lent = kiosk.scan_serial(b"SX00001\r\n")
    assert lent.result["action"] == "checked_out"
    assert lent.result["item_barcode"] == "SX00001"
    loan = kiosk.committed_loan("SX00001", "20260001", returned=False)
    assert loan.due_at.isoformat() == lent.result["due_at"]
    assert kiosk.outbox_kinds_for(loan) == ["checkout"]

    # One code arriving in two reads is one scan.
    split = kiosk.scan_serial(b"SX0", b"0003\r")
    assert split.result["action"] == "checked_out"
    assert split.result["item_barcode"] == "SX00003"
    loan = kiosk.committed_loan("SX00003", "20260001", returned=False)
    assert kiosk.outbox_kinds_for(loan) == ["checkout"]
    assert [line["item_barcode"] for line in split.result["patron"]["loans"]] == [
        "SX00001",
        "SX00003",
    ]

    # Nothing else was acted on: no stray scan from the LF or from the first half of the split.
    assert kiosk.heard.get(timeout_s=0.3) is None


def test_serial_and_http_scans_share_one_desk(kiosk: Kiosk) -> None:
    # A card through the scanner, then books typed on the page: they go to that student.
    by_serial = kiosk.scan_serial(b"20260002\r").result
    by_http = kiosk.scan_http("20260002")
    assert by_serial["action"] == "signed_in"
    assert by_http["action"] == "signed_in"
    assert set(by_http) - {"message"} == set(by_serial)

    lent_http = kiosk.scan_http("SX00006")
    lent_serial = kiosk.scan_serial(b"SX00007\r").result
    assert lent_http["action"] == lent_serial["action"] == "checked_out"
    assert set(lent_http) - {"message"} == set(lent_serial)
    assert lent_http["due_at"] == lent_serial["due_at"]
    kiosk.committed_loan("SX00006", "20260002", returned=False)
    kiosk.committed_loan("SX00007", "20260002", returned=False)

    # And the other way round: a card on the page, a book through the scanner.
    switched = kiosk.scan_http("20260003")
    assert switched["action"] == "switched"
    lent = kiosk.scan_serial(b"SX00008\r").result
    assert lent["action"] == "checked_out"
    assert lent["patron"]["first_name"] == switched["patron"]["first_name"]
    kiosk.committed_loan("SX00008", "20260003", returned=False)

    # With nobody signed in, a book from either path is a return.
    assert kiosk.client.post("/api/session/end").status_code == 200
    back_serial = kiosk.scan_serial(b"SX00006\r").result
    back_http = kiosk.scan_http("SX00007")
    assert back_serial["action"] == back_http["action"] == "returned"
    assert set(back_http) - {"message"} == set(back_serial)
    for barcode in ("SX00006", "SX00007"):
        loan = kiosk.committed_loan(barcode, "20260002", returned=True)
        assert kiosk.outbox_kinds_for(loan) == ["checkout", "checkin"]

    # A code that is nothing gets the same answer from both paths.
    odd_serial = kiosk.scan_serial(b"hello?\r").result
    odd_http = kiosk.scan_http("hello?")
    assert odd_serial["action"] == odd_http["action"] == "unknown"
    assert odd_serial["reason"] == odd_http["reason"] == "no_pattern_matched"


def test_unplug_and_replug_show_in_status_and_scanning_resumes(kiosk: Kiosk) -> None:
    assert kiosk.scanner_connected()

    kiosk.device.unplug()
    assert not kiosk.next_event(ScannerStatusChanged).connected
    wait_for(lambda: not kiosk.scanner_connected(), "status to say disconnected")
    # Typing still works while the scanner is away.
    assert kiosk.scan_http("20260004")["action"] == "signed_in"

    kiosk.device.plug()
    assert kiosk.next_event(ScannerStatusChanged).connected
    wait_for(kiosk.scanner_connected, "status to say connected")

    lent = kiosk.scan_serial(b"SX00009\r").result
    assert lent["action"] == "checked_out"
    loan = kiosk.committed_loan("SX00009", "20260004", returned=False)
    assert kiosk.outbox_kinds_for(loan) == ["checkout"]
