"""What kiosks send the central: token checks, pushed event batches, heartbeats."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from central.conflicts import ensure_exception
from central.events import CLOCK_TOLERANCE, IncomingEvent, MalformedEvent, parse_time
from central.upsert import dialect_insert
from db.central_models import (
    CentralEvent,
    EventState,
    ExceptionKind,
    Kiosk,
    KioskEpoch,
    SyncRun,
)
from kiosk.clock import Clock

MAX_BATCH_EVENTS = 10_000
MAX_TEXT = 500
# Consecutive heartbeats with a larger backlog before the monitor calls it "growing".
BACKLOG_GROWING_AFTER = 3
# Stored payloads: compact, and one encoder for every event rather than one per json.dumps call.
PAYLOAD_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


# --- kiosks and their tokens -------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """32 random bytes, URL-safe: long enough that SHA-256 of it is all the server keeps."""
    return secrets.token_urlsafe(32)


def register_kiosk(
    session: Session, kiosk_id: str, name: str, now: dt.datetime
) -> tuple[Kiosk, str]:
    """Register `kiosk_id` (or give it a new token) and return the token. Caller commits.

    The token is returned once and never stored: print it, or write it to the kiosk's file.
    """
    token = new_token()
    kiosk = session.get(Kiosk, kiosk_id)
    if kiosk is None:
        kiosk = Kiosk(
            id=kiosk_id,
            name=name or kiosk_id,
            token_sha256=hash_token(token),
            created_at=now,
            clock_doubtful=False,
            backlog_rising_count=0,
            pushes_ok=0,
            pushes_conflict=0,
            pushes_rejected=0,
            events_received=0,
        )
        session.add(kiosk)
    else:
        kiosk.token_sha256 = hash_token(token)
        if name:
            kiosk.name = name
    session.flush()
    return kiosk, token


def kiosk_for_token(session: Session, token: str, *, lock: bool = False) -> Kiosk | None:
    """The kiosk holding `token`; `lock` also takes its row lock until the transaction ends."""
    if not token:
        return None
    query = select(Kiosk).where(Kiosk.token_sha256 == hash_token(token))
    return session.scalar(query.with_for_update() if lock else query)


def _locked_kiosk(session: Session, kiosk_id: str) -> Kiosk:
    kiosk = session.scalar(select(Kiosk).where(Kiosk.id == kiosk_id).with_for_update())
    if kiosk is None:
        raise LookupError(kiosk_id)
    return kiosk


# --- push ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushRequest:
    kiosk_id: str
    epoch: str
    sent_at: dt.datetime | None
    events: list[IncomingEvent]


def parse_push(body: Any) -> PushRequest:
    """Validate a push body; raise MalformedEvent naming the first problem."""
    if not isinstance(body, dict):
        raise MalformedEvent("send a JSON object")
    kiosk_id, epoch, events = body.get("kiosk_id"), body.get("epoch"), body.get("events")
    if not isinstance(kiosk_id, str) or not kiosk_id:
        raise MalformedEvent("kiosk_id is missing")
    if not isinstance(epoch, str) or not epoch or len(epoch) > 36:
        raise MalformedEvent("epoch is missing")
    if not isinstance(events, list):
        raise MalformedEvent("events must be a list")
    if len(events) > MAX_BATCH_EVENTS:
        raise MalformedEvent(f"at most {MAX_BATCH_EVENTS} events per push")
    parsed = [IncomingEvent.parse(e) for e in events]
    sequences = set()
    for e in parsed:
        if e.kiosk_id != kiosk_id or e.epoch != epoch:
            raise MalformedEvent(f"event {e.sequence} belongs to another kiosk or epoch")
        if e.sequence in sequences:
            raise MalformedEvent(f"sequence {e.sequence} appears twice in one push")
        sequences.add(e.sequence)
    sent_at = parse_time(body["sent_at"]) if body.get("sent_at") else None
    return PushRequest(kiosk_id, epoch, sent_at, sorted(parsed, key=lambda e: e.sequence))


@dataclass(frozen=True)
class PushResult:
    status: int
    acked_through: int
    stored: int
    duplicates: int
    server_time: dt.datetime

    def as_json(self) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "acked_through": self.acked_through,
            "server_time": self.server_time.isoformat(),
        }
        if self.status == 409:
            reply["error"] = "epoch_conflict"
        else:
            reply["stored"] = self.stored
            reply["duplicates"] = self.duplicates
        return reply


def push_batch(session: Session, kiosk: Kiosk, request: PushRequest, clock: Clock) -> PushResult:
    """Store a batch's new events and say how far this kiosk's events are all held.

    `kiosk` must be locked by the caller (`kiosk_for_token(..., lock=True)`): one kiosk's
    pushes then run one at a time, so a retry racing its original waits instead of inserting
    the same positions twice. Everything happens in the caller's one transaction; the caller
    commits and only then answers, so an acknowledged event is always on disk and a crash
    leaves no half batch. The ledger applies stored events afterwards
    (`central.applier.apply_received`, run by the worker thread), so accepting a batch never
    waits for the ledger's global lock.
    """
    started = clock()
    epoch_row = session.get(KioskEpoch, (kiosk.id, request.epoch))
    if epoch_row is None:
        epoch_row = KioskEpoch(
            kiosk_id=kiosk.id,
            epoch=request.epoch,
            acked_through=0,
            max_sequence=0,
            first_seen_at=started,
        )
        session.add(epoch_row)
    events = request.events
    # The usual push carries the next positions, above everything this epoch holds: only a
    # retried or overlapping push can find anything there, so only such a push asks.
    held = _held_at_positions(session, kiosk.id, request.epoch, events, epoch_row.max_sequence or 0)
    clashes = [e.sequence for e in events if e.sequence in held and held[e.sequence] != e.event_id]
    if clashes:
        return _epoch_conflict(session, kiosk, epoch_row, request, clashes, started, clock)

    new = [e for e in events if e.sequence not in held]
    _flag_doubtful_times(session, kiosk, new, started)
    stored = _store(session, kiosk.id, request.epoch, new, started)
    epoch_row.acked_through = _contiguous_through(session, epoch_row, [e.sequence for e in events])
    epoch_row.max_sequence = max([epoch_row.max_sequence or 0, *(e.sequence for e in events)])
    # The kiosk row is changed only after the last query, so it is written once, at the flush.
    kiosk.last_push_at = started
    kiosk.pushes_ok += 1
    kiosk.events_received += stored
    kiosk.last_push_ok_at = started
    kiosk.last_push_error = None
    kiosk.current_epoch = request.epoch
    finished = clock()
    _record_run(
        session,
        kiosk.id,
        "ok",
        started,
        finished,
        epoch_row=epoch_row,
        events_sent=len(events),
        events_new=stored,
        message=f"{len(new) - stored} duplicate(s)" if len(new) > stored else "",
    )
    session.flush()
    return PushResult(200, epoch_row.acked_through, stored, len(events) - stored, finished)


# The positions of this epoch in a range, as a statement built once. A range, not a list: a
# prepared statement's generic plan then still uses the (kiosk, epoch, sequence) index.
_HELD_AT_POSITIONS = select(CentralEvent.sequence, CentralEvent.event_id).where(
    CentralEvent.kiosk_id == bindparam("kiosk_id"),
    CentralEvent.epoch == bindparam("epoch"),
    CentralEvent.sequence.between(bindparam("low"), bindparam("high")),
)


def _held_at_positions(
    session: Session, kiosk_id: str, epoch: str, events: list[IncomingEvent], held_through: int
) -> dict[int, str]:
    """The event ids the epoch holds at the events' positions; none above `held_through`."""
    if not events:
        return {}
    sequences = [e.sequence for e in events]
    if min(sequences) > held_through:
        return {}
    wanted = set(sequences)
    params = {
        "kiosk_id": kiosk_id,
        "epoch": epoch,
        "low": min(sequences),
        "high": max(sequences),
    }
    return {
        sequence: event_id
        for sequence, event_id in session.execute(_HELD_AT_POSITIONS, params)
        if sequence in wanted
    }


def _store(
    session: Session, kiosk_id: str, epoch: str, events: list[IncomingEvent], now: dt.datetime
) -> int:
    """Store events at positions nothing holds; return how many are new to the central.

    An event id is held once as an original (the partial unique index on event_id): the first
    insert, with no conflict target, skips an event whose id is already held — re-sent in a
    renumbered epoch, or twice in this batch — and those are then stored at their positions
    as duplicates, which the ledger never applies. One statement in the usual push, where
    asking first would cost a query for every batch.
    """
    if not events:
        return 0

    def row(e: IncomingEvent, state: EventState) -> dict[str, Any]:
        return {
            "event_id": e.event_id,
            "kiosk_id": kiosk_id,
            "epoch": epoch,
            "sequence": e.sequence,
            "kind": e.kind,
            "loan_uuid": e.loan_uuid,
            "payload": PAYLOAD_JSON.encode(e.body),
            "recorded_at": e.recorded_at,
            "received_at": now,
            "state": state,
            "time_doubtful": e.time_doubtful,
            "applied_at": None,
        }

    insert = dialect_insert(session, CentralEvent.__table__)
    # An executemany through the session's connection: a CursorResult, which counts rows.
    inserted = session.connection().execute(
        insert.on_conflict_do_nothing(), [row(e, EventState.RECEIVED) for e in events]
    )
    if inserted.rowcount == len(events):
        return len(events)
    # Some were skipped, or the driver does not count an executemany (psycopg answers -1):
    # the positions now held say which. RETURNING would say it in the insert itself, but made
    # PostgreSQL's insert about twice as slow as this extra range read.
    held = _held_at_positions(session, kiosk_id, epoch, events, held_through=events[-1].sequence)
    duplicates = [row(e, EventState.DUPLICATE) for e in events if e.sequence not in held]
    if duplicates:
        session.execute(insert, duplicates)
    return len(events) - len(duplicates)


def _contiguous_through(session: Session, epoch_row: KioskEpoch, batch: list[int]) -> int:
    """The highest N such that sequences 1..N are all held; never less than before."""
    n = epoch_row.acked_through
    in_order = bool(batch) and batch == list(range(n + 1, n + 1 + len(batch)))
    if in_order and (epoch_row.max_sequence or 0) <= batch[-1]:
        # The usual push: the next sequences in order, and nothing held beyond them.
        return batch[-1]
    following = session.scalars(
        select(CentralEvent.sequence)
        .where(
            CentralEvent.kiosk_id == epoch_row.kiosk_id,
            CentralEvent.epoch == epoch_row.epoch,
            CentralEvent.sequence > n,
        )
        .order_by(CentralEvent.sequence)
    )
    for sequence in following:
        if sequence != n + 1:
            break
        n = sequence
    return n


def _flag_doubtful_times(
    session: Session, kiosk: Kiosk, events: list[IncomingEvent], received_at: dt.datetime
) -> None:
    ahead = [
        e
        for e in events
        if e.recorded_at is not None and e.recorded_at > received_at + CLOCK_TOLERANCE
    ]
    for e in events:
        e.time_doubtful = kiosk.clock_doubtful or e in ahead
    if ahead:
        worst = max((e.recorded_at - received_at).total_seconds() for e in ahead if e.recorded_at)
        _flag_clock(
            session,
            kiosk,
            {"source": "event times in the future", "events": len(ahead), "ahead_s": round(worst)},
            received_at,
        )


def _flag_clock(
    session: Session, kiosk: Kiosk, details: dict[str, object], now: dt.datetime
) -> None:
    """One open clock_offset exception per kiosk, reopened with the latest evidence."""
    ensure_exception(
        session,
        kind=ExceptionKind.CLOCK_OFFSET,
        dedup_key=f"clock_offset:{kiosk.id}",
        subject=f"kiosk:{kiosk.id}",
        kiosks=(kiosk.id,),
        details={**details, "observed_at": now.isoformat()},
        now=now,
        reopen=True,
    )


def _epoch_conflict(
    session: Session,
    kiosk: Kiosk,
    epoch_row: KioskEpoch,
    request: PushRequest,
    clashes: list[int],
    started: dt.datetime,
    clock: Clock,
) -> PushResult:
    """The kiosk's database was restored from an old copy: refuse the batch, tell the librarian."""
    ensure_exception(
        session,
        kind=ExceptionKind.EPOCH_CONFLICT,
        dedup_key=f"epoch_conflict:{kiosk.id}:{request.epoch}",
        subject=f"kiosk:{kiosk.id}",
        kiosks=(kiosk.id,),
        details={
            "epoch": request.epoch,
            "sequences": clashes[:20],
            "acked_through": epoch_row.acked_through,
            "note": "the kiosk database was restored or copied; it will renumber its "
            "unsent events in a new epoch",
        },
        now=started,
    )
    kiosk.last_push_at = started
    kiosk.pushes_conflict += 1
    kiosk.last_push_error = f"epoch conflict at sequence {clashes[0]}"
    finished = clock()
    _record_run(
        session,
        kiosk.id,
        "epoch_conflict",
        started,
        finished,
        epoch_row=epoch_row,
        events_sent=len(request.events),
        message=f"{len(clashes)} position(s) already hold other events",
    )
    session.flush()
    return PushResult(409, epoch_row.acked_through, 0, 0, finished)


def record_rejected_push(session: Session, kiosk_id: str, reason: str, now: dt.datetime) -> None:
    """Count a malformed push on the monitor (the reason, not the body). Caller commits."""
    kiosk = session.get(Kiosk, kiosk_id)
    if kiosk is None:
        return
    kiosk.pushes_rejected += 1
    kiosk.last_push_at = now
    kiosk.last_push_error = reason[:MAX_TEXT]
    _record_run(session, kiosk_id, "rejected", now, now, message=reason[:MAX_TEXT])


def record_pull(session: Session, kiosk_id: str, sent: int, now: dt.datetime) -> None:
    """Note a pull that carried changes in the kiosk's sync history. Caller commits."""
    if sent:
        _record_run(
            session, kiosk_id, "pull", now, now, events_new=sent, message=f"{sent} change(s) sent"
        )


def _record_run(
    session: Session,
    kiosk_id: str,
    outcome: str,
    started: dt.datetime,
    finished: dt.datetime,
    *,
    epoch_row: KioskEpoch | None = None,
    events_sent: int = 0,
    events_new: int = 0,
    message: str = "",
) -> None:
    """One line of the kiosk's sync history; a push names its epoch and how far it is acked."""
    session.add(
        SyncRun(
            kiosk_id=kiosk_id,
            started_at=started,
            finished_at=finished,
            outcome=outcome,
            epoch=epoch_row.epoch if epoch_row else None,
            events_sent=events_sent,
            events_new=events_new,
            acked_through=epoch_row.acked_through if epoch_row else None,
            message=message,
        )
    )


# --- heartbeat -----------------------------------------------------------------------------------


# Heartbeat counts are stored in 32-bit columns (PostgreSQL refuses more); free bytes in 64-bit.
INT32_MAX = 2**31 - 1


def _opt_int(body: dict[str, Any], key: str, highest: int = INT32_MAX) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= highest:
        raise MalformedEvent(f"{key} must be a whole number from 0 to {highest}")
    return value


def _opt_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedEvent(f"{key} must be text")
    return value[:MAX_TEXT]


# A reported push delay or backlog age beyond this is nonsense, not a schedule.
MAX_SCHEDULE_S = 366 * 86_400


def _opt_seconds(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedEvent(f"{key} must be a number of seconds")
    if not 0 <= value <= MAX_SCHEDULE_S:
        raise MalformedEvent(f"{key} must be between 0 and {MAX_SCHEDULE_S}")
    return float(value)


def record_heartbeat(session: Session, kiosk_id: str, body: Any, now: dt.datetime) -> Kiosk:
    """Store a kiosk's status and estimate its clock offset. Caller commits.

    The offset is the kiosk's `clock` minus the server's receipt time; network delay makes
    it a little negative, which is far below the 5-minute tolerance.
    """
    if not isinstance(body, dict):
        raise MalformedEvent("send a JSON object")
    if body.get("kiosk_id") not in (None, kiosk_id):
        raise MalformedEvent("kiosk_id does not match the token")
    clock = parse_time(body.get("clock"))
    scanner = body.get("scanner_connected")
    if scanner is not None and not isinstance(scanner, bool):
        raise MalformedEvent("scanner_connected must be true, false or null")
    db_ok = body.get("db_ok")
    if db_ok is not None and not isinstance(db_ok, bool):
        raise MalformedEvent("db_ok must be true, false or null")
    backlog = _opt_int(body, "backlog")
    # The push schedule (optional: older kiosks don't send it) comes as ages and delays,
    # turned into times here on the central's clock.
    oldest_pending_age = _opt_seconds(body, "oldest_pending_age_s")
    next_push_in = _opt_seconds(body, "next_push_in_s")
    sync_interval = _opt_seconds(body, "sync_interval_s")
    last_sync = body.get("last_sync_at")
    kiosk = _locked_kiosk(session, kiosk_id)
    offset = (clock - now).total_seconds()
    if backlog is not None and kiosk.backlog is not None and backlog > kiosk.backlog:
        kiosk.backlog_rising_count += 1
    elif backlog is not None and (kiosk.backlog is None or backlog < kiosk.backlog or backlog == 0):
        kiosk.backlog_rising_count = 0
    kiosk.heartbeat_at = now
    kiosk.reported_clock_at = clock
    kiosk.clock_offset_s = offset
    kiosk.scanner_connected = scanner
    kiosk.db_ok = db_ok
    kiosk.backlog = backlog
    kiosk.reported_last_sync_at = parse_time(last_sync) if last_sync else None
    kiosk.reported_last_error = _opt_text(body, "last_error")
    kiosk.software_version = (_opt_text(body, "version") or "")[:64] or None
    kiosk.sqlite_version = (_opt_text(body, "sqlite_version") or "")[:32] or None
    kiosk.disk_free_bytes = _opt_int(body, "disk_free_bytes", highest=2**63 - 1)
    kiosk.checkouts_today = _opt_int(body, "checkouts_today")
    kiosk.returns_today = _opt_int(body, "returns_today")
    kiosk.oldest_pending_at = (
        None if oldest_pending_age is None else now - dt.timedelta(seconds=oldest_pending_age)
    )
    kiosk.next_push_at = None if next_push_in is None else now + dt.timedelta(seconds=next_push_in)
    kiosk.sync_interval_s = None if sync_interval is None else round(sync_interval)
    kiosk.clock_doubtful = abs(offset) > CLOCK_TOLERANCE.total_seconds()
    if kiosk.clock_doubtful:
        _flag_clock(session, kiosk, {"source": "heartbeat", "offset_s": round(offset)}, now)
    return kiosk
