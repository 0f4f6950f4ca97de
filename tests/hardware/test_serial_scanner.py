"""Tests for SerialScanner over real pseudo-terminals and pyserial's loop:// port."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

from hardware.serial_scanner import SerialPort, SerialScanner
from tests.support import PtyScanner

pytestmark = pytest.mark.timeout(30)

WAIT_S = 5.0
# Short enough that replugging is noticed quickly, long enough not to spin.
RECONNECT_S = 0.05


class Recorder:
    """Collects what the scanner reports, so tests wait on queues with timeouts."""

    def __init__(self) -> None:
        self.scans: queue.Queue[str] = queue.Queue()
        self.statuses: queue.Queue[bool] = queue.Queue()

    def expect_scans(self, count: int) -> list[str]:
        return [self.scans.get(timeout=WAIT_S) for _ in range(count)]

    def expect_status(self, connected: bool) -> None:
        assert self.statuses.get(timeout=WAIT_S) is connected

    def assert_quiet(self, within_s: float = 0.3) -> None:
        """Nothing more is reported within `within_s`."""
        time.sleep(within_s)
        assert self.scans.empty()
        assert self.statuses.empty()


@pytest.fixture
def device(tmp_path: Path) -> Iterator[PtyScanner]:
    fake = PtyScanner(tmp_path / "scanner")
    yield fake
    if fake.plugged:
        fake.unplug()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_scanner(recorder: Recorder) -> Iterator[Callable[..., SerialScanner]]:
    started: list[SerialScanner] = []

    def make(port: str, **kwargs: Any) -> SerialScanner:
        kwargs.setdefault("on_scan", recorder.scans.put)
        kwargs.setdefault("on_status", recorder.statuses.put)
        kwargs.setdefault("reconnect_delay_s", RECONNECT_S)
        scanner = SerialScanner(port, **kwargs)
        scanner.start()
        started.append(scanner)
        return scanner

    yield make
    for scanner in started:
        scanner.stop()


def scanner_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "serial-scanner"]


def test_reads_codes_over_a_pty(
    device: PtyScanner, recorder: Recorder, make_scanner: Callable[..., SerialScanner]
) -> None:
    device.plug()
    scanner = make_scanner(str(device.link))
    # pyserial flushes the input when it opens the port, so write only once connected.
    recorder.expect_status(True)
    assert scanner.connected
    assert [t.daemon for t in scanner_threads()] == [True]

    device.write(b"9787020002207\r")
    device.write(b"P0001234\r\n")
    device.write(b"97870")
    time.sleep(0.05)
    device.write(b"20001234\r")
    # A CRLF pair split between two writes must not produce an empty scan.
    device.write(b"X1\r")
    time.sleep(0.05)
    device.write(b"\nX2\n")

    assert recorder.expect_scans(5) == ["9787020002207", "P0001234", "9787020001234", "X1", "X2"]
    recorder.assert_quiet()


def test_unplug_drops_the_partial_scan_and_replug_reconnects(
    device: PtyScanner, recorder: Recorder, make_scanner: Callable[..., SerialScanner]
) -> None:
    device.plug()
    scanner = make_scanner(str(device.link))
    recorder.expect_status(True)
    device.write(b"A1\r")
    assert recorder.expect_scans(1) == ["A1"]

    device.write(b"PART")
    # Give the reader time to take the bytes into its buffer, so the unplug really
    # cuts a scan in half rather than losing the bytes inside the pty.
    time.sleep(0.2)
    device.unplug()
    recorder.expect_status(False)
    assert not scanner.connected
    # Reopening the dead pty fails again and again, but "disconnected" is reported once.
    recorder.assert_quiet()

    device.plug()
    recorder.expect_status(True)
    device.write(b"B2\r")
    assert recorder.expect_scans(1) == ["B2"]
    recorder.assert_quiet(0.1)


def test_waits_for_a_device_that_is_not_there_yet(
    device: PtyScanner, recorder: Recorder, make_scanner: Callable[..., SerialScanner]
) -> None:
    scanner = make_scanner(str(device.link))
    recorder.assert_quiet()
    assert not scanner.connected

    device.plug()
    recorder.expect_status(True)
    device.write(b"C3\r")
    assert recorder.expect_scans(1) == ["C3"]


def test_loop_url_and_failing_callbacks_do_not_kill_the_thread(
    recorder: Recorder,
    make_scanner: Callable[..., SerialScanner],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="hardware")
    ports: queue.Queue[serial.SerialBase] = queue.Queue()

    def open_loop() -> SerialPort:
        port = serial.serial_for_url("loop://", timeout=0.1)
        ports.put(port)
        return port

    def on_scan(code: str) -> None:
        if code == "P0009999":
            raise RuntimeError("callback bug")
        recorder.scans.put(code)

    def on_status(connected: bool) -> None:
        recorder.statuses.put(connected)
        raise RuntimeError("callback bug")

    scanner = make_scanner("loop://", open_port=open_loop, on_scan=on_scan, on_status=on_status)
    port = ports.get(timeout=WAIT_S)
    recorder.expect_status(True)

    port.write(b"P0009999\rL1\r\nL2\n")
    assert recorder.expect_scans(2) == ["L1", "L2"]
    assert scanner.connected

    scanner.stop()
    recorder.expect_status(False)
    assert not port.is_open
    # Scanned text may be a card number: logs carry lengths, never the text.
    assert "on_scan callback failed for a 8-character scan" in caplog.text
    assert "P0009999" not in caplog.text
    assert "L1" not in caplog.text


def test_stop_is_prompt_while_connected(
    device: PtyScanner, recorder: Recorder, make_scanner: Callable[..., SerialScanner]
) -> None:
    device.plug()
    # A long read timeout, so only cancelling the read can make stop() prompt.
    scanner = make_scanner(str(device.link), read_timeout_s=10.0)
    recorder.expect_status(True)

    started_at = time.monotonic()
    scanner.stop()
    assert time.monotonic() - started_at < 1.0
    assert scanner_threads() == []
    recorder.expect_status(False)


def test_stop_is_prompt_while_waiting_to_reconnect(
    device: PtyScanner, recorder: Recorder, make_scanner: Callable[..., SerialScanner]
) -> None:
    scanner = make_scanner(str(device.link), reconnect_delay_s=30.0)
    # Let the first attempt fail, so the thread is inside the reconnect wait.
    time.sleep(0.2)

    started_at = time.monotonic()
    scanner.stop()
    assert time.monotonic() - started_at < 1.0
    assert scanner_threads() == []
    recorder.assert_quiet(0.0)


def test_start_twice_is_an_error(
    device: PtyScanner, make_scanner: Callable[..., SerialScanner]
) -> None:
    scanner = make_scanner(str(device.link))
    with pytest.raises(RuntimeError):
        scanner.start()


def test_bad_terminator_fails_at_construction() -> None:
    with pytest.raises(ValueError):
        SerialScanner("loop://", terminator="ETX", on_scan=lambda code: None)
