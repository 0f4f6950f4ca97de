"""The audit log: every change a person makes in the console, who, when, from where; for admins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.central_models import AuditEntry

# Keys that would put a card number (or a secret) into the log; record() refuses them so a
# slip shows up in the first test instead of in a school's audit log.
FORBIDDEN_DETAIL_KEYS = frozenset(
    {"card", "card_barcode", "card_number", "password", "pin", "opac_pin"}
)
PAGE_SIZE = 50

# What each action is, in words (English msgids; console.po has the Chinese). An action not
# listed here is shown by its dotted name.
ACTION_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "user.sign_in": "signed in",
        "user.sign_out": "signed out",
        "user.add": "added a user",
        "user.password": "gave a user a new password",
        "user.role": "changed a user's role",
        "user.disable": "disabled a user",
        "user.enable": "let a user sign in again",
        "exception.resolve": "marked an exception resolved",
        "exception.retry": "applied an event again",
        "exception.settle": "settled a double checkout",
        "import.students": "imported a roster",
        "import.catalog": "imported a catalogue",
        "loan.checkout": "lent a book at the desk",
        "loan.return": "took a book back at the desk",
        "loan.renew": "renewed a loan",
        "hold.place": "placed a hold",
        "hold.cancel": "cancelled a hold",
        "hold.set_aside": "set a copy aside for a hold",
        "item.lost": "marked a copy lost",
        "item.found": "marked a copy found",
        "item.damaged": "marked a copy damaged",
        "item.repaired": "marked a copy repaired",
        "item.withdrawn": "withdrew a copy",
        "compensation.open": "opened a compensation case",
        "compensation.paid": "recorded a payment",
        "compensation.waived": "waived a compensation",
        "compensation.replaced": "recorded a replacement copy",
        "compensation.reversed": "reversed a compensation",
        "labels.print": "printed labels or cards",
        "report.export": "downloaded a report",
        "chase.send": "sent overdue notices",
        "chase.sms_export": "downloaded the SMS list",
        "chase.class_list": "printed a class's overdue list",
        "rollover.apply": "moved every class up a school year",
    }
)


def record(
    session: Session,
    *,
    at: dt.datetime,
    username: str,
    role: str,
    address: str,
    action: str,
    subject: str,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit row in the caller's transaction, so it stands or falls with the change it
    describes. `action` is dotted ("loan.checkout"); `subject` names what was acted on
    ("item:SX00001"). Caller commits."""
    if "." not in action:
        raise ValueError(f"audit action {action!r} must be dotted, like 'loan.checkout'")
    found = _forbidden_keys(detail or {})
    if found:
        raise ValueError(f"audit detail must not hold {', '.join(sorted(found))}")
    entry = AuditEntry(
        at=at,
        username=username[:64],
        role=role[:16],
        address=address[:64],
        action=action[:64],
        subject=subject[:200],
        detail=dict(detail or {}),
    )
    session.add(entry)
    return entry


def _forbidden_keys(detail: Mapping[str, Any]) -> set[str]:
    found = {str(key) for key in detail if str(key).lower() in FORBIDDEN_DETAIL_KEYS}
    for value in detail.values():
        if isinstance(value, Mapping):
            found |= _forbidden_keys(value)
    return found


@dataclass(frozen=True)
class AuditPage:
    """One page of the log, newest first."""

    entries: list[AuditEntry]
    page: int
    pages: int
    total: int


def audit_page(
    session: Session,
    *,
    username: str = "",
    action: str = "",
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> AuditPage:
    """The log newest first, optionally one user's rows and/or actions starting with `action`
    ("loan" finds loan.checkout and loan.return)."""
    query = select(AuditEntry)
    if username:
        query = query.where(AuditEntry.username == username)
    if action:
        query = query.where(
            (AuditEntry.action == action)
            | AuditEntry.action.startswith(action.rstrip(".") + ".", autoescape=True)
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    entries = session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return AuditPage(list(entries), page, pages, total)


def audit_usernames(session: Session) -> list[str]:
    """Everyone who appears in the log, for the page's filter."""
    return list(session.scalars(select(AuditEntry.username).distinct().order_by("username")))
