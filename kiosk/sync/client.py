"""HTTP client of the central sync API (push, pull, heartbeat) with typed failures."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
import ssl
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kiosk.clock import format_iso_time, parse_iso_time_or_none
from kiosk.config import Settings, read_secret

USER_AGENT = "shuxiang-kiosk-sync/1"
# A server answer larger than this is not a sync reply; refusing it bounds memory.
MAX_REPLY_BYTES = 64 * 1024 * 1024
# Never wait longer than this for a Retry-After, whatever the server says.
MAX_RETRY_AFTER_S = 3600.0


class SyncError(Exception):
    """Base of every failure of a sync request; the message never holds personal data."""


class Unreachable(SyncError):
    """No answer: connection refused or reset, timeout, DNS failure, or a reply cut short.

    The request may or may not have been carried out; everything the kiosk sends is
    idempotent, so the caller simply sends it again later.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach {url}: {reason}")


class RetryLater(SyncError):
    """429 or 503: the server asked for a pause of `retry_after_s` (None if it gave none)."""

    def __init__(self, status: int, retry_after_s: float | None) -> None:
        self.status = status
        self.retry_after_s = retry_after_s
        super().__init__(f"server busy (HTTP {status}), retry after {retry_after_s} s")


class AuthFailed(SyncError):
    """401/403, or no token configured: no point retrying until an operator fixes it."""


class EpochConflict(SyncError):
    """409: the server holds other events at this epoch's positions (database restored)."""

    def __init__(self, epoch: str, acked_through: int) -> None:
        self.epoch = epoch
        self.acked_through = acked_through
        super().__init__(f"epoch conflict for epoch {epoch} (server holds through {acked_through})")


class ServerError(SyncError):
    """A 5xx other than 503: the request failed on the server and nothing was committed."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"the central server failed (HTTP {status})")


class ProtocolError(SyncError):
    """An answer that breaks the protocol: 400, another 4xx/5xx, or JSON of the wrong shape."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class PushReply:
    acked_through: int
    server_time: dt.datetime | None


@dataclass(frozen=True)
class PullPage:
    changes: list[dict[str, Any]]
    next_since: int
    more: bool


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


class CentralLink(Protocol):
    """What the kiosk needs of a central server: the three sync calls."""

    def push(self, epoch: str, events: list[dict[str, Any]], sent_at: dt.datetime) -> PushReply:
        """Send one batch of outbox events; raises a SyncError when it was not acknowledged."""
        ...

    def pull(self, since: int, limit: int) -> PullPage:
        """One page of changes after version `since`."""
        ...

    def heartbeat(self, status_body: dict[str, Any]) -> dt.datetime | None:
        """Report this kiosk's status; returns the server's time when it says."""
        ...

    def boards(self) -> dict[str, Any]:
        """The idle screen's boards (new books, popular books, class ranking) as the central made them."""
        ...


class NullCentral:
    """Stand-in for a kiosk without `[sync] central_url`: every call answers Unreachable."""

    def push(self, epoch: str, events: list[dict[str, Any]], sent_at: dt.datetime) -> PushReply:
        raise Unreachable("(none)", "no central server is configured")

    def pull(self, since: int, limit: int) -> PullPage:
        raise Unreachable("(none)", "no central server is configured")

    def heartbeat(self, status_body: dict[str, Any]) -> dt.datetime | None:
        raise Unreachable("(none)", "no central server is configured")

    def boards(self) -> dict[str, Any]:
        raise Unreachable("(none)", "no central server is configured")


class CentralClient:
    """Talks to one central server as one kiosk. Thread-safe: every request has its own
    connection, so a connection cut half-way never poisons the next request."""

    def __init__(
        self,
        base_url: str,
        kiosk_id: str,
        token: str | Callable[[], str | None] | None,
        timeout_s: float = 10.0,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.kiosk_id = kiosk_id
        self.timeout_s = timeout_s
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._token = token

    @classmethod
    def from_settings(cls, settings: Settings) -> CentralClient:
        """A client for `[sync] central_url`; the token file is re-read on every request so a
        replaced token takes effect without a restart."""
        token_file: Path | None = settings.sync.token_file
        return cls(
            settings.sync.central_url,
            settings.kiosk.id,
            lambda: read_secret(token_file),
            settings.sync.timeout_s,
        )

    # --- the three calls ---------------------------------------------------------------------

    def push(self, epoch: str, events: list[dict[str, Any]], sent_at: dt.datetime) -> PushReply:
        """Send one batch; raises EpochConflict on 409. Safe to repeat with the same batch."""
        body = {
            "kiosk_id": self.kiosk_id,
            "epoch": epoch,
            "sent_at": format_iso_time(sent_at),
            "events": events,
        }
        status, reply = self._request("POST", "/sync/v1/push", body)
        if status == 409:
            through = reply.get("acked_through") if isinstance(reply, dict) else None
            raise EpochConflict(epoch, through if isinstance(through, int) else 0)
        self._expect_ok(status, reply)
        through = reply.get("acked_through")
        if isinstance(through, bool) or not isinstance(through, int) or through < 0:
            raise ProtocolError(f"push reply without a valid acked_through: {through!r}", status)
        return PushReply(through, parse_iso_time_or_none(reply.get("server_time")))

    def pull(self, since: int, limit: int) -> PullPage:
        """One page of changes after version `since`."""
        query = urllib.parse.urlencode({"since": since, "limit": limit})
        status, reply = self._request("GET", f"/sync/v1/pull?{query}", None)
        self._expect_ok(status, reply)
        changes = reply.get("changes")
        next_since = reply.get("next_since")
        more = reply.get("more")
        if (
            not isinstance(changes, list)
            or not all(isinstance(c, dict) for c in changes)
            or isinstance(next_since, bool)
            or not isinstance(next_since, int)
            or not isinstance(more, bool)
        ):
            raise ProtocolError("pull reply is not {changes: [...], next_since: int, more: bool}")
        return PullPage(changes, next_since, more)

    def heartbeat(self, status_body: dict[str, Any]) -> dt.datetime | None:
        """Report this kiosk's status; returns the server's time (for the clock check)."""
        status, reply = self._request(
            "POST", "/sync/v1/heartbeat", {"kiosk_id": self.kiosk_id, **status_body}
        )
        self._expect_ok(status, reply)
        return parse_iso_time_or_none(reply.get("server_time"))

    def boards(self) -> dict[str, Any]:
        """The idle screen's boards; a ProtocolError from a central that has none."""
        status, reply = self._request("GET", "/sync/v1/boards", None)
        self._expect_ok(status, reply)
        assert isinstance(reply, dict)
        return reply

    # --- plumbing ------------------------------------------------------------------------------

    def _token_value(self) -> str:
        token = self._token() if callable(self._token) else self._token
        if not token:
            raise AuthFailed(
                "no kiosk token: put the token printed by central-add-kiosk in [sync] token_file"
            )
        return token

    def _connection(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(
                self._host,
                self._port,
                timeout=self.timeout_s,
                context=ssl.create_default_context(),
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        headers = {
            "Authorization": f"Bearer {self._token_value()}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "Connection": "close",
        }
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        conn = self._connection()
        try:
            conn.request(method, self._prefix + path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read(MAX_REPLY_BYTES + 1)
            status = response.status
            retry_after = response.getheader("Retry-After")
        except (OSError, http.client.HTTPException) as exc:
            # Includes timeouts, refused and reset connections, and replies cut short
            # (IncompleteRead, RemoteDisconnected): all mean "no answer we can trust".
            raise Unreachable(self.base_url, _describe(exc)) from None
        finally:
            conn.close()
        if len(raw) > MAX_REPLY_BYTES:
            raise ProtocolError("reply too large", status)
        if status in (429, 503):
            raise RetryLater(status, parse_retry_after(retry_after))
        if status in (401, 403):
            raise AuthFailed(
                f"the central server refused this kiosk's token (HTTP {status}); "
                "check [sync] token_file and [kiosk] id"
            )
        try:
            reply = json.loads(raw) if raw else {}
        except ValueError:
            if status >= 500:
                raise ServerError(status) from None
            raise ProtocolError(f"HTTP {status} with a body that is not JSON", status) from None
        return status, reply

    @staticmethod
    def _expect_ok(status: int, reply: Any) -> None:
        if status >= 500:
            raise ServerError(status)
        if status != 200 or not isinstance(reply, dict):
            error = reply.get("error") if isinstance(reply, dict) else None
            raise ProtocolError(f"HTTP {status} from the central server ({error or 'no detail'})")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


class SyncTrigger(Protocol):
    """What the staff page's "Sync now" needs of the sync worker: start a sync soon."""

    def request_sync(self) -> None: ...


class NullSync:
    """Stand-in when no central is configured (or the worker is not running): nothing to do."""

    def request_sync(self) -> None:
        return None
