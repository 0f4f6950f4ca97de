"""The kiosk's services bag and the Protocols of its optional parts, with null stand-ins."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine

from db.engine import SessionFactory
from kiosk.clock import Clock
from kiosk.config import Settings
from kiosk.desk import Desk
from kiosk.events import EventBus
from kiosk.status import ScannerLike
from kiosk.streams import StreamLimiter
from kiosk.sync.client import CentralLink, NullSync, SyncTrigger


@dataclass
class KioskServices:
    """Everything the kiosk's views and background threads share; built by `create_app`."""

    settings: Settings
    engine: Engine
    session_factory: SessionFactory
    read_session_factory: SessionFactory
    bus: EventBus
    desk: Desk
    scanner: ScannerLike
    # kiosk.sync.client.NullCentral when `[sync] central_url` is empty.
    central: CentralLink
    clock: Clock
    # Set when the server is stopping, so open event streams end instead of holding it up.
    shutting_down: threading.Event = field(default_factory=threading.Event)
    # The running sync worker, once start_sync_worker has started one.
    sync: SyncTrigger = field(default_factory=NullSync)
    # Open event streams, capped so they never take the threads scans and pages need.
    streams: StreamLimiter = field(default_factory=StreamLimiter)
