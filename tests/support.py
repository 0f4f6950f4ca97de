"""Helpers shared by the test suites: bounded waiting, free ports, a pseudo-terminal scanner."""

from __future__ import annotations

import os
import socket
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A bounded wait ran out; the message says what was awaited."""


def wait_for(
    probe: Callable[[], T | None],
    what: str,
    timeout_s: float = 10.0,
    *,
    interval_s: float = 0.02,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `probe` until it returns something truthy; fail after `timeout_s`.

    Exceptions listed in `ignore` (a server still starting, say) count as "not yet".
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = probe()
        except ignore:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PtyScanner:
    """A USB serial scanner faked by a pseudo-terminal, reached through a symlink (as udev makes).

    Unplugging closes the pty AND removes the link: the kernel hands a freed /dev/pts number to
    the next pty opened anywhere on the machine, and a dangling link would lead the scanner to it.
    """

    def __init__(self, link: Path) -> None:
        self.link = link
        self._fds: tuple[int, int] | None = None

    def plug(self) -> None:
        master, slave = os.openpty()
        # Raw mode, so the line discipline neither turns CR into LF nor echoes.
        tty.setraw(slave)
        self._fds = (master, slave)
        # Swapped in by rename, so a scanner watching the link never finds it missing mid-plug.
        new_link = self.link.with_name(self.link.name + ".new")
        new_link.unlink(missing_ok=True)
        new_link.symlink_to(os.ttyname(slave))
        os.replace(new_link, self.link)

    def unplug(self) -> None:
        if self._fds is None:
            return
        self.link.unlink(missing_ok=True)
        for fd in self._fds:
            os.close(fd)
        self._fds = None

    @property
    def plugged(self) -> bool:
        return self._fds is not None

    def write(self, data: bytes) -> None:
        """Raw bytes, as a scanner sends them (split writes, CRLF…)."""
        assert self._fds is not None, "the scanner is unplugged"
        os.write(self._fds[0], data)

    def scan(self, code: str) -> None:
        """Send one code as the scanner does: the characters, then CR."""
        self.write(code.encode("ascii") + b"\r")
