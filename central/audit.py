"""The audit log: every change a person makes in the console, who, when, from where; for admins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
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
