"""The kiosk's front desk: one scan at a time, the signed-in student, and forgetting them when idle.

Serial scans (through the scan worker) and keyboard/keypad scans (through POST /api/scan) both
end in `Desk.process_scan`, so they behave identically. Each scan is one transaction, and who is
signed in changes only after that transaction committed: a scan the disk refused leaves the
kiosk exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from db.engine import (
    SessionFactory,
    open_plain_connection,
    read_transaction,
    write_transaction,
)
from db.faults import fault_name, is_storage_fault
from kiosk.circulation.barcodes import BarcodeKind, Classified, classify, to_isbn13
from kiosk.circulation.calendar import OpeningCalendar
from kiosk.circulation.holds import shelf_expires_at
from kiosk.circulation.names import greeting_name
from kiosk.circulation.overdue import shows_kiosk_reminder
from kiosk.circulation.rules import Refusal, decide_patron
from kiosk.clock import Clock, utc_now
from kiosk.config import Settings
from kiosk.events import BarcodeScanned, EventBus, ScanProcessed, SessionEnded, Subscription
from kiosk.health import WriteHealth, WriteMonitor, probe_write
from kiosk.policies import barcode_rules, chase_policy, hold_policy, loan_policy
from kiosk.services import circulation as svc
from kiosk.services.lending import Action, CirculationResult

log = logging.getLogger(__name__)

T = TypeVar("T")

# The `error` (and `reason`) of a scan the database could not record: disk full, read-only
# file, I/O error. The view answers it with HTTP 503; the screen sends the student to the desk.
DB_UNAVAILABLE = "db_unavailable"
# What `Desk.for_signed_in` answers when nobody is signed in.
NOT_SIGNED_IN = "not_signed_in"


@dataclass
class SignedIn:
    patron_id: int
    first_name: str
    last_activity_at: dt.datetime


@dataclass(frozen=True)
class _SignIn:
    """After COMMIT: make this student the signed-in one (ending whoever else was)."""

    patron_id: int
    first_name: str


@dataclass(frozen=True)
class _SignOut:
    """After COMMIT: nobody is signed in any more."""

    reason: str


# What a scan does to the kiosk session once its transaction has committed; None keeps the
# signed-in student (if any) and counts the scan as their activity.
_SessionChange = _SignIn | _SignOut | None


class Desk:
    """Serialises scans and owns the kiosk session (which student is signed in)."""

    def __init__(
        self,
        settings: Settings,
        session_factory: SessionFactory,
        bus: EventBus,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings
        # Scans run in plain sqlite3 transactions on a connection of the desk's own
        # (db.engine.open_plain_connection says why); closed by close() or with the desk.
        self._db = open_plain_connection(session_factory.kw["bind"])
        self._close_db = weakref.finalize(self, self._db.close)
        self.bus = bus
        self.clock = clock
        self.rules = barcode_rules(settings)
        self.policy = loan_policy(settings)
        self.hold_policy = hold_policy(settings)
        self.chase_policy = chase_policy(settings)
        self.idle_timeout = dt.timedelta(seconds=settings.kiosk.idle_timeout_s)
        self.kiosk_id = settings.kiosk.id
        # One scan at a time: a kiosk has one queue of students, and order matters.
        self._lock = threading.RLock()
        self._signed_in: SignedIn | None = None
        # The outcome of the last transaction that wrote (or tried to) and of the write probe,
        # for the status snapshot (kiosk.status). Set under the lock.
        self.writes = WriteMonitor()

    def close(self) -> None:
        """Close the desk's database connection (the server is stopping)."""
        with self._lock:
            self._close_db()

    @property
    def last_write_ok(self) -> bool | None:
        """Whether the last scan that wrote (or tried to), or the write probe after it,
        committed; None before the first.

        Scans that write nothing (an unknown code, a refused card) leave it alone: a read-only
        transaction succeeding on a full disk says nothing about the next loan.
        """
        latest = self.writes.latest()
        return None if latest.checked_at is None else latest.ok

    @property
    def last_write_failed_at(self) -> dt.datetime | None:
        """When a write last failed (disk full, read-only, I/O error); None if never."""
        failure = self.writes.last_failure()
        return None if failure is None else failure.checked_at

    @property
    def last_write_error(self) -> str | None:
        """The SQLite error name of the last failed write, e.g. "SQLITE_FULL"; None if never."""
        failure = self.writes.last_failure()
        return None if failure is None else failure.error

    def write_health(self) -> WriteHealth:
        """Whether the desk can write: the latest scan's outcome, or a probe's when that is
        older than the probe interval (kiosk.health)."""
        with self._lock:
            now = self.clock()
            if self.writes.probe_due(now):
                try:
                    probe_write(self._db)
                except sqlite3.Error as exc:
                    self.writes.record(False, now, "probe", fault_name(exc))
                else:
                    self.writes.record(True, now, "probe")
            return self.writes.latest()

    # --- the kiosk session ---------------------------------------------------------------

    def _current(self, now: dt.datetime) -> SignedIn | None:
        s = self._signed_in
        if s is not None and now - s.last_activity_at >= self.idle_timeout:
            self._end("idle_timeout")
            return None
        return s

    def _end(self, reason: str) -> None:
        if self._signed_in is not None:
            self._signed_in = None
            log.info("session ended (%s)", reason)
            self.bus.publish(SessionEnded(reason))

    def end_session(self, reason: str = "done") -> None:
        with self._lock:
            self._end(reason)

    def touch(self) -> dict[str, Any]:
        """Keep the session alive ("Still here?"); says whether it still was, and for how long."""
        with self._lock:
            now = self.clock()
            s = self._current(now)
            if s is not None:
                s.last_activity_at = now
            return self._session_brief(now)

    def expire_if_idle(self) -> None:
        """End an idle session even when nothing asks (the kiosk page may have crashed)."""
        with self._lock:
            self._current(self.clock())

    def session_info(self) -> dict[str, Any]:
        """The current session for the page: who (first name) and the seconds left."""
        with self._lock:
            now = self.clock()
            s = self._current(now)
            if s is None:
                return {"active": False}
            with read_transaction(self._db) as db:
                patron = svc.get_patron(db, s.patron_id)
                summary = (
                    svc.patron_summary(db, patron, s.first_name, self.policy, now)
                    if patron is not None
                    else None
                )
            return {
                "active": True,
                "expires_in_s": self._expires_in_s(s, now),
                "patron": self._summary_json(summary),
            }

    def _expires_in_s(self, s: SignedIn, now: dt.datetime) -> float:
        left = self.idle_timeout - (now - s.last_activity_at)
        return round(max(0.0, left.total_seconds()), 1)

    # --- scanning ------------------------------------------------------------------------

    def process_scan(self, raw: str, source: str = "keyboard") -> dict[str, Any]:
        """Act on one scanned or typed code and commit its effect; returns the JSON reply.

        Also publishes ScanProcessed (after the commit) so an open kiosk page hears about
        serial scans.
        """
        with self._lock:
            now = self.clock()
            code = classify(raw, self.rules)
            # Ending an idle session is not part of this scan's write: it happens on time
            # whatever the disk does.
            current = self._current(now)
            outcome = self._write(lambda db: self._dispatch(db, code, current, now), now)
            if outcome is None:
                reply = _unavailable_reply(code)
            else:
                reply, change = outcome
                self._apply(change, current, now)
            reply["session"] = self._session_brief(now)
        log.info("scan from %s: kind=%s action=%s", source, reply["kind"], reply["action"])
        self.bus.publish(ScanProcessed(reply, source))
        return reply

    def _write(self, work: Callable[[sqlite3.Connection], T], now: dt.datetime) -> T | None:
        """Run `work` in one write transaction; None when the database refused the write.

        A storage fault (disk full, read-only file, I/O error, a lock held too long) is an
        expected condition here, not a bug: it is logged without any student data, remembered
        for the status view, and the transaction is rolled back. Other errors propagate.
        """
        changes_before = self._db.total_changes
        try:
            with write_transaction(self._db) as db:
                result = work(db)
        except sqlite3.Error as exc:
            if not is_storage_fault(exc):
                raise
            self.writes.record(False, now, "write", fault_name(exc))
            log.warning("scan not recorded: the database refused the write (%s)", fault_name(exc))
            return None
        if self._db.total_changes != changes_before:
            self.writes.record(True, now, "write")
        return result

    def _apply(self, change: _SessionChange, current: SignedIn | None, now: dt.datetime) -> None:
        """Carry out a committed scan's effect on who is signed in."""
        if isinstance(change, _SignOut):
            self._end(change.reason)
        elif isinstance(change, _SignIn):
            if current is not None and current.patron_id != change.patron_id:
                self._end("switched")
            if current is None or current.patron_id != change.patron_id:
                log.info("patron %d signed in", change.patron_id)
            self._signed_in = SignedIn(change.patron_id, change.first_name, now)
        elif self._signed_in is not None:
            self._signed_in.last_activity_at = now

    def _dispatch(
        self, db: sqlite3.Connection, code: Classified, current: SignedIn | None, now: dt.datetime
    ) -> tuple[dict[str, Any], _SessionChange]:
        """The reply to one scan and what it does to the session, inside its transaction.

        Changes only rows: the session itself is changed by `_apply`, after COMMIT.
        """
        code = _resolve_ambiguous(db, code)
        reply: dict[str, Any] = {"kind": str(code.kind), "reason": None}
        if code.kind is BarcodeKind.UNKNOWN:
            quiet = code.reason == "addon_only"
            reply["action"] = str(Action.IGNORED if quiet else Action.UNKNOWN)
            reply["reason"] = code.reason
            return reply, None
        if code.kind is BarcodeKind.PATRON:
            answer, change = self._sign_in(db, code.value, current, now)
            return reply | answer, change
        # A book: lend it to the signed-in student, or take it back.
        patron = svc.get_patron(db, current.patron_id) if current else None
        result = self._lend_or_take_back(db, code, patron, now)
        if result is None:
            unknown = CirculationResult(Action.REFUSED, refusal=Refusal.UNKNOWN_BOOK)
            return reply | _result_json(unknown), None
        reply |= _result_json(result, self.policy.calendar)
        if current is not None and patron is not None:
            reply["patron"] = self._summary_json(
                svc.patron_summary(db, patron, current.first_name, self.policy, now)
            )
        return reply, None

    def _lend_or_take_back(
        self,
        db: sqlite3.Connection,
        code: Classified,
        patron: svc.PatronRecord | None,
        now: dt.datetime,
    ) -> CirculationResult | None:
        """Lend the scanned book to `patron`, or take it back when nobody is signed in.

        An ISBN names a title (the services pick the copy); any other code names one copy.
        None: the kiosk has no such book.
        """
        policy, kiosk_id = self.policy, self.kiosk_id
        if code.kind is BarcodeKind.ISBN:
            title = svc.find_title_by_isbn(db, code.value)
            if title is None:
                return None
            if patron is None:
                return svc.check_in_title(db, title, None, policy, kiosk_id, now)
            return svc.check_out_title(db, patron, title, policy, kiosk_id, now)
        item = svc.find_item(db, code.value)
        if item is None:
            return None
        if patron is None:
            return svc.check_in(db, item, policy, kiosk_id, now)
        return svc.check_out(db, patron, item, policy, kiosk_id, now)

    def _sign_in(
        self, db: sqlite3.Connection, card: str, current: SignedIn | None, now: dt.datetime
    ) -> tuple[dict[str, Any], _SessionChange]:
        patron = svc.find_patron_by_card(db, card)
        refusal = decide_patron(svc.patron_standing(db, patron, now))
        if patron is None or refusal is not None:
            # Someone else is at the kiosk now: never leave the previous student signed in.
            reply = {"action": str(Action.REFUSED), "reason": str(refusal)}
            if refusal is Refusal.CARD_BLOCKED and patron is not None and patron.block_reason:
                reply["block_reason"] = patron.block_reason
            return reply, _SignOut("other_card")
        if current is not None and current.patron_id == patron.id:
            action = Action.SIGNED_IN
        else:
            action = Action.SWITCHED if current is not None else Action.SIGNED_IN
            svc.record_visit(db, patron, self.kiosk_id, now)
        change = _SignIn(patron.id, greeting_name(patron.name, self.settings.kiosk.greeting))
        summary = svc.patron_summary(db, patron, change.first_name, self.policy, now)
        return {"action": str(action), "patron": self._summary_json(summary)}, change

    def for_signed_in(
        self, action: Callable[[sqlite3.Connection, svc.PatronRecord, dt.datetime], T]
    ) -> T | str:
        """Run `action` for the signed-in student in one write transaction (committed on return),
        counting it as activity. Returns its result, or NOT_SIGNED_IN (nobody is, or the session
        just timed out), or DB_UNAVAILABLE (the database refused the write; nothing recorded).
        """
        with self._lock:
            now = self.clock()
            current = self._current(now)
            if current is None:
                return NOT_SIGNED_IN
            signed_in = current

            def work(db: sqlite3.Connection) -> tuple[T | None]:
                patron = svc.get_patron(db, signed_in.patron_id)
                return (None if patron is None else action(db, patron, now),)

            outcome = self._write(work, now)
            if outcome is None:
                return DB_UNAVAILABLE
            (result,) = outcome
            if result is None:
                return NOT_SIGNED_IN
            signed_in.last_activity_at = now
            return result

    def renew(self, raw: str) -> dict[str, Any]:
        """Renew the signed-in student's copy (the Renew button)."""
        return self._with_item(raw, "renew")

    def return_item(self, raw: str) -> dict[str, Any]:
        """Return a copy while a student is signed in (the Return button)."""
        return self._with_item(raw, "return")

    def _with_item(self, raw: str, what: str) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            code = classify(raw, self.rules)
            current = self._current(now)
            outcome = self._write(lambda db: self._item_button(db, code, what, current, now), now)
            if outcome is None:
                reply = _unavailable_reply(code)
            else:
                reply = outcome
                self._apply(None, current, now)
            reply["session"] = self._session_brief(now)
        self.bus.publish(ScanProcessed(reply, "button"))
        return reply

    def _item_button(
        self,
        db: sqlite3.Connection,
        code: Classified,
        what: str,
        current: SignedIn | None,
        now: dt.datetime,
    ) -> dict[str, Any]:
        item = svc.find_item(db, code.value)
        patron = svc.get_patron(db, current.patron_id) if current else None
        reply: dict[str, Any] = {"kind": str(code.kind), "reason": None}
        if item is None:
            result = CirculationResult(Action.REFUSED, refusal=Refusal.UNKNOWN_BOOK)
        elif what == "return":
            result = svc.check_in(db, item, self.policy, self.kiosk_id, now)
        elif patron is None:
            result = CirculationResult(Action.REFUSED, refusal=Refusal.NOT_ON_LOAN)
        else:
            result = svc.renew(db, patron, item, self.policy, self.kiosk_id, now)
        reply |= _result_json(result, self.policy.calendar)
        if current is not None and patron is not None:
            reply["patron"] = self._summary_json(
                svc.patron_summary(db, patron, current.first_name, self.policy, now)
            )
        return reply

    def _session_brief(self, now: dt.datetime) -> dict[str, Any]:
        s = self._signed_in
        if s is None:
            return {"active": False}
        return {"active": True, "expires_in_s": self._expires_in_s(s, now)}

    def _summary_json(self, summary: svc.PatronSummary | None) -> dict[str, Any] | None:
        if summary is None:
            return None
        cal = self.policy.calendar
        return {
            "first_name": summary.first_name,
            "may_borrow": summary.may_borrow,
            "holds_ready": summary.holds_ready,
            "holds": [
                {
                    "id": hold.id,
                    "title": hold.title,
                    "status": hold.status,
                    "placed_date": cal.local_date(hold.placed_at).isoformat(),
                    # The last day the copy waits on the hold shelf (ready holds only).
                    "kept_until": cal.local_date(
                        shelf_expires_at(hold.ready_at, self.hold_policy)
                    ).isoformat()
                    if hold.ready_at is not None and hold.status == "ready"
                    else None,
                }
                for hold in summary.holds
            ],
            "loans": [
                {
                    "item_barcode": line.item_barcode,
                    "title": line.title,
                    "due_at": line.due_at.isoformat(),
                    "due_date": cal.local_date(line.due_at).isoformat(),
                    "days_overdue": line.days_overdue,
                    "remind": shows_kiosk_reminder(self.chase_policy, line.days_overdue),
                    "renewals": line.renewals,
                }
                for line in summary.loans
            ],
        }

    # --- the serial path -----------------------------------------------------------------

    def on_barcode_event(self, event: BarcodeScanned) -> None:
        """Handle a scanner event in the scan worker (never on the reader thread)."""
        try:
            self.process_scan(event.code, source=event.source)
        except Exception:
            # A failed scan must not stop the worker; the student simply scans again.
            log.exception("scan from %s failed", event.source)


def _resolve_ambiguous(db: sqlite3.Connection, code: Classified) -> Classified:
    """A valid ISBN-10 that is also card- or copy-shaped is taken as a card or copy first
    (far more common at a kiosk); when no such card or copy exists, it is the book's ISBN."""
    if code.reason != "also_isbn10":
        return code
    if code.kind is BarcodeKind.PATRON and svc.find_patron_by_card(db, code.value):
        return code
    if code.kind is BarcodeKind.ITEM and svc.find_item(db, code.value):
        return code
    isbn13 = to_isbn13(code.value)
    if isbn13 is None:  # pragma: no cover - the classifier only says also_isbn10 for valid ones
        return code
    return Classified(BarcodeKind.ISBN, isbn13, "ok")


def _unavailable_reply(code: Classified) -> dict[str, Any]:
    """The reply to a scan the database could not record: refused, with a stable error code."""
    return {
        "kind": str(code.kind),
        "action": str(Action.REFUSED),
        "reason": DB_UNAVAILABLE,
        "error": DB_UNAVAILABLE,
    }


def _result_json(
    result: CirculationResult, calendar: OpeningCalendar | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "action": str(result.action),
        "reason": str(result.refusal) if result.refusal else None,
        "title": result.title,
        "item_barcode": result.item_barcode,
        "due_at": result.due_at.isoformat() if result.due_at else None,
        "destination": str(result.destination) if result.destination else None,
        "days_overdue": result.days_overdue,
    }
    if calendar is not None and result.due_at is not None:
        out["due_date"] = calendar.local_date(result.due_at).isoformat()
    if result.renewable_on is not None:
        out["renewable_on"] = result.renewable_on.isoformat()
    return out


class ScanWorker:
    """Background job that turns BarcodeScanned events from the bus into desk transactions.

    The scanner's reader thread only publishes; every write happens here, one transaction
    per scan, so a slow disk never makes the reader drop bytes.
    """

    def __init__(self, desk: Desk, bus: EventBus) -> None:
        self.desk = desk
        self.bus = bus
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscription: Subscription | None = None

    def start(self) -> None:
        self._subscription = self.bus.subscribe((BarcodeScanned,), lossless=True)
        self._thread = threading.Thread(target=self._run, name="scan-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sub = self._subscription
        assert sub is not None
        while not self._stop.is_set():
            event = sub.get(timeout_s=0.2)
            if isinstance(event, BarcodeScanned):
                self.desk.on_barcode_event(event)
            self.desk.expire_if_idle()
            # Probes now and then even when nobody looks, so a fault shows before a scan.
            self.desk.write_health()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._subscription is not None:
            self._subscription.close()
