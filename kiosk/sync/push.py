"""Push the outbox: read a batch (one transaction), send it (none), mark it acknowledged (one)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from db.engine import SessionFactory
from kiosk.clock import Clock
from kiosk.services import outbox, state
from kiosk.sync.client import CentralLink, EpochConflict, ProtocolError

log = logging.getLogger(__name__)

# A restored database conflicts once; a second conflict in one run means something else is
# wrong (two kiosks sharing an id), and looping would only renumber the backlog again.
MAX_EPOCH_CHANGES_PER_RUN = 2
# Bounds one run even if the server keeps accepting while the kiosk keeps lending.
MAX_BATCHES_PER_RUN = 100_000

Progress = Callable[[int], None]


@dataclass
class PushResult:
    acked: int = 0
    batches: int = 0
    epoch_changes: int = 0
    stopped: bool = False


def acked_through(session_factory: SessionFactory, epoch: str) -> int:
    """The highest sequence of `epoch` the central has confirmed to this kiosk (0 if none)."""
    with session_factory() as session:
        value = state.get_state(session, state.SYNC_ACKED_THROUGH)
    stored_epoch, _, through = (value or "").partition(":")
    return int(through) if stored_epoch == epoch and through.isdigit() else 0


def push_pending(
    session_factory: SessionFactory,
    client: CentralLink,
    batch_size: int,
    clock: Clock,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    read_factory: SessionFactory | None = None,
) -> PushResult:
    """Push every pending event, batch by batch, until the outbox is empty.

    Client errors other than an epoch conflict propagate (after the batches acknowledged so
    far are committed), so the caller decides how long to back off. `read_factory` (sessions
    that do not take SQLite's write lock) reads the batches, so scans never wait for them.
    """
    reader = read_factory or session_factory
    result = PushResult()
    for _ in range(MAX_BATCHES_PER_RUN):
        if should_stop():
            result.stopped = True
            break
        # Transaction 1: read the batch. It is closed before the network call.
        with reader.begin() as session:
            batch = outbox.pending_batch(session, batch_size)
        if batch is None:
            break
        epoch, events = batch
        try:
            reply = client.push(epoch, events, clock())
        except EpochConflict as conflict:
            if result.epoch_changes >= MAX_EPOCH_CHANGES_PER_RUN:
                raise
            with session_factory.begin() as session:
                new_epoch, moved = outbox.start_new_epoch(session, conflict.epoch)
            result.epoch_changes += 1
            log.warning(
                "central holds other events for epoch %s (through %d): database restored "
                "from an old copy? %d pending events moved to new epoch %s",
                conflict.epoch,
                conflict.acked_through,
                moved,
                new_epoch,
            )
            continue
        result.batches += 1
        first, last = events[0]["sequence"], events[-1]["sequence"]
        # Transaction 2: only now, after the server's answer, mark what it confirmed.
        with session_factory.begin() as session:
            acked = outbox.mark_acked(session, epoch, reply.acked_through, clock())
            _remember_acked_through(session, epoch, reply.acked_through)
        result.acked += acked
        if progress is not None and acked:
            progress(acked)
        if reply.acked_through < first:
            # The server kept the batch but says it lacks something before it: repeating
            # would loop forever, so stop and let the operator see the error.
            raise ProtocolError(
                f"central acknowledged epoch {epoch} only through {reply.acked_through}, "
                f"but this kiosk has nothing pending before {first}"
            )
        log.debug("pushed %s %d..%d, acked through %d", epoch, first, last, reply.acked_through)
    return result


def _remember_acked_through(session: Session, epoch: str, through: int) -> None:
    """Keep the highest acknowledged sequence; a lower answer later is logged, not stored."""
    stored_epoch, _, stored = (state.get_state(session, state.SYNC_ACKED_THROUGH) or "").partition(
        ":"
    )
    previous = int(stored) if stored_epoch == epoch and stored.isdigit() else 0
    if through < previous:
        log.error(
            "central acknowledged epoch %s through %d after %d before: was it restored?",
            epoch,
            through,
            previous,
        )
        return
    state.set_state(session, state.SYNC_ACKED_THROUGH, f"{epoch}:{through}")
