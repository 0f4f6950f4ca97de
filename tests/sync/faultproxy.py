"""A small TCP proxy on 127.0.0.1 that passes, cuts, delays, blackholes or refuses connections."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass

# Every wait in the proxy is bounded, so a test that forgets to heal a fault still ends.
IO_TIMEOUT_S = 30.0
BLACKHOLE_MAX_S = 60.0
CHUNK = 65536


@dataclass
class Fault:
    """One mode and how many more connections it applies to (None: until changed)."""

    mode: str = "pass"  # pass | cut | delay | blackhole | refuse | reset
    cut_after_bytes: int = 0
    delay_s: float = 0.0
    remaining: int | None = None


class FaultProxy:
    """Forward 127.0.0.1:<port> to an upstream port, misbehaving on demand.

    - pass: forward both ways;
    - cut: forward the whole request, then only the first N bytes of the response, then close
      (the server has answered, so it has committed: a reply lost on the way back);
    - delay: hold the response for delay_s before forwarding it;
    - blackhole: accept and read, never answer (until the client gives up);
    - reset: accept and reset at once;
    - refuse: stop listening, so connecting fails with "connection refused".
    A fault given with `times=n` applies to the next n connections, then the proxy passes.
    """

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._fault = Fault()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self.port = 0
        self.connections = 0
        self.faults_applied = 0
        self._listen()
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- control ------------------------------------------------------------------------------

    def set(self, mode: str, *, times: int | None = None, cut_after_bytes: int = 0,
            delay_s: float = 0.0) -> None:  # fmt: skip
        if mode not in ("pass", "cut", "delay", "blackhole", "refuse", "reset"):
            raise ValueError(mode)
        with self._lock:
            self._fault = Fault(mode, cut_after_bytes, delay_s, times)
            listening = self._listener is not None
        if mode == "refuse" and listening:
            self._close_listener()
        elif mode != "refuse" and not listening:
            self._listen()

    def heal(self) -> None:
        self.set("pass")

    def close(self) -> None:
        self._stop.set()
        self._close_listener()
        self._accept_thread.join(timeout=5)
        for thread in list(self._threads):
            thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        sock.settimeout(0.1)
        self.port = sock.getsockname()[1]
        with self._lock:
            self._listener = sock

    def _close_listener(self) -> None:
        with self._lock:
            sock, self._listener = self._listener, None
        if sock is not None:
            # shutdown() stops listening at once even while the accept thread is blocked on
            # this socket; close() alone would keep the port open until accept() returns.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _take_fault(self) -> Fault:
        with self._lock:
            fault = self._fault
            if fault.mode == "pass":
                return fault
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._fault = Fault()
            self.faults_applied += 1
            return Fault(fault.mode, fault.cut_after_bytes, fault.delay_s)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                listener = self._listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            self._threads = [t for t in self._threads if t.is_alive()]
            thread = threading.Thread(
                target=self._handle, args=(client, self._take_fault()), daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _handle(self, client: socket.socket, fault: Fault) -> None:
        client.settimeout(IO_TIMEOUT_S)
        upstream: socket.socket | None = None
        try:
            if fault.mode == "reset":
                _reset(client)
                return
            if fault.mode == "blackhole":
                deadline = time.monotonic() + BLACKHOLE_MAX_S
                client.settimeout(0.2)
                while not self._stop.is_set() and time.monotonic() < deadline:
                    try:
                        if not client.recv(CHUNK):
                            return
                    except TimeoutError:
                        continue
                return
            upstream = socket.create_connection(self.upstream, timeout=IO_TIMEOUT_S)
            pump = threading.Thread(target=_pump, args=(client, upstream), daemon=True)
            pump.start()
            self._respond(upstream, client, fault)
            pump.join(timeout=IO_TIMEOUT_S)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    def _respond(self, upstream: socket.socket, client: socket.socket, fault: Fault) -> None:
        sent = 0
        first = True
        while not self._stop.is_set():
            data = upstream.recv(CHUNK)
            if not data:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_WR)
                return
            if first and fault.mode == "delay":
                self._stop.wait(fault.delay_s)
            first = False
            if fault.mode == "cut":
                room = fault.cut_after_bytes - sent
                if room <= 0 or len(data) >= room:
                    client.sendall(data[: max(0, room)])
                    _reset(client)
                    return
            client.sendall(data)
            sent += len(data)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Client → upstream: the request, forwarded as it comes."""
    try:
        while True:
            data = source.recv(CHUNK)
            if not data:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            sink.sendall(data)
    except OSError:
        return


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a dying link or a crashed middlebox would."""
    # SHUT_RD first wakes the thread blocked reading this socket; it sends nothing.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
