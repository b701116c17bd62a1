"""The awslogs log driver: containers' output into CloudWatch Logs (spec/ecs.md §10.1, §3.3).

At task start, in the PENDING step after the pulls (:meth:`TaskLogs.prepare`, called by the task
reconciler), every ``awslogs`` container's options are validated as Docker validates them, its
group is created when ``awslogs-create-group`` says so, and its stream is created; a missing group
without it, a refused option or a stream that cannot be created fails the task before any container
starts, with ECS's ``ResourceInitializationError: failed to validate logger args: …`` reason, and
nothing is stored. The reconciler records what was set up in the task's ``_run.logStreams``.

While a container runs, a feed follows its output records (the runtime's ``output_path``: the
shim's ``<name>.log``, or the fake runtime's) and appends them through the logs provider's
in-process ``append`` (PutLogEvents' rules, no HTTP): stdout and stderr in one stream, one event
per line or per multi-line event, each with its record's time in milliseconds, in batches of at
most 10,000 events and 1 MiB (:mod:`ecslite.model.awslogs`). When the container has stopped, its
feed reads the output to the end, flushes a pending multi-line event, and ends.

Invariants:

- Exactly once, in order: each append stores the feed's position (the output offset up to which
  everything is stored, and the last timestamp) in the same transaction as its events
  (``log_producer_positions`` in ``logs.db``). A position is written with the stream at task start
  and removed when the feed ends, so after a restart, crash or ``kill -9``, the feeds of every
  position still there resume exactly where the stored events end.
- Modes (§10.1): ``blocking`` never drops a line. **Local model:** the container never blocks
  either, because the runtime writes its output to a file; ``non-blocking`` keeps Docker's loss
  rule instead: when more than ``max-buffer-size`` bytes wait unread, the lines past the buffer are
  dropped (and counted).
- Files are read on the component's own thread; the event loop only checks file sizes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ecslite.clock import Clock
from ecslite.model.awslogs import (
    DEFAULT_MODE,
    AwslogsConfig,
    Batch,
    EventBuilder,
    LoggerArgsError,
    awslogs_config,
    dropped_window,
    parse_sourced_records,
)
from ecslite.model.tasks import RESOURCE_INITIALIZATION
from ecslite.protocol.errors import AwsError
from ecslite.store import account_settings as setting_store
from ecslite.store import log_events
from ecslite.store import tasks as task_store
from ecslite.store.db import Change, Database
from ecslite.store.logs import LogStore

log = logging.getLogger(__name__)

R = TypeVar("R")
OutputPath = Callable[[str, str], Path]

# §3.3: ECS's reasons when the logger cannot be set up (Fargate's text; the tail is unverified).
LOGGER_ARGS = f"{RESOURCE_INITIALIZATION}: failed to validate logger args:"
STREAM_RETRIED = "create stream has been retried 1 times"
GROUP_MISSING_HINT = (
    "Create the log group {group} in {region} first (aws logs create-log-group --log-group-name {group}), "
    'or set awslogs-create-group to "true".'
)
READ_CHUNK = 1024 * 1024  # one batch's worth: reading the next overlaps storing this one
POLL_SECONDS = 0.1
# After output (and when a feed starts) the next look comes after FAST_POLL_SECONDS, then each empty
# look waits twice as long, up to POLL_SECONDS: a container's first lines are picked up within
# milliseconds of being written instead of a whole poll later, and a quiet feed still costs ten
# looks a second.
FAST_POLL_SECONDS = 0.01
IDLE_POLL_SECONDS = 0.5  # a feed that has seen nothing for IDLE_AFTER_POLLS polls looks less often
IDLE_AFTER_POLLS = 20
ACTIVE = ("RUNNING", "STOPPED")


class LogSink(Protocol):
    """What the driver needs of the logs provider."""

    store: LogStore

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
    ) -> Any: ...

    async def run(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R: ...

    async def reset(self) -> None: ...


class LogStreams(Protocol):
    """What the task reconciler asks of the driver at task start."""

    async def prepare(self, doc: Mapping[str, Any]) -> Prepared: ...


@dataclass(frozen=True, slots=True)
class Prepared:
    """What :meth:`TaskLogs.prepare` set up (``_run.logStreams``), or the reason the task cannot start."""

    streams: dict[str, dict[str, str]] = field(default_factory=dict)
    failure: str | None = None


def awslogs_containers(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The task's containers that log through ``awslogs``."""
    return [c for c in doc["_spec"]["containers"] if (c.get("logConfiguration") or {}).get("logDriver") == "awslogs"]


def missing_group_reason(group: str, region: str) -> str:
    return (
        f"{LOGGER_ARGS} {STREAM_RETRIED}: failed to create Cloudwatch log stream: ResourceNotFoundException: "
        f"The specified log group does not exist. : exit status 1 "
        + GROUP_MISSING_HINT.format(group=group, region=region)
    )


def _encode_position(offset: int, ts: int) -> str:
    return json.dumps({"offset": offset, "ts": ts})


def _decode_position(text: str) -> tuple[int, int]:
    try:
        value = json.loads(text)
        return int(value["offset"]), int(value["ts"])
    except (ValueError, KeyError, TypeError):
        return 0, 0


@dataclass(slots=True)
class _Feed:
    key: str  # "<task id>/<container>", the producer key of its position
    task_arn: str
    account: str
    config: AwslogsConfig
    path: Path
    builder: EventBuilder
    read_offset: int
    committed: tuple[int, int]
    finishing: bool = False
    task: asyncio.Task[None] | None = None
    dropped: int = 0


class TaskLogs:
    """A server component: sets up awslogs streams at task start and ships containers' output."""

    name = "task-logs"

    def __init__(
        self,
        db: Database,
        logs: LogSink,
        output_path: OutputPath | None,
        clock: Clock,
        *,
        poll_seconds: float = POLL_SECONDS,
        idle_poll_seconds: float = IDLE_POLL_SECONDS,
    ) -> None:
        self.db = db
        self.logs = logs
        self.output_path = output_path
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.idle_poll_seconds = max(poll_seconds, idle_poll_seconds)
        self.shipped = 0
        self.dropped = 0
        self._positions: dict[str, tuple[int, int]] = {}  # feeds not yet finished
        self._tasks: set[str] = set()  # ids of the tasks those feeds belong to
        self._feeds: dict[str, _Feed] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._warned: set[tuple[str, str]] = set()
        db.subscribe(self._on_changes)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecslite-awslogs")
        stored = await self.logs.run(log_events.positions, self.logs.store, "")
        for key, value in stored.items():
            arn = task_store.arn_of(self.db, key.split("/", 1)[0])
            if arn is None:  # the task is gone (purged): nothing left to follow
                await self.logs.run(log_events.forget_position, self.logs.store, key)
                continue
            self._remember(key, _decode_position(value))
            self._dirty.add(arn)
        self._dispatcher = asyncio.create_task(self._dispatch(), name="task-logs")
        self._wake.set()

    async def stop(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        await self._cancel_feeds()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def reset(self) -> None:
        """Forget every feed. The log store was emptied just before; a feed may have appended since,
        so it is emptied again once no feed runs."""
        await self._cancel_feeds()
        self._positions.clear()
        self._tasks.clear()
        self._dirty.clear()
        await self.logs.reset()

    def stats(self) -> dict[str, Any]:
        return {"feeds": sorted(self._feeds), "shipped": self.shipped, "dropped": self.dropped}

    async def _cancel_feeds(self) -> None:
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            if feed.task is not None:
                feed.task.cancel()
        for feed in feeds:
            if feed.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await feed.task

    # -- task start (called by the task reconciler) ----------------------------------------------

    async def prepare(self, doc: Mapping[str, Any]) -> Prepared:
        """Create the groups (``awslogs-create-group``) and streams of the task's awslogs containers.

        The options and the groups are checked before anything is created, so a refused option or a
        missing group leaves no group or stream behind. Safe to repeat: existing ones are kept.
        """
        spec = doc["_spec"]
        account, task_id = str(spec["account"]), str(spec["taskId"])
        mode = setting_store.get(
            self.db, account, spec["region"], setting_store.ACCOUNT_DEFAULT, "defaultLogDriverMode"
        )
        configs: dict[str, AwslogsConfig] = {}
        for container in awslogs_containers(doc):
            options = {str(k): str(v) for k, v in ((container["logConfiguration"].get("options")) or {}).items()}
            try:
                configs[container["name"]] = awslogs_config(
                    options,
                    container=container["name"],
                    task_id=task_id,
                    runtime_id=str(container.get("runtimeId") or ""),
                    default_mode=mode or DEFAULT_MODE,
                    default_region=spec["region"],
                )
            except LoggerArgsError as refused:
                return Prepared(failure=f"{LOGGER_ARGS} {refused}")
        for config in configs.values():
            if not config.create_group and not await self.logs.run(
                self.logs.store.get_group, account, config.region, config.group
            ):
                return Prepared(failure=missing_group_reason(config.group, config.region))
        streams: dict[str, dict[str, str]] = {}
        for name, config in configs.items():
            key = f"{task_id}/{name}"
            try:
                await self.logs.append(
                    account,
                    config.region,
                    config.group,
                    config.stream,
                    [],
                    config.create_group,
                    position=(key, _encode_position(0, 0)),
                )
            except AwsError as error:
                return Prepared(
                    failure=f"{LOGGER_ARGS} {STREAM_RETRIED}: failed to create Cloudwatch log stream: "
                    f"{error.code}: {error.message} : exit status 1"
                )
            self._remember(key, (0, 0))
            streams[name] = {
                "group": config.group,
                "region": config.region,
                "stream": config.stream,
                "mode": config.mode,
            }
        return Prepared(streams)

    # -- following tasks -------------------------------------------------------------------------

    def _remember(self, key: str, position: tuple[int, int]) -> None:
        self._positions[key] = position
        self._tasks.add(key.split("/", 1)[0])

    def _forget(self, key: str) -> None:
        self._positions.pop(key, None)
        task_id = key.split("/", 1)[0]
        if not any(k.startswith(f"{task_id}/") for k in self._positions):
            self._tasks.discard(task_id)

    def _on_changes(self, changes: Sequence[Change]) -> None:
        for change in changes:
            # Only tasks with a feed to run or finish matter; the rest are not even read.
            if change.kind == task_store.KIND and change.key.rsplit("/", 1)[-1] in self._tasks:
                self._dirty.add(change.key)
        if self._dirty:
            self._wake.set()

    async def _dispatch(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            for arn in dirty:
                try:
                    self._sync(arn)
                except Exception:
                    log.exception("awslogs: cannot follow the task's containers", extra={"task": arn})

    def _sync(self, arn: str) -> None:
        """Start a feed for each awslogs container that has output to ship; finish those that stopped."""
        doc = task_store.get(self.db, arn)
        task_id = arn.rsplit("/", 1)[-1]
        if doc is None:
            for feed in self._feeds.values():
                if feed.task_arn == arn:
                    self._finish(feed)
            return
        streams = (doc.get("_run") or {}).get("logStreams") or {}
        statuses = {c["name"]: c["lastStatus"] for c in doc["containers"]}
        for name, stream in streams.items():
            key = f"{task_id}/{name}"
            status = statuses.get(name)
            if key not in self._positions or status not in ACTIVE:
                continue
            found = self._feeds.get(key) or self._start_feed(doc, name, stream, key)
            if found is not None and status == "STOPPED":
                self._finish(found)

    def _start_feed(self, doc: Mapping[str, Any], name: str, stream: Mapping[str, str], key: str) -> _Feed | None:
        if self.output_path is None:
            return None
        spec = doc["_spec"]
        container = next(c for c in spec["containers"] if c["name"] == name)
        options = {str(k): str(v) for k, v in ((container.get("logConfiguration") or {}).get("options") or {}).items()}
        try:
            config = awslogs_config(
                options,
                container=name,
                task_id=str(spec["taskId"]),
                runtime_id=str(container.get("runtimeId") or ""),
                default_mode=stream.get("mode") or DEFAULT_MODE,
                default_region=spec["region"],
            )
        except LoggerArgsError:
            return None  # refused at start; the task never ran
        offset, ts = self._positions[key]
        feed = _Feed(
            key=key,
            task_arn=str(doc["taskArn"]),
            account=str(spec["account"]),
            config=config,
            path=self.output_path(str(spec["taskId"]), name),
            builder=EventBuilder(config.multiline, commit=offset, last_ts=ts),
            read_offset=offset,
            committed=(offset, ts),
        )
        feed.task = asyncio.create_task(self._run(feed), name=f"awslogs {key}")
        self._feeds[key] = feed
        return feed

    @staticmethod
    def _finish(feed: _Feed) -> None:
        feed.finishing = True

    # -- a feed ----------------------------------------------------------------------------------

    async def _run(self, feed: _Feed) -> None:
        idle = 0
        interval = min(FAST_POLL_SECONDS, self.poll_seconds)
        while True:
            try:
                if await self._step(feed):
                    idle = 0
                    interval = min(FAST_POLL_SECONDS, self.poll_seconds)
                    continue
                if feed.finishing and self._size(feed) <= feed.read_offset:
                    feed.builder.flush()
                    await self._ship_all(feed)
                    await self._done(feed)
                    return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "awslogs: shipping failed; retrying from the last stored position", extra={"feed": feed.key}
                )
                feed.read_offset, last_ts = feed.committed
                feed.builder = EventBuilder(feed.config.multiline, commit=feed.read_offset, last_ts=last_ts)
                await self.clock.sleep(1.0)
                continue
            idle += 1
            await self.clock.sleep(interval if idle < IDLE_AFTER_POLLS else self.idle_poll_seconds)
            interval = min(interval * 2, self.poll_seconds)

    async def _step(self, feed: _Feed) -> bool:
        """Read and ship what the output has past the feed's offset; False when there was nothing.

        The next piece is read and parsed (on the component's thread) while the last one is stored
        (on the logs provider's), so the two overlap where SQLite lets go of the interpreter.
        """
        progressed = False
        reading = self._start_read(feed)
        while reading is not None:
            consumed = await reading
            batches = feed.builder.take()
            reading = self._start_read(feed) if consumed else None
            try:
                for batch in batches:
                    await self._ship(feed, batch)
            except BaseException:
                if reading is not None:
                    await asyncio.wait([reading])  # the read ends before the feed starts over from its position
                raise
            progressed = progressed or consumed > 0
        if progressed:
            return True
        pending_since = feed.builder.pending_since_ms()
        if pending_since is not None and self.clock.now() * 1000 - pending_since >= feed.config.flush_seconds * 1000:
            feed.builder.flush()
            await self._ship_all(feed)
            return True
        return False

    def _start_read(self, feed: _Feed) -> asyncio.Future[int] | None:
        size = self._size(feed)
        if size <= feed.read_offset:
            return None
        return asyncio.get_running_loop().run_in_executor(self._executor, self._read, feed, size)

    @staticmethod
    def _size(feed: _Feed) -> int:
        try:
            return os.stat(feed.path).st_size
        except OSError:
            return 0

    def _read(self, feed: _Feed, size: int) -> int:
        """(Thread) Parse the next chunk of output into the feed's builder; returns the bytes consumed."""
        start = feed.read_offset
        limit = dropped_window(start, size, feed.config.mode, feed.config.max_buffer_bytes)
        # Past a non-blocking buffer's end, the whole buffer is read at once, then the rest is dropped.
        end = limit if limit is not None else min(size, start + READ_CHUNK)
        with open(feed.path, "rb") as handle:
            handle.seek(start)
            feed.read_offset = start + feed.builder.add_output(handle.read(end - start), start)
            if limit is not None:
                self._drop_past_buffer(feed, handle, size)
        return feed.read_offset - start

    def _drop_past_buffer(self, feed: _Feed, handle: Any, size: int) -> None:
        """Non-blocking mode: skip the lines that arrived while the buffer was full (§10.1)."""
        handle.seek(feed.read_offset)
        lines, cut, position = 0, feed.read_offset, feed.read_offset
        while position < size:
            chunk = handle.read(min(READ_CHUNK, size - position))
            if not chunk:
                break
            lines += chunk.count(b"\n")
            if (last := chunk.rfind(b"\n")) >= 0:
                cut = position + last + 1
            position += len(chunk)
        if not lines:
            return
        feed.read_offset = cut
        feed.builder.skip_to(feed.read_offset)
        feed.dropped += lines
        self.dropped += lines
        log.warning(
            "awslogs non-blocking buffer full: lines dropped",
            extra={"feed": feed.key, "lines": lines, "max_buffer_bytes": feed.config.max_buffer_bytes},
        )

    async def _ship_all(self, feed: _Feed) -> None:
        for batch in feed.builder.take():
            await self._ship(feed, batch)

    async def _ship(self, feed: _Feed, batch: Batch) -> None:
        if not batch.events and (batch.commit, batch.last_ts) == feed.committed:
            return
        config = feed.config
        position = (feed.key, _encode_position(batch.commit, batch.last_ts))
        try:
            await self.logs.append(
                feed.account,
                config.region,
                config.group,
                config.stream,
                batch.events,
                config.create_group,
                position=position,
            )
        except AwsError as error:
            # The awslogs driver logs a refused PutLogEvents and goes on (the group was deleted, say).
            self.dropped += len(batch.events)
            if (feed.key, error.code) not in self._warned:
                self._warned.add((feed.key, error.code))
                log.warning(
                    "awslogs: events refused and dropped",
                    extra={"feed": feed.key, "error": f"{error.code}: {error.message}"},
                )
            await self.logs.run(log_events.save_position, self.logs.store, *position)
        else:
            self.shipped += len(batch.events)
        feed.committed = (batch.commit, batch.last_ts)

    async def _done(self, feed: _Feed) -> None:
        await self.logs.run(log_events.forget_position, self.logs.store, feed.key)
        self._forget(feed.key)
        if self._feeds.get(feed.key) is feed:
            del self._feeds[feed.key]


# -- output of any container, for `ecslite logs` ---------------------------------------------------


async def read_output(
    path: Path,
    *,
    since_ms: int = 0,
    follow: bool = False,
    finished: Callable[[], bool] = lambda: True,
    clock: Clock,
    poll_seconds: float = 0.2,
    chunk: int = 1024 * 1024,
) -> AsyncIterator[list[dict[str, Any]]]:
    """A container's output records from ``since_ms`` on, batch by batch, oldest first.

    Without ``follow`` it ends at the end of the file; with it, once ``finished()`` (the container
    has stopped) and everything written is read.
    """
    offset = 0
    while True:
        done = finished()
        try:
            size = os.stat(path).st_size
        except OSError:
            size = 0
        if size > offset:
            data = await asyncio.to_thread(_read_at, path, offset, min(size - offset, chunk))
            records, used = parse_sourced_records(data)
            offset += used
            batch = [
                {"timestamp": ts, "source": source, "message": line} for ts, source, line in records if ts >= since_ms
            ]
            if batch:
                yield batch
            if used:
                continue
        if not follow or done:
            return
        await clock.sleep(poll_seconds)


def _read_at(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)
