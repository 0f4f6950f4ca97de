"""The change log: every write to a synced row gets the next global version, for kiosks to pull."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, insert, inspect, select, update
from sqlalchemy.orm import Session, joinedload, sessionmaker

from central.upsert import dialect_insert
from db.central_models import ChangeCounter, ChangeLogEntry
from db.models import Hold, Item, Loan, Patron, Title

ENTITY_OF: dict[type[Any], str] = {
    Patron: "patron",
    Title: "title",
    Item: "item",
    Hold: "hold",
    Loan: "loan",
}

# The attribute a natural key is made of; a change to it tombstones the old key.
KEY_ATTRIBUTE = {
    "patron": "student_number",
    "title": "isbn13",
    "item": "barcode",
    "hold": "uuid",
    "loan": "uuid",
}

MAX_PULL_LIMIT = 5000


def title_key(isbn13: str | None, title_id: int) -> str:
    """A title's natural key: its ISBN-13, or `id:<central id>` for books without one."""
    return isbn13 if isbn13 else f"id:{title_id}"


def natural_key(obj: Any) -> str:
    if isinstance(obj, Patron):
        return obj.student_number
    if isinstance(obj, Title):
        return title_key(obj.isbn13, obj.id)
    if isinstance(obj, Item):
        return obj.barcode
    if isinstance(obj, Hold):
        return obj.uuid
    if isinstance(obj, Loan):
        return obj.uuid
    raise TypeError(f"not a synced entity: {type(obj).__name__}")


def _old_key(obj: Any, entity: str) -> str | None:
    """The natural key before this flush, when the flush changed it."""
    attr = KEY_ATTRIBUTE.get(entity)
    if attr is None:
        return None
    history = inspect(obj).attrs[attr].history
    if not history.deleted:
        return None
    old = history.deleted[0]
    if entity == "title":
        return title_key(old, obj.id)
    return None if old is None else str(old)


@dataclass(frozen=True)
class _Change:
    entity: str
    key: str
    row_id: int | None
    deleted: bool


def _collect(session: Session) -> dict[tuple[str, str], _Change]:
    changes: dict[tuple[str, str], _Change] = {}

    def put(entity: str, key: str, row_id: int | None, deleted: bool) -> None:
        changes[(entity, key)] = _Change(entity, key, row_id, deleted)

    for obj in session.deleted:
        entity = ENTITY_OF.get(type(obj))
        if entity:
            put(entity, _old_key(obj, entity) or natural_key(obj), obj.id, True)
    # session.dirty and session.new are rebuilt on every access: take them once per flush.
    # Keep their order: versions follow it, and a kiosk must see a title before its copies.
    dirty, new = list(session.dirty), list(session.new)
    dirty_ids, new_ids = {id(o) for o in dirty}, {id(o) for o in new}
    for obj in [*dirty, *new]:
        entity = ENTITY_OF.get(type(obj))
        if not entity or (id(obj) in dirty_ids and not session.is_modified(obj)):
            continue
        old = _old_key(obj, entity) if id(obj) not in new_ids else None
        key = natural_key(obj)
        if old is not None and old != key:
            put(entity, old, obj.id, True)
        put(entity, key, obj.id, False)
    return changes


def _after_flush(session: Session, flush_context: Any) -> None:
    changes = _collect(session)
    if changes:
        record(session, changes.values())


def record(session: Session, changes: Iterable[_Change]) -> None:
    """Give each change the next version and upsert it into the log. Caller commits.

    Bumping the single counter row takes its row lock (PostgreSQL) until commit, so versions
    become visible in the order they were handed out: a kiosk that has pulled up to V can
    never later find a committed change below V that it missed.
    """
    batch = list(changes)
    conn = session.connection()
    conn.execute(
        update(ChangeCounter)
        .where(ChangeCounter.id == 1)
        .values(version=ChangeCounter.version + len(batch))
    )
    top = conn.scalar(select(ChangeCounter.version).where(ChangeCounter.id == 1))
    if top is None:
        # A database migrated without its counter row: create it (first writer wins the PK).
        conn.execute(insert(ChangeCounter).values(id=1, version=len(batch)))
        top = len(batch)
    first = int(top) - len(batch) + 1
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "entity": c.entity,
            "key": c.key,
            "version": first + i,
            "row_id": c.row_id,
            "deleted": c.deleted,
            "changed_at": now,
        }
        for i, c in enumerate(batch)
    ]
    stmt = dialect_insert(session, ChangeLogEntry)
    stmt = stmt.on_conflict_do_update(
        index_elements=["entity", "key"],
        set_={
            "version": stmt.excluded.version,
            "row_id": stmt.excluded.row_id,
            "deleted": stmt.excluded.deleted,
            "changed_at": stmt.excluded.changed_at,
        },
    )
    # executemany, not one multi-row VALUES: keys are unique per flush, and each row is its
    # own statement either way.
    conn.execute(stmt, rows)


def install_change_log(factory: sessionmaker[Session]) -> None:
    """Make every session from `factory` record changes to synced rows in the change log."""
    event.listen(factory, "after_flush", _after_flush)


def lock_change_counter(session: Session) -> None:
    """Serialise with every other writer of synced rows until this transaction ends.

    The ledger reads loans and then writes them; holding this lock first makes those reads
    current on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers).
    """
    session.execute(select(ChangeCounter.id).where(ChangeCounter.id == 1).with_for_update())


# --- pull ----------------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def _patron_data(p: Patron) -> dict[str, Any]:
    # Parents' contact details stay on the central: kiosks never need them.
    return {
        "student_number": p.student_number,
        "card_barcode": p.card_barcode,
        "name": p.name,
        "class_name": p.class_name,
        "grade": p.grade,
        "status": p.status,
        "block_reason": p.block_reason,
        # Lost or damaged books not yet settled: kiosks may refuse loans while above 0.
        "open_compensation_cases": p.open_compensation_cases,
    }


def _title_data(t: Title) -> dict[str, Any]:
    return {
        "isbn13": t.isbn13,
        "title_key": title_key(t.isbn13, t.id),
        "title": t.title,
        "author": t.author,
        "publisher": t.publisher,
        "year": t.year,
        "call_number": t.call_number,
        "classification": t.classification,
        "unified_number": t.unified_number,
        "series": t.series,
        "subjects": t.subjects,
    }


def _item_data(i: Item) -> dict[str, Any]:
    return {
        "barcode": i.barcode,
        "isbn13": i.title.isbn13,
        "title_key": title_key(i.title.isbn13, i.title_id),
        "location": i.location,
        "status": i.status,
    }


def _hold_data(h: Hold, item_barcodes: dict[int, str]) -> dict[str, Any]:
    return {
        "hold_uuid": h.uuid,
        "title_key": title_key(h.title.isbn13, h.title_id),
        "student_number": h.patron.student_number,
        "status": h.status,
        "item_barcode": item_barcodes.get(h.item_id) if h.item_id is not None else None,
        "placed_at": _iso(h.placed_at),
        "ready_at": _iso(h.ready_at),
    }


def _loan_data(loan: Loan) -> dict[str, Any]:
    return {
        "loan_uuid": loan.uuid,
        "item_barcode": loan.item.barcode,
        "student_number": loan.patron.student_number,
        "checked_out_at": _iso(loan.checked_out_at),
        "due_at": _iso(loan.due_at),
        "returned_at": _iso(loan.returned_at),
        "renewals": loan.renewals,
        "kiosk_id": loan.kiosk_id,
    }


@dataclass(frozen=True)
class PullPage:
    changes: list[dict[str, Any]]
    next_since: int
    more: bool


# A page is applied in this order: a kiosk must know a title before its copies, and a copy and
# a student before the loans and holds that name them.
APPLY_RANK = {"title": 0, "patron": 1, "item": 2, "hold": 3, "loan": 4}
# The natural keys a row's data refers to, by entity: (referred entity, data field).
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "item": (("title", "title_key"),),
    "hold": (("title", "title_key"), ("patron", "student_number"), ("item", "item_barcode")),
    "loan": (("patron", "student_number"), ("item", "item_barcode")),
}


def changes_since(session: Session, since: int, limit: int) -> PullPage:
    """One page of the change log above `since`, with each row's current data.

    The log keeps one entry per row, at the version of its latest change, so a loan can sit
    below the student or copy it names (the student's class changed after the loan). A page
    is therefore ordered referents first (titles, students, copies, then holds and loans,
    each by version), and a row this page refers to whose entry lies beyond the page is sent
    here too, before what refers to it: a kiosk pulling from any point never meets a loan
    for a student it has not been told about. It receives that row again at its own version,
    which applies as a no-op.
    """
    limit = max(1, min(limit, MAX_PULL_LIMIT))
    entries = list(
        session.scalars(
            select(ChangeLogEntry)
            .where(ChangeLogEntry.version > since)
            .order_by(ChangeLogEntry.version)
            .limit(limit + 1)
        )
    )
    more = len(entries) > limit
    entries = entries[:limit]
    next_since = entries[-1].version if entries else since
    changes = _with_data(session, entries)
    changes = _referents_beyond(session, changes, next_since) + changes
    changes.sort(key=lambda c: (APPLY_RANK[c["entity"]], c["version"]))
    return PullPage(changes, next_since, more)


def _with_data(session: Session, entries: list[ChangeLogEntry]) -> list[dict[str, Any]]:
    ids: dict[str, list[int]] = {}
    for e in entries:
        if not e.deleted and e.row_id is not None:
            ids.setdefault(e.entity, []).append(e.row_id)
    data = _load_rows(session, ids)
    changes = []
    for e in entries:
        row = None if e.deleted or e.row_id is None else data.get((e.entity, e.row_id))
        changes.append(
            {
                "entity": e.entity,
                "key": e.key,
                "version": e.version,
                # A row deleted without a tombstone (outside the change log) reads as deleted.
                "deleted": row is None,
                "data": row,
            }
        )
    return changes


def _referents_beyond(
    session: Session, changes: list[dict[str, Any]], next_since: int
) -> list[dict[str, Any]]:
    """The rows `changes` refer to whose log entries lie beyond `next_since`, with their data.

    Two rounds: a copy sent early may itself name a title that lies beyond the page.
    """
    sent = {(c["entity"], c["key"]) for c in changes}
    found: list[dict[str, Any]] = []
    pending = changes
    for _ in range(2):
        wanted: dict[str, set[str]] = {}
        for c in pending:
            for entity, field_name in REFERENCES.get(c["entity"], ()):
                key = (c["data"] or {}).get(field_name)
                if isinstance(key, str) and key and (entity, key) not in sent:
                    wanted.setdefault(entity, set()).add(key)
        if not wanted:
            break
        entries = [
            entry
            for entity, keys in wanted.items()
            for entry in session.scalars(
                select(ChangeLogEntry).where(
                    ChangeLogEntry.entity == entity,
                    ChangeLogEntry.key.in_(sorted(keys)),
                    ChangeLogEntry.version > next_since,
                    ChangeLogEntry.deleted.is_(False),
                )
            )
        ]
        pending = [c for c in _with_data(session, entries) if not c["deleted"]]
        sent |= {(c["entity"], c["key"]) for c in pending}
        found += pending
    return found


def _load_rows(session: Session, ids: dict[str, list[int]]) -> dict[tuple[str, int], Any]:
    out: dict[tuple[str, int], Any] = {}
    if ids.get("patron"):
        for p in session.scalars(select(Patron).where(Patron.id.in_(ids["patron"]))):
            out[("patron", p.id)] = _patron_data(p)
    if ids.get("title"):
        for t in session.scalars(select(Title).where(Title.id.in_(ids["title"]))):
            out[("title", t.id)] = _title_data(t)
    if ids.get("item"):
        items = session.scalars(
            select(Item).options(joinedload(Item.title)).where(Item.id.in_(ids["item"]))
        )
        for i in items:
            out[("item", i.id)] = _item_data(i)
    if ids.get("hold"):
        holds = list(
            session.scalars(
                select(Hold)
                .options(joinedload(Hold.title), joinedload(Hold.patron))
                .where(Hold.id.in_(ids["hold"]))
            )
        )
        item_ids = {h.item_id for h in holds if h.item_id is not None}
        barcodes = dict(
            session.execute(select(Item.id, Item.barcode).where(Item.id.in_(item_ids))).all()
        )
        for h in holds:
            out[("hold", h.id)] = _hold_data(h, barcodes)
    if ids.get("loan"):
        loans = session.scalars(
            select(Loan)
            .options(joinedload(Loan.item), joinedload(Loan.patron))
            .where(Loan.id.in_(ids["loan"]))
        )
        for loan in loans:
            out[("loan", loan.id)] = _loan_data(loan)
    return out
