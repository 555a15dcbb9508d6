"""Retry-After parsing and the backoff schedule: pure functions, table-driven."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from textfromtrack_client.retry import (
    IDEMPOTENT_METHODS,
    NO_RETRY,
    RetryPolicy,
    backoff_delay,
    parse_retry_after,
)

NOW = datetime(2026, 5, 8, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("0", 0.0),
        ("15", 15.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("-3", None),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("Fri, 08 May 2026 10:00:30 GMT", 30.0),
        ("Friday, 08-May-26 10:01:00 GMT", 60.0),  # RFC 850, obsolete but allowed
        ("Fri May  8 10:00:05 2026", 5.0),  # asctime
        ("Fri, 08 May 2026 09:59:00 GMT", 0.0),  # in the past: go now
        ("Fri, 99 Foo 2026 10:00:30 GMT", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("retry", "low", "high"),
    [(1, 0.25, 0.5), (2, 0.5, 1.0), (3, 1.0, 2.0), (4, 2.0, 4.0), (7, 2.5, 5.0), (30, 2.5, 5.0)],
)
def test_backoff_doubles_up_to_the_cap_with_equal_jitter(
    retry: int, low: float, high: float
) -> None:
    rng = random.Random(retry)
    delays = [backoff_delay(retry, base=0.5, cap=5.0, rng=rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert max(delays) - min(delays) > (high - low) / 2  # really jittered


def test_policy_honours_retry_after_within_its_limit() -> None:
    policy = RetryPolicy(max_retries=2, backoff_base=0.5, max_retry_after=60)
    rng = random.Random(1)
    assert 10.0 <= (policy.delay(1, 10.0, rng) or 0) <= 10.5
    assert policy.delay(1, 61.0, rng) is None  # longer than we are willing to block
    assert policy.delay(3, None, rng) is None  # out of retries
    assert policy.delay(3, 1.0, rng) is None
    assert 0.25 <= (policy.delay(1, None, rng) or 0) <= 0.5
    assert NO_RETRY.delay(1, None, rng) is None


@pytest.mark.parametrize(
    ("method", "retried"),
    [
        ("GET", True),
        ("get", True),
        ("DELETE", True),
        ("HEAD", True),
        ("POST", False),
        ("PATCH", False),
    ],
)
def test_only_idempotent_methods_are_retried(method: str, retried: bool) -> None:
    assert RetryPolicy().retries_method(method) is retried
    assert (method.upper() in IDEMPOTENT_METHODS) is retried
