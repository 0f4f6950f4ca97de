"""Event streams never starve scans and pages: a real waitress server, twice its threads in streams."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kiosk.app import create_app
from kiosk.serving import make_server
from kiosk.streams import MAX_EVENT_STREAMS, StreamLimiter
from tests.conftest import make_settings
from tests.support import wait_for

THREADS = 4
# Generous: these assert that an answer comes at all, not how fast (that is for bench/).
ANSWER_WITHIN_S = 15.0


@pytest.fixture
def served(tmp_path, engine, clock, demo_library) -> Iterator[tuple[Any, int]]:
    settings = make_settings(tmp_path, server={"threads": THREADS})
    app = create_app(settings, engine=engine, clock=clock)
    server = make_server(app, host="127.0.0.1", port=0, threads=THREADS)

    def serve() -> None:
        # Closing the server from the test thread ends the loop with EBADF; that is the stop.
        with contextlib.suppress(OSError):
            server.run()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield app.extensions["shuxiang"], server.effective_port
    finally:
        app.extensions["shuxiang"].shutting_down.set()
        server.close()
        thread.join(timeout=5)


def open_stream(port: int) -> socket.socket:
    """GET /events on a raw socket, returned once the stream's first bytes have arrived."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN_S)
    sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    received = b""
    while b"retry:" not in received:
        chunk = sock.recv(4096)
        assert chunk, "the stream ended before it started"
        received += chunk
    return sock


def ended(sock: socket.socket, within_s: float) -> bool:
    """Whether the server finished this stream (connection closed) within `within_s`."""
    sock.settimeout(within_s)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    return True


def request(port: int, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_WITHIN_S)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(
            method, path, body=json.dumps(body) if body is not None else None, headers=headers
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_twice_the_threads_in_streams_leave_scans_and_pages_answering(served):
    svc, port = served
    streams = [open_stream(port) for _ in range(2 * THREADS)]
    try:
        status, body = request(port, "POST", "/api/scan", {"code": "20260001"})
        assert status == 200 and json.loads(body)["action"] == "signed_in"
        status, _ = request(port, "GET", "/")
        assert status == 200
        # The oldest streams were closed by the server; the newest are still open.
        old, new = streams[:-MAX_EVENT_STREAMS], streams[-MAX_EVENT_STREAMS:]
        assert all(ended(sock, within_s=ANSWER_WITHIN_S) for sock in old)
        assert not any(ended(sock, within_s=0.5) for sock in new)
        assert svc.streams.open_count == MAX_EVENT_STREAMS
    finally:
        for sock in streams:
            sock.close()
    # Streams whose page went away give their threads back at once, not at the next keepalive.
    wait_for(lambda: svc.streams.open_count == 0 or None, "closed streams noticed", 5.0)


def test_a_new_stream_supersedes_the_oldest_past_the_cap():
    limiter = StreamLimiter(max_streams=2)
    first, second = limiter.open(), limiter.open()
    assert not first.is_set() and not second.is_set()
    third = limiter.open()
    assert first.is_set() and not second.is_set() and not third.is_set()
    limiter.close(second)
    limiter.close(first)  # already superseded: closing it again changes nothing
    assert limiter.open_count == 1
    fourth = limiter.open()
    assert not third.is_set() and not fourth.is_set()
