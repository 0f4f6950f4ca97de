"""Returns that never meet their checkout: after a few days, the librarian is told."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.conflicts import ensure_exception, event_details
from db.central_models import CentralEvent, EventState, ExceptionKind
from kiosk.clock import format_iso_time_or_none

ORPHAN_AFTER = dt.timedelta(days=3)


def flag_orphans(session: Session, now: dt.datetime) -> int:
    """Raise `orphan_return` for returns still waiting for their checkout after 3 days.

    Caller commits. Returns how many exceptions were opened or refreshed.
    """
    cutoff = now - ORPHAN_AFTER
    rows = session.scalars(
        select(CentralEvent).where(
            CentralEvent.state == EventState.PENDING, CentralEvent.received_at < cutoff
        )
    )
    count = 0
    for row in rows:
        body = json.loads(row.payload)
        ensure_exception(
            session,
            kind=ExceptionKind.ORPHAN_RETURN,
            dedup_key=f"orphan_return:{row.event_id}",
            subject=f"loan:{row.loan_uuid}",
            kiosks=(row.kiosk_id,),
            details={
                **event_details(row.event_id, row.kind, row.loan_uuid, body, row.recorded_at),
                "received_at": format_iso_time_or_none(row.received_at),
            },
            now=now,
        )
        count += 1
    return count
