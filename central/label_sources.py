"""Which copies and students a label or card sheet is for, read from the central database."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from central.labels import (
    LAYOUTS,
    AccessionLabel,
    Label,
    LabelKind,
    SpineLabel,
    StudentCard,
    fit_problems,
    layouts_for,
    sheets_needed,
    spine_lines,
    start_problem,
    too_long_barcodes,
)
from db.models import Item, Patron, PatronStatus, Title
from kiosk.circulation.schoolyear import ClassKey, class_display, class_key, class_label
from kiosk.circulation.states import ItemStatus
from kiosk.services.catalog import (
    GENERATED_COUNTER_PREFIX,
    GENERATED_PREFIX,
    is_generated_barcode,
)

# Copies gone from the shelves for good get no new label.
_GONE = (ItemStatus.WITHDRAWN,)


@dataclass(frozen=True)
class CopySelection:
    """Which copies to label: by ids, by barcodes (scanned from a pile of books, printed in the
    order scanned), those added since a day, those with an invented barcode (the import's
    "copies that need labels"), or a title's. Set exactly one."""

    item_ids: tuple[int, ...] = ()
    barcodes: tuple[str, ...] = ()
    added_since: dt.date | None = None
    needing_labels: bool = False
    title_id: int | None = None


@dataclass(frozen=True)
class LabelledCopy:
    item_id: int
    barcode: str
    call_number: str
    title: str


def split_barcodes(text: str) -> list[str]:
    """Barcodes typed or scanned into one box: separated by spaces, new lines, commas or 、."""
    return [code for code in re.split(r"[\s,，、;；]+", text) if code]


def select_copies(session: Session, selection: CopySelection, timezone: str) -> list[LabelledCopy]:
    """The selected copies in shelf order (call number, then barcode) — by barcodes: in the
    order given — withdrawn ones left out.

    "Added since" counts from midnight of that day in the library's `timezone`.
    """
    query = (
        select(Item.id, Item.barcode, Title.call_number, Title.title)
        .join(Title, Title.id == Item.title_id)
        .where(Item.status.not_in(_GONE))
        .order_by(Title.call_number, Item.barcode)
    )
    if selection.item_ids:
        query = query.where(Item.id.in_(selection.item_ids))
    elif selection.barcodes:
        query = query.where(Item.barcode.in_(selection.barcodes))
    elif selection.added_since is not None:
        midnight = dt.datetime.combine(selection.added_since, dt.time(), ZoneInfo(timezone))
        query = query.where(Item.created_at >= midnight.astimezone(dt.UTC))
    elif selection.needing_labels:
        # The LIKE narrows the scan to G… barcodes; the exact pattern is checked below.
        query = query.where(
            or_(
                Item.barcode.like(f"{GENERATED_PREFIX}%"),
                Item.barcode.like(f"{GENERATED_COUNTER_PREFIX}%"),
            )
        )
    elif selection.title_id is not None:
        query = query.where(Item.title_id == selection.title_id)
    else:
        return []
    copies = [
        LabelledCopy(item_id, barcode, call_number, title)
        for item_id, barcode, call_number, title in session.execute(query)
    ]
    if selection.needing_labels:
        copies = [copy for copy in copies if is_generated_barcode(copy.barcode)]
    if selection.barcodes:
        order = {barcode: n for n, barcode in reversed(list(enumerate(selection.barcodes)))}
        copies.sort(key=lambda copy: order[copy.barcode])
    return copies


def accession_labels(copies: Sequence[LabelledCopy], school: str) -> list[AccessionLabel]:
    return [AccessionLabel(copy.barcode, copy.call_number, school) for copy in copies]


def spine_labels(copies: Sequence[LabelledCopy], school: str) -> list[SpineLabel]:
    return [SpineLabel(copy.call_number, school) for copy in copies]


@dataclass(frozen=True)
class ClassChoice:
    """A class to print cards for: its key text ("3-2", or the roster's text when that names no
    class) and its label ("三年级2班")."""

    key: str
    label: str


def class_choices(session: Session) -> list[ClassChoice]:
    """The classes that have students still at school, by grade and number, one per class
    however differently the roster writes it ("三年级二班", "3-2"); names that are no class
    come last as they are written."""
    keys: set[ClassKey] = set()
    unkeyed: set[str] = set()
    for name in _class_names(session):
        key = class_key(name)
        if key is None:
            unkeyed.add(name.strip())
        else:
            keys.add(key)
    return [ClassChoice(str(key), class_label(key, "zh")) for key in sorted(keys)] + [
        ClassChoice(name, name) for name in sorted(unkeyed)
    ]


def _class_names(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(Patron.class_name)
            .where(Patron.status != PatronStatus.LEFT, Patron.class_name != "")
            .group_by(Patron.class_name)
        )
    )


def class_cards(session: Session, class_text: str, school: str) -> list[StudentCard]:
    """Cards for the students of the class `class_text` names ("3-2", "三年级2班", or the
    roster's exact text) who are still at school — blocked ones too: a block is about borrowing,
    not the card — in student-number order. The card shows the class as the console does
    (schoolyear.class_display: "三年级2班" whatever the roster wrote)."""
    wanted = class_key(class_text)
    names = _class_names(session)
    if wanted is None:
        matching = [name for name in names if name.strip() == class_text.strip()]
    else:
        matching = [name for name in names if class_key(name) == wanted]
    if not matching:
        return []
    rows = session.execute(
        select(Patron.name, Patron.class_name, Patron.card_barcode)
        .where(Patron.class_name.in_(matching), Patron.status != PatronStatus.LEFT)
        .order_by(Patron.student_number)
    )
    return [
        StudentCard(name, class_display(klass.strip(), "zh"), card, school)
        for name, klass, card in rows
    ]


# --- a sheet to print ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SheetRequest:
    """What a librarian asked to print: copies' labels (accession or spine) or a class's cards."""

    kind: LabelKind
    layout: str
    start: int = 1
    copies: CopySelection = CopySelection()
    class_text: str = ""


@dataclass(frozen=True)
class SheetPlan:
    """The labels a request selects and the sheets they fill, or why it can't be printed
    (`problems`, in words; `too_long`: the barcodes among them that don't fit the labels).
    `no_call_number`: the barcodes of selected copies left off a spine sheet for want of a call
    number (a spine label is nothing else)."""

    request: SheetRequest
    labels: tuple[Label, ...]
    sheets: int
    problems: tuple[str, ...]
    too_long: tuple[str, ...] = ()
    no_call_number: tuple[str, ...] = ()
    # Barcodes asked for by hand that are no copy's (or a withdrawn one's).
    unknown: tuple[str, ...] = ()

    @property
    def printable(self) -> bool:
        return bool(self.labels) and not self.problems


def plan_sheets(
    session: Session, request: SheetRequest, *, timezone: str, school: str
) -> SheetPlan:
    """Select what `request` names and check it fits its layout from its start position.

    Problems, in the order they are checked: an unknown layout, a layout for another kind of
    sheet, a start position off the sheet, nothing selected, barcodes too long for the labels.
    """
    layout = LAYOUTS.get(request.layout)
    if layout is None:
        known = ", ".join(item.name for item in layouts_for(request.kind))
        return SheetPlan(request, (), 0, (f"unknown layout {request.layout!r} (known: {known})",))
    if request.kind not in layout.kinds:
        known = ", ".join(item.name for item in layouts_for(request.kind))
        wrong = f"{layout.name} is not a layout for {request.kind} sheets (use one of: {known})"
        return SheetPlan(request, (), 0, (wrong,))
    off_sheet = start_problem(layout, request.start)
    if off_sheet:
        return SheetPlan(request, (), 0, (off_sheet,))
    labels: list[Label]
    no_call_number: list[str] = []
    if request.kind is LabelKind.CARD:
        labels = list(class_cards(session, request.class_text, school))
        nothing = f"no students still at school in class {request.class_text!r}"
    else:
        copies = select_copies(session, request.copies, timezone)
        found = {copy.barcode for copy in copies}
        unknown = tuple(dict.fromkeys(b for b in request.copies.barcodes if b not in found))
        if unknown:
            problem = f"no copy (or only a withdrawn one) has the barcode(s) {', '.join(unknown)}"
            return SheetPlan(request, (), 0, (problem,), unknown=unknown)
        if request.kind is LabelKind.SPINE:
            no_call_number = [copy.barcode for copy in copies if not spine_lines(copy.call_number)]
            shelved = [copy for copy in copies if spine_lines(copy.call_number)]
            labels = list(spine_labels(shelved, school))
        else:
            labels = list(accession_labels(copies, school))
        nothing = "no copies match"
    if not labels:
        return SheetPlan(request, (), 0, (nothing,), no_call_number=tuple(no_call_number))
    too_long = too_long_barcodes(request.kind, layout, labels)
    return SheetPlan(
        request,
        tuple(labels),
        sheets_needed(layout, len(labels), request.start),
        tuple(fit_problems(request.kind, layout, labels)),
        tuple(too_long),
        tuple(no_call_number),
    )
