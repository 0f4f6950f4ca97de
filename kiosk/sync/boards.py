"""The idle screen's boards, pulled from the central after each sync and kept in the kiosk's own database."""

from __future__ import annotations

import json
import logging
from typing import Any

from db.engine import SessionFactory
from kiosk.services import state
from kiosk.sync.client import CentralLink, SyncError

log = logging.getLogger(__name__)

BOARDS_KEY = "boards.document"


def pull_boards(session_factory: SessionFactory, client: CentralLink) -> bool:
    """Fetch the boards and keep them; False (the old boards stay) when the central has none or
    cannot be reached. Boards are a nicety: their trouble never fails a sync."""
    try:
        document = client.boards()
    except SyncError as exc:
        log.info("boards not pulled: %s", exc)
        return False
    with session_factory.begin() as session:
        state.set_state(session, BOARDS_KEY, json.dumps(document, ensure_ascii=False))
    return True


def stored_boards(session_factory: SessionFactory) -> dict[str, Any] | None:
    """The last boards pulled, or None before the first."""
    with session_factory() as session:
        text = state.get_state(session, BOARDS_KEY)
    if not text:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None
