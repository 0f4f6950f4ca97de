"""The hold queue as a query, asked alike by the kiosk's scan path and the central's desk."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from db.models import Hold, HoldStatus

_holds = Hold.__table__


def waiting_holds_ahead(title_id: Any, patron_id: ColumnElement[Any]) -> Any:
    """A scalar subquery: the holds waiting for the title that a copy on the shelf must be kept
    for when `patron_id` borrows it — every other student's waiting hold, except those placed
    after the borrower's own waiting hold (they queue behind; kiosk.circulation.holds orders the
    queue by placed_at, then uuid). `patron_id` may be NULL (nobody signed in): then all count.
    """
    waiting, own = _holds.alias("waiting"), _holds.alias("own")
    behind_own_hold = exists().where(
        own.c.title_id == title_id,
        own.c.patron_id == patron_id,
        own.c.status == HoldStatus.WAITING,
        or_(
            own.c.placed_at < waiting.c.placed_at,
            and_(own.c.placed_at == waiting.c.placed_at, own.c.uuid < waiting.c.uuid),
        ),
    )
    return (
        select(func.count())
        .select_from(waiting)
        .where(
            waiting.c.title_id == title_id,
            waiting.c.status == HoldStatus.WAITING,
            or_(patron_id.is_(None), waiting.c.patron_id != patron_id),
            ~behind_own_hold,
        )
        .scalar_subquery()
    )
