"""The wire format of kiosk events: what a pushed event must hold, parsed and validated."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kiosk.clock import parse_iso_time

# A kiosk clock further off than this makes its events' times doubtful.
CLOCK_TOLERANCE = dt.timedelta(minutes=5)

KINDS = ("checkout", "checkin", "renewal", "visit", "hold_placed", "hold_cancelled")
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "checkout": ("loan_uuid", "item_barcode", "student_number", "checked_out_at", "due_at"),
    "checkin": ("loan_uuid", "item_barcode", "returned_at"),
    "renewal": ("loan_uuid", "due_at", "renewals"),
    "visit": ("student_number",),
    "hold_placed": ("hold_uuid", "title_key", "student_number", "placed_at"),
    "hold_cancelled": ("hold_uuid",),
}


class MalformedEvent(ValueError):
    """An event that cannot be understood; the whole push is answered 400."""


def parse_time(value: Any) -> dt.datetime:
    """`kiosk.clock.parse_iso_time` for event fields: a malformed time makes a MalformedEvent."""
    try:
        return parse_iso_time(value)
    except ValueError as exc:
        raise MalformedEvent(str(exc)) from None


def _text(body: dict[str, Any], key: str, max_len: int = 64) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise MalformedEvent(f"{key} must be non-empty text of at most {max_len} characters")
    return value


@dataclass
class IncomingEvent:
    """One event as pushed, validated; `body` is the event exactly as the kiosk sent it."""

    event_id: str
    kind: str
    kiosk_id: str
    epoch: str
    sequence: int
    recorded_at: dt.datetime | None
    body: dict[str, Any]
    time_doubtful: bool = False

    @property
    def loan_uuid(self) -> str | None:
        value = self.body.get("loan_uuid")
        return value if isinstance(value, str) else None

    @classmethod
    def parse(cls, body: Any) -> IncomingEvent:
        if not isinstance(body, dict):
            raise MalformedEvent("each event must be a JSON object")
        kind = body.get("kind")
        if kind not in KINDS:
            raise MalformedEvent(f"unknown event kind {kind!r}")
        sequence = body.get("sequence")
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
            raise MalformedEvent("sequence must be a whole number from 1")
        for name in REQUIRED_FIELDS[kind]:
            if body.get(name) is None:
                raise MalformedEvent(f"a {kind} event needs {name}")
        event = cls(
            event_id=_text(body, "event_id", 36),
            kind=str(kind),
            kiosk_id=_text(body, "kiosk_id"),
            epoch=_text(body, "epoch", 36),
            sequence=sequence,
            recorded_at=parse_time(body["recorded_at"]) if body.get("recorded_at") else None,
            body=body,
        )
        for name in ("checked_out_at", "due_at", "returned_at", "placed_at"):
            if name in REQUIRED_FIELDS[kind]:
                parse_time(body[name])
        if kind == "renewal" and (
            isinstance(body["renewals"], bool) or not isinstance(body["renewals"], int)
        ):
            raise MalformedEvent("renewals must be a whole number")
        for name in ("loan_uuid", "item_barcode", "student_number", "title_key"):
            if name in REQUIRED_FIELDS[kind]:
                _text(body, name)
        # A hold's uuid: required for hold events, optional on a checkin (the hold it readied).
        if "hold_uuid" in REQUIRED_FIELDS[kind] or body.get("hold_uuid") is not None:
            _text(body, "hold_uuid", 36)
        return event

    def time(self, key: str) -> dt.datetime:
        value = self.body.get(key)
        if value is None and self.recorded_at is not None:
            return self.recorded_at
        return parse_time(value)
