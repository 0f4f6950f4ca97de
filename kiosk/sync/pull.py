"""Pull roster and catalog changes page by page; each page and its cursor in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from db.engine import SessionFactory
from kiosk.services import replica, state
from kiosk.sync.client import CentralLink, ProtocolError

log = logging.getLogger(__name__)

PAGE_SIZE = 500
# Bounds one run; a fresh kiosk with a whole school's catalog needs a few hundred pages.
MAX_PAGES_PER_RUN = 10_000

Progress = Callable[[int], None]


@dataclass
class PullResult:
    pulled: int = 0
    applied: int = 0
    kept_local: int = 0
    unresolved: int = 0
    pages: int = 0
    since: int = 0
    stopped: bool = False


def pull_since(session_factory: SessionFactory) -> int:
    with session_factory() as session:
        value = state.get_state(session, state.SYNC_PULL_SINCE)
    return int(value) if value and value.isdigit() else 0


def pull_changes(
    session_factory: SessionFactory,
    client: CentralLink,
    page_size: int = PAGE_SIZE,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    read_factory: SessionFactory | None = None,
) -> PullResult:
    """Fetch and apply pages until the central says there is no more.

    Client errors propagate; every page applied before one is already committed, so the
    next run carries on from there.
    """
    result = PullResult(since=pull_since(read_factory or session_factory))
    for _ in range(MAX_PAGES_PER_RUN):
        if should_stop():
            result.stopped = True
            break
        since = result.since
        page = client.pull(since, page_size)
        if page.changes and page.next_since <= since:
            raise ProtocolError(f"pull cursor did not advance past {since}")
        with session_factory.begin() as session:
            stored = state.get_state(session, state.SYNC_PULL_SINCE)
            if int(stored or "0") != since:
                # Another sync (the CLI beside the running kiosk) applied pages meanwhile:
                # this page may be stale, so start again from its cursor.
                result.since = int(stored or "0")
                continue
            applied = replica.apply_changes(session, page.changes)
            if page.next_since > since:
                state.set_state(session, state.SYNC_PULL_SINCE, str(page.next_since))
        result.pages += 1
        result.pulled += len(page.changes)
        result.applied += applied.applied
        result.kept_local += applied.kept_local
        result.unresolved += applied.unresolved
        result.since = max(since, page.next_since)
        if progress is not None and page.changes:
            progress(len(page.changes))
        if not page.more:
            break
    return result
