"""Backoff: full jitter under a doubling ceiling, a cap, Retry-After as a floor."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from kiosk.sync.backoff import Backoff
from kiosk.sync.client import MAX_RETRY_AFTER_S, parse_retry_after


def test_ceiling_doubles_up_to_the_cap() -> None:
    backoff = Backoff(1.0, 10.0, rand=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


def test_full_jitter_stays_within_the_ceiling_and_spreads() -> None:
    rng = random.Random(7)
    delays = []
    for _ in range(200):
        backoff = Backoff(1.0, 300.0, rand=rng.random)
        for _ in range(4):
            backoff.next_delay()
        delays.append(backoff.next_delay())
    assert all(0.0 <= d <= 16.0 for d in delays)
    # Full jitter: kiosks that failed together do not come back together.
    assert max(delays) - min(delays) > 8.0


def test_retry_after_is_a_floor() -> None:
    backoff = Backoff(1.0, 300.0, rand=lambda: 0.0)
    assert backoff.next_delay(retry_after_s=12.5) == 12.5
    assert Backoff(1.0, 4.0, rand=lambda: 1.0).next_delay(retry_after_s=0.5) == 1.0


def test_huge_failure_counts_do_not_overflow() -> None:
    backoff = Backoff(1.0, 60.0, rand=lambda: 1.0)
    backoff.failures = 10_000
    assert backoff.next_delay() == 60.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("nonsense", None),
        ("", None),
        (None, None),
        ("999999", MAX_RETRY_AFTER_S),
        ("Wed, 25 Nov 2026 02:00:30 GMT", 30.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
    assert parse_retry_after(header, now) == expected


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)
