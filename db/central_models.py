"""Tables only the central server fills: kiosks, received events, change log, exceptions, staff."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.models import Base, Hold, Item, Loan, Patron, Title, UTCDateTime
from kiosk.circulation.compensation import CaseReason, CaseStatus

# The chase's stages and channels are domain facts defined once with their rules.
from kiosk.circulation.overdue import Channel, Stage

__all__ = [
    "PAGE_INDEXES",
    "AuditEntry",
    "CentralEvent",
    "ChangeCounter",
    "ChangeLogEntry",
    "CompensationCase",
    "ConsoleSession",
    "EventState",
    "ExceptionKind",
    "ExceptionStatus",
    "Kiosk",
    "KioskEpoch",
    "LoanFacts",
    "NoticeStatus",
    "OverdueNotice",
    "ReportDayCount",
    "ReportRollupState",
    "ReportStudentDay",
    "ReportStudentPeriod",
    "ReportTitlePeriod",
    "Rollover",
    "StaffRole",
    "StaffUser",
    "SyncException",
    "SyncRun",
]


class EventState(enum.StrEnum):
    # Stored and acknowledged; the ledger applier has not applied it yet.
    RECEIVED = "received"
    APPLIED = "applied"
    # A checkin or renewal whose checkout has not arrived yet.
    PENDING = "pending"
    # Names a student or copy the central does not know; kept until a librarian retries it.
    UNRESOLVED = "unresolved"
    # The same event_id again at a new position (a renumbered epoch): counts for acked_through,
    # never applied twice.
    DUPLICATE = "duplicate"


class ExceptionKind(enum.StrEnum):
    DOUBLE_CHECKOUT = "double_checkout"
    ORPHAN_RETURN = "orphan_return"
    UNKNOWN_PATRON = "unknown_patron"
    UNKNOWN_ITEM = "unknown_item"
    CLOCK_OFFSET = "clock_offset"
    EPOCH_CONFLICT = "epoch_conflict"


class ExceptionStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class StaffRole(enum.StrEnum):
    """A console user's role; what each may do is central.permissions.ROLE_PERMISSIONS."""

    LIBRARIAN = "librarian"
    ADMIN = "admin"
    # A trained student helper (学生图管员) at the desk.
    HELPER = "helper"


def _values(e: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{m.value}'" for m in e)


class Kiosk(Base):
    """A registered kiosk, its token hash and the latest status it reported."""

    __tablename__ = "central_kiosks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # SHA-256 of the bearer token: tokens are 32 random bytes, so a slow hash buys nothing.
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Latest heartbeat, as reported (the kiosk's own words; never trusted as HTML).
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reported_clock_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    clock_offset_s: Mapped[float | None] = mapped_column(Float)
    clock_doubtful: Mapped[bool] = mapped_column(Boolean, default=False)
    scanner_connected: Mapped[bool | None] = mapped_column(Boolean)
    # Whether the kiosk's last write to its own database worked (None: never reported).
    db_ok: Mapped[bool | None] = mapped_column(Boolean)
    backlog: Mapped[int | None] = mapped_column(Integer)
    backlog_rising_count: Mapped[int] = mapped_column(Integer, default=0)
    reported_last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reported_last_error: Mapped[str | None] = mapped_column(Text)
    software_version: Mapped[str | None] = mapped_column(String(64))
    sqlite_version: Mapped[str | None] = mapped_column(String(32))
    disk_free_bytes: Mapped[int | None] = mapped_column(BigInteger)
    checkouts_today: Mapped[int | None] = mapped_column(Integer)
    returns_today: Mapped[int | None] = mapped_column(Integer)
    # The kiosk's push schedule as last reported, in the central's own clock (the kiosk sends
    # ages and delays, so its clock offset does not matter): since when its oldest unpushed
    # event has waited, when its next push is due, and how often it pushes.
    oldest_pending_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    next_push_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    sync_interval_s: Mapped[int | None] = mapped_column(Integer)
    # What the central itself saw of this kiosk's pushes.
    last_push_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_push_ok_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_push_error: Mapped[str | None] = mapped_column(Text)
    pushes_ok: Mapped[int] = mapped_column(Integer, default=0)
    pushes_conflict: Mapped[int] = mapped_column(Integer, default=0)
    pushes_rejected: Mapped[int] = mapped_column(Integer, default=0)
    events_received: Mapped[int] = mapped_column(Integer, default=0)
    current_epoch: Mapped[str | None] = mapped_column(String(36))


class KioskEpoch(Base):
    """How far the central holds every event of one (kiosk, epoch): 1..acked_through."""

    __tablename__ = "central_kiosk_epochs"

    kiosk_id: Mapped[str] = mapped_column(ForeignKey("central_kiosks.id"), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(36), primary_key=True)
    acked_through: Mapped[int] = mapped_column(Integer, default=0)
    # The highest sequence held, so the usual in-order push needs no scan to find N.
    max_sequence: Mapped[int] = mapped_column(Integer, default=0)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CentralEvent(Base):
    """One pushed event, stored exactly once per (kiosk, epoch, sequence) position."""

    __tablename__ = "central_events"
    __table_args__ = (
        UniqueConstraint(
            "kiosk_id", "epoch", "sequence", name="uq_central_events_kiosk_id_epoch_sequence"
        ),
        # An event is applied once however often it is pushed: only one row per event_id
        # is not a duplicate.
        Index(
            "uq_central_events_event_id_original",
            "event_id",
            unique=True,
            sqlite_where=text("state <> 'duplicate'"),
            postgresql_where=text("state <> 'duplicate'"),
        ),
        Index("ix_central_events_state_loan_uuid", "state", "loan_uuid"),
        CheckConstraint(f"state IN ({_values(EventState)})", name="state"),
        CheckConstraint("sequence >= 1", name="sequence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    kiosk_id: Mapped[str] = mapped_column(String(64))
    epoch: Mapped[str] = mapped_column(String(36))
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    loan_uuid: Mapped[str | None] = mapped_column(String(36))
    payload: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))
    time_doubtful: Mapped[bool] = mapped_column(Boolean, default=False)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ChangeCounter(Base):
    """The single row holding the last change-log version; its row lock orders writers."""

    __tablename__ = "central_change_counter"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class ChangeLogEntry(Base):
    """The latest version of each synced row; a kiosk pulls entries above its last version."""

    __tablename__ = "central_change_log"
    __table_args__ = (
        UniqueConstraint("entity", "key", name="uq_central_change_log_entity_key"),
        UniqueConstraint("version", name="uq_central_change_log_version"),
        CheckConstraint("entity IN ('patron', 'title', 'item', 'hold', 'loan')", name="entity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(BigInteger)
    row_id: Mapped[int | None] = mapped_column(Integer)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class LoanFacts(Base):
    """What the central knows about a loan beyond the shared `loans` row."""

    __tablename__ = "central_loan_facts"

    loan_uuid: Mapped[str] = mapped_column(ForeignKey("loans.uuid"), primary_key=True)
    # The return a kiosk actually recorded; `loans.returned_at` may be earlier when a later
    # loan of the same copy closed this one implicitly.
    explicit_returned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    explicit_returned_kiosk_id: Mapped[str | None] = mapped_column(String(64))
    closed_by_loan_uuid: Mapped[str | None] = mapped_column(String(36))
    # When a librarian marked the copy lost while this loan was open: the loan ended then, as
    # lost (kiosk.circulation.states.LoanEffect), unless a kiosk recorded an earlier return.
    lost_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    time_doubtful: Mapped[bool] = mapped_column(Boolean, default=False)

    # Declared so a flush inserts the loan before its facts.
    loan: Mapped[Loan] = relationship()


class SyncException(Base):
    """A conflict for the librarian; recorded once per dedup_key, never dropped."""

    __tablename__ = "central_exceptions"
    __table_args__ = (
        UniqueConstraint("dedup_key", name="uq_central_exceptions_dedup_key"),
        CheckConstraint(f"kind IN ({_values(ExceptionKind)})", name="kind"),
        CheckConstraint(f"status IN ({_values(ExceptionStatus)})", name="status"),
        Index("ix_central_exceptions_status_kind", "status", "kind"),
        Index("ix_central_exceptions_subject", "subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedup_key: Mapped[str] = mapped_column(String(200))
    # What the exception is about, for look-ups: "loan:<uuid>", "kiosk:<id>", "event:<id>".
    subject: Mapped[str] = mapped_column(String(100))
    kiosks: Mapped[str] = mapped_column(String(300), default="")
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=ExceptionStatus.OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolution: Mapped[str | None] = mapped_column(Text)


class SyncRun(Base):
    """One push or pull as the central saw it: the kiosk detail page's history."""

    __tablename__ = "central_sync_runs"
    __table_args__ = (
        Index("ix_central_sync_runs_kiosk_id_started_at", "kiosk_id", "started_at"),
        CheckConstraint("outcome IN ('ok', 'epoch_conflict', 'rejected', 'pull')", name="outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("central_kiosks.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    epoch: Mapped[str | None] = mapped_column(String(36))
    events_sent: Mapped[int] = mapped_column(Integer, default=0)
    events_new: Mapped[int] = mapped_column(Integer, default=0)
    acked_through: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")


class StaffUser(Base):
    """A librarian, administrator or student helper who may sign in to the console."""

    __tablename__ = "central_staff_users"
    __table_args__ = (CheckConstraint(f"role IN ({_values(StaffRole)})", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ConsoleSession(Base):
    """A signed-in console browser. The cookie carries a random token; only its SHA-256 is kept,
    so deleting the row (sign-out, new password, disabled user) ends the session at once."""

    __tablename__ = "central_console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the token: tokens are 32 random bytes, so a slow hash buys nothing.
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("central_staff_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One change a person made in the console: who, in which role, when, from where, what.

    `username` and `role` are copied, not referenced, so the log still reads right after a
    user is renamed, changes role or is removed. `detail` never holds a card number.
    """

    __tablename__ = "central_audit_log"
    __table_args__ = (
        Index("ix_central_audit_log_at", "at"),
        Index("ix_central_audit_log_username_at", "username", "at"),
        Index("ix_central_audit_log_action_at", "action", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    # Dotted: "loan.checkout", "item.lost", "user.sign_in", "exception.resolve", …
    action: Mapped[str] = mapped_column(String(64))
    # What was acted on, as "kind:id" ("item:SX00001", "exception:7").
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class NoticeStatus(enum.StrEnum):
    # Claimed and committed before the message leaves, so a crash can never send it twice.
    SENDING = "sending"
    SENT = "sent"
    # The server refused it or was unreachable: the next chase tries again.
    FAILED = "failed"


class OverdueNotice(Base):
    """One notice of the overdue chase (kiosk/circulation/overdue.py): one per loan and stage.

    `recipient` is where it went: the parent's e-mail address or phone, or the class for a
    printed 催还单, never the student's card number.
    """

    __tablename__ = "central_overdue_notices"
    __table_args__ = (
        # Nothing is sent twice for the same stage: the database itself refuses a second row.
        UniqueConstraint("loan_uuid", "stage", name="uq_central_overdue_notices_loan_uuid_stage"),
        CheckConstraint(f"stage IN ({_values(Stage)})", name="stage"),
        CheckConstraint(f"channel IN ({_values(Channel)})", name="channel"),
        CheckConstraint(f"status IN ({_values(NoticeStatus)})", name="status"),
        Index("ix_central_overdue_notices_batch", "batch"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_uuid: Mapped[str] = mapped_column(ForeignKey("loans.uuid"))
    stage: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(8), default=NoticeStatus.SENDING)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # The days overdue the notice said, as counted when it was made.
    days_overdue: Mapped[int] = mapped_column(Integer)
    # One chase run, print or export: what the console's SMS download and the log group by.
    batch: Mapped[str] = mapped_column(String(36))
    # The console user, or "chase" for the command and the scheduled run.
    by_username: Mapped[str] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text, default="")


class CompensationCase(Base):
    """A lost or damaged book a student owes for (遗失赔偿), and how it was settled."""

    __tablename__ = "central_compensation_cases"
    __table_args__ = (
        CheckConstraint(f"reason IN ({_values(CaseReason)})", name="reason"),
        CheckConstraint(f"status IN ({_values(CaseStatus)})", name="status"),
        CheckConstraint("amount_fen >= 0", name="amount_fen"),
        Index("ix_central_compensation_cases_patron_id_status", "patron_id", "status"),
        Index("ix_central_compensation_cases_item_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patron_id: Mapped[int] = mapped_column(ForeignKey("patrons.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    title_id: Mapped[int] = mapped_column(ForeignKey("titles.id"))
    # The loan the copy was lost or damaged on.
    loan_uuid: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(Integer)
    # The price the amount was worked out from (None: not known), what it was based on
    # (kiosk.circulation.compensation.AmountBasis) and the rule in words: the policy may change.
    price_fen: Mapped[int | None] = mapped_column(Integer)
    basis: Mapped[str] = mapped_column(String(16))
    policy: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(64))
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    settled_by: Mapped[str | None] = mapped_column(String(64))
    # When the book turned up again (marked found), which reverses the case as the policy says.
    found_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")

    patron: Mapped[Patron] = relationship()
    item: Mapped[Item] = relationship()
    title: Mapped[Title] = relationship()


class Rollover(Base):
    """A school-year rollover done (central/rollover.py): at most one per school year."""

    __tablename__ = "central_rollovers"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The calendar year the prepared school year starts in (2027 for 2027-2028).
    school_year: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    by_username: Mapped[str] = mapped_column(String(64))
    top_grade: Mapped[int] = mapped_column(Integer)
    students_moved: Mapped[int] = mapped_column(Integer)
    students_left: Mapped[int] = mapped_column(Integer)


# The ledger looks up a copy's loans in checkout order (the loan before and after a new one);
# declared here so the shared `loans` model stays as the kiosk knows it. It carries the student
# too, so popular books over a long period count each copy's loans from the index (migration 0017).
Index("ix_loans_item_id_checked_out_at_patron", Loan.item_id, Loan.checked_out_at, Loan.patron_id)

# What the console's record pages look up (central.records), at district scale: a student's
# loans newest first (the history pages), the hold a copy is set aside for, and the hold shelf
# (ready holds by when they became ready). bench/console_pages.py times the pages without and
# with them. The students' index carries the copy too, so popular books for one grade count the
# grade's loans from the index alone (migration 0019).
PAGE_INDEXES = (
    Index(
        "ix_loans_patron_id_checked_out_at_item",
        Loan.patron_id,
        Loan.checked_out_at,
        Loan.item_id,
    ),
    Index("ix_holds_item_id", Hold.item_id),
    Index("ix_holds_status_ready_at", Hold.status, Hold.ready_at),
)
# The reports (central/reports) read loans and sign-ins by when they happened. The loans' index
# carries the copy and the student, so the class ranking and popular books count a period's loans
# from the index alone, without reading each loan's row (migration 0016).
Index("ix_loans_checked_out_at_item_patron", Loan.checked_out_at, Loan.item_id, Loan.patron_id)
Index("ix_central_events_kind_recorded_at", CentralEvent.kind, CentralEvent.recorded_at)


class ReportRollupState(Base):
    """The single row saying in which time zone the roll-up counts its days, and on which day of
    the year its school years start.

    No row: the roll-up was never built, and reports read the loans themselves.
    """

    __tablename__ = "report_rollup_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    timezone: Mapped[str] = mapped_column(String(64))
    # "09-01" ([school] year_start); NULL in a roll-up built before school years were counted.
    year_start: Mapped[str | None] = mapped_column(String(5))
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ReportDayCount(Base):
    """Loans (册次) and visits (人次) of one local day, grade and source, kept with the loans."""

    __tablename__ = "report_day_counts"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    # The grade the student's class named on that day (1 to 12); 0 when it named none.
    grade: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    # The kiosk id, or "desk" / "import" (Loan.kiosk_id).
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    loans: Mapped[int] = mapped_column(Integer, default=0)
    visits: Mapped[int] = mapped_column(Integer, default=0)


class ReportStudentDay(Base):
    """A student seen on a local day: where first (the visit is credited there) and in which grade."""

    __tablename__ = "report_student_days"

    patron_id: Mapped[int] = mapped_column(
        ForeignKey("patrons.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    first_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # A loan and a sign-in at the same instant: the loan came first.
    first_is_visit: Mapped[bool] = mapped_column(Boolean)
    first_source: Mapped[str] = mapped_column(String(64))
    grade: Mapped[int] = mapped_column(SmallInteger)


class ReportStudentPeriod(Base):
    """A student's loans in one calendar month or school year (the class ranking of either)."""

    __tablename__ = "report_student_periods"

    # Period.key: "2026-12" (a month) or "2026-2027" (a school year).
    period: Mapped[str] = mapped_column(String(9), primary_key=True)
    patron_id: Mapped[int] = mapped_column(
        ForeignKey("patrons.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    loans: Mapped[int] = mapped_column(Integer, default=0)


class ReportTitlePeriod(Base):
    """A title's loans in one calendar month or school year, whichever copy was lent (the popular
    books of either: the most lent are read from the (period, loans) index)."""

    __tablename__ = "report_title_periods"
    __table_args__ = (Index("ix_report_title_periods_period_loans", "period", "loans"),)

    period: Mapped[str] = mapped_column(String(9), primary_key=True)
    title_id: Mapped[int] = mapped_column(
        ForeignKey("titles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    loans: Mapped[int] = mapped_column(Integer, default=0)
