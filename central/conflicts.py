"""Sync exceptions for the librarian: recorded once per situation, resolved by a person or the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.central_models import ExceptionStatus, SyncException
from kiosk.clock import format_iso_time_or_none

SYSTEM = "system"


def event_details(
    event_id: str,
    event_kind: str,
    loan_uuid: str | None,
    body: dict[str, Any],
    recorded_at: dt.datetime | None,
) -> dict[str, Any]:
    """What the librarian is shown of a kiosk event an exception is about (never a name)."""
    return {
        "event_id": event_id,
        "event_kind": event_kind,
        "loan_uuid": loan_uuid,
        "item_barcode": body.get("item_barcode"),
        "recorded_at": format_iso_time_or_none(recorded_at),
    }


def ensure_exception(
    session: Session,
    *,
    kind: str,
    dedup_key: str,
    subject: str,
    kiosks: Iterable[str],
    details: dict[str, Any],
    now: dt.datetime,
    reopen: bool = False,
) -> SyncException:
    """Record the exception `dedup_key` once; later calls refresh its details. Caller commits.

    `reopen` brings back a resolved exception whose cause is still there (a kiosk clock that is
    still wrong); without it a librarian's resolution stands.
    """
    exc = session.scalar(select(SyncException).where(SyncException.dedup_key == dedup_key))
    names = ",".join(sorted({k for k in kiosks if k}))
    if exc is None:
        exc = SyncException(
            kind=kind,
            dedup_key=dedup_key,
            subject=subject,
            kiosks=names,
            details=details,
            status=ExceptionStatus.OPEN,
            created_at=now,
            updated_at=now,
        )
        session.add(exc)
        return exc
    if exc.status == ExceptionStatus.OPEN or reopen:
        if exc.details != details:
            exc.details = details
        exc.kiosks = names
        exc.updated_at = now
    if reopen and exc.status == ExceptionStatus.RESOLVED:
        exc.status = ExceptionStatus.OPEN
        exc.resolved_at = None
        exc.resolved_by = None
        exc.resolution = None
    return exc


def auto_resolve(session: Session, dedup_key: str, note: str, now: dt.datetime) -> bool:
    """Close an open exception that later events explained (no librarian needed). Caller commits."""
    exc = session.scalar(select(SyncException).where(SyncException.dedup_key == dedup_key))
    if exc is None or exc.status != ExceptionStatus.OPEN:
        return False
    exc.status = ExceptionStatus.RESOLVED
    exc.resolved_at = now
    exc.resolved_by = SYSTEM
    exc.resolution = note
    exc.updated_at = now
    return True


def resolve(
    session: Session, exception_id: int, staff_username: str, note: str, now: dt.datetime
) -> SyncException | None:
    """A librarian marks an exception as dealt with. Caller commits."""
    exc = session.get(SyncException, exception_id)
    if exc is None:
        return None
    if exc.status == ExceptionStatus.OPEN:
        exc.status = ExceptionStatus.RESOLVED
        exc.resolved_at = now
        exc.resolved_by = staff_username
        exc.resolution = note.strip()[:1000]
        exc.updated_at = now
    return exc


def list_exceptions(
    session: Session, *, status: str | None = ExceptionStatus.OPEN, limit: int = 200
) -> list[SyncException]:
    query = select(SyncException).order_by(SyncException.created_at.desc(), SyncException.id.desc())
    if status:
        query = query.where(SyncException.status == status)
    return list(session.scalars(query.limit(limit)))


def count_open(session: Session) -> int:
    return (
        session.scalar(
            select(func.count(SyncException.id)).where(SyncException.status == ExceptionStatus.OPEN)
        )
        or 0
    )
