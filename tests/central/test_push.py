"""Push: exactly-once storage, acked_through, duplicates, reordering and epoch conflicts."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select

from db.central_models import CentralEvent, EventState, ExceptionKind, SyncException
from db.models import Loan
from tests.central.conftest import CentralDB, SimKiosk
from tests.conftest import FakeClock


def _count(central_db: CentralDB, model: type, *where: object) -> int:
    with central_db.factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_push_stores_and_acks(central_db: CentralDB, library, make_kiosk, clock: FakeClock):
    k = make_kiosk("k1")
    loan = k.checkout("SX00001", "S2026001", clock())
    k.checkin(loan, clock() + dt.timedelta(hours=1))
    k.visit("S2026002", clock())
    clock.advance(hours=2)
    r = k.push()
    assert r.status_code == 200, r.json
    assert r.json["acked_through"] == 3
    assert r.json["server_time"]
    assert _count(central_db, CentralEvent) == 3
    with central_db.factory() as s:
        stored = s.scalar(select(Loan).where(Loan.uuid == loan["loan_uuid"]))
        assert stored is not None and stored.returned_at is not None


def test_duplicate_batch_is_ignored_and_answers_same_n(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    for i in range(5):
        k.checkout(f"SX0000{i + 1}", "S2026001", clock() + dt.timedelta(minutes=i))
    first = k.push()
    again = k.push()  # the reply to the first was "lost"
    assert first.status_code == again.status_code == 200
    assert first.json["acked_through"] == again.json["acked_through"] == 5
    assert again.json["stored"] == 0
    assert _count(central_db, CentralEvent) == 5
    assert _count(central_db, Loan) == 5


def test_reordered_batches_ack_only_contiguous(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    events = [k.visit("S2026001", clock()) for _ in range(6)]
    late = k.push(events[3:])
    assert late.json["acked_through"] == 0
    middle = k.push(events[1:3])
    assert middle.json["acked_through"] == 0
    first = k.push(events[:1])
    assert first.json["acked_through"] == 6
    # N never goes backwards, whatever is sent afterwards.
    assert k.push(events[:2]).json["acked_through"] == 6
    assert k.push([]).json["acked_through"] == 6


def test_bad_token_and_malformed(central_db: CentralDB, make_kiosk, client, clock: FakeClock):
    k: SimKiosk = make_kiosk("k1")
    k.visit("S2026001", clock())
    wrong = SimKiosk("k1", "not-the-token", client, epoch=k.epoch)
    assert wrong.push(k.outbox).status_code == 401
    other = make_kiosk("k2")
    assert other.push(k.outbox).status_code in (400, 401)  # events name another kiosk
    r = client.post(
        "/sync/v1/push", json={"kiosk_id": "k1"}, headers={"Authorization": f"Bearer {k.token}"}
    )
    assert r.status_code == 400 and r.json["error"] == "malformed"
    bad = dict(k.outbox[0], kind="explode")
    assert k.push([bad]).status_code == 400
    assert _count(central_db, CentralEvent) == 0


def test_epoch_conflict_from_restored_database(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    first = k.checkout("SX00001", "S2026001", clock())
    k.checkout("SX00002", "S2026001", clock())
    assert k.push().json["acked_through"] == 2
    # The kiosk database is restored from a backup taken after event 1: its next new event
    # reuses sequence 2 with another event id.
    restored = SimKiosk(
        "k1", k.token, k.client, epoch=k.epoch, next_sequence=2, after_push=k.after_push
    )
    restored.outbox = [first]
    pending = restored.checkout("SX00003", "S2026002", clock() + dt.timedelta(minutes=5))
    r = restored.push([first, pending])
    assert r.status_code == 409
    assert r.json == {
        "error": "epoch_conflict",
        "acked_through": 2,
        "server_time": r.json["server_time"],
    }
    assert _count(central_db, Loan) == 2
    # The kiosk starts a new epoch and renumbers its still-pending events from 1.
    renumbered = dict(pending, epoch=str(uuid.uuid4()), sequence=1)
    r2 = restored.push([renumbered], epoch=renumbered["epoch"])
    assert r2.status_code == 200 and r2.json["acked_through"] == 1
    assert _count(central_db, Loan) == 3
    assert (
        _count(central_db, SyncException, SyncException.kind == ExceptionKind.EPOCH_CONFLICT) == 1
    )


def test_renumbered_event_already_held_counts_but_is_not_reapplied(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    loan = k.checkout("SX00001", "S2026001", clock())
    k.renewal(loan, clock() + dt.timedelta(days=10), renewals=1)
    assert k.push().json["acked_through"] == 2
    new_epoch = str(uuid.uuid4())
    again = [dict(e, epoch=new_epoch, sequence=i + 1) for i, e in enumerate(k.outbox)]
    r = k.push(again, epoch=new_epoch)
    assert r.status_code == 200 and r.json["acked_through"] == 2
    assert r.json["stored"] == 0
    assert _count(central_db, CentralEvent, CentralEvent.state == EventState.DUPLICATE) == 2
    with central_db.factory() as s:
        stored = s.scalar(select(Loan).where(Loan.uuid == loan["loan_uuid"]))
        assert stored is not None and stored.renewals == 1


def test_an_event_sent_twice_in_one_batch_is_stored_once_as_original(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    k.visit("S2026001", clock())
    loan = k.checkout("SX00001", "S2026001", clock())
    twice = dict(loan, sequence=3)
    r = k.push([*k.outbox, twice])
    assert r.status_code == 200 and r.json["acked_through"] == 3
    assert (r.json["stored"], r.json["duplicates"]) == (2, 1)
    with central_db.factory() as s:
        states = dict(
            s.execute(
                select(CentralEvent.sequence, CentralEvent.state).where(
                    CentralEvent.kiosk_id == "k1"
                )
            ).all()
        )
    assert states == {1: EventState.APPLIED, 2: EventState.APPLIED, 3: EventState.DUPLICATE}
    assert _count(central_db, Loan) == 1
