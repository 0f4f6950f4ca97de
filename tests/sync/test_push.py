"""Client and push against the stub central: batches, acknowledgements, lost replies, epochs."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from db.engine import SessionFactory, plain_connection
from db.models import OutboxEvent, OutboxState
from kiosk.services import outbox, state
from kiosk.sync.client import (
    AuthFailed,
    CentralClient,
    EpochConflict,
    ProtocolError,
    RetryLater,
    ServerError,
    Unreachable,
)
from kiosk.sync.push import acked_through, push_pending
from tests.conftest import FakeClock
from tests.sync.conftest import STUB_TOKEN, RunningStub
from tests.sync.faultproxy import FaultProxy

pytestmark = pytest.mark.timeout(60)


def record(factory: SessionFactory, clock: FakeClock, n: int, kiosk_id: str = "kiosk-1") -> None:
    with factory.begin() as session:
        db = plain_connection(session)
        for i in range(n):
            outbox.record_event(db, "visit", {"student_number": f"S{i:04d}"}, kiosk_id, clock())


def states(factory: SessionFactory) -> list[tuple[str, int, str]]:
    with factory() as session:
        rows = session.execute(
            select(OutboxEvent.epoch, OutboxEvent.sequence, OutboxEvent.state).order_by(
                OutboxEvent.id
            )
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def client_for(url: str, token: str | None = STUB_TOKEN, timeout_s: float = 5.0) -> CentralClient:
    return CentralClient(url, "kiosk-1", token, timeout_s)


def test_push_acknowledges_in_batches(
    stub: RunningStub, session_factory: SessionFactory, clock: FakeClock
) -> None:
    record(session_factory, clock, 25)
    result = push_pending(session_factory, client_for(stub.url), 10, clock)
    assert result.acked == 25 and result.batches == 3
    assert [len(p["events"]) for p in stub.central.pushes] == [10, 10, 5]
    assert all(state == OutboxState.ACKED for _, _, state in states(session_factory))
    pushed = [e for p in stub.central.pushes for e in p["events"]]
    assert [e["sequence"] for e in pushed] == list(range(1, 26))
    # The payload goes out exactly as stored in the outbox.
    with session_factory() as session:
        stored = [json.loads(p) for p in session.scalars(select(OutboxEvent.payload))]
    assert pushed == stored
    epoch = pushed[0]["epoch"]
    assert acked_through(session_factory, epoch) == 25
    # Nothing pending: a second run sends nothing.
    assert push_pending(session_factory, client_for(stub.url), 10, clock).batches == 0
    assert len(stub.central.pushes) == 3


def test_no_database_transaction_is_open_during_the_request(
    stub: RunningStub, session_factory: SessionFactory, clock: FakeClock, settings: Any
) -> None:
    """While the central handles the batch, another writer can take the kiosk's write lock."""
    record(session_factory, clock, 5)
    seen: list[str] = []

    def take_write_lock(body: dict[str, Any]) -> None:
        conn = sqlite3.connect(settings.database.path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            seen.append("free")
        except sqlite3.OperationalError as exc:
            seen.append(str(exc))
        finally:
            conn.close()

    stub.central.on_push = take_write_lock
    push_pending(session_factory, client_for(stub.url), 2, clock)
    assert seen == ["free", "free", "free"]


def test_lost_reply_is_resolved_by_sending_the_batch_again(
    stub: RunningStub, proxy: FaultProxy, session_factory: SessionFactory, clock: FakeClock
) -> None:
    record(session_factory, clock, 8)
    # The server stores the batch and answers; the answer dies on the way back.
    proxy.set("cut", cut_after_bytes=12, times=1)
    with pytest.raises(Unreachable):
        push_pending(session_factory, client_for(proxy.url), 8, clock)
    assert len(stub.central.events) == 8
    assert all(state == OutboxState.PENDING for _, _, state in states(session_factory))
    result = push_pending(session_factory, client_for(proxy.url), 8, clock)
    assert result.acked == 8
    assert len(stub.central.pushes) == 2
    assert stub.central.pushes[0]["events"] == stub.central.pushes[1]["events"]
    assert len(stub.central.events) == 8


def test_epoch_conflict_renumbers_pending_events_and_loses_nothing(
    stub: RunningStub, session_factory: SessionFactory, clock: FakeClock
) -> None:
    record(session_factory, clock, 3)
    with session_factory() as session:
        epoch = outbox.database_epoch(session)
    # The central already holds other events at positions 1..5 of this epoch: the kiosk's
    # database is an old copy.
    for seq in range(1, 6):
        stub.central.positions[("kiosk-1", epoch, seq)] = f"other-{seq}"
    result = push_pending(session_factory, client_for(stub.url), 10, clock)
    assert result.epoch_changes == 1 and result.acked == 3
    rows = states(session_factory)
    new_epoch = rows[0][0]
    assert new_epoch != epoch
    assert rows == [(new_epoch, i, OutboxState.ACKED) for i in (1, 2, 3)]
    with session_factory() as session:
        assert state.get_state(session, state.OUTBOX_EPOCH) == new_epoch
        assert state.get_state(session, state.OUTBOX_NEXT_SEQUENCE) == "4"
        payloads = [json.loads(p) for p in session.scalars(select(OutboxEvent.payload))]
    assert [(p["epoch"], p["sequence"]) for p in payloads] == [(new_epoch, i) for i in (1, 2, 3)]
    # New events continue the new epoch.
    record(session_factory, clock, 1)
    assert states(session_factory)[-1][:2] == (new_epoch, 4)


def test_renumbering_keeps_acknowledged_events_and_skips_a_stale_conflict(
    session_factory: SessionFactory, clock: FakeClock
) -> None:
    record(session_factory, clock, 4)
    with session_factory.begin() as session:
        epoch = outbox.database_epoch(session)
        assert outbox.mark_acked(session, epoch, 2, clock()) == 2
        assert outbox.mark_acked(session, epoch, 2, clock()) == 0
    with session_factory.begin() as session:
        new_epoch, moved = outbox.start_new_epoch(session, epoch)
    assert moved == 2
    with session_factory.begin() as session:
        # Another process already moved on from `epoch`: nothing is renumbered again.
        assert outbox.start_new_epoch(session, epoch) == (new_epoch, 0)
    assert states(session_factory) == [
        (epoch, 1, OutboxState.ACKED),
        (epoch, 2, OutboxState.ACKED),
        (new_epoch, 1, OutboxState.PENDING),
        (new_epoch, 2, OutboxState.PENDING),
    ]


def test_acknowledgement_that_goes_backwards_is_not_stored(
    stub: RunningStub, session_factory: SessionFactory, clock: FakeClock
) -> None:
    record(session_factory, clock, 3)
    push_pending(session_factory, client_for(stub.url), 10, clock)
    epoch = states(session_factory)[0][0]
    assert acked_through(session_factory, epoch) == 3
    record(session_factory, clock, 1)
    stub.central.fail_next.append((200, {}, {"acked_through": 1, "server_time": None}))
    with pytest.raises(ProtocolError):
        push_pending(session_factory, client_for(stub.url), 10, clock)
    assert acked_through(session_factory, epoch) == 3
    assert states(session_factory)[-1][2] == OutboxState.PENDING


def test_typed_errors(stub: RunningStub, proxy: FaultProxy, tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(AuthFailed):
        client_for(stub.url, token="wrong").push("e", events, now)
    with pytest.raises(AuthFailed, match="token_file"):
        client_for(stub.url, token=None).push("e", events, now)
    stub.central.fail_next.append((503, {"Retry-After": "7"}, None))
    with pytest.raises(RetryLater) as busy:
        client_for(stub.url).push("e", events, now)
    assert busy.value.retry_after_s == 7.0
    stub.central.fail_next.append((429, {}, None))
    with pytest.raises(RetryLater) as limited:
        client_for(stub.url).pull(0, 10)
    assert limited.value.retry_after_s is None
    stub.central.fail_next.append((409, {}, {"error": "epoch_conflict", "acked_through": 4}))
    with pytest.raises(EpochConflict) as conflict:
        client_for(stub.url).push("e", events, now)
    assert conflict.value.acked_through == 4
    stub.central.fail_next.append((400, {}, {"error": "malformed"}))
    with pytest.raises(ProtocolError, match="malformed"):
        client_for(stub.url).push("e", events, now)
    stub.central.fail_next.append((500, {}, None))
    with pytest.raises(ServerError):
        client_for(stub.url).push("e", events, now)
    stub.central.fail_next.append((200, {}, {"acked_through": "lots"}))
    with pytest.raises(ProtocolError):
        client_for(stub.url).push("e", events, now)
    proxy.set("refuse")
    with pytest.raises(Unreachable, match="refused"):
        client_for(proxy.url).heartbeat({})
    proxy.set("reset", times=1)
    with pytest.raises(Unreachable):
        client_for(proxy.url).heartbeat({})
    proxy.set("blackhole", times=1)
    started = time.monotonic()
    with pytest.raises(Unreachable, match="timed out"):
        client_for(proxy.url, timeout_s=0.5).heartbeat({})
    assert time.monotonic() - started < 5
    proxy.set("delay", delay_s=0.2, times=1)
    assert client_for(proxy.url).heartbeat({"backlog": 0}) is not None


def test_token_file_is_read_per_request(stub: RunningStub, tmp_path: Path) -> None:
    from tests.conftest import make_settings

    token = tmp_path / "token"
    settings = make_settings(tmp_path, sync={"central_url": stub.url, "token_file": str(token)})
    client = CentralClient.from_settings(settings)
    with pytest.raises(AuthFailed):
        client.heartbeat({})
    token.write_text(STUB_TOKEN, encoding="utf-8")
    assert client.heartbeat({}) is not None
