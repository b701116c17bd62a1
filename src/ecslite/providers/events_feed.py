"""ECS's EventBridge events (spec/ecs.md §12.1), derived from committed store changes and served at
``GET /_ecslite/events`` for ``ecslite events`` (and anything else that wants a local event bus).

What is announced:

- ``ECS Task State Change``: a committed task change whose ``version`` is newer than the last one
  announced for that task (§3.2: ``version`` goes up exactly on the changes that emit an event). The
  detail is the Task as DescribeTasks shows it, limited to the members the botocore model has, with
  ISO timestamps, ``updatedAt``, no ``tags`` and ENI attachments of ``type: "eni"``.
- ``ECS Service Action`` and ``ECS Deployment State Change``: the service scheduler's announcements
  (``ServiceController`` hooks), handed over after its step committed.

Invariants: events keep commit order; each gets a sequence number that only grows for the life of
the feed (a reset clears the buffer but never reuses numbers, and ``feedId`` changes with every
server start, so a reader holding an old cursor starts again from the beginning); at most
:data:`MAX_EVENTS` are kept, oldest dropped first. Reading never touches the store: the subscriber
copies what it needs when the change is published, which is the committed state of that moment.

The request: ``after`` (sequence number, default 0), ``feedId`` (the one the cursor came from),
``wait`` (seconds to wait for a first event, at most 30), ``limit`` (default 1000) and ``pattern``
(an EventBridge event pattern, the subset ``model.event_patterns`` serves: value arrays, ``prefix``,
``anything-but`` and ``exists``). The answer: ``{"feedId", "cursor", "events": [envelope, ...]}``,
``cursor`` being the last sequence number looked at, matching or not. A pattern EventBridge would refuse, or one using
matchers outside the subset, is answered 400 ``InvalidEventPatternException``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from botocore.model import ListShape, MapShape, Shape, StructureShape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ecslite.clock import Clock
from ecslite.loop_calls import call_in_loop
from ecslite.model.event_patterns import PatternError, matches, parse_pattern
from ecslite.protocol.models import service_model
from ecslite.protocol.values import to_iso
from ecslite.store import tasks as task_store
from ecslite.store.db import Change, Database

MAX_EVENTS = 10_000
MAX_WAIT_SECONDS = 30.0
DEFAULT_LIMIT = 1000
MAX_TRACKED_TASKS = 50_000  # task versions remembered, least recently changed forgotten first
TASK_STATE_CHANGE = "ECS Task State Change"
PATTERN_INVALID = "Event pattern is not valid. Reason: {reason}"


class ServiceAnnouncement(Protocol):
    """What the service scheduler announces after a step (``control.service_events.Announcement``)."""

    @property
    def kind(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def event_name(self) -> str: ...
    @property
    def service_arn(self) -> str: ...
    @property
    def cluster_arn(self) -> str: ...
    @property
    def at(self) -> float: ...
    @property
    def deployment_id(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...


# -- event documents -----------------------------------------------------------------------------


def _iso_seconds(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _arn_partition(arn: str) -> tuple[str, str]:
    """(account, region) of an ARN."""
    parts = arn.split(":", 5)
    return (parts[4], parts[3]) if len(parts) == 6 else ("", "")


def _shaped(shape: Shape, value: Any) -> Any:
    """``value`` limited to what ``shape`` models, timestamps as ISO 8601 (EventBridge's detail form)."""
    if value is None:
        return None
    if isinstance(shape, StructureShape):
        if not isinstance(value, Mapping):
            return None
        out = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                out[name] = _shaped(member, value[name])
        return out
    if isinstance(shape, ListShape):
        return [_shaped(shape.member, item) for item in value] if isinstance(value, list) else None
    if isinstance(shape, MapShape):
        return {k: _shaped(shape.value, v) for k, v in value.items()} if isinstance(value, Mapping) else None
    if shape.type_name == "timestamp":
        return to_iso(value)
    return value


def task_detail(doc: Mapping[str, Any], updated_at: float) -> dict[str, Any]:
    """The ``ECS Task State Change`` detail of a stored task document."""
    detail: dict[str, Any] = _shaped(service_model("ecs").shape_for("Task"), doc)
    detail.pop("tags", None)
    for attachment in detail.get("attachments") or ():
        if attachment.get("type") == "ElasticNetworkInterface":
            attachment["type"] = "eni"
    detail["updatedAt"] = to_iso(updated_at)
    return detail


def announcement_detail(announcement: ServiceAnnouncement) -> dict[str, Any]:
    """The detail of an ``ECS Service Action`` or ``ECS Deployment State Change``."""
    detail: dict[str, Any] = {"eventType": announcement.event_type, "eventName": announcement.event_name}
    if announcement.deployment_id is None:
        detail["clusterArn"] = announcement.cluster_arn
        detail["createdAt"] = to_iso(announcement.at)
    else:
        detail["deploymentId"] = announcement.deployment_id
        detail["updatedAt"] = to_iso(announcement.at)
    if announcement.reason:
        detail["reason"] = announcement.reason
    return detail


@dataclass(slots=True)
class _Entry:
    """One event; its envelope is built when first read, so producers only copy what they saw."""

    seq: int
    detail_type: str
    at: float
    resource: str
    detail: Callable[[], dict[str, Any]] | None
    envelope: dict[str, Any] | None = field(default=None)

    def event(self) -> dict[str, Any]:
        if self.envelope is None:
            assert self.detail is not None
            account, region = _arn_partition(self.resource)
            self.envelope = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": self.detail_type,
                "source": "aws.ecs",
                "account": account,
                "time": _iso_seconds(self.at),
                "region": region,
                "resources": [self.resource],
                "detail": self.detail(),
            }
            self.detail = None
        return self.envelope


# -- the feed ------------------------------------------------------------------------------------


class EventsFeed:
    """Subscribes to the store and the service scheduler; keeps the newest events for readers."""

    name = "events-feed"

    def __init__(self, db: Database, clock: Clock, *, capacity: int = MAX_EVENTS) -> None:
        self.db = db
        self.clock = clock
        self.feed_id = str(uuid.uuid4())
        self._entries: deque[_Entry] = deque(maxlen=capacity)
        self._versions: OrderedDict[str, int] = OrderedDict()
        self._seq = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived: asyncio.Event | None = None
        db.subscribe(self._on_changes)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._arrived = asyncio.Event()

    async def stop(self) -> None:
        self._wake()

    async def reset(self) -> None:
        with self._lock:
            self._entries.clear()
            self._versions.clear()

    # -- producers --

    def announce(self, announcement: ServiceAnnouncement) -> None:
        """A ``ServiceController`` hook: called after the scheduler's step committed."""
        detail = functools.partial(announcement_detail, announcement)
        self._append(str(announcement.kind), announcement.at, announcement.service_arn, detail)

    def _on_changes(self, changes: Sequence[Change]) -> None:
        arns = dict.fromkeys(c.key for c in changes if c.kind == task_store.KIND)
        if any(c.kind == "*" for c in changes):  # the store was reset
            with self._lock:
                self._versions.clear()
        for arn in arns:
            doc = task_store.get(self.db, arn)
            if doc is None:
                continue
            version = int(doc.get("version") or 0)
            with self._lock:
                if self._versions.get(arn, -1) >= version:
                    continue
                self._versions[arn] = version
                self._versions.move_to_end(arn)
                while len(self._versions) > MAX_TRACKED_TASKS:
                    self._versions.popitem(last=False)
            public = {k: v for k, v in doc.items() if not k.startswith("_")}
            now = self.clock.now()
            self._append(TASK_STATE_CHANGE, now, arn, functools.partial(task_detail, public, now))

    def _append(self, detail_type: str, at: float, resource: str, detail: Callable[[], dict[str, Any]]) -> None:
        with self._lock:
            self._seq += 1
            self._entries.append(_Entry(self._seq, detail_type, at, resource, detail))
        self._wake()

    def _wake(self) -> None:
        call_in_loop(self._loop, self._set_arrived)

    def _set_arrived(self) -> None:
        if self._arrived is not None:
            self._arrived.set()
            self._arrived = asyncio.Event()

    # -- readers --

    def read(
        self, after: int, pattern: Mapping[str, Any] | None, limit: int = DEFAULT_LIMIT
    ) -> tuple[list[dict[str, Any]], int]:
        """Events after ``after`` that match ``pattern`` (at most ``limit``) and the new cursor."""
        with self._lock:
            fresh = [entry for entry in self._entries if entry.seq > after]
            cursor = after
            events: list[dict[str, Any]] = []
            for entry in fresh:
                event = entry.event()
                cursor = entry.seq
                if pattern is None or matches(pattern, event):
                    events.append(event)
                    if len(events) >= limit:
                        break
        return events, cursor

    def last_seq(self) -> int:
        with self._lock:
            return self._seq

    async def wait(self, after: int, timeout: float) -> None:
        """Return once an event newer than ``after`` exists, or after ``timeout`` seconds."""
        arrived = self._arrived
        if arrived is None or timeout <= 0 or self.last_seq() > after:
            return
        # A long poll's time limit, not scheduling logic: it follows the wall clock.
        try:
            await asyncio.wait_for(arrived.wait(), timeout)
        except TimeoutError:
            return

    def routes(self) -> list[Route]:
        return [Route("/_ecslite/events", self._serve, methods=["GET"])]

    async def _serve(self, request: Request) -> Response:
        query = request.query_params
        try:
            after = _number(query.get("after"), "after", 0, int)
            wait = min(_number(query.get("wait"), "wait", 0.0, float), MAX_WAIT_SECONDS)
            limit = _number(query.get("limit"), "limit", DEFAULT_LIMIT, int)
        except ValueError as problem:
            return JSONResponse({"__type": "InvalidParameterException", "message": str(problem)}, 400)
        if limit < 1:
            return JSONResponse({"__type": "InvalidParameterException", "message": "limit must be at least 1."}, 400)
        pattern = None
        if query.get("pattern"):
            try:
                pattern = parse_pattern(query["pattern"])
            except PatternError as problem:
                message = PATTERN_INVALID.format(reason=problem)
                return JSONResponse({"__type": "InvalidEventPatternException", "message": message}, 400)
        if query.get("feedId") and query["feedId"] != self.feed_id:
            after = 0  # the cursor belongs to an earlier server: everything here is new to the reader
        await self.wait(after, wait)
        events, cursor = self.read(after, pattern, limit)
        body = {"feedId": self.feed_id, "cursor": cursor, "events": events}
        return Response(orjson.dumps(body), media_type="application/json")


def _number(text: str | None, name: str, default: Any, kind: type) -> Any:
    if text is None or text == "":
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not '{text}'.") from None
    if value < 0:
        raise ValueError(f"{name} must not be negative.")
    return value
