"""Keep the patron table in step with the school's student list: add, update, mark as left."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db.models import Patron, PatronStatus
from kiosk.services.opac_pin import hash_pin, verify_pin

PatronOutcome = Literal["added", "updated", "unchanged", "card_in_use"]

# Attributes a roster row may set; None in a RosterRow means "the file has no such column".
_OPTIONAL_FIELDS = ("class_name", "grade", "parent_name", "parent_phone", "parent_email")


@dataclass(frozen=True)
class RosterRow:
    """One student as the school's list describes them, already validated and stripped.

    Optional fields are None when the file has no such column, so a list exported without
    parent contacts does not wipe the contacts already on file. `status` None means "as before,
    except that a student who had left and is listed again is active again".
    """

    student_number: str
    card_barcode: str
    name: str
    class_name: str | None = None
    grade: str | None = None
    parent_name: str | None = None
    parent_phone: str | None = None
    parent_email: str | None = None
    status: PatronStatus | None = None
    # For placing holds on /opac ([opac] identify_by): the PIN as typed in the file (stored
    # only hashed) and the birth date. None: the file has no such column.
    opac_pin: str | None = None
    birth_date: dt.date | None = None


def upsert_patron(session: Session, row: RosterRow, now: dt.datetime) -> PatronOutcome:
    """Add the student `row` describes, or bring the patron with that student number up to date.

    Matching is by student number. A card barcode that already belongs to another patron is
    not taken from them: the row is left alone and "card_in_use" returned, for the caller to
    report. A blocked patron stays blocked unless the row gives a status itself (blocks are
    the librarian's decision, not the school office's). Caller commits.
    """
    found = session.scalars(
        select(Patron).where(
            or_(
                Patron.student_number == row.student_number,
                Patron.card_barcode == row.card_barcode,
            )
        )
    ).all()
    patron = next((p for p in found if p.student_number == row.student_number), None)
    if any(p.student_number != row.student_number for p in found):
        return "card_in_use"
    if patron is None:
        session.add(
            Patron(
                student_number=row.student_number,
                card_barcode=row.card_barcode,
                name=row.name,
                class_name=row.class_name or "",
                grade=row.grade or "",
                status=row.status or PatronStatus.ACTIVE,
                parent_name=row.parent_name or "",
                parent_phone=row.parent_phone or "",
                parent_email=row.parent_email or "",
                opac_pin_hash=hash_pin(row.opac_pin) if row.opac_pin else "",
                birth_date=row.birth_date,
                updated_at=now,
            )
        )
        return "added"
    changes: dict[str, str] = {"card_barcode": row.card_barcode, "name": row.name}
    for attr in _OPTIONAL_FIELDS:
        value = getattr(row, attr)
        if value is not None:
            changes[attr] = value
    if row.status is not None:
        changes["status"] = row.status
    elif patron.status == PatronStatus.LEFT:
        changes["status"] = PatronStatus.ACTIVE
    if changes.get("status", patron.status) != PatronStatus.BLOCKED and patron.block_reason:
        changes["block_reason"] = ""
    changed = False
    for attr, value in changes.items():
        if getattr(patron, attr) != value:
            setattr(patron, attr, value)
            changed = True
    if row.birth_date is not None and patron.birth_date != row.birth_date:
        patron.birth_date = row.birth_date
        changed = True
    # The stored hash is salted: compare by checking the PIN, so the same file twice is "unchanged".
    if row.opac_pin and not verify_pin(row.opac_pin, patron.opac_pin_hash):
        patron.opac_pin_hash = hash_pin(row.opac_pin)
        changed = True
    if not changed:
        return "unchanged"
    patron.updated_at = now
    return "updated"


def mark_missing_left(session: Session, seen_student_numbers: set[str], now: dt.datetime) -> int:
    """Mark every active patron whose student number is not in `seen_student_numbers` as left.

    Returns how many were marked. Blocked patrons keep their status, so a block is not lost
    when a student leaves. Rows are changed through the ORM, not one bulk UPDATE, so that
    flush listeners (the central change log) see each patron. Caller commits.
    """
    active: Iterable[Patron] = session.scalars(
        select(Patron).where(Patron.status == PatronStatus.ACTIVE)
    )
    marked = 0
    for patron in active:
        if patron.student_number not in seen_student_numbers:
            patron.status = PatronStatus.LEFT
            patron.updated_at = now
            marked += 1
    return marked
