"""The overdue chase (催还) at the central: the overdue list by class, and the notices of each stage.

The rules (days overdue, stages, never twice) are kiosk/circulation/overdue.py; this module reads
the ledger, records notices in `central_overdue_notices` and hands e-mail to central/mail.py.
The chase always applies the kiosks' received pushes first (`catch_up_ledger`), so a book
returned at any kiosk before the last push is never chased.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central.applier import apply_received_from
from central.i18n import local_date
from central.mail import Letter, Mailer
from db.central_models import NoticeStatus, OverdueNotice
from db.engine import SessionFactory
from db.models import Item, Loan, Patron, Title
from kiosk.circulation.overdue import (
    Channel,
    ChasePolicy,
    Stage,
    current_stage,
    loan_days_overdue,
    notices_due,
)
from kiosk.circulation.schoolyear import ClassKey, class_key, class_label

log = logging.getLogger(__name__)

# Events per ledger transaction while catching up, as the ledger worker's slices.
CATCH_UP_SLICE = 200
# Who the command line and the scheduled run record as the sender.
SYSTEM_SENDER = "chase"
# Loans looked up per IN (...) when reading their notices.
_IN_CHUNK = 500


@dataclass(frozen=True)
class OverdueRow:
    """One overdue loan as the list shows it; never the student's card number."""

    loan_uuid: str
    class_key: ClassKey | None
    class_name: str
    student_number: str
    student_name: str
    parent_name: str
    parent_email: str
    parent_phone: str
    item_barcode: str
    title: str
    call_number: str
    checked_out_at: dt.datetime
    due_at: dt.datetime
    due_date: dt.date
    days_overdue: int
    stage: Stage | None
    # Notice stages already recorded for the loan (sending, sent or failed), with their channel.
    notices: dict[Stage, OverdueNotice] = field(default_factory=dict)

    @property
    def class_text(self) -> str:
        """The class's key text "3-2", or the roster's words when they name no class."""
        return str(self.class_key) if self.class_key else self.class_name

    def class_label(self, lang: str) -> str:
        if self.class_key is None:
            return self.class_name or ("(no class)" if lang != "zh" else "（无班级）")
        return class_label(self.class_key, lang)

    def as_json(self) -> dict[str, Any]:
        """The columns of GET /api/v1/reports/overdue (docs/reports.md, "Overdue")."""
        return {
            "loan_uuid": self.loan_uuid,
            "class": self.class_text,
            "class_label": self.class_label("zh"),
            "class_name": self.class_name,
            "student_number": self.student_number,
            "student_name": self.student_name,
            "item_barcode": self.item_barcode,
            "title": self.title,
            "call_number": self.call_number,
            "checked_out_at": self.checked_out_at.isoformat(),
            "due_at": self.due_at.isoformat(),
            "due_date": self.due_date.isoformat(),
            "days_overdue": self.days_overdue,
            "stage": self.stage.value if self.stage else None,
            "notices": {
                stage.value: {
                    "channel": n.channel,
                    "status": n.status,
                    "at": n.at.isoformat(),
                }
                for stage, n in sorted(self.notices.items())
            },
        }


@dataclass(frozen=True)
class ClassGroup:
    """The overdue loans of one class, oldest first."""

    class_key: ClassKey | None
    class_name: str
    rows: list[OverdueRow]

    @property
    def class_text(self) -> str:
        return self.rows[0].class_text

    def label(self, lang: str) -> str:
        return self.rows[0].class_label(lang)


def _class_order(row: OverdueRow) -> tuple[int, ClassKey, str]:
    # Classes in grade order; rows whose class the key does not understand come last.
    if row.class_key is None:
        return (1, ClassKey(0, 0), row.class_name)
    return (0, row.class_key, "")


def overdue_rows(
    session: Session,
    policy: ChasePolicy,
    now: dt.datetime,
    *,
    with_notices: bool = True,
    past: bool = False,
) -> list[OverdueRow]:
    """Every loan open at `now` and at least one day overdue as the library counts them, grouped
    by class (grade order; classes the key does not understand last), each class oldest first
    (earliest due first, then checkout). `now` is the present unless `past`: then the loans out
    at that moment are listed, whether returned since or not."""
    stmt = (
        select(
            Loan.uuid,
            Loan.checked_out_at,
            Loan.due_at,
            Patron.student_number,
            Patron.name,
            Patron.class_name,
            Patron.parent_name,
            Patron.parent_email,
            Patron.parent_phone,
            Item.barcode,
            Title.title,
            Title.call_number,
        )
        .join(Patron, Patron.id == Loan.patron_id)
        .join(Item, Item.id == Loan.item_id)
        .join(Title, Title.id == Item.title_id)
        .where(Loan.due_at < now)
    )
    if past:
        # As of a past day: the loans out then, returned since or not (reads every loan).
        stmt = stmt.where(
            Loan.checked_out_at <= now, or_(Loan.returned_at.is_(None), Loan.returned_at > now)
        )
    else:
        # Open loans only: the databases answer from the partial index of open loans
        # (uq_loans_open_item), not from every loan ever made.
        stmt = stmt.where(Loan.returned_at.is_(None))
    rows: list[OverdueRow] = []
    for r in session.execute(stmt):
        days = loan_days_overdue(policy, r.due_at, now)
        if days < 1:
            # Past due_at but no day the library counts yet (due today, or only closed days).
            continue
        rows.append(
            OverdueRow(
                loan_uuid=r.uuid,
                class_key=class_key(r.class_name),
                class_name=r.class_name,
                student_number=r.student_number,
                student_name=r.name,
                parent_name=r.parent_name,
                parent_email=r.parent_email.strip(),
                parent_phone=r.parent_phone.strip(),
                item_barcode=r.barcode,
                title=r.title,
                call_number=r.call_number,
                checked_out_at=r.checked_out_at,
                due_at=r.due_at,
                due_date=policy.calendar.local_date(r.due_at),
                days_overdue=days,
                stage=current_stage(policy, days),
            )
        )
    if with_notices and rows:
        notices = notices_by_loan(session, [row.loan_uuid for row in rows])
        for row in rows:
            row.notices.update(notices.get(row.loan_uuid, {}))
    rows.sort(key=lambda row: (_class_order(row), row.due_at, row.checked_out_at, row.loan_uuid))
    return rows


def end_of_day(policy: ChasePolicy, day: dt.date) -> dt.datetime:
    """The last instant of the library's `day`, as aware UTC: "as of" a date means after it."""
    start_next = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), policy.calendar.zone)
    return start_next.astimezone(dt.UTC) - dt.timedelta(microseconds=1)


def group_by_class(rows: Iterable[OverdueRow]) -> list[ClassGroup]:
    """`overdue_rows`' rows as one group per class, in the rows' order."""
    groups: list[ClassGroup] = []
    for row in rows:
        if groups and groups[-1].rows[0].class_text == row.class_text:
            groups[-1].rows.append(row)
        else:
            groups.append(ClassGroup(row.class_key, row.class_name, [row]))
    return groups


def notices_by_loan(
    session: Session, loan_uuids: Sequence[str]
) -> dict[str, dict[Stage, OverdueNotice]]:
    """The recorded notices of these loans, by loan and stage."""
    found: dict[str, dict[Stage, OverdueNotice]] = {}
    for start in range(0, len(loan_uuids), _IN_CHUNK):
        chunk = loan_uuids[start : start + _IN_CHUNK]
        for notice in session.scalars(
            select(OverdueNotice).where(OverdueNotice.loan_uuid.in_(chunk))
        ):
            found.setdefault(notice.loan_uuid, {})[Stage(notice.stage)] = notice
    return found


def catch_up_ledger(factory: SessionFactory, now: dt.datetime) -> int:
    """Apply every pushed event the ledger has not applied yet, one transaction per slice.

    Takes the ledger lock like the worker (central.applier), so it is safe beside a running
    central; returns the events processed. The chase calls it first: a return pushed by any
    kiosk is then in the loans the chase reads.
    """
    total = 0
    while True:
        with factory.begin() as session:
            processed, _ = apply_received_from(session, now, CATCH_UP_SLICE, from_id=0)
        total += processed
        if not processed:
            return total


# --- the notices -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedNotice:
    """A notice the chase would send now: the loan, its stage, how and to whom."""

    row: OverdueRow
    stage: Stage
    channel: Channel
    recipient: str


@dataclass
class ChasePlan:
    """What a chase run would do at `now`, per stage, before anything is sent."""

    now: dt.datetime
    # Parents to e-mail, parents for the SMS export (no e-mail address, a phone number).
    emails: list[PlannedNotice] = field(default_factory=list)
    sms: list[PlannedNotice] = field(default_factory=list)
    # Loans due for the class teacher's 催还单, by class (printed from the console or --class-lists).
    class_lists: list[ClassGroup] = field(default_factory=list)
    # Parents' stage reached, but the roster has no e-mail address or phone for the parents.
    no_contact: list[OverdueRow] = field(default_factory=list)
    # Loans past `long_overdue_days`: the librarian is offered the loss case.
    long_overdue: list[OverdueRow] = field(default_factory=list)
    # E-mail stage reached but no mail server: the notices wait (they are not recorded).
    email_unavailable: bool = False


def plan_chase(
    session: Session, policy: ChasePolicy, now: dt.datetime, *, email: bool = True
) -> ChasePlan:
    """What the chase would send at `now`; reads only. Stages already recorded for a loan are
    left out (a failed e-mail is due again). `email` False: parents with an address wait for a
    run that can e-mail (no mail server configured)."""
    plan = ChasePlan(now=now, email_unavailable=not email)
    class_rows: list[OverdueRow] = []
    for row in overdue_rows(session, policy, now):
        sent = {
            stage for stage, notice in row.notices.items() if notice.status != NoticeStatus.FAILED
        }
        due = notices_due(policy, row.days_overdue, sent)
        if Stage.CLASS_LIST in due:
            class_rows.append(row)
        if Stage.PARENTS in due:
            if row.parent_email:
                if email:
                    plan.emails.append(
                        PlannedNotice(row, Stage.PARENTS, Channel.EMAIL, row.parent_email)
                    )
            elif row.parent_phone:
                plan.sms.append(PlannedNotice(row, Stage.PARENTS, Channel.SMS, row.parent_phone))
            else:
                plan.no_contact.append(row)
        if row.stage is Stage.LONG_OVERDUE:
            plan.long_overdue.append(row)
    plan.class_lists = group_by_class(class_rows)
    return plan


def claim_notices(
    session: Session,
    planned: Sequence[PlannedNotice],
    *,
    now: dt.datetime,
    batch: str,
    by_username: str,
) -> list[OverdueNotice]:
    """Record `planned` as being sent, before anything leaves; caller commits, then sends.

    A loan returned meanwhile (a push applied since the plan) is skipped, and so is a stage
    another run has claimed: the unique (loan, stage) row decides, so two runs at once never
    both send. A failed notice of an earlier run is taken over. Returns the claimed notices.
    """
    claimed: list[OverdueNotice] = []
    for notice in planned:
        loan = session.scalar(select(Loan).where(Loan.uuid == notice.row.loan_uuid))
        if loan is None or loan.returned_at is not None:
            continue
        existing = session.scalar(
            select(OverdueNotice).where(
                OverdueNotice.loan_uuid == notice.row.loan_uuid,
                OverdueNotice.stage == notice.stage,
            )
        )
        if existing is not None and existing.status != NoticeStatus.FAILED:
            continue
        if existing is None:
            existing = OverdueNotice(loan_uuid=notice.row.loan_uuid, stage=notice.stage)
            try:
                with session.begin_nested():
                    _fill(existing, notice, now, batch, by_username)
                    session.add(existing)
            except IntegrityError:
                # Another run claimed it between our look and our insert.
                continue
        else:
            _fill(existing, notice, now, batch, by_username)
        claimed.append(existing)
    session.flush()
    return claimed


def _fill(
    row: OverdueNotice, notice: PlannedNotice, now: dt.datetime, batch: str, by_username: str
) -> None:
    row.channel = notice.channel
    row.recipient = notice.recipient
    row.status = NoticeStatus.SENDING if notice.channel is Channel.EMAIL else NoticeStatus.SENT
    row.at = now
    row.days_overdue = notice.row.days_overdue
    row.batch = batch
    row.by_username = by_username
    row.error = ""


def new_batch() -> str:
    """A fresh batch id for one run, print or export."""
    return str(uuid.uuid4())


# --- what the notices say ---------------------------------------------------------------------


def zh_date(day: dt.date) -> str:
    """A date as a Chinese letter writes it: 2026年12月9日 (the console's own wording of dates)."""
    # A plain date is taken as it is, whatever the zone.
    return local_date(day, ZoneInfo("UTC"), "zh")


def parents_letter(row: OverdueRow, *, school: str, return_hint: str, today: dt.date) -> Letter:
    """The parents' e-mail for one overdue loan: in Chinese, naming the book, its due date, the
    days overdue and how to bring it back."""
    parent = f"{row.parent_name}家长" if row.parent_name else "家长"
    subject = f"【{school}】催还通知：《{row.title}》已超期{row.days_overdue}天"
    body = "\n".join(
        [
            f"{parent}，您好：",
            "",
            f"您的孩子{row.student_name}（{row.class_label('zh')}）从学校图书馆借阅的"
            f"《{row.title}》（图书条码 {row.item_barcode}），应还日期是{zh_date(row.due_date)}，"
            f"到今天已经超期{row.days_overdue}天了。",
            "",
            return_hint,
            "如果书已经遗失或损坏，请联系图书管理员办理赔偿。",
            "",
            "谢谢您的配合！",
            f"{school}图书馆",
            zh_date(today),
        ]
    )
    return Letter(row.parent_email, subject, body + "\n")


def sms_text(row: OverdueRow, *, school: str) -> str:
    """The parents' text message for the school's SMS platform: short, one sentence."""
    return (
        f"【{school}】{row.student_name}同学借阅的《{row.title}》应于{zh_date(row.due_date)}"
        f"归还，已超期{row.days_overdue}天，请提醒孩子尽快还书。"
    )


SMS_HEADER = ("家长电话", "短信内容", "班级", "学生", "书名", "超期天数")


def sms_csv(rows: Iterable[OverdueRow], *, school: str) -> str:
    """The SMS export: one row per parent message (UTF-8 with BOM, so Excel/WPS read it).

    Cells beginning with =, +, - or @ are quoted with a leading apostrophe: a spreadsheet must
    never run a formula out of a title or a name.
    """
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SMS_HEADER)
    for row in rows:
        writer.writerow(
            [
                _cell(value)
                for value in (
                    row.parent_phone,
                    sms_text(row, school=school),
                    row.class_label("zh"),
                    row.student_name,
                    row.title,
                    str(row.days_overdue),
                )
            ]
        )
    return out.getvalue()


def _cell(value: str) -> str:
    # A phone number written "+86…" must stay text, not become a formula either.
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


# --- a whole run -----------------------------------------------------------------------------


@dataclass
class ChaseOutcome:
    """What one run did: the plan it made and the e-mails' fates."""

    plan: ChasePlan
    batch: str
    sent: int = 0
    failed: list[tuple[OverdueRow, str]] = field(default_factory=list)
    sms_recorded: list[OverdueRow] = field(default_factory=list)
    ledger_events: int = 0


def run_chase(
    factory: SessionFactory,
    policy: ChasePolicy,
    mailer: Mailer,
    now: dt.datetime,
    *,
    school: str,
    return_hint: str,
    by_username: str = SYSTEM_SENDER,
    dry_run: bool = False,
    record_sms: bool = False,
    email: bool = True,
) -> ChaseOutcome:
    """Catch up the ledger, plan, then send the parents' e-mails (and record the SMS export
    when `record_sms`). Each step in its own transaction; no transaction is open while the
    mail server is talked to. `dry_run` plans only: nothing is recorded or sent. `email` False
    leaves the e-mail stage for another run (the console's SMS export)."""
    ledger_events = 0 if dry_run else catch_up_ledger(factory, now)
    batch = new_batch()
    with factory() as session:
        plan = plan_chase(session, policy, now, email=email and mailer.available)
    outcome = ChaseOutcome(plan=plan, batch=batch, ledger_events=ledger_events)
    if dry_run:
        return outcome
    with factory.begin() as session:
        claimed = claim_notices(
            session,
            plan.emails + (plan.sms if record_sms else []),
            now=now,
            batch=batch,
            by_username=by_username,
        )
        claimed_ids = {(n.loan_uuid, n.channel): n.id for n in claimed}
    emails = [p for p in plan.emails if (p.row.loan_uuid, Channel.EMAIL) in claimed_ids]
    outcome.sms_recorded = [
        p.row for p in plan.sms if (p.row.loan_uuid, Channel.SMS) in claimed_ids
    ]
    today = policy.calendar.local_date(now)
    letters = [
        parents_letter(p.row, school=school, return_hint=return_hint, today=today) for p in emails
    ]
    deliveries = mailer.send(letters)
    with factory.begin() as session:
        for planned, delivery in zip(emails, deliveries, strict=True):
            notice = session.get(OverdueNotice, claimed_ids[(planned.row.loan_uuid, Channel.EMAIL)])
            assert notice is not None
            if delivery.error is None:
                notice.status = NoticeStatus.SENT
                outcome.sent += 1
            else:
                notice.status = NoticeStatus.FAILED
                notice.error = delivery.error[:500]
                outcome.failed.append((planned.row, delivery.error))
    log.info(
        "chase batch %s: %d e-mail(s) sent, %d failed, %d SMS row(s) recorded",
        batch,
        outcome.sent,
        len(outcome.failed),
        len(outcome.sms_recorded),
    )
    return outcome


def record_class_list(
    session: Session,
    group: ClassGroup,
    *,
    now: dt.datetime,
    batch: str,
    by_username: str,
) -> list[OverdueRow]:
    """Record the class-list stage for `group`'s loans that are due it (the 催还单 was printed).
    Caller commits. Returns the rows recorded (a row already on an earlier list is not)."""
    planned = [
        PlannedNotice(row, Stage.CLASS_LIST, Channel.PRINT, group.label("zh")[:200])
        for row in group.rows
    ]
    claimed = {
        n.loan_uuid
        for n in claim_notices(session, planned, now=now, batch=batch, by_username=by_username)
    }
    return [row for row in group.rows if row.loan_uuid in claimed]
