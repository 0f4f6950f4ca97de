"""Slowing down guessed secrets (console passwords, the staff PIN) with Flask-Limiter.

Only failures count (`deduct_when`), each under several keys at once: the client's own key
(address, or address + account) trips first and locks only that client; slower backstops per
account and for everyone stop a guesser who spreads attempts over many addresses, without
letting one client lock the account for everyone at the first few tries.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, request
from flask_limiter import Limiter, RequestLimit


@dataclass(frozen=True)
class FailureLimit:
    """One limit on failures: `setting` names the app.config key holding its rate (for example
    "5 per 15 minutes"), `key` says whose failures share a count."""

    setting: str
    key: Callable[[], str]


def client_address() -> str:
    """The client's address as the app sees it (after ProxyFix, when a proxy is trusted)."""
    return request.remote_addr or "unknown"


def make_limiter(app: Flask) -> Limiter:
    """A limiter for `app`, counting in this process's memory.

    In-memory storage is right here: each app is one waitress process whose threads share
    this memory, so the counts are exact; a restart forgets them, which only an operator can
    cause. Several server processes would each count alone and need a shared store
    (`storage_uri="redis://…"`). The moving window lets a client that waited out the window try
    again without the fixed window's double burst at its edge.
    """
    return Limiter(
        key_func=client_address,
        app=app,
        storage_uri="memory://",
        strategy="moving-window",
    )


def limit_failures(
    limiter: Limiter,
    blueprint: Blueprint,
    endpoint: str,
    limits: Sequence[FailureLimit],
    *,
    failed: Callable[[Response], bool],
    on_breach: Callable[[RequestLimit], Response],
) -> None:
    """Throttle POSTs to `endpoint`: only responses for which `failed` is true are counted,
    and once any limit is full every attempt under its key is refused with `on_breach`, the
    right secret too (so a guesser learns nothing while throttled)."""
    for item in limits:
        limiter.limit(
            _rate_from_config(item.setting),
            key_func=_prefixed(item),
            methods=["POST"],
            exempt_when=lambda: request.endpoint != endpoint,
            deduct_when=failed,
            on_breach=on_breach,
        )(blueprint)


def wait_s(limit: RequestLimit) -> int:
    """Whole seconds until the breached `limit` lets the next attempt through."""
    return max(1, math.ceil(limit.reset_at - time.time()))


def _rate_from_config(setting: str) -> Callable[[], str]:
    def rate() -> str:
        value: str = current_app.config[setting]
        return value

    return rate


def _prefixed(item: FailureLimit) -> Callable[[], str]:
    # Keys of different limits must not collide: "everyone" must never equal an address.
    def key() -> str:
        return f"{item.setting}:{item.key()}"

    return key
