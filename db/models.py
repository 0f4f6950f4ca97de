"""SQLAlchemy 2 models of the library: patrons, titles, items, loans, holds and the sync outbox."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# The circulation states are domain facts defined once with their transitions; the tables here
# store them and take their CHECK lists from them.
from kiosk.circulation.states import HoldStatus as HoldStatus
from kiosk.circulation.states import ItemStatus as ItemStatus

# Every constraint gets a predictable name: Alembic's batch mode on SQLite needs names to
# recreate tables, and PostgreSQL error messages then say which rule was broken.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


def width_of(column: Any) -> int:
    """How many characters a String column holds, as the model declares it."""
    length = getattr(column.type, "length", None)
    if not isinstance(length, int):
        raise TypeError(f"{column} is not a String column with a length")
    return length


def new_uuid() -> str:
    """A fresh random UUID as text, for rows that are identified across databases."""
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PatronStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    LEFT = "left"


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    ACKED = "acked"


def _values(e: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{m.value}'" for m in e)


class Patron(Base):
    """A student (or teacher) who may borrow."""

    __tablename__ = "patrons"
    __table_args__ = (CheckConstraint(f"status IN ({_values(PatronStatus)})", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_number: Mapped[str] = mapped_column(String(32), unique=True)
    card_barcode: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    class_name: Mapped[str] = mapped_column(String(64), default="")
    grade: Mapped[str] = mapped_column(String(32), default="")
    status: Mapped[str] = mapped_column(String(16), default=PatronStatus.ACTIVE)
    block_reason: Mapped[str] = mapped_column(String(200), default="")
    parent_name: Mapped[str] = mapped_column(String(200), default="")
    parent_phone: Mapped[str] = mapped_column(String(64), default="")
    parent_email: Mapped[str] = mapped_column(String(200), default="")
    # For placing holds on the public catalogue page (/opac), whichever the school chose:
    # a PIN, stored only as a salted hash, or the birth date. Never sent to kiosks.
    opac_pin_hash: Mapped[str] = mapped_column(String(200), default="")
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    # Compensation cases (遗失赔偿) still open for this student, kept by the central and sent
    # to kiosks, which refuse loans while it is above 0 when [compensation] block_at_kiosk.
    open_compensation_cases: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    loans: Mapped[list[Loan]] = relationship(back_populates="patron")


class Title(Base):
    """What an ISBN names: a book as published, of which the library may own several items."""

    __tablename__ = "titles"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Canonical ISBN-13 digits; NULL for old books that never had one.
    isbn13: Mapped[str | None] = mapped_column(String(13), unique=True)
    # 统一书号 ("10019·3152"), the national book number of books printed in China before
    # ISBNs; not unique, since the volumes of a set share one.
    unified_number: Mapped[str | None] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(500))
    author: Mapped[str] = mapped_column(String(300), default="")
    publisher: Mapped[str] = mapped_column(String(300), default="")
    year: Mapped[int | None] = mapped_column(Integer)
    call_number: Mapped[str] = mapped_column(String(64), default="")
    # "clc" (Chinese Library Classification) or "dewey".
    classification: Mapped[str] = mapped_column(String(16), default="")
    # The series (丛书) and subject headings (主题词, "; " between them) of the catalog
    # record: found by the search, not shown on the kiosk.
    series: Mapped[str] = mapped_column(String(300), default="", server_default="")
    subjects: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # The list price in fen as the catalogue gives it (MARC 020$c, CNMARC 010$d, a price
    # column); what a lost copy costs under the compensation policy. NULL: not known.
    price_fen: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    items: Mapped[list[Item]] = relationship(back_populates="title")


class Item(Base):
    """One physical copy, identified by the library's accession barcode."""

    __tablename__ = "items"
    __table_args__ = (CheckConstraint(f"status IN ({_values(ItemStatus)})", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    barcode: Mapped[str] = mapped_column(String(64), unique=True)
    title_id: Mapped[int] = mapped_column(ForeignKey("titles.id"), index=True)
    location: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.AVAILABLE)
    created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    title: Mapped[Title] = relationship(back_populates="items")


class Loan(Base):
    """An item lent to a patron; open while returned_at is NULL."""

    __tablename__ = "loans"
    __table_args__ = (
        # At most one open loan per copy, enforced by the database itself.
        Index(
            "uq_loans_open_item",
            "item_id",
            unique=True,
            sqlite_where=text("returned_at IS NULL"),
            postgresql_where=text("returned_at IS NULL"),
        ),
        Index("ix_loans_patron_open", "patron_id", "returned_at"),
        CheckConstraint("renewals >= 0", name="renewals"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable identity across kiosks and the central database.
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    patron_id: Mapped[int] = mapped_column(ForeignKey("patrons.id"))
    checked_out_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    returned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    renewals: Mapped[int] = mapped_column(Integer, default=0)
    kiosk_id: Mapped[str] = mapped_column(String(64))
    returned_kiosk_id: Mapped[str | None] = mapped_column(String(64))

    item: Mapped[Item] = relationship()
    patron: Mapped[Patron] = relationship(back_populates="loans")


class Hold(Base):
    """A title-level reservation; READY once a returned copy is put aside on the hold shelf."""

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(HoldStatus)})", name="status"),
        Index("ix_holds_title_status", "title_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable identity across kiosks and the central database: a hold placed at a kiosk
    # while offline has no central id yet.
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    title_id: Mapped[int] = mapped_column(ForeignKey("titles.id"))
    patron_id: Mapped[int] = mapped_column(ForeignKey("patrons.id"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    status: Mapped[str] = mapped_column(String(16), default=HoldStatus.WAITING)
    placed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ready_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    title: Mapped[Title] = relationship()
    patron: Mapped[Patron] = relationship()


class OutboxEvent(Base):
    """A circulation event waiting for (or already acknowledged by) the central sync.

    Written in the same transaction as the change it records, so a loan and its event
    are either both on disk or neither is.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        UniqueConstraint("epoch", "sequence", name="uq_outbox_events_epoch_sequence"),
        CheckConstraint(f"state IN ({_values(OutboxState)})", name="state"),
        Index("ix_outbox_events_state_sequence", "state", "sequence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    epoch: Mapped[str] = mapped_column(String(36))
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING)
    acked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class KioskState(Base):
    """Small durable key/value facts of this database: epoch, next sequence, sync cursors."""

    __tablename__ = "kiosk_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# Prefix matches compare keys as range scans (key >= 'abc' AND key < 'abd'); PostgreSQL's
# default collation orders by language rules, under which a prefix's keys need not be
# contiguous, so the keys use byte order there. SQLite compares bytes already.
_KEY_TEXT_500 = String(500).with_variant(String(500, collation="C"), "postgresql")
_KEY_TEXT_64 = String(64).with_variant(String(64, collation="C"), "postgresql")
_KEY_TEXT_48 = String(48).with_variant(String(48, collation="C"), "postgresql")


class TitleSearch(Base):
    """What the search engine (kiosk.search) compares for one title, computed when it is written.

    Filled by kiosk.search.index from the catalog import, the kiosk's pull and the demo library.

    The full-text index over `terms` lives outside the models: on SQLite an FTS5 table kept in
    step by triggers, on PostgreSQL a GIN index over the generated column terms_tsv, stored
    as to_tsvector('simple', terms) (db/migrations/versions/0003_title_search.py, 0014_…).
    """

    __tablename__ = "title_search"

    title_id: Mapped[int] = mapped_column(
        ForeignKey("titles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # The title's letters and digits, normalised (kiosk.search.text.compact): exact and prefix.
    title_key: Mapped[str] = mapped_column(_KEY_TEXT_500, index=True)
    # The call number normalised, for class prefixes ("I287").
    call_key: Mapped[str] = mapped_column(_KEY_TEXT_64, index=True)
    # Title, author, series, publisher and subjects as index tokens (kiosk.search.text.token_text).
    terms: Mapped[str] = mapped_column(Text)


class PinyinField(enum.IntEnum):
    TITLE_FULL = 1
    TITLE_INITIALS = 2
    AUTHOR_FULL = 3
    AUTHOR_INITIALS = 4


class TitlePinyin(Base):
    """One pinyin key of a title or its author ("xiaowangzi", "xwz"), for prefix lookups."""

    __tablename__ = "title_pinyin"
    __table_args__ = (Index("ix_title_pinyin_title_id", "title_id"),)

    key: Mapped[str] = mapped_column(_KEY_TEXT_48, primary_key=True)
    title_id: Mapped[int] = mapped_column(
        ForeignKey("titles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    field: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
