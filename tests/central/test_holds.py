"""Hold events at the central: idempotent placing, one hold per student and title, cancelling."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from db.models import Hold, Item, Patron, Title
from kiosk.services.demo import isbn13_for
from tests.central.conftest import CentralDB, SimKiosk, iso

T0 = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
TOTTO = isbn13_for(5)  # one copy, SX00010


def placed(kiosk: SimKiosk, student: str, at: dt.datetime, hold_uuid: str | None = None) -> dict:
    return kiosk._event(
        "hold_placed",
        at,
        hold_uuid=hold_uuid or str(uuid.uuid4()),
        title_key=TOTTO,
        isbn13=TOTTO,
        student_number=student,
        placed_at=iso(at),
    )


def cancelled(kiosk: SimKiosk, hold: dict, at: dt.datetime, item: str | None = None) -> dict:
    return kiosk._event(
        "hold_cancelled",
        at,
        hold_uuid=hold["hold_uuid"],
        student_number=hold["student_number"],
        cancelled_at=iso(at),
        item_barcode=item,
    )


def holds(central_db: CentralDB) -> list[tuple[str, str, str | None]]:
    """The holds on 窗边的小豆豆, first in line first: (student, status, copy)."""
    with central_db.factory() as s:
        rows = s.execute(
            select(Patron.student_number, Hold.status, Item.barcode)
            .join(Patron, Patron.id == Hold.patron_id)
            .join(Title, Title.id == Hold.title_id)
            .outerjoin(Item, Item.id == Hold.item_id)
            .where(Title.isbn13 == TOTTO)
            .order_by(Hold.placed_at, Hold.uuid)
        )
        return [tuple(row) for row in rows]


def item_status(central_db: CentralDB, barcode: str) -> str:
    with central_db.factory() as s:
        return str(s.scalar(select(Item.status).where(Item.barcode == barcode)))


def test_the_same_student_reserving_at_two_kiosks_keeps_the_earlier_hold(
    central_db: CentralDB, library, make_kiosk
):
    for first in ("a", "b"):
        with central_db.factory.begin() as s:
            s.query(Hold).delete()
        a: SimKiosk = make_kiosk(f"kiosk-a-{first}")
        b: SimKiosk = make_kiosk(f"kiosk-b-{first}")
        placed(a, "S2026001", T0)
        placed(b, "S2026001", T0 + dt.timedelta(minutes=3))
        for k in (a, b) if first == "a" else (b, a):
            assert k.push().status_code == 200
        # Whichever arrives first, the earlier hold keeps its place in line.
        assert holds(central_db) == [("S2026001", "waiting", None), ("S2026001", "cancelled", None)]


def test_a_repeated_event_places_one_hold(central_db: CentralDB, library, make_kiosk):
    a: SimKiosk = make_kiosk("kiosk-a")
    event = placed(a, "S2026001", T0)
    assert a.push().status_code == 200
    # The same hold again, as a new event (a renumbered epoch): still one hold.
    placed(a, "S2026001", T0, hold_uuid=event["hold_uuid"])
    assert a.push().status_code == 200
    assert holds(central_db) == [("S2026001", "waiting", None)]


def test_cancelling_a_ready_hold_passes_the_copy_on(central_db: CentralDB, library, make_kiosk):
    a: SimKiosk = make_kiosk("kiosk-a")
    loan = a.checkout("SX00010", "S2026008", T0)
    first = placed(a, "S2026001", T0 + dt.timedelta(minutes=1))
    placed(a, "S2026003", T0 + dt.timedelta(minutes=2))
    a.push()
    a.outbox.clear()
    a._event(
        "checkin",
        T0 + dt.timedelta(hours=1),
        loan_uuid=loan["loan_uuid"],
        item_barcode="SX00010",
        returned_at=iso(T0 + dt.timedelta(hours=1)),
        hold_uuid=first["hold_uuid"],
    )
    a.push()
    a.outbox.clear()
    assert holds(central_db) == [("S2026001", "ready", "SX00010"), ("S2026003", "waiting", None)]
    assert item_status(central_db, "SX00010") == "on_hold_shelf"
    cancelled(a, first, T0 + dt.timedelta(hours=2), item="SX00010")
    a.push()
    assert holds(central_db) == [
        ("S2026001", "cancelled", "SX00010"),
        ("S2026003", "ready", "SX00010"),
    ]
    assert item_status(central_db, "SX00010") == "on_hold_shelf"


def test_a_cancelled_ready_hold_with_nobody_next_frees_the_copy(
    central_db: CentralDB, library, make_kiosk
):
    a: SimKiosk = make_kiosk("kiosk-a")
    loan = a.checkout("SX00010", "S2026008", T0)
    hold = placed(a, "S2026001", T0 + dt.timedelta(minutes=1))
    a._event(
        "checkin",
        T0 + dt.timedelta(hours=1),
        loan_uuid=loan["loan_uuid"],
        item_barcode="SX00010",
        returned_at=iso(T0 + dt.timedelta(hours=1)),
        hold_uuid=hold["hold_uuid"],
    )
    cancelled(a, hold, T0 + dt.timedelta(hours=2), item="SX00010")
    a.push()
    assert holds(central_db) == [("S2026001", "cancelled", "SX00010")]
    assert item_status(central_db, "SX00010") == "available"


def test_hold_events_are_checked_like_the_others(central_db: CentralDB, library, make_kiosk):
    a: SimKiosk = make_kiosk("kiosk-a")
    bad = placed(a, "S2026001", T0)
    bad["placed_at"] = "yesterday"
    response = a.push()
    assert response.status_code == 400 and "yesterday" in response.get_json()["message"]


def test_a_hold_for_an_unknown_student_is_kept_for_the_librarian(
    central_db: CentralDB, library, make_kiosk
):
    from db.central_models import SyncException

    a: SimKiosk = make_kiosk("kiosk-a")
    placed(a, "S9999999", T0)
    assert a.push().status_code == 200
    assert holds(central_db) == []
    with central_db.factory() as s:
        kinds = list(s.scalars(select(SyncException.kind)))
    assert kinds == ["unknown_patron"]
