"""Exponential backoff with full jitter and a cap, which a server's Retry-After can lengthen."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Delays for consecutive failures: uniform in [0, min(cap, base * 2**n)] ("full jitter").

    Full jitter spreads a school's kiosks apart when the central comes back, instead of
    having them all retry in the same second. A Retry-After from the server is a floor.
    """

    def __init__(
        self,
        base_s: float = 1.0,
        cap_s: float = 300.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if base_s <= 0 or cap_s < base_s:
            raise ValueError("need 0 < base_s <= cap_s")
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0
        self._rand = rand

    def next_delay(self, retry_after_s: float | None = None) -> float:
        """Record one more failure and return how long to wait before the next attempt."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(self.failures, 62))
        self.failures += 1
        delay = self._rand() * ceiling
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return delay

    def reset(self) -> None:
        """A success: the next failure starts again from the base delay."""
        self.failures = 0
