"""The scan path's SQL: built with SQLAlchemy Core from db.models, compiled once for SQLite.

Scans run on a plain sqlite3 connection (`db.engine.open_plain_connection` says why), but the
statements they run are generated here from the models: the tables and columns are the ones the
models (and so the migrations) declare, status values are bound from the enums, rows are read by
name, and times go through the UTCDateTime column type's own bind and result processors.
tests/services/test_statements.py checks every statement here against the migrated schema.
"""

from __future__ import annotations

import datetime as dt
import enum
import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Integer,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from db.hold_queue import waiting_holds_ahead
from db.models import (
    Hold,
    HoldStatus,
    Item,
    ItemStatus,
    KioskState,
    Loan,
    OutboxEvent,
    OutboxState,
    Patron,
    Title,
)
from kiosk.circulation.states import HoldEvent, hold_statuses_for

DIALECT = sqlite.dialect(paramstyle="named")


def _time_processors() -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    impl = Loan.__table__.c.due_at.type.dialect_impl(DIALECT)
    to_db, from_db = impl.bind_processor(DIALECT), impl.result_processor(DIALECT, None)
    assert to_db is not None and from_db is not None, "UTCDateTime has processors on SQLite"
    return to_db, from_db


_TO_DB, _FROM_DB = _time_processors()


def to_db_time(value: dt.datetime) -> str:
    """`value` as a UTCDateTime column stores it on SQLite (its own bind processor); a naive
    datetime raises ValueError."""
    text: str = _TO_DB(value)
    return text


def from_db_time(text: str) -> dt.datetime:
    """An aware UTC datetime from a stored UTCDateTime value (its own result processor)."""
    value: dt.datetime = _FROM_DB(text)
    return value


class Statement:
    """One Core statement compiled once; run on a plain sqlite3 connection, rows by name.

    Values the statement carries (status values from the enums, constants) are bound at run
    time with the caller's named parameters, never pasted into the SQL.
    """

    def __init__(self, statement: ClauseElement) -> None:
        compiled = statement.compile(dialect=DIALECT)
        self.statement = statement
        self.sql = str(compiled)
        self.constants: dict[str, Any] = {
            name: value.value if isinstance(value, enum.Enum) else value
            for name, value in compiled.params.items()
            if value is not None
        }
        # A model's scalar Python-side default (`default=0`) is bound here, as the ORM would.
        assert isinstance(compiled, SQLCompiler), "a statement, not DDL"
        for column in compiled.insert_prefetch:
            if isinstance(column.default, ScalarElementColumnDefault):
                value = column.default.arg
                self.constants[column.key] = value.value if isinstance(value, enum.Enum) else value
        self.parameters = frozenset(compiled.params) - frozenset(self.constants)

    def run(self, db: sqlite3.Connection, **params: Any) -> sqlite3.Cursor:
        if self.constants:
            params.update(self.constants)
        cursor = db.cursor()
        cursor.row_factory = sqlite3.Row
        return cursor.execute(self.sql, params)

    def first(self, db: sqlite3.Connection, **params: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.run(db, **params).fetchone()
        return row

    def all(self, db: sqlite3.Connection, **params: Any) -> list[sqlite3.Row]:
        return self.run(db, **params).fetchall()

    def __repr__(self) -> str:
        return f"Statement({self.sql!r})"


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


patrons, titles, items, loans, holds = (_table(m) for m in (Patron, Title, Item, Loan, Hold))
kiosk_state, outbox_events = _table(KioskState), _table(OutboxEvent)

# --- look-ups (columns labelled as the record dataclasses' fields) -----------------------------

_PATRON = select(
    patrons.c.id,
    patrons.c.student_number,
    patrons.c.name,
    patrons.c.status,
    patrons.c.open_compensation_cases,
    patrons.c.block_reason,
)
PATRON_BY_CARD = Statement(_PATRON.where(patrons.c.card_barcode == bindparam("card")))
PATRON_BY_ID = Statement(_PATRON.where(patrons.c.id == bindparam("patron_id")))

# A copy with its title, as ItemRecord's fields.
_ITEM_COLUMNS = (
    items.c.id,
    items.c.barcode,
    items.c.status,
    items.c.title_id,
    titles.c.title,
    titles.c.isbn13,
)
_ITEM_FROM = items.join(titles, titles.c.id == items.c.title_id)
_LOAN_ITEM_FROM = loans.join(items, items.c.id == loans.c.item_id).join(
    titles, titles.c.id == items.c.title_id
)
ITEM_BY_BARCODE = Statement(
    select(*_ITEM_COLUMNS).select_from(_ITEM_FROM).where(items.c.barcode == bindparam("barcode"))
)
TITLE_BY_ISBN = Statement(
    select(titles.c.id, titles.c.title, titles.c.isbn13).where(
        titles.c.isbn13 == bindparam("isbn13")
    )
)

# --- a copy's state for the rules ----------------------------------------------------------------

_l, _h, _w, _c = loans.alias("l"), holds.alias("h"), holds.alias("w"), items.alias("c")
# The item id as a one-row table, so its open loan and ready hold can be left-joined to it.
_x = select(bindparam("item_id", type_=Integer).label("item_id")).subquery("x")
_OPEN_LOAN_OF_X = and_(_l.c.item_id == _x.c.item_id, _l.c.returned_at.is_(None))
# The open loan's columns, as OpenLoan's fields (all NULL when the copy is not on loan).
_LOAN_COLUMNS = (
    _l.c.id.label("loan_id"),
    _l.c.uuid.label("loan_uuid"),
    _l.c.patron_id.label("loan_patron_id"),
    _l.c.due_at,
    _l.c.renewals,
)

# One copy's state, in one statement: its open loan, the ready hold it is set aside for, the
# holds waiting for its title ahead of :patron_id (db.hold_queue; NULL: nobody signed in), and
# the copies of the title on the shelf.
ITEM_STATE = Statement(
    select(
        *_LOAN_COLUMNS,
        _h.c.id.label("hold_id"),
        _h.c.patron_id.label("hold_patron_id"),
        waiting_holds_ahead(bindparam("title_id"), bindparam("patron_id")).label("waiting_ahead"),
        select(func.count())
        .select_from(_c)
        .where(_c.c.title_id == bindparam("title_id"), _c.c.status == ItemStatus.AVAILABLE)
        .scalar_subquery()
        .label("copies_on_shelf"),
    ).select_from(
        _x.outerjoin(_l, _OPEN_LOAN_OF_X).outerjoin(
            _h,
            and_(
                _h.c.title_id == bindparam("title_id"),
                _h.c.status == HoldStatus.READY,
                _h.c.item_id == _x.c.item_id,
            ),
        )
    )
)


# A returned copy: its open loan and the first in line for its title: the hold placed first,
# then by uuid, as kiosk.circulation.holds.next_in_line orders the queue (id and uuid of it).
def _first_in_line(column: Any, label: str) -> Any:
    return (
        select(column)
        .where(_w.c.title_id == bindparam("title_id"), _w.c.status == HoldStatus.WAITING)
        .order_by(_w.c.placed_at, _w.c.uuid)
        .limit(1)
        .scalar_subquery()
        .label(label)
    )


RETURN_STATE = Statement(
    select(
        *_LOAN_COLUMNS,
        _first_in_line(_w.c.id, "waiting_hold_id"),
        _first_in_line(_w.c.uuid, "waiting_hold_uuid"),
    ).select_from(_x.outerjoin(_l, _OPEN_LOAN_OF_X))
)

# Every copy of a title, with the patron of its open loan and of the ready hold it is set aside for.
TITLE_COPIES = Statement(
    select(
        *_ITEM_COLUMNS,
        loans.c.patron_id.label("loan_patron_id"),
        holds.c.patron_id.label("hold_patron_id"),
    )
    .select_from(
        _ITEM_FROM.outerjoin(
            loans, and_(loans.c.item_id == items.c.id, loans.c.returned_at.is_(None))
        ).outerjoin(
            holds,
            and_(
                holds.c.title_id == items.c.title_id,
                holds.c.status == HoldStatus.READY,
                holds.c.item_id == items.c.id,
            ),
        )
    )
    .where(items.c.title_id == bindparam("title_id"))
    .order_by(items.c.id)
)

# The open loans of a title's copies, oldest first, each with its copy (ItemRecord's fields).
TITLE_OPEN_LOANS = Statement(
    select(loans.c.id.label("loan_id"), loans.c.patron_id.label("loan_patron_id"), *_ITEM_COLUMNS)
    .select_from(_LOAN_ITEM_FROM)
    .where(items.c.title_id == bindparam("title_id"), loans.c.returned_at.is_(None))
    .order_by(loans.c.checked_out_at)
)

# A patron's open loans and how many of them are overdue at :now.
STANDING = Statement(
    select(
        func.count().label("open_loans"),
        func.coalesce(func.sum(loans.c.due_at < bindparam("now")), 0).label("overdue_loans"),
    ).where(loans.c.patron_id == bindparam("patron_id"), loans.c.returned_at.is_(None))
)

# --- the signed-in patron ----------------------------------------------------------------------

PATRON_LOANS = Statement(
    select(items.c.barcode, titles.c.title, loans.c.due_at, loans.c.renewals)
    .select_from(_LOAN_ITEM_FROM)
    .where(loans.c.patron_id == bindparam("patron_id"), loans.c.returned_at.is_(None))
    .order_by(loans.c.due_at, loans.c.id)
)
# --- changes -------------------------------------------------------------------------------------

INSERT_LOAN = Statement(
    insert(loans).values(
        uuid=bindparam("uuid"),
        item_id=bindparam("item_id"),
        patron_id=bindparam("patron_id"),
        checked_out_at=bindparam("checked_out_at"),
        due_at=bindparam("due_at"),
        kiosk_id=bindparam("kiosk_id"),
    )
)
RETURN_LOAN = Statement(
    update(loans)
    .where(loans.c.id == bindparam("loan_id"))
    .values(returned_at=bindparam("returned_at"), returned_kiosk_id=bindparam("kiosk_id"))
)
RENEW_LOAN = Statement(
    update(loans)
    .where(loans.c.id == bindparam("loan_id"))
    .values(due_at=bindparam("new_due_at"), renewals=bindparam("new_renewals"))
)
SET_ITEM_STATUS = Statement(
    update(items).where(items.c.id == bindparam("item_id")).values(status=bindparam("new_status"))
)
SET_HOLD_STATUS = Statement(
    update(holds).where(holds.c.id == bindparam("hold_id")).values(status=bindparam("new_status"))
)
# A copy lent from the open shelf fulfils its borrower's own waiting hold on the title.
FULFIL_OWN_WAITING_HOLD = Statement(
    update(holds)
    .where(
        holds.c.title_id == bindparam("title_id"),
        holds.c.patron_id == bindparam("patron_id"),
        holds.c.status == HoldStatus.WAITING,
    )
    .values(status=bindparam("new_status"), item_id=bindparam("item_id"))
)
SET_HOLD_READY = Statement(
    update(holds)
    .where(holds.c.id == bindparam("hold_id"))
    .values(
        status=bindparam("new_status"),
        item_id=bindparam("item_id"),
        ready_at=bindparam("ready_at"),
    )
)

# --- holds (kiosk.services.holds) --------------------------------------------------------------


def _any_of(column: Any, values: tuple[enum.Enum, ...]) -> Any:
    """`column IN (...)` over enum values, each bound (a plain `in_` list would be expanded at
    run time, which a once-compiled statement cannot do)."""
    return column.in_([literal(value.value) for value in values])


# A hold the student can still cancel or collect (waiting or ready), from the state table.
ACTIVE_HOLD_STATUSES = hold_statuses_for(HoldEvent.CANCELLED)
# Copies that lend at all: on the shelf, on loan or on the hold shelf (not lost or withdrawn).
LENDABLE_ITEM_STATUSES = (ItemStatus.AVAILABLE, ItemStatus.ON_LOAN, ItemStatus.ON_HOLD_SHELF)

# One hold with its title, as HoldLine's fields.
_HOLD_LINE = select(
    holds.c.id,
    holds.c.uuid,
    holds.c.patron_id,
    holds.c.status,
    holds.c.placed_at,
    holds.c.ready_at,
    holds.c.item_id,
    titles.c.id.label("title_id"),
    titles.c.title,
    titles.c.isbn13,
).select_from(holds.join(titles, titles.c.id == holds.c.title_id))
HOLD_BY_ID = Statement(_HOLD_LINE.where(holds.c.id == bindparam("hold_id")))
# Ready holds first (in the order set aside), then waiting ones in the order placed.
PATRON_HOLDS = Statement(
    _HOLD_LINE.where(
        holds.c.patron_id == bindparam("patron_id"), _any_of(holds.c.status, ACTIVE_HOLD_STATUSES)
    ).order_by(
        holds.c.status == HoldStatus.WAITING,
        func.coalesce(holds.c.ready_at, holds.c.placed_at),
        holds.c.id,
    )
)
PATRON_ACTIVE_HOLDS = Statement(
    select(func.count().label("active_holds")).where(
        holds.c.patron_id == bindparam("patron_id"), _any_of(holds.c.status, ACTIVE_HOLD_STATUSES)
    )
)


def _count(from_: Any, *where: Any) -> Any:
    return select(func.count()).select_from(from_).where(*where).scalar_subquery()


_tl, _ti = loans.alias("tl"), items.alias("ti")
# What the hold rules need to know about a title for :patron_id, as TitleHoldState's fields.
TITLE_HOLD_STATE = Statement(
    select(
        _count(
            items,
            items.c.title_id == bindparam("title_id"),
            _any_of(items.c.status, LENDABLE_ITEM_STATUSES),
        ).label("copies_lendable"),
        _count(
            items,
            items.c.title_id == bindparam("title_id"),
            items.c.status == ItemStatus.AVAILABLE,
        ).label("copies_on_shelf"),
        _count(
            holds,
            holds.c.title_id == bindparam("title_id"),
            holds.c.status == HoldStatus.WAITING,
            holds.c.patron_id != bindparam("patron_id"),
        ).label("waiting_by_others"),
        _count(
            _tl.join(_ti, _ti.c.id == _tl.c.item_id),
            _ti.c.title_id == bindparam("title_id"),
            _tl.c.patron_id == bindparam("patron_id"),
            _tl.c.returned_at.is_(None),
        ).label("on_loan_to_self"),
        _count(
            _w,
            _w.c.title_id == bindparam("title_id"),
            _w.c.patron_id == bindparam("patron_id"),
            _any_of(_w.c.status, ACTIVE_HOLD_STATUSES),
        ).label("reserved_by_self"),
    )
)
TITLE_FOR_HOLD = Statement(
    select(titles.c.title, titles.c.isbn13, titles.c.call_number).where(
        titles.c.id == bindparam("title_id")
    )
)
# The shelf of the first copy of a title that is on the open shelf.
SHELF_OF_TITLE = Statement(
    select(items.c.location)
    .where(items.c.title_id == bindparam("title_id"), items.c.status == ItemStatus.AVAILABLE)
    .order_by(items.c.id)
    .limit(1)
)
# The kiosk_state key a pulled title without an ISBN was recorded under (REPLICA_TITLE_PREFIX
# + "id:<central id>"), found by its local id.
REPLICA_KEY_OF_TITLE = Statement(
    select(kiosk_state.c.key).where(
        kiosk_state.c.key.like(bindparam("key_pattern")),
        kiosk_state.c.value == bindparam("title_id_text"),
    )
)
INSERT_HOLD = Statement(
    insert(holds).values(
        uuid=bindparam("uuid"),
        title_id=bindparam("title_id"),
        patron_id=bindparam("patron_id"),
        status=HoldStatus.WAITING,
        placed_at=bindparam("placed_at"),
    )
)
# A title's queue: its waiting holds (the rules pick the next in line).
WAITING_HOLDS = Statement(
    select(holds.c.id, holds.c.uuid, holds.c.placed_at).where(
        holds.c.title_id == bindparam("title_id"), holds.c.status == HoldStatus.WAITING
    )
)
# A copy's status moves only from the one it was read in (another change may have moved it).
MOVE_ITEM_STATUS = Statement(
    update(items)
    .where(items.c.id == bindparam("item_id"), items.c.status == bindparam("old_status"))
    .values(status=bindparam("new_status"))
)
ITEM_BARCODE = Statement(select(items.c.barcode).where(items.c.id == bindparam("item_id")))

# --- the outbox and the kiosk's state ------------------------------------------------------------

STATE_VALUE = Statement(
    select(kiosk_state.c.value).where(kiosk_state.c.key == bindparam("state_key"))
)
INSERT_STATE = Statement(
    insert(kiosk_state).values(key=bindparam("state_key"), value=bindparam("state_value"))
)
_epoch = kiosk_state.alias("epoch")
# Take the next outbox sequence number and read the epoch, in one statement.
TAKE_POSITION = Statement(
    update(kiosk_state)
    .where(kiosk_state.c.key == bindparam("sequence_key"))
    .values(value=cast(cast(kiosk_state.c.value, Integer) + 1, Text))
    .returning(
        kiosk_state.c.value.label("next_sequence"),
        select(_epoch.c.value)
        .where(_epoch.c.key == bindparam("epoch_key"))
        .scalar_subquery()
        .label("epoch"),
    )
)
INSERT_EVENT = Statement(
    insert(outbox_events).values(
        event_uuid=bindparam("event_uuid"),
        epoch=bindparam("epoch"),
        sequence=bindparam("sequence"),
        kind=bindparam("kind"),
        payload=bindparam("payload"),
        created_at=bindparam("created_at"),
        state=OutboxState.PENDING,
    )
)

# The desk's write probe (kiosk.health): a row big enough to need a fresh page, rolled back.
PROBE_WRITE = Statement(
    insert(kiosk_state)
    .prefix_with("OR REPLACE")
    .values(key=bindparam("state_key"), value=func.zeroblob(literal_column("8192")))
)
