"""When an EventBridge Scheduler schedule invokes its target, pure: no store, no clock.

- Expressions are Application Auto Scaling's (:mod:`ecslite.model.scaling`): ``at()``, ``rate()``
  and ``cron()``, evaluated in ``ScheduleExpressionTimezone`` (UTC by default).
- ``StartDate``/``EndDate`` bound recurring schedules only: Scheduler ignores both for one-time
  schedules (API reference, CreateSchedule). A rate counts from ``StartDate`` when given, else from
  the schedule's creation or last update.
- A one-time schedule whose time has already passed when it is created or enabled runs at once
  (unverified; ecslite's choice rather than never running it).
- ``FlexibleTimeWindow`` ``FLEXIBLE``: each invocation falls at a random point in
  ``[nominal, nominal + MaximumWindowInMinutes)``; ``OFF``: at the nominal time.
- Failed invocations are tried again with exponential backoff (first after :data:`RETRY_FIRST`
  seconds, doubling, at most :data:`RETRY_CAP`; the intervals are ecslite's, AWS does not publish
  its own) while both ``MaximumRetryAttempts`` and ``MaximumEventAgeInSeconds`` allow.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from ecslite.model.scaling import Schedule, ScheduleError, next_run, parse_schedule, zone

# Scheduler's defaults when a target has no RetryPolicy (the CDK documents 185 and 24 hours).
DEFAULT_RETRY_ATTEMPTS = 185
DEFAULT_EVENT_AGE = 86400
RETRY_FIRST = 30.0
RETRY_CAP = 300.0


def check_expression(expression: str, timezone: str | None) -> Schedule:
    """The parsed expression; ``ScheduleError`` for an expression or time zone ecslite cannot read."""
    schedule = parse_schedule(expression)
    zone(timezone)
    return schedule


def one_time(doc: Mapping[str, Any]) -> bool:
    return str(doc.get("ScheduleExpression", "")).strip().startswith("at(")


def nominal_after(doc: Mapping[str, Any], after: float, origin: float) -> float | None:
    """The first nominal invocation strictly after ``after`` (epoch seconds), or None when no more.

    ``origin`` is when a rate starts counting without a StartDate (creation or last update).
    """
    try:
        schedule = parse_schedule(str(doc["ScheduleExpression"]))
        timezone = doc.get("ScheduleExpressionTimezone")
        if schedule.kind == "at":
            return next_run(schedule, after, timezone)
        start, end = doc.get("StartDate"), doc.get("EndDate")
        return next_run(
            schedule,
            after,
            timezone,
            start=None if start is None else float(start),
            end=None if end is None else float(end),
            origin=origin,
        )
    except ScheduleError:
        return None


def first_nominal(doc: Mapping[str, Any], now: float, origin: float) -> float | None:
    """The first invocation of a schedule created, updated or enabled at ``now``."""
    if one_time(doc):
        try:
            schedule = parse_schedule(str(doc["ScheduleExpression"]))
            assert schedule.at is not None
            at = schedule.at.replace(tzinfo=zone(doc.get("ScheduleExpressionTimezone"))).timestamp()
        except ScheduleError:
            return None
        return max(at, now)
    return nominal_after(doc, now, origin)


def due_time(nominal: float, window: Mapping[str, Any] | None, rng: random.Random) -> float:
    """When an invocation due at ``nominal`` runs: at a random point of a flexible window."""
    if not window or window.get("Mode") != "FLEXIBLE":
        return nominal
    minutes = int(window.get("MaximumWindowInMinutes") or 0)
    return nominal + rng.random() * minutes * 60


def retry_delay(attempts: int) -> float:
    """Seconds before retry number ``attempts`` (1 for the first retry)."""
    return min(RETRY_CAP, RETRY_FIRST * float(2 ** max(0, attempts - 1)))


def may_retry(policy: Mapping[str, Any] | None, retries_done: int, first_try: float, at: float) -> bool:
    """Whether another retry at ``at`` is within the policy (attempts and event age)."""
    policy = policy or {}
    attempts = int(policy.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS))
    age = int(policy.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE))
    return retries_done < attempts and at - first_try <= age
