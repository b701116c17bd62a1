"""Log events: PutLogEvents, GetLogEvents, FilterLogEvents, and the in-process producer/follower API.

GetLogEvents tokens are ``f/<56 digits>/s`` and ``b/<56 digits>/s`` like AWS's; the digits hold the
stream id and a cursor ``(ts, seq)`` between two events. A forward token returns the events after
the cursor, a backward token the ones before it, and a page that finds nothing hands back the very
token it was given, so tail loops (``while token != previous``) end (spec/ecs.md §10.2).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ecslite.model.log_filters import InvalidFilterPattern, Matcher, parse_filter_pattern
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.logs.common import LogsBase, on_worker
from ecslite.providers.logs.errors import (
    DESCENDING_BEFORE_2024,
    INVALID_NEXT_TOKEN,
    STREAM_NAMES_AND_PREFIX,
    STREAM_NOT_FOUND,
    InvalidParameterException,
    ResourceNotFoundException,
)
from ecslite.providers.logs.ingest import EVENT_OVERHEAD, check_batch, check_names
from ecslite.providers.logs.streams import upload_sequence_token
from ecslite.providers.pagination import encode_token
from ecslite.store import log_events
from ecslite.store.log_events import StoredEvent
from ecslite.store.logs import LogGroupRow, LogStreamRow

MAX_EVENTS_PER_PAGE = 10_000
MAX_PAGE_BYTES = 1_048_576  # "Each page returned can contain up to 1 MB of log events"
MAX_TS = 2**63 - 1
# FilterLogEvents examines at most this many events per call and then hands out a nextToken, as
# AWS does ("A returned page might only be partially full, or even empty"), so one call never holds
# the worker thread for long.
FILTER_SCAN_BUDGET = 200_000
JAN_1_2024_MS = 1_704_067_200_000

_TOKEN = re.compile(r"([fb])/(\d{16})(\d{20})(\d{20})(?:/s)?")


def stream_token(direction: str, sid: int, cursor: tuple[int, int]) -> str:
    ts, seq = cursor
    return f"{direction}/{sid:016d}{ts:020d}{seq + 1:020d}/s"


def event_id(event: StoredEvent) -> str:
    """A 56-digit id, unique in the group and ordered like the events: ``(ts, sid, seq)``."""
    return f"{event.ts:020d}{event.sid:016d}{event.seq:020d}"


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What :meth:`EventOps.append` stored: accepted events and AWS's ``rejectedLogEventsInfo``."""

    accepted: int
    rejected: dict[str, int] = field(default_factory=dict)


def _page_limit(events: list[StoredEvent], keep_newest: bool) -> list[StoredEvent]:
    """Cut a page to 1 MB (messages in UTF-8 plus 26 bytes each), keeping the end nearest the reader."""
    total = 0
    ordered = reversed(events) if keep_newest else iter(events)
    kept = 0
    for event in ordered:
        total += len(event.message.encode("utf-8")) + EVENT_OVERHEAD
        if total > MAX_PAGE_BYTES and kept:
            break
        kept += 1
    return events[len(events) - kept :] if keep_newest else events[:kept]


class EventOps(LogsBase):
    # -- PutLogEvents ------------------------------------------------------------------------------

    @on_worker
    def put_log_events(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self.require_group(ctx, params["logGroupName"])
        stream = self.store.get_stream(group.gid, params["logStreamName"])
        if stream is None:
            raise ResourceNotFoundException(STREAM_NOT_FOUND)
        events = [(e["timestamp"], e["message"]) for e in params["logEvents"]]
        # ``sequenceToken`` is accepted and ignored: "PutLogEvents actions are always accepted".
        stream, rejected = self._store_batch(ctx, group, stream, events)
        result: dict[str, Any] = {"nextSequenceToken": upload_sequence_token(stream)}
        if rejected:
            result["rejectedLogEventsInfo"] = rejected
        return result

    def _store_batch(
        self, ctx: RequestContext, group: LogGroupRow, stream: LogStreamRow, events: list[tuple[int, str]]
    ) -> tuple[LogStreamRow, dict[str, int]]:
        """Check and store a batch; the stream as it is afterwards, and the rejection info."""
        now = self.now_ms()
        batch = check_batch(events, now, group.retention_days)
        if batch.accepted:
            log_events.append(self.store, group.gid, stream.sid, batch.accepted, now, batch.size)
            self.feed.publish(ctx.account, ctx.region, group.name)
            stream = self.store.get_stream(group.gid, stream.name) or stream
        return stream, batch.rejected

    # -- in-process producers ----------------------------------------------------------------------

    async def append(
        self,
        account: str,
        region: str,
        group: str,
        stream: str,
        events: list[tuple[int, str]],
        create_group: bool = False,
        *,
        position: tuple[str, str] | None = None,
    ) -> AppendResult:
        """Store events for ecslite's own producers (the awslogs driver) with PutLogEvents' rules.

        The stream is created when missing, as the awslogs driver does at container start; the group
        only when ``create_group`` (``awslogs-create-group``), else ``ResourceNotFoundException``
        with AWS's text. Batch errors raise the same ``InvalidParameterException`` as the API.
        ``position`` (producer key, opaque value) is saved in the same transaction as the events
        (``log_events.save_position``), so a producer that resumes from it never loses or repeats one.
        """
        return await self.run(self._append_at, account, region, group, stream, events, create_group, position)

    def _append_at(
        self,
        account: str,
        region: str,
        group_name: str,
        stream_name: str,
        events: list[tuple[int, str]],
        create: bool,
        position: tuple[str, str] | None,
    ) -> AppendResult:
        if position is None:
            return self._append(account, region, group_name, stream_name, events, create)
        with self.store.transaction():
            result = self._append(account, region, group_name, stream_name, events, create)
            log_events.save_position(self.store, *position)
        return result

    def _append(
        self, account: str, region: str, group_name: str, stream_name: str, events: list[tuple[int, str]], create: bool
    ) -> AppendResult:
        check_names(group_name, stream_name)
        ctx = RequestContext(account, region, "", "logs", "append")
        group = self.store.get_group(account, region, group_name)
        if group is None and create:
            group = self.store.create_group(account, region, group_name, self.now_ms())
            group = group or self.store.get_group(account, region, group_name)
        if group is None:
            raise ResourceNotFoundException()
        stream = self.store.get_stream(group.gid, stream_name) or self.store.create_stream(
            group.gid, stream_name, self.now_ms()
        )
        stream = stream or self.store.get_stream(group.gid, stream_name)
        assert stream is not None
        before = stream.last_seq
        stream, rejected = self._store_batch(ctx, group, stream, events)
        return AppendResult(stream.last_seq - before, rejected)

    async def follow(
        self,
        account: str,
        region: str,
        group: str,
        *,
        stream_prefix: str | None = None,
        start_ms: int = 0,
        pattern: str | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the group's events as they arrive (oldest first), from ``start_ms`` on, forever.

        Each batch is a list of FilterLogEvents-shaped events. Raises ``ResourceNotFoundException``
        when the group does not exist (or is deleted while followed).
        """
        matcher = self._matcher(pattern)
        position: tuple[int, int, int] = (start_ms, -1, -1)
        while True:
            signal = self.feed.signal(account, region, group)
            batch, position = await self.run(self._events_after, account, region, group, stream_prefix, position)
            matched = [e for e in batch if matcher.matches(e["message"])]
            if matched:
                yield matched
            if not batch:
                await signal.wait()

    def _events_after(
        self, account: str, region: str, group_name: str, prefix: str | None, position: tuple[int, int, int]
    ) -> tuple[list[dict[str, Any]], tuple[int, int, int]]:
        ctx = RequestContext(account, region, "", "logs", "follow")
        group = self.require_group(ctx, group_name)
        sids = self.store.stream_ids(group.gid, prefix=prefix) if prefix else None
        start = max(position[0], self.retention_cutoff(group))
        chunks = log_events.scan_group(self.store, group.gid, start=start, end=MAX_TS, sids=sids, after=position)
        events = next(chunks, [])
        if not events:
            return [], position
        names = {sid: row.name for sid, row in self.store.streams_by_id(sorted({e.sid for e in events})).items()}
        return [self._filtered_view(e, names) for e in events], events[-1].group_key

    # -- GetLogEvents ------------------------------------------------------------------------------

    @on_worker
    def get_log_events(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        group = self.group_from(ctx, params)
        stream = self.store.get_stream(group.gid, params["logStreamName"])
        if stream is None:
            raise ResourceNotFoundException(STREAM_NOT_FOUND)
        limit = params.get("limit") or MAX_EVENTS_PER_PAGE
        start = max(params.get("startTime") or 0, self.retention_cutoff(group))
        end = params["endTime"] if params.get("endTime") is not None else MAX_TS
        token = params.get("nextToken")
        direction, cursor = self._parse_stream_token(token, stream.sid) if token else (None, None)
        if direction == "f":
            events = log_events.read_stream(self.store, stream.sid, start=start, end=end, after=cursor, limit=limit)
        elif direction == "b":
            events = log_events.read_stream(self.store, stream.sid, start=start, end=end, before=cursor, limit=limit)
        else:
            newest = not params.get("startFromHead")
            events = log_events.read_stream(self.store, stream.sid, start=start, end=end, newest=newest, limit=limit)
        backwards = direction == "b" or (direction is None and not params.get("startFromHead"))
        events = _page_limit(events, keep_newest=backwards)
        forward, backward = self._next_tokens(stream.sid, events, token, direction, cursor, start, end)
        return {
            "events": [{"timestamp": e.ts, "message": e.message, "ingestionTime": e.ingested_ms} for e in events],
            "nextForwardToken": forward,
            "nextBackwardToken": backward,
        }

    @staticmethod
    def _parse_stream_token(token: str, sid: int) -> tuple[str, tuple[int, int]]:
        found = _TOKEN.fullmatch(token)
        if found is None or int(found.group(2)) != sid:
            raise InvalidParameterException(INVALID_NEXT_TOKEN)
        return found.group(1), (int(found.group(3)), int(found.group(4)) - 1)

    @staticmethod
    def _next_tokens(
        sid: int,
        events: list[StoredEvent],
        token: str | None,
        direction: str | None,
        cursor: tuple[int, int] | None,
        start: int,
        end: int,
    ) -> tuple[str, str]:
        if events:
            return stream_token("f", sid, events[-1].stream_key), stream_token("b", sid, events[0].stream_key)
        if token is not None and cursor is not None:
            # Nothing past the cursor: hand the same token back, and the other direction from there.
            ts, seq = cursor
            if direction == "f":
                return token, stream_token("b", sid, (ts, seq + 1))
            return stream_token("f", sid, (ts, seq - 1)), token
        return stream_token("f", sid, (start, 0)), stream_token("b", sid, (min(end, MAX_TS - 1), 0))

    # -- FilterLogEvents ---------------------------------------------------------------------------

    @on_worker
    def filter_log_events(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise InvalidParameterException(STREAM_NAMES_AND_PREFIX)
        group = self.group_from(ctx, params)
        matcher = self._matcher(params.get("filterPattern"))
        descending, after = self._filter_position(params)
        sids = self.store.stream_ids(group.gid, names=names, prefix=prefix) if names or prefix else None
        limit = params.get("limit") or MAX_EVENTS_PER_PAGE
        start = max(params.get("startTime") or 0, self.retention_cutoff(group))
        end = params["endTime"] if params.get("endTime") is not None else MAX_TS
        found, last_scanned, exhausted = self._scan(group, matcher, sids, start, end, after, descending, limit + 1)
        page = _page_limit(found[:limit], keep_newest=False)
        result: dict[str, Any] = {}
        if len(page) < len(found):
            result["nextToken"] = encode_token({"k": list(page[-1].group_key), "d": int(descending)})
        elif not exhausted and last_scanned is not None:
            result["nextToken"] = encode_token({"k": list(last_scanned), "d": int(descending)})
        stream_names = {sid: row.name for sid, row in self.store.streams_by_id(sorted({e.sid for e in page})).items()}
        # "As of May 15, 2020, this parameter is no longer supported. This parameter returns an empty list."
        return {"events": [self._filtered_view(e, stream_names) for e in page], "searchedLogStreams": [], **result}

    def _filter_position(self, params: Params) -> tuple[bool, tuple[int, int, int] | None]:
        token = self.token_key(params.get("nextToken"))
        if token is not None:
            if not isinstance(token, dict) or not isinstance(token.get("k"), list) or len(token["k"]) != 3:
                raise InvalidParameterException(INVALID_NEXT_TOKEN)
            ts, sid, seq = (int(v) for v in token["k"])
            return bool(token.get("d")), (ts, sid, seq)
        descending = params.get("startFromHead") is False
        if descending and (params.get("startTime") or 0) < JAN_1_2024_MS:
            raise InvalidParameterException(DESCENDING_BEFORE_2024)
        return descending, None

    def _scan(
        self,
        group: LogGroupRow,
        matcher: Matcher,
        sids: list[int] | None,
        start: int,
        end: int,
        after: tuple[int, int, int] | None,
        descending: bool,
        wanted: int,
    ) -> tuple[list[StoredEvent], tuple[int, int, int] | None, bool]:
        """Matching events (up to ``wanted``), the key of the last event examined, and whether the
        range was examined to its end."""
        found: list[StoredEvent] = []
        scanned = 0
        last: tuple[int, int, int] | None = None
        chunks = log_events.scan_group(
            self.store, group.gid, start=start, end=end, sids=sids, after=after, descending=descending
        )
        for chunk in chunks:
            for event in chunk:
                scanned += 1
                last = event.group_key
                if matcher.matches(event.message):
                    found.append(event)
                    if len(found) >= wanted:
                        return found, last, False
                if scanned >= FILTER_SCAN_BUDGET:
                    return found, last, False
        return found, last, True

    @staticmethod
    def _matcher(pattern: str | None) -> Matcher:
        try:
            return parse_filter_pattern(pattern)
        except InvalidFilterPattern as invalid:
            raise InvalidParameterException(invalid.message) from None

    @staticmethod
    def _filtered_view(event: StoredEvent, names: dict[int, str]) -> dict[str, Any]:
        return {
            "logStreamName": names.get(event.sid, ""),
            "timestamp": event.ts,
            "message": event.message,
            "ingestionTime": event.ingested_ms,
            "eventId": event_id(event),
        }
