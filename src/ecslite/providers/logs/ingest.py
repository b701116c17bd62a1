"""PutLogEvents' batch rules, shared by the API and ecslite's own producers (spec/ecs.md §10.2).

A batch is refused as a whole (``InvalidParameterException``, nothing stored) when it has too many
events, too many bytes, an oversized event, events out of chronological order, or valid events
spanning more than 24 hours. Events too old (14 days), past the group's retention or too new
(2 hours ahead) are left out and reported in ``rejectedLogEventsInfo``; the rest are stored.
"""

from __future__ import annotations

import bisect
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ecslite.providers.logs.errors import (
    NOT_CHRONOLOGICAL,
    SPAN_TOO_LONG,
    InvalidParameterException,
    event_too_large,
    upload_too_large,
)

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26  # "the sum of all event messages in UTF-8, plus 26 bytes for each log event"
# 256 KiB per event, each counted with its 26 bytes of overhead. AWS's current API reference says
# 1 MB; one constant to change if ecslite follows it.
MAX_EVENT_BYTES = 262_144
MAX_SPAN_MS = 24 * 3600 * 1000
TOO_OLD_MS = 14 * 24 * 3600 * 1000
TOO_NEW_MS = 2 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000

GROUP_NAME = r"[\.\-_/#A-Za-z0-9]+"
STREAM_NAME = r"[^:*]*"
# Name members and the model's patterns for them. CloudWatch Logs matches these against the whole
# value ("bad name" and "a:b" are refused), where the protocol layer only asks for a match somewhere.
NAME_PATTERNS = {
    "logGroupName": re.compile(GROUP_NAME),
    "logGroupNamePrefix": re.compile(GROUP_NAME),
    "logGroupNamePattern": re.compile(r"[\.\-_/#A-Za-z0-9]*"),
    "logStreamName": re.compile(STREAM_NAME),
    "logStreamNamePrefix": re.compile(STREAM_NAME),
    "logGroupIdentifier": re.compile(r"[\w#+=/:,.@-]*"),
}


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    accepted: list[tuple[int, str]]
    size: int  # UTF-8 bytes of the accepted messages (what the group's storedBytes grows by)
    rejected: dict[str, int] = field(default_factory=dict)  # rejectedLogEventsInfo, when any


def check_batch(events: Sequence[tuple[int, str]], now_ms: int, retention_days: int | None) -> CheckedBatch:
    """The events to store and the rejection info, or ``InvalidParameterException`` for the batch.

    Per event only its UTF-8 size is computed in Python; the order, the limits and the rejected
    ranges are found with C-level scans and bisection (this runs for every line the awslogs driver
    ships).
    """
    if len(events) > MAX_BATCH_EVENTS:
        raise InvalidParameterException(
            f"1 validation error detected: Value at 'logEvents' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_BATCH_EVENTS}"
        )
    if not events:
        return CheckedBatch([], 0)
    sizes = [len(message) if message.isascii() else len(message.encode("utf-8")) for _, message in events]
    stamps = [ts for ts, _ in events]
    # The first event that is too large or out of order decides the error (size first for one event).
    limit = MAX_EVENT_BYTES - EVENT_OVERHEAD
    oversized = next((i for i, size in enumerate(sizes) if size > limit), None) if max(sizes) > limit else None
    backwards = None
    if any(map(operator.lt, stamps[1:], stamps[:-1])):
        backwards = next(i for i in range(1, len(stamps)) if stamps[i] < stamps[i - 1])
    if oversized is not None and (backwards is None or oversized <= backwards):
        raise InvalidParameterException(event_too_large(sizes[oversized] + EVENT_OVERHEAD, MAX_EVENT_BYTES))
    if backwards is not None:
        raise InvalidParameterException(NOT_CHRONOLOGICAL)
    total = sum(sizes) + EVENT_OVERHEAD * len(events)
    if total > MAX_BATCH_BYTES:
        raise InvalidParameterException(upload_too_large(total, MAX_BATCH_BYTES))
    # The batch is chronological, so old events form a prefix and new ones a suffix.
    old_end = bisect.bisect_left(stamps, now_ms - TOO_OLD_MS)
    expired_end = bisect.bisect_left(stamps, now_ms - retention_days * DAY_MS) if retention_days is not None else 0
    new_start = bisect.bisect_right(stamps, now_ms + TOO_NEW_MS)
    first = max(old_end, expired_end)
    accepted = list(events[first:new_start])
    if accepted and accepted[-1][0] - accepted[0][0] > MAX_SPAN_MS:
        raise InvalidParameterException(SPAN_TOO_LONG)
    rejected: dict[str, int] = {}
    if new_start < len(events):
        rejected["tooNewLogEventStartIndex"] = new_start  # inclusive
    if old_end:
        rejected["tooOldLogEventEndIndex"] = old_end  # exclusive, as the API reference says
    if expired_end:
        rejected["expiredLogEventEndIndex"] = expired_end
    size = sum(sizes[first:new_start]) if first or new_start < len(events) else total - EVENT_OVERHEAD * len(events)
    return CheckedBatch(accepted, size, rejected)


def check_name_patterns(params: dict[str, object]) -> None:
    """Refuse names that break their member's pattern, in the protocol layer's message format."""
    problems = [
        f"Value '{value}' at '{member}' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {pattern.pattern}"
        for member, pattern in NAME_PATTERNS.items()
        if isinstance(value := params.get(member), str) and not pattern.fullmatch(value)
    ]
    if problems:
        noun = "error" if len(problems) == 1 else "errors"
        raise InvalidParameterException(f"{len(problems)} validation {noun} detected: " + "; ".join(problems))


def check_names(group: str, stream: str) -> None:
    """The model's constraints on names, for producers that do not come through the protocol layer."""
    for member, value in (("logGroupName", group), ("logStreamName", stream)):
        if not 1 <= len(value) <= 512:
            bound = "greater than or equal to 1" if not value else "less than or equal to 512"
            raise InvalidParameterException(
                f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
                f"Member must have length {bound}"
            )
    check_name_patterns({"logGroupName": group, "logStreamName": stream})
