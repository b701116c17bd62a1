"""What one delivery attempt came to, and when to try a batch again (spec/telemetry.md §6.1).

A sender answers each attempt with an :class:`Attempt`; :func:`classify` derives it from an HTTP
status: 2xx ``DONE``, 429 and 5xx ``RETRY`` (with the server's ``Retry-After`` when it gave one),
any other status ``FAIL``. A :class:`RetryPolicy` says how long to wait before retry ``n`` — a
"full jitter" draw from ``[base, min(cap, base × 2^n)]``, Fluent Bit's scheduler — and when a
batch has had enough retries (``limit``) or time (``give_up_after``) and must be dropped.

Invariants: a wait is never below ``base`` nor above ``max(base, cap)``; ``Retry-After`` parses to
seconds from now, never negative, or ``None`` when absent or unreadable.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    DONE = "done"
    RETRY = "retry"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one delivery attempt came to."""

    outcome: Outcome
    status: int | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try a batch again, and when to give up on it.

    ``limit`` is the number of retries after the first attempt (``None``: no limit);
    ``give_up_after`` bounds the time since the first attempt (``None``: no bound).
    ``whole_seconds`` draws integer waits, as Fluent Bit's scheduler does.
    """

    base: float = 1.0
    cap: float = 300.0
    limit: int | None = None
    give_up_after: float | None = 1800.0
    whole_seconds: bool = False

    def delay(self, retry: int, rng: random.Random) -> float:
        """The wait before retry ``retry`` (1 for the first): uniform in [base, min(cap, base × 2^retry)]."""
        high = min(self.cap, self.base * (2 ** min(retry, 62)))
        high = max(high, self.base)
        if self.whole_seconds:
            return float(rng.randint(int(self.base), max(int(self.base), int(high))))
        return rng.uniform(self.base, high)

    def exhausted(self, retries: int, elapsed: float) -> bool:
        """True when a batch that has had ``retries`` retries over ``elapsed`` seconds must be dropped."""
        if self.limit is not None and retries >= self.limit:
            return True
        return self.give_up_after is not None and elapsed >= self.give_up_after

    @classmethod
    def fluent_bit(cls, retry_limit: str | int | None = None, base: float = 5.0, cap: float = 2000.0) -> RetryPolicy:
        """Fluent Bit's ``Retry_Limit`` (default 1 retry; ``no_limits``/``false``/``off`` unlimited;
        ``no_retries`` none) with ``scheduler.base``/``scheduler.cap`` (§6.1)."""
        return cls(base=base, cap=cap, limit=parse_retry_limit(retry_limit), give_up_after=None, whole_seconds=True)


# ecslite's own exporters (§6.1): unlimited retries, 1 s → 5 min, give up after 30 min.
ECSLITE_POLICY = RetryPolicy(base=1.0, cap=300.0, limit=None, give_up_after=1800.0)


def parse_retry_limit(value: str | int | None) -> int | None:
    """Fluent Bit's ``Retry_Limit`` as a retry count (``None``: unlimited)."""
    if value is None:
        return 1
    if isinstance(value, int):
        return max(0, value)
    text = value.strip().lower()
    if text in ("no_limits", "false", "off", "unlimited"):
        return None
    if text == "no_retries":
        return 0
    try:
        return max(0, int(text))
    except ValueError:
        raise ValueError(f"invalid Retry_Limit {value!r}: an integer, no_limits or no_retries") from None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; ``None`` when absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify(status: int, retry_after: str | None = None, body: str = "") -> Attempt:
    """§6.1: 2xx done; 429 and 5xx retried (honouring ``Retry-After``); other statuses final."""
    if 200 <= status < 300:
        return Attempt(Outcome.DONE, status)
    if status == 429 or 500 <= status < 600:
        return Attempt(Outcome.RETRY, status, parse_retry_after(retry_after), body[:512])
    return Attempt(Outcome.FAIL, status, None, body[:512])
