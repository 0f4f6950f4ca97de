"""Apply changes pulled from the central server to the kiosk's copy of the roster and catalog."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import (
    Hold,
    HoldStatus,
    Item,
    ItemStatus,
    Loan,
    Patron,
    PatronStatus,
    Title,
)
from kiosk.clock import parse_iso_time
from kiosk.search.index import index_titles
from kiosk.services import outbox, state

log = logging.getLogger(__name__)

# A card number taken over by another student is parked under this prefix on the old holder,
# so the unique card constraint never stops a page from applying.
RETIRED_CARD_PREFIX = "retired:"


@dataclass(frozen=True)
class Protected:
    """What the kiosk changed since its last push: its own state wins until the push lands."""

    item_barcodes: frozenset[str] = frozenset()
    loan_uuids: frozenset[str] = frozenset()
    hold_uuids: frozenset[str] = frozenset()


@dataclass
class ApplyResult:
    applied: int = 0
    # Kept the kiosk's own state (unpushed events) for these.
    kept_local: int = 0
    # Could not be applied: malformed, or refers to something the kiosk does not have.
    unresolved: int = 0
    problems: list[str] = field(default_factory=list)


def protected_now(session: Session) -> Protected:
    """Items, loans and holds named by events still waiting in the outbox."""
    items, loans, holds = outbox.pending_references(session)
    return Protected(frozenset(items), frozenset(loans), frozenset(holds))


def apply_changes(session: Session, changes: Iterable[dict[str, Any]]) -> ApplyResult:
    """Apply one page of changes in order, by natural key; tombstones delete or retire rows.

    The kiosk's own loan state is kept for items and loans it has unpushed events for: the
    central has not heard of those changes yet, and its next versions of them will include
    them. Problems are counted and logged by change version (never names or card numbers),
    not raised, so one odd record cannot stop a kiosk from ever syncing again. Caller commits.
    """
    protected = protected_now(session)
    result = ApplyResult()
    retitled: list[int] = []
    for change in changes:
        entity = change.get("entity")
        key = change.get("key")
        # Problems are named by entity and change version: keys can be student numbers.
        label = f"{entity} change v{change.get('version')}"
        deleted = bool(change.get("deleted"))
        data = change.get("data")
        if not isinstance(key, str) or (not deleted and not isinstance(data, dict)):
            _unresolved(result, f"{label} without key or data")
            continue
        applier = _APPLIERS.get(str(entity))
        if applier is None:
            _unresolved(result, f"unknown entity {entity!r}")
            continue
        try:
            with session.begin_nested():
                outcome = applier(session, key, None if deleted else data, protected)
        except (ValueError, TypeError, KeyError, IntegrityError) as exc:
            # An IntegrityError's text lists the row's values; its cause names only the rule.
            reason = exc.orig if isinstance(exc, IntegrityError) else exc
            _unresolved(result, f"{label}: {reason}")
            continue
        if outcome == "applied":
            result.applied += 1
            if entity == "title" and not deleted:
                title = find_title(session, key)
                retitled += [title.id] if title is not None else []
        elif outcome == "kept_local":
            result.kept_local += 1
        else:
            _unresolved(result, f"{label}: {outcome}")
    session.flush()
    # Once per page: the search rows of the titles it added or changed.
    index_titles(session, retitled)
    return result


def _unresolved(result: ApplyResult, problem: str) -> None:
    result.unresolved += 1
    if len(result.problems) < 20:
        result.problems.append(problem)
    log.warning("pulled change not applied: %s", problem)


# --- patrons -----------------------------------------------------------------------------------


def _apply_patron(
    session: Session, key: str, data: dict[str, Any] | None, protected: Protected
) -> str:
    patron = session.scalar(select(Patron).where(Patron.student_number == key))
    if data is None:
        if patron is None:
            return "applied"
        if _patron_in_use(session, patron.id):
            # Loans and holds still point at this student: keep the row, refuse further loans.
            patron.status = PatronStatus.LEFT
            patron.card_barcode = RETIRED_CARD_PREFIX + patron.student_number
        else:
            session.delete(patron)
        return "applied"
    status = _text(data, "status", PatronStatus.ACTIVE)
    if status not in set(PatronStatus):
        raise ValueError(f"unknown patron status {status!r}")
    card = _text(data, "card_barcode")
    if not card:
        raise ValueError("patron without card_barcode")
    holder = session.scalar(select(Patron).where(Patron.card_barcode == card))
    if holder is not None and holder.student_number != key:
        holder.card_barcode = RETIRED_CARD_PREFIX + holder.student_number
        session.flush()
    if patron is None:
        patron = Patron(student_number=key, card_barcode=card, name="")
        session.add(patron)
    patron.card_barcode = card
    patron.name = _text(data, "name")
    patron.class_name = _text(data, "class_name")
    patron.grade = _text(data, "grade")
    patron.status = status
    patron.block_reason = _text(data, "block_reason")
    # Absent from an older central's pull: nothing owed as far as this kiosk knows.
    patron.open_compensation_cases = _count(data, "open_compensation_cases")
    session.flush()
    return "applied"


def _patron_in_use(session: Session, patron_id: int) -> bool:
    loans = session.scalar(select(func.count(Loan.id)).where(Loan.patron_id == patron_id))
    holds = session.scalar(select(func.count(Hold.id)).where(Hold.patron_id == patron_id))
    return bool(loans or holds)


# --- titles ------------------------------------------------------------------------------------


def find_title(session: Session, key: str) -> Title | None:
    """The local title for a central title key: an ISBN-13, or "id:<central id>"."""
    if key.startswith("id:"):
        local_id = state.get_state(session, state.REPLICA_TITLE_PREFIX + key)
        return session.get(Title, int(local_id)) if local_id and local_id.isdigit() else None
    return session.scalar(select(Title).where(Title.isbn13 == key))


def _apply_title(
    session: Session, key: str, data: dict[str, Any] | None, protected: Protected
) -> str:
    title = find_title(session, key)
    if data is None:
        if title is None:
            return "applied"
        items = session.scalar(select(func.count(Item.id)).where(Item.title_id == title.id))
        holds = session.scalar(select(func.count(Hold.id)).where(Hold.title_id == title.id))
        if items or holds:
            return "title still has copies or holds on this kiosk"
        session.delete(title)
        return "applied"
    isbn13 = None if key.startswith("id:") else key
    if title is None:
        title = Title(isbn13=isbn13, title="")
        session.add(title)
    title.isbn13 = isbn13
    title.title = _text(data, "title")
    title.author = _text(data, "author")
    title.publisher = _text(data, "publisher")
    year = data.get("year")
    title.year = year if isinstance(year, int) and not isinstance(year, bool) else None
    title.call_number = _text(data, "call_number")
    title.classification = _text(data, "classification")
    title.unified_number = _text(data, "unified_number") or None
    title.series = _text(data, "series")
    title.subjects = _text(data, "subjects")
    session.flush()
    if key.startswith("id:"):
        state.set_state(session, state.REPLICA_TITLE_PREFIX + key, str(title.id))
    return "applied"


# --- items -------------------------------------------------------------------------------------


def _apply_item(
    session: Session, key: str, data: dict[str, Any] | None, protected: Protected
) -> str:
    item = session.scalar(select(Item).where(Item.barcode == key))
    kept = key in protected.item_barcodes
    if data is None:
        if item is None:
            return "applied"
        if kept:
            return "kept_local"
        loans = session.scalar(select(func.count(Loan.id)).where(Loan.item_id == item.id))
        holds = session.scalar(select(func.count(Hold.id)).where(Hold.item_id == item.id))
        if loans or holds:
            item.status = ItemStatus.WITHDRAWN
        else:
            session.delete(item)
        return "applied"
    title_key = data.get("title_key") or data.get("isbn13")
    title = find_title(session, str(title_key)) if title_key else None
    if title is None:
        return f"unknown title {title_key!r}"
    status = _text(data, "status", ItemStatus.AVAILABLE)
    if status not in set(ItemStatus):
        raise ValueError(f"unknown item status {status!r}")
    if item is None:
        item = Item(barcode=key, title_id=title.id, status=status)
        session.add(item)
    item.title_id = title.id
    item.location = _text(data, "location")
    if not kept:
        item.status = status
    session.flush()
    return "kept_local" if kept else "applied"


# --- holds -------------------------------------------------------------------------------------


def _apply_hold(
    session: Session, key: str, data: dict[str, Any] | None, protected: Protected
) -> str:
    # Holds are known by uuid on both sides (a hold placed at a kiosk has no central id yet).
    # Changes logged before holds had uuids carry the central id as key and the uuid in data.
    hold_uuid = key if not key.isdigit() else str((data or {}).get("hold_uuid") or "")
    if hold_uuid:
        hold = session.scalar(select(Hold).where(Hold.uuid == hold_uuid))
    else:
        hold = session.get(Hold, int(key))
    if hold is not None and _hold_is_protected(session, hold, protected):
        return "kept_local"
    if data is None:
        if hold is not None:
            session.delete(hold)
        return "applied"
    if not hold_uuid:
        raise ValueError("hold without uuid")
    item_barcode = data.get("item_barcode")
    if hold_uuid in protected.hold_uuids or item_barcode in protected.item_barcodes:
        return "kept_local"
    title = find_title(session, str(data.get("title_key") or ""))
    patron = session.scalar(
        select(Patron).where(Patron.student_number == str(data.get("student_number")))
    )
    if title is None or patron is None:
        return "unknown title or student"
    item = None
    if isinstance(item_barcode, str) and item_barcode:
        item = session.scalar(select(Item).where(Item.barcode == item_barcode))
        if item is None:
            return "unknown item"
    status = _text(data, "status", HoldStatus.WAITING)
    if status not in set(HoldStatus):
        raise ValueError(f"unknown hold status {status!r}")
    placed_at = _time(data.get("placed_at"))
    if placed_at is None:
        raise ValueError("hold without placed_at")
    if hold is None:
        hold = Hold(uuid=hold_uuid, title_id=title.id, patron_id=patron.id, placed_at=placed_at)
        session.add(hold)
    hold.title_id = title.id
    hold.patron_id = patron.id
    hold.item_id = item.id if item is not None else None
    hold.status = status
    hold.placed_at = placed_at
    hold.ready_at = _time(data.get("ready_at"))
    session.flush()
    return "applied"


def _hold_is_protected(session: Session, hold: Hold, protected: Protected) -> bool:
    if hold.uuid in protected.hold_uuids:
        return True
    if hold.item_id is None:
        return False
    barcode = session.scalar(select(Item.barcode).where(Item.id == hold.item_id))
    return barcode in protected.item_barcodes


# --- loans -------------------------------------------------------------------------------------


def _apply_loan(
    session: Session, key: str, data: dict[str, Any] | None, protected: Protected
) -> str:
    loan = session.scalar(select(Loan).where(Loan.uuid == key))
    if key in protected.loan_uuids:
        return "kept_local"
    if loan is not None:
        barcode = session.scalar(select(Item.barcode).where(Item.id == loan.item_id))
        if barcode in protected.item_barcodes:
            return "kept_local"
    if data is None:
        if loan is not None:
            session.delete(loan)
        return "applied"
    item_barcode = _text(data, "item_barcode")
    if item_barcode in protected.item_barcodes:
        return "kept_local"
    item = session.scalar(select(Item).where(Item.barcode == item_barcode))
    patron = session.scalar(
        select(Patron).where(Patron.student_number == str(data.get("student_number")))
    )
    if item is None or patron is None:
        return "unknown item or student"
    checked_out_at = _time(data.get("checked_out_at"))
    due_at = _time(data.get("due_at"))
    if checked_out_at is None or due_at is None:
        raise ValueError("loan without checked_out_at or due_at")
    returned_at = _time(data.get("returned_at"))
    renewals = data.get("renewals") or 0
    if not isinstance(renewals, int) or isinstance(renewals, bool) or renewals < 0:
        raise ValueError(f"bad renewals {renewals!r}")
    if returned_at is None:
        _close_other_open_loan(session, item.id, key, checked_out_at)
    if loan is None:
        loan = Loan(
            uuid=key,
            item_id=item.id,
            patron_id=patron.id,
            checked_out_at=checked_out_at,
            due_at=due_at,
            kiosk_id="",
        )
        session.add(loan)
    loan.item_id = item.id
    loan.patron_id = patron.id
    loan.checked_out_at = checked_out_at
    loan.due_at = due_at
    loan.returned_at = returned_at
    loan.renewals = renewals
    loan.kiosk_id = _text(data, "kiosk_id")
    session.flush()
    return "applied"


def _close_other_open_loan(session: Session, item_id: int, loan_uuid: str, at: dt.datetime) -> None:
    """The central says this copy is lent by `loan_uuid`: an older open loan of the same copy
    here is closed as the central closes it (implicit return), or the unique open-loan index
    would refuse the page. The central's own version of that loan follows in a later change."""
    other = session.scalar(
        select(Loan).where(
            Loan.item_id == item_id, Loan.returned_at.is_(None), Loan.uuid != loan_uuid
        )
    )
    if other is not None:
        other.returned_at = max(at, other.checked_out_at)
        session.flush()


# --- helpers -----------------------------------------------------------------------------------


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a whole number, not {value!r}")
    return value


def _text(data: dict[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{key} is not text")
    return str(value)


def _time(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    return parse_iso_time(value)


_APPLIERS = {
    "patron": _apply_patron,
    "title": _apply_title,
    "item": _apply_item,
    "hold": _apply_hold,
    "loan": _apply_loan,
}
