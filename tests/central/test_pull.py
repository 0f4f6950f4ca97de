"""Pull: pages of changes since a version, tombstones, loans from other kiosks, no parent data."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from db.models import Item, Loan, Patron, PatronStatus, Title
from kiosk.services import replica
from tests.central.conftest import CentralDB, SimKiosk
from tests.conftest import FakeClock

RANK = {"title": 0, "patron": 1, "item": 2, "hold": 3, "loan": 4}


def _pull_all(k: SimKiosk, since: int = 0, limit: int = 7) -> tuple[list[dict], int]:
    changes: list[dict] = []
    while True:
        r = k.pull(since, limit)
        assert r.status_code == 200
        body = r.json
        # Each page: what is referred to comes first, then by version.
        order = [(RANK[c["entity"]], c["version"]) for c in body["changes"]]
        assert order == sorted(order)
        changes += body["changes"]
        assert body["next_since"] >= since
        since = body["next_since"]
        if not body["more"]:
            return changes, since


def test_full_pull_in_pages(central_db: CentralDB, library, make_kiosk):
    k: SimKiosk = make_kiosk("k1")
    changes, since = _pull_all(k)
    kinds = {c["entity"] for c in changes}
    assert kinds == {"patron", "title", "item", "hold"}
    assert sum(1 for c in changes if c["entity"] == "patron") == library.patrons
    assert sum(1 for c in changes if c["entity"] == "item") == library.items
    versions = [c["version"] for c in changes]
    assert len(set(versions)) == len(versions)
    # A kiosk applies changes in the order sent: every copy's title must come before it.
    seen_titles: set[str] = set()
    for c in changes:
        if c["entity"] == "title":
            seen_titles.add(c["key"])
        elif c["entity"] == "item":
            assert c["data"]["title_key"] in seen_titles, c
    patron = next(c for c in changes if c["key"] == "S2026001")
    assert set(patron["data"]) == {
        "student_number",
        "card_barcode",
        "name",
        "class_name",
        "grade",
        "status",
        "block_reason",
        "open_compensation_cases",
    }
    item = next(c for c in changes if c["entity"] == "item")
    assert item["data"]["isbn13"] and item["data"]["title_key"] == item["data"]["isbn13"]
    hold = next(c for c in changes if c["entity"] == "hold")
    assert hold["data"]["student_number"] == "S2026005"
    # Nothing new: an empty page that keeps the cursor.
    r = k.pull(since).json
    assert r == {"changes": [], "next_since": since, "more": False}


def test_changes_blocks_deletions_and_loans(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock
):
    k: SimKiosk = make_kiosk("k1")
    other: SimKiosk = make_kiosk("k2")
    _, since = _pull_all(k)
    with central_db.factory.begin() as s:
        patron = s.scalar(select(Patron).where(Patron.student_number == "S2026002"))
        assert patron is not None
        patron.status = PatronStatus.BLOCKED
        patron.block_reason = "lost book"
        s.add(Title(isbn13=None, title="Old book without ISBN"))
        leaving = s.scalar(select(Patron).where(Patron.student_number == "S2026008"))
        s.delete(leaving)
    loan = other.checkout("SX00006", "S2026003", clock() - dt.timedelta(minutes=5))
    assert other.push().status_code == 200
    changes, _ = _pull_all(k, since)
    by_key = {(c["entity"], c["key"]): c for c in changes}
    blocked = by_key[("patron", "S2026002")]
    assert blocked["data"]["status"] == "blocked" and blocked["data"]["block_reason"] == "lost book"
    assert by_key[("patron", "S2026008")] | {"version": 0} == {
        "entity": "patron",
        "key": "S2026008",
        "version": 0,
        "deleted": True,
        "data": None,
    }
    no_isbn = next(c for c in changes if c["entity"] == "title")
    assert no_isbn["key"].startswith("id:") and no_isbn["data"]["isbn13"] is None
    lent = by_key[("loan", loan["loan_uuid"])]["data"]
    assert lent["kiosk_id"] == "k2" and lent["returned_at"] is None
    assert by_key[("item", "SX00006")]["data"]["status"] == "on_loan"


def test_pull_needs_token_and_numbers(central_db: CentralDB, make_kiosk, client):
    k: SimKiosk = make_kiosk("k1")
    assert client.get("/sync/v1/pull?since=0").status_code == 401
    assert k.pull().status_code == 200
    r = client.get("/sync/v1/pull?since=x", headers={"Authorization": f"Bearer {k.token}"})
    assert r.status_code == 400


def test_a_kiosk_joining_late_gets_every_loan(
    central_db: CentralDB, library, make_kiosk, clock: FakeClock, session_factory
):
    """Loans sit below students and copies changed after them in the log; none may be lost."""
    first: SimKiosk = make_kiosk("k1")
    lent = [
        first.checkout("SX00001", "S2026001", clock() - dt.timedelta(hours=2)),
        first.checkout("SX00003", "S2026002", clock() - dt.timedelta(hours=1)),
    ]
    assert first.push().status_code == 200
    # After the loans: a student moves class, a copy moves shelf, a title is corrected.
    with central_db.factory.begin() as s:
        student = s.scalar(select(Patron).where(Patron.student_number == "S2026001"))
        student.class_name = "四年级1班"
        copy = s.scalar(select(Item).where(Item.barcode == "SX00003"))
        copy.location = "新书架"
        copy.title.title = copy.title.title + "（修订版）"

    late: SimKiosk = make_kiosk("k9")
    since, unresolved, pages = 0, 0, 0
    while True:
        body = late.pull(since, 3).json
        with session_factory.begin() as ks:
            unresolved += replica.apply_changes(ks, body["changes"]).unresolved
        since, pages = body["next_since"], pages + 1
        if not body["more"]:
            break
    assert pages > 3 and unresolved == 0
    with session_factory() as ks:
        held = {
            (loan.uuid, ks.get(Item, loan.item_id).barcode)
            for loan in ks.scalars(select(Loan).where(Loan.returned_at.is_(None)))
        }
        moved = ks.scalar(select(Item).where(Item.barcode == "SX00003"))
        assert moved is not None and moved.location == "新书架"
    assert held == {(e["loan_uuid"], e["item_barcode"]) for e in lent}
