"""A reader thread for serial barcode scanners that reports connect/disconnect and reconnects."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

import serial

from hardware.linebuffer import LineBuffer

logger = logging.getLogger(__name__)


class SerialPort(Protocol):
    """The part of a pyserial port object that the scanner needs.

    A `cancel_read()` method is used when present (posix ports, loop://) to make
    `stop()` prompt; ports without one (socket://, rfc2217://) stop within a read timeout.
    """

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1, /) -> bytes: ...

    def close(self) -> None: ...


class SerialScanner:
    """Read scans from a serial port on a daemon thread, reconnecting for ever.

    The thread opens the port, reports `on_status(True)`, feeds what it reads to a
    `LineBuffer` and calls `on_scan(line)` for every complete line. When the port
    cannot be opened, or a read fails because the scanner was unplugged, it closes
    the port, drops the partial line, reports `on_status(False)` and tries again
    every `reconnect_delay_s` until `stop()` is called. `on_status` is only called
    when the state changes.

    `on_scan` and `on_status` run on the reader thread and must not block: while they
    run, nothing is read. An exception they raise is logged and the thread carries on.

    `port` is a device path, a symlink such as /dev/serial/by-id/..., or any pyserial
    URL. `open_port` replaces `serial.serial_for_url` so tests can keep a handle on the
    port object (a `loop://` port reads back what is written to it).

    Scanned text is never logged: it may be a student card number.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        terminator: str = "CR",
        on_scan: Callable[[str], None],
        on_status: Callable[[bool], None] | None = None,
        reconnect_delay_s: float = 1.0,
        read_timeout_s: float = 0.1,
        open_port: Callable[[], SerialPort] | None = None,
    ) -> None:
        self._port_name = port
        self._baudrate = baudrate
        self._on_scan = on_scan
        self._on_status = on_status
        self._reconnect_delay_s = reconnect_delay_s
        self._read_timeout_s = read_timeout_s
        self._open_port = open_port if open_port is not None else self._open_by_url
        # Built here so that a bad terminator fails at startup, not on the thread.
        self._buffer = LineBuffer(terminator)
        self._connected = False
        self._stopping = threading.Event()
        # Guards _port so that stop() never cancels a read on a port being closed.
        self._port_lock = threading.Lock()
        self._port: SerialPort | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> str:
        """The device path or URL this scanner opens."""
        return self._port_name

    @property
    def connected(self) -> bool:
        """Whether the port is open right now; safe to read from any thread."""
        return self._connected

    def start(self) -> None:
        """Start the reader thread ("serial-scanner"); a scanner can be started once."""
        if self._thread is not None:
            raise RuntimeError("SerialScanner.start() called twice")
        self._thread = threading.Thread(target=self._run, name="serial-scanner", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Make the reader thread close the port and exit; wait up to `timeout_s` for it.

        Returns promptly whether the thread is reading or waiting to reconnect, unless a
        callback is blocking it. Safe to call more than once, or before `start()`.
        """
        self._stopping.set()
        with self._port_lock:
            # Wakes a read that is waiting for its timeout; not every pyserial port has it.
            cancel_read = getattr(self._port, "cancel_read", None)
            if cancel_read is not None:
                cancel_read()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout_s)
        if thread.is_alive():
            logger.warning(
                "Scanner thread for %s did not stop within %.1f s", self._port_name, timeout_s
            )

    def _open_by_url(self) -> SerialPort:
        return serial.serial_for_url(
            self._port_name,
            baudrate=self._baudrate,
            timeout=self._read_timeout_s,
            do_not_open=False,
        )

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                port = self._open_port()
            except (serial.SerialException, OSError, ValueError) as exc:
                failures += 1
                # Warn once per outage; a scanner left unplugged all day would
                # otherwise fill the log with one line a second.
                level = logging.WARNING if failures == 1 else logging.DEBUG
                logger.log(level, "Cannot open scanner port %s: %s", self._port_name, exc)
                self._stopping.wait(self._reconnect_delay_s)
                continue
            failures = 0
            with self._port_lock:
                self._port = port
            try:
                logger.info("Scanner connected on %s", self._port_name)
                self._set_connected(True)
                self._read_until_error(port)
            finally:
                with self._port_lock:
                    self._port = None
                self._close_quietly(port)
                # A scan cut short by an unplug must not be glued to the next one.
                self._buffer.clear()
                self._set_connected(False)
            if not self._stopping.is_set():
                self._stopping.wait(self._reconnect_delay_s)

    def _read_until_error(self, port: SerialPort) -> None:
        while not self._stopping.is_set():
            try:
                # in_waiting makes one read take a whole burst; the minimum of 1
                # makes an idle read wait up to the timeout instead of spinning.
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                # An unplugged USB scanner, or a pty whose master closed, turns up
                # here as EIO or "device reports readiness to read but returned no data".
                logger.warning("Scanner disconnected from %s: %s", self._port_name, exc)
                return
            if not data:
                continue
            for line in self._buffer.feed(data):
                self._deliver(line)
        logger.info("Scanner on %s closed by stop()", self._port_name)

    def _deliver(self, line: str) -> None:
        try:
            self._on_scan(line)
        except Exception:
            logger.exception("on_scan callback failed for a %d-character scan", len(line))

    def _set_connected(self, connected: bool) -> None:
        if connected == self._connected:
            return
        self._connected = connected
        if self._on_status is None:
            return
        try:
            self._on_status(connected)
        except Exception:
            logger.exception("on_status callback failed")

    def _close_quietly(self, port: SerialPort) -> None:
        try:
            port.close()
        except (serial.SerialException, OSError) as exc:
            # Closing an unplugged device can fail; the fd is released either way.
            logger.debug("Closing scanner port %s failed: %s", self._port_name, exc)
