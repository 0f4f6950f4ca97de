"""The one wall clock (`utc_now`, `Clock`) and the one ISO 8601 time parser of kiosk and central."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The current time as an aware UTC datetime; the default `Clock` everywhere."""
    return dt.datetime.now(dt.UTC)


def parse_iso_time(value: object) -> dt.datetime:
    """An aware UTC datetime from an ISO 8601 string; a time without an offset is taken as UTC.

    Accepts the "Z" suffix other systems write. Raises ValueError for anything else, with the
    value in the message (times are never personal data).
    """
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 time, not {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_iso_time_or_none(value: object) -> dt.datetime | None:
    """`parse_iso_time`, or None when the value is absent or malformed (for optional fields)."""
    try:
        return parse_iso_time(value)
    except ValueError:
        return None


def format_iso_time_or_none(value: dt.datetime | None) -> str | None:
    """`format_iso_time`, or None for a time not known (optional fields)."""
    return None if value is None else format_iso_time(value)


def format_iso_time(value: dt.datetime) -> str:
    """The one time format of event bodies, heartbeats and stored sync state: ISO 8601 in UTC."""
    if value.tzinfo is None:
        raise ValueError("naive datetime; pass an aware datetime")
    return value.astimezone(dt.UTC).isoformat()
