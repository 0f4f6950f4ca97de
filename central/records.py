"""The console's records: find anything, a student's, a copy's and a title's page, and their edits."""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from central.compensation import PatronCompensation, patron_compensation
from db.central_models import Kiosk, LoanFacts
from db.models import (
    Hold,
    HoldStatus,
    Item,
    ItemStatus,
    Loan,
    Patron,
    PatronStatus,
    Title,
    width_of,
)
from kiosk.circulation.barcodes import BarcodeKind, BarcodeRules, classify
from kiosk.circulation.overdue import ChasePolicy, loan_days_overdue
from kiosk.search.index import index_titles
from kiosk.search.query import StudentHit, TitleHit, search_students, search_titles
from kiosk.search.text import compact, query_isbn13
from kiosk.services.catalog import Holding, ensure_items

# Rows per group in the find box's result list; typing more narrows a broad query.
FIND_RESULTS = 30
# Loans per page of a student's or a copy's history.
HISTORY_PAGE = 20
# Copies added at once: a school buys a class set (40-50) at most; more is a typing mistake.
MAX_NEW_COPIES = 60
# Holds that still ask something of the library; the rest are history.
OPEN_HOLDS = (HoldStatus.WAITING.value, HoldStatus.READY.value)

BLOCK_REASON_CHARS = width_of(Patron.block_reason)
BARCODE_CHARS = width_of(Item.barcode)
LOCATION_CHARS = width_of(Item.location)
CALL_NUMBER_CHARS = width_of(Title.call_number)


# --- find ---------------------------------------------------------------------------------------


class RecordKind(enum.StrEnum):
    PATRON = "patron"
    ITEM = "item"
    TITLE = "title"


@dataclass(frozen=True)
class RecordRef:
    """Which record a query named exactly."""

    kind: RecordKind
    id: int


@dataclass(frozen=True)
class CopyHit:
    item_id: int
    barcode: str
    title_id: int
    title: str
    status: str
    location: str


@dataclass(frozen=True)
class Found:
    """What the find box found: one record named exactly (open it), or the groups to list."""

    exact: RecordRef | None
    students: Sequence[StudentHit] = ()
    copies: Sequence[CopyHit] = ()
    titles: Sequence[TitleHit] = ()

    @property
    def empty(self) -> bool:
        return self.exact is None and not (self.students or self.copies or self.titles)


def find(session: Session, query: str, *, limit: int = FIND_RESULTS) -> Found:
    """Look `query` up everywhere: a card number, student number, copy barcode or ISBN that
    names exactly one record opens it; anything else lists students (name, number, class),
    copies (barcode start) and titles (the search engine: title, author, ISBN, call number,
    pinyin), each group best first."""
    typed = unicodedata.normalize("NFKC", query).strip()
    if not typed:
        return Found(None)
    exact = _exact(session, typed)
    if exact is not None:
        return Found(exact)
    return Found(
        None,
        students=search_students(session, typed, limit=limit),
        copies=_copies_by_barcode(session, typed, limit),
        titles=search_titles(session, typed, limit=limit),
    )


def _exact(session: Session, typed: str) -> RecordRef | None:
    # Scanned and typed codes both arrive here; barcodes are stored in capitals.
    codes = {typed, typed.upper()}
    found: set[RecordRef] = set()
    for patron_id in session.scalars(
        select(Patron.id).where(Patron.card_barcode.in_(codes) | Patron.student_number.in_(codes))
    ):
        found.add(RecordRef(RecordKind.PATRON, patron_id))
    for item_id in session.scalars(select(Item.id).where(Item.barcode.in_(codes))):
        found.add(RecordRef(RecordKind.ITEM, item_id))
    isbn13 = query_isbn13(typed)
    if isbn13 is not None:
        for title_id in session.scalars(select(Title.id).where(Title.isbn13 == isbn13)):
            found.add(RecordRef(RecordKind.TITLE, title_id))
    # A code that names two things (a card number that is also a copy's barcode) is listed.
    return found.pop() if len(found) == 1 else None


def _copies_by_barcode(session: Session, typed: str, limit: int) -> list[CopyHit]:
    prefix = compact(typed).upper()
    if not prefix.isascii() or not prefix.isalnum() or len(prefix) < 2:
        return []
    # A range over the unique index, not LIKE: PostgreSQL uses it whatever the collation.
    high = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    rows = session.execute(
        select(
            Item.id.label("item_id"),
            Item.barcode,
            Item.title_id,
            Title.title,
            Item.status,
            Item.location,
        )
        .join(Title, Title.id == Item.title_id)
        .where(Item.barcode >= prefix, Item.barcode < high)
        .order_by(Item.barcode)
        .limit(limit)
    )
    return [CopyHit(**row) for row in rows.mappings() if row["barcode"].startswith(prefix)]


# --- a student's page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoanLine:
    """One loan as a page lists it: the copy and title, or the student, by name."""

    loan_id: int
    item_id: int
    barcode: str
    title_id: int
    title: str
    patron_id: int
    patron_name: str
    class_name: str
    checked_out_at: dt.datetime
    due_at: dt.datetime
    returned_at: dt.datetime | None
    renewals: int
    kiosk_id: str
    # The kiosk's name as the monitor shows it (None for the desk and the console).
    kiosk_name: str | None
    # When the copy was marked lost during this loan (central_loan_facts), if it was.
    lost_at: dt.datetime | None
    days_overdue: int

    @property
    def ended_lost(self) -> bool:
        """The loan ended because the copy was lost, not returned (the ledger keeps the earlier
        of the loss and a kiosk's return)."""
        return self.lost_at is not None and self.returned_at == self.lost_at


@dataclass(frozen=True)
class HoldLine:
    hold_id: int
    title_id: int
    title: str
    patron_id: int
    patron_name: str
    class_name: str
    status: str
    placed_at: dt.datetime
    ready_at: dt.datetime | None
    item_barcode: str | None


@dataclass(frozen=True)
class HistoryPage:
    """One page of returned loans, newest first; `page` counts from 1."""

    loans: Sequence[LoanLine]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class PatronRecord:
    patron: Patron
    loans: Sequence[LoanLine]
    history: HistoryPage
    holds: Sequence[HoldLine]
    # Lost and damaged books (遗失赔偿): owed, paid and each case.
    compensation: PatronCompensation

    @property
    def overdue(self) -> int:
        return sum(1 for loan in self.loans if loan.days_overdue > 0)


def _loan_lines() -> Select[*tuple[Any, ...]]:
    return (
        select(
            Loan.id.label("loan_id"),
            Loan.item_id,
            Item.barcode,
            Item.title_id,
            Title.title,
            Loan.patron_id,
            Patron.name.label("patron_name"),
            Patron.class_name,
            Loan.checked_out_at,
            Loan.due_at,
            Loan.returned_at,
            Loan.renewals,
            Loan.kiosk_id,
            Kiosk.name.label("kiosk_name"),
            LoanFacts.lost_at,
        )
        .join(Item, Item.id == Loan.item_id)
        .join(Title, Title.id == Item.title_id)
        .join(Patron, Patron.id == Loan.patron_id)
        .outerjoin(Kiosk, Kiosk.id == Loan.kiosk_id)
        .outerjoin(LoanFacts, LoanFacts.loan_uuid == Loan.uuid)
    )


def _lines(
    session: Session, stmt: Select[*tuple[Any, ...]], policy: ChasePolicy, now: dt.datetime
) -> list[LoanLine]:
    lines = []
    for row in session.execute(stmt).mappings():
        open_loan = row["returned_at"] is None
        overdue = loan_days_overdue(policy, row["due_at"], now) if open_loan else 0
        lines.append(LoanLine(**row, days_overdue=overdue))
    return lines


def _history(
    session: Session,
    condition: ColumnElement[bool],
    page: int,
    policy: ChasePolicy,
    now: dt.datetime,
) -> HistoryPage:
    total = session.scalar(select(func.count(Loan.id)).where(condition)) or 0
    pages = max(1, -(-total // HISTORY_PAGE))
    page = min(max(1, page), pages)
    stmt = (
        _loan_lines()
        .where(condition)
        .order_by(Loan.checked_out_at.desc(), Loan.id.desc())
        .limit(HISTORY_PAGE)
        .offset((page - 1) * HISTORY_PAGE)
    )
    return HistoryPage(_lines(session, stmt, policy, now), page, pages, total)


def _hold_lines(session: Session, condition: ColumnElement[bool]) -> list[HoldLine]:
    rows = session.execute(
        select(
            Hold.id.label("hold_id"),
            Hold.title_id,
            Title.title,
            Hold.patron_id,
            Patron.name.label("patron_name"),
            Patron.class_name,
            Hold.status,
            Hold.placed_at,
            Hold.ready_at,
            Item.barcode.label("item_barcode"),
        )
        .join(Title, Title.id == Hold.title_id)
        .join(Patron, Patron.id == Hold.patron_id)
        .outerjoin(Item, Item.id == Hold.item_id)
        .where(condition, Hold.status.in_(OPEN_HOLDS))
        # Ready first (a copy is waiting), then the queue in the order holds were placed.
        .order_by(Hold.status.desc(), Hold.placed_at, Hold.uuid)
    )
    return [HoldLine(**row) for row in rows.mappings()]


def patron_record(
    session: Session,
    patron_id: int,
    policy: ChasePolicy,
    now: dt.datetime,
    *,
    history_page: int = 1,
) -> PatronRecord | None:
    """A student's page: current loans (soonest due first), one page of returned loans, open
    holds and compensation cases; None for an unknown id."""
    patron = session.get(Patron, patron_id)
    if patron is None:
        return None
    current = _loan_lines().where(Loan.patron_id == patron_id, Loan.returned_at.is_(None))
    return PatronRecord(
        patron=patron,
        loans=_lines(session, current.order_by(Loan.due_at, Loan.id), policy, now),
        history=_history(
            session,
            (Loan.patron_id == patron_id) & Loan.returned_at.is_not(None),
            history_page,
            policy,
            now,
        ),
        holds=_hold_lines(session, Hold.patron_id == patron_id),
        compensation=patron_compensation(session, patron_id),
    )


# --- a copy's and a title's page ----------------------------------------------------------------


@dataclass(frozen=True)
class ItemRecord:
    """A copy's page: where it is (the open loan, the hold it waits for) and its history."""

    item: Item
    title: Title
    loan: LoanLine | None
    hold: HoldLine | None
    history: HistoryPage


def item_record(
    session: Session,
    item_id: int,
    policy: ChasePolicy,
    now: dt.datetime,
    *,
    history_page: int = 1,
) -> ItemRecord | None:
    """A copy with its title, its open loan, the ready hold it is set aside for and one page
    of its loans (the open one included), newest first; None for an unknown id."""
    item = session.get(Item, item_id)
    if item is None:
        return None
    open_loan = _lines(
        session,
        _loan_lines().where(Loan.item_id == item_id, Loan.returned_at.is_(None)),
        policy,
        now,
    )
    holds = _hold_lines(session, Hold.item_id == item_id)
    return ItemRecord(
        item=item,
        title=item.title,
        loan=open_loan[0] if open_loan else None,
        hold=next((h for h in holds if h.status == HoldStatus.READY), None),
        history=_history(session, Loan.item_id == item_id, history_page, policy, now),
    )


@dataclass(frozen=True)
class CopyLine:
    """A copy on its title's page, with the student who has it, if anyone."""

    item_id: int
    barcode: str
    location: str
    status: str
    patron_id: int | None
    patron_name: str | None
    class_name: str | None
    due_at: dt.datetime | None
    days_overdue: int


@dataclass(frozen=True)
class TitleRecord:
    title: Title
    copies: Sequence[CopyLine]
    holds: Sequence[HoldLine]

    @property
    def on_shelf(self) -> int:
        return sum(1 for c in self.copies if c.status == ItemStatus.AVAILABLE)


def title_record(
    session: Session, title_id: int, policy: ChasePolicy, now: dt.datetime
) -> TitleRecord | None:
    """A title with its copies (and who has each) and its open holds in queue order."""
    title = session.get(Title, title_id)
    if title is None:
        return None
    rows = session.execute(
        select(
            Item.id.label("item_id"),
            Item.barcode,
            Item.location,
            Item.status,
            Patron.id.label("patron_id"),
            Patron.name.label("patron_name"),
            Patron.class_name,
            Loan.due_at,
        )
        .outerjoin(Loan, (Loan.item_id == Item.id) & Loan.returned_at.is_(None))
        .outerjoin(Patron, Patron.id == Loan.patron_id)
        .where(Item.title_id == title_id)
        .order_by(Item.barcode)
    )
    copies = [
        CopyLine(
            **row,
            days_overdue=loan_days_overdue(policy, row["due_at"], now) if row["due_at"] else 0,
        )
        for row in rows.mappings()
    ]
    return TitleRecord(title, copies, _hold_lines(session, Hold.title_id == title_id))


# --- edits (kiosks learn them on their next pull: central sessions log every change) ----------


class EditOutcome(enum.StrEnum):
    DONE = "done"
    UNCHANGED = "unchanged"
    NOT_FOUND = "not_found"
    # Blocking needs a reason the kiosk and the librarian can read.
    REASON_REQUIRED = "reason_required"
    # A student who has left cannot be blocked or unblocked: the roster decides their status.
    PATRON_LEFT = "patron_left"
    BARCODE_TAKEN = "barcode_taken"
    # Not what the kiosks read as a copy's barcode ([barcodes] item_pattern).
    BARCODE_NOT_ITEM = "barcode_not_item"
    # A copy on loan or on the hold shelf keeps its barcode until it is back: the kiosks and
    # the student's receipt know it by that barcode.
    BARCODE_IN_USE = "barcode_in_use"
    TOO_MANY_COPIES = "too_many_copies"


def block_patron(session: Session, patron_id: int, reason: str, now: dt.datetime) -> EditOutcome:
    """Block a student's card with `reason` (shown at the kiosk and here). Caller commits."""
    reason = " ".join(reason.split())[:BLOCK_REASON_CHARS]
    if not reason:
        return EditOutcome.REASON_REQUIRED
    patron = session.get(Patron, patron_id)
    if patron is None:
        return EditOutcome.NOT_FOUND
    if patron.status == PatronStatus.LEFT:
        return EditOutcome.PATRON_LEFT
    if patron.status == PatronStatus.BLOCKED and patron.block_reason == reason:
        return EditOutcome.UNCHANGED
    patron.status = PatronStatus.BLOCKED
    patron.block_reason = reason
    patron.updated_at = now
    session.flush()
    return EditOutcome.DONE


def unblock_patron(session: Session, patron_id: int, now: dt.datetime) -> EditOutcome:
    """Let a blocked student borrow again; the reason is cleared. Caller commits."""
    patron = session.get(Patron, patron_id)
    if patron is None:
        return EditOutcome.NOT_FOUND
    if patron.status == PatronStatus.LEFT:
        return EditOutcome.PATRON_LEFT
    if patron.status != PatronStatus.BLOCKED:
        return EditOutcome.UNCHANGED
    patron.status = PatronStatus.ACTIVE
    patron.block_reason = ""
    patron.updated_at = now
    session.flush()
    return EditOutcome.DONE


@dataclass(frozen=True)
class Contact:
    parent_name: str
    parent_phone: str
    parent_email: str


@dataclass(frozen=True)
class Edited:
    """What an edit did, and when it was done each changed field's (old, new) value."""

    outcome: EditOutcome
    changes: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def _apply(row: object, values: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    changes = {}
    for attr, value in values.items():
        old = getattr(row, attr)
        if old != value:
            changes[attr] = (old, value)
            setattr(row, attr, value)
    return changes


def edit_contact(session: Session, patron_id: int, contact: Contact, now: dt.datetime) -> Edited:
    """Change a student's parents' contact details (checked by the form). Caller commits."""
    patron = session.get(Patron, patron_id)
    if patron is None:
        return Edited(EditOutcome.NOT_FOUND)
    changes = _apply(
        patron,
        {
            "parent_name": contact.parent_name.strip(),
            "parent_phone": contact.parent_phone.strip(),
            "parent_email": contact.parent_email.strip(),
        },
    )
    if not changes:
        return Edited(EditOutcome.UNCHANGED)
    patron.updated_at = now
    session.flush()
    return Edited(EditOutcome.DONE, changes)


def normalise_barcode(text: str) -> str:
    """A barcode as typed or scanned into a form: full-width folded, spaces gone, capitals."""
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


def is_item_barcode(barcode: str, rules: BarcodeRules) -> bool:
    """Whether a kiosk reads `barcode` as a copy's barcode (not a card, not an ISBN)."""
    return classify(barcode, rules).kind is BarcodeKind.ITEM


@dataclass(frozen=True)
class CopyChanges:
    barcode: str
    location: str
    call_number: str


def edit_item(
    session: Session, item_id: int, wanted: CopyChanges, rules: BarcodeRules, now: dt.datetime
) -> Edited:
    """Change a copy's barcode and location and its title's call number. Caller commits.

    Checked in this order, first refusal wins: the barcode must be one a kiosk reads as a
    copy's, not another copy's, and may change only while the copy is on a shelf.
    """
    item = session.get(Item, item_id)
    if item is None:
        return Edited(EditOutcome.NOT_FOUND)
    barcode = normalise_barcode(wanted.barcode)
    if barcode != item.barcode:
        if not is_item_barcode(barcode, rules):
            return Edited(EditOutcome.BARCODE_NOT_ITEM)
        if session.scalar(select(Item.id).where(Item.barcode == barcode)) is not None:
            return Edited(EditOutcome.BARCODE_TAKEN)
        if item.status in (ItemStatus.ON_LOAN, ItemStatus.ON_HOLD_SHELF):
            return Edited(EditOutcome.BARCODE_IN_USE)
    changes = _apply(
        item, {"barcode": barcode, "location": wanted.location.strip()[:LOCATION_CHARS]}
    )
    title = item.title
    retitled = _apply(title, {"call_number": wanted.call_number.strip()[:CALL_NUMBER_CHARS]})
    if retitled:
        title.updated_at = now
        session.flush()
        # The call number is searched by its class prefix: its search row follows it.
        index_titles(session, [title.id])
    if not changes and not retitled:
        return Edited(EditOutcome.UNCHANGED)
    session.flush()
    return Edited(EditOutcome.DONE, changes | retitled)


@dataclass(frozen=True)
class AddedCopies:
    outcome: EditOutcome
    barcodes: tuple[str, ...] = ()
    # Given barcodes that are not copies' barcodes, or already belong to a copy.
    refused: tuple[str, ...] = ()


def add_copies(
    session: Session,
    title_id: int,
    *,
    barcodes: Sequence[str],
    count: int,
    location: str,
    rules: BarcodeRules,
    now: dt.datetime,
) -> AddedCopies:
    """Add copies to a title: one per given barcode, or `count` with barcodes made up as the
    catalog import makes them ("G" + ISBN digits, else "GEN" + a number), to be labelled.

    All or nothing: when any given barcode is refused, nothing is added. Caller commits.
    """
    title = session.get(Title, title_id)
    if title is None:
        return AddedCopies(EditOutcome.NOT_FOUND)
    wanted = list(dict.fromkeys(normalise_barcode(b) for b in barcodes if b.strip()))
    location = location.strip()[:LOCATION_CHARS]
    if len(wanted) > MAX_NEW_COPIES or (not wanted and not 1 <= count <= MAX_NEW_COPIES):
        return AddedCopies(EditOutcome.TOO_MANY_COPIES)
    refused = [b for b in wanted if not is_item_barcode(b, rules)]
    taken = set(session.scalars(select(Item.barcode).where(Item.barcode.in_(wanted))))
    refused += [b for b in wanted if b in taken and b not in refused]
    if refused:
        outcome = EditOutcome.BARCODE_TAKEN if taken else EditOutcome.BARCODE_NOT_ITEM
        return AddedCopies(outcome, refused=tuple(refused))
    if wanted:
        holdings = [Holding(b, location) for b in wanted]
        result = ensure_items(session, title, holdings, now)
        added = tuple(wanted)
    else:
        have = session.scalar(select(func.count(Item.id)).where(Item.title_id == title_id)) or 0
        result = ensure_items(session, title, [], now, copies=have + count)
        added = result.generated
        for item in session.scalars(select(Item).where(Item.barcode.in_(added))):
            item.location = location
    session.flush()
    return AddedCopies(EditOutcome.DONE, added)
