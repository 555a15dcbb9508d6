"""When to retry a request, and how long to wait first. Pure functions, no I/O.

Only idempotent requests are retried: a POST that timed out may already have
created a job (and spent a credit), so resending it is the caller's decision.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: Answers worth trying again: the rate limit, and a gateway or server that is restarting.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Methods whose repetition has the same effect as one call (RFC 9110 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date.

    None when absent or unreadable; never negative (a date in the past means now).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        # Some servers send fractional seconds; RFC 9110 does not, but they are unambiguous.
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP-dates are GMT by definition
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(retry: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with equal jitter for retry number ``retry`` (1, 2, ...).

    Half of the exponential step is fixed, so a retry never fires at once; the other
    half is random, so many clients that failed together do not retry together.
    """
    step = min(cap, base * 2.0 ** (retry - 1))
    return step / 2 + rng.uniform(0, step / 2)


@dataclass(frozen=True)
class RetryPolicy:
    """How the client retries idempotent requests that failed transiently."""

    #: Retries after the first attempt (0 disables retrying).
    max_retries: int = 3
    #: First backoff step in seconds; it doubles per retry.
    backoff_base: float = 0.5
    #: Longest backoff step in seconds.
    backoff_max: float = 20.0
    #: A Retry-After longer than this is not waited out: the error goes to the caller,
    #: who may have a deadline of their own.
    max_retry_after: float = 120.0
    statuses: frozenset[int] = field(default=RETRY_STATUSES)

    def retries_method(self, method: str) -> bool:
        return method.upper() in IDEMPOTENT_METHODS

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds before retry number ``retry``, or None when it should not happen."""
        if retry > self.max_retries:
            return None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            # The server's figure is a floor; a little jitter spreads clients that were told
            # the same thing at the same moment.
            return retry_after + rng.uniform(0, min(1.0, self.backoff_base))
        return backoff_delay(retry, self.backoff_base, self.backoff_max, rng)


NO_RETRY = RetryPolicy(max_retries=0)
