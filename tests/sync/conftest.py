"""Fixtures for the sync tests: an in-test stand-in for the central server that follows the doc."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from tests.sync.faultproxy import FaultProxy

STUB_TOKEN = "stub-token-0123456789abcdef"


@dataclass
class StubCentral:
    """The remote server as docs/sync-protocol.md describes it, in memory.

    It stores events by (kiosk, epoch, sequence), ignores an event_id it already holds
    (counting its new position as held, as after a renumbered epoch), answers the highest
    contiguous sequence, and 409s a different event at a held position. Tests queue
    canned failures in `fail_next` and look at what arrived in `pushes` and `heartbeats`.
    """

    tokens: dict[str, str] = field(default_factory=lambda: {STUB_TOKEN: "kiosk-1"})
    positions: dict[tuple[str, str, int], str] = field(default_factory=dict)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    pushes: list[dict[str, Any]] = field(default_factory=list)
    pulls: list[int] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    # (monotonic time, path) of every request, answered or not.
    requests: list[tuple[float, str]] = field(default_factory=list)
    # (status, headers, json) answered instead of the real reply, one per request.
    fail_next: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    # Called inside the push handler before it answers (e.g. to check the kiosk's locks).
    on_push: Callable[[dict[str, Any]], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acked_through(self, kiosk_id: str, epoch: str) -> int:
        n = 0
        while (kiosk_id, epoch, n + 1) in self.positions:
            n += 1
        return n

    def add_change(
        self, entity: str, key: str, data: dict[str, Any] | None, deleted: bool = False
    ) -> int:
        version = len(self.changes) + 1
        self.changes.append(
            {"entity": entity, "key": key, "version": version, "deleted": deleted, "data": data}
        )
        return version

    def kiosk_for(self, header: str | None) -> str | None:
        token = (header or "").removeprefix("Bearer ").strip()
        return self.tokens.get(token)

    def app(self) -> Flask:
        app = Flask("stub_central")

        @app.before_request
        def gate() -> Any:
            with self.lock:
                self.requests.append((time.monotonic(), request.path))
                if self.fail_next:
                    status, headers, body = self.fail_next.pop(0)
                    response = jsonify(body if body is not None else {"error": "stub"})
                    response.status_code = status
                    response.headers.update(headers)
                    return response
            if self.kiosk_for(request.headers.get("Authorization")) is None:
                response = jsonify({"error": "unauthorized"})
                response.status_code = 401
                return response
            return None

        @app.post("/sync/v1/push")
        def push() -> Any:
            body = request.get_json()
            kiosk_id = self.kiosk_for(request.headers.get("Authorization"))
            assert kiosk_id == body["kiosk_id"]
            epoch = body["epoch"]
            with self.lock:
                self.pushes.append(body)
                for event in body["events"]:
                    assert event["epoch"] == epoch and event["kiosk_id"] == kiosk_id
                    position = (kiosk_id, epoch, event["sequence"])
                    held = self.positions.get(position)
                    if held is not None and held != event["event_id"]:
                        response = jsonify(
                            {
                                "error": "epoch_conflict",
                                "acked_through": self.acked_through(kiosk_id, epoch),
                            }
                        )
                        response.status_code = 409
                        return response
                for event in body["events"]:
                    self.positions[(kiosk_id, epoch, event["sequence"])] = event["event_id"]
                    self.events.setdefault(event["event_id"], event)
                through = self.acked_through(kiosk_id, epoch)
            if self.on_push is not None:
                self.on_push(body)
            return jsonify({"acked_through": through, "server_time": _now()})

        @app.get("/sync/v1/pull")
        def pull() -> Any:
            since = int(request.args["since"])
            limit = int(request.args["limit"])
            with self.lock:
                self.pulls.append(since)
                page = [c for c in self.changes if c["version"] > since][:limit]
                more = bool(page) and page[-1]["version"] < self.changes[-1]["version"]
            return jsonify(
                {
                    "changes": page,
                    "next_since": page[-1]["version"] if page else since,
                    "more": more,
                }
            )

        @app.post("/sync/v1/heartbeat")
        def heartbeat() -> Any:
            with self.lock:
                self.heartbeats.append(request.get_json())
            return jsonify({"server_time": _now()})

        @app.get("/health")
        def health() -> Response:
            return Response("ok")

        return app


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class RunningStub:
    central: StubCentral
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def stub() -> Iterator[RunningStub]:
    central = StubCentral()
    server = make_server("127.0.0.1", 0, central.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield RunningStub(central, server, thread)
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def proxy(stub: RunningStub) -> Iterator[FaultProxy]:
    with FaultProxy(stub.port) as p:
        yield p


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "kiosk_token"
    path.write_text(STUB_TOKEN + "\n", encoding="utf-8")
    return path
