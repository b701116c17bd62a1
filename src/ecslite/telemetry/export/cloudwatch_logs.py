"""CloudWatch Logs export into ecslite's own Logs API, in process (spec/telemetry.md §6.1; ecs.md §10.2).

The destination is :meth:`LogsProvider.append` (``providers/logs``): the same checks and storage as
``PutLogEvents``, the stream created when missing and the group when ``create_group`` is set
(Fluent Bit's ``auto_create_group``). It is a coroutine of the server's event loop; the export
worker thread hands each call to that loop and waits for it.

A queue item is msgpack ``[group, stream, [[timestamp_ms, message], ...]]``. A batch is regrouped by
(group, stream), sorted by time and cut to PutLogEvents' limits (10,000 events, 1,048,576 bytes
counting 26 bytes per event, 24 hours per call; a message past 256 KiB is cut to fit), so the
API never refuses it for its shape. A missing group or a refused batch (``AwsError``) is final
for that part; parts already stored are remembered, so a retry of the batch never stores them twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import msgpack

from ecslite.protocol.errors import AwsError
from ecslite.telemetry.export.retry import Attempt, Outcome
from ecslite.telemetry.log_records import LogBatch

MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 262_144 - EVENT_OVERHEAD
MAX_SPAN_MS = 24 * 3600 * 1000
CALL_TIMEOUT = 60.0


class LogsAppender(Protocol):
    """What :class:`~ecslite.providers.logs.provider.LogsProvider` offers ecslite's producers."""

    def append(
        self,
        account: str,
        region: str,
        group: str,
        stream: str,
        events: list[tuple[int, str]],
        create_group: bool = False,
    ) -> Awaitable[Any]: ...


def item(group: str, stream: str, events: Iterable[tuple[int, str]]) -> bytes:
    """A queue item: events for one log stream."""
    packed: bytes = msgpack.packb([group, stream, [[ts, message] for ts, message in events]], use_bin_type=True)
    return packed


def log_events(batch: LogBatch) -> list[tuple[int, str]]:
    """(timestamp ms, message) of each record: the body, at its event time (else when it was seen)."""
    return [((r.time_ns or r.observed_ns) // 1_000_000, r.body) for r in batch.records]


def default_stream(batch: LogBatch, prefix: str = "ecslite") -> str:
    """``<prefix>/<container or service>/<task id>``: the awslogs naming (ecs.md §10.2)."""
    container = batch.resource.get_str("container.name") or batch.resource.service_name
    task_id = batch.resource.get_str("aws.ecs.task.id")
    parts = [prefix, container] + ([task_id] if task_id else [])
    return "/".join(p for p in parts if p)


def chunks(events: Sequence[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """Events (sorted by time) cut into PutLogEvents-sized calls."""
    out: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    size = 0
    for ts, message in sorted(events, key=lambda event: event[0]):
        raw = message.encode("utf-8")
        if len(raw) > MAX_EVENT_BYTES:
            raw = raw[:MAX_EVENT_BYTES]
            message = raw.decode("utf-8", "ignore")
            raw = message.encode("utf-8")
        cost = len(raw) + EVENT_OVERHEAD
        if current and (len(current) >= MAX_EVENTS or size + cost > MAX_BYTES or ts - current[0][0] > MAX_SPAN_MS):
            out.append(current)
            current, size = [], 0
        current.append((ts, message))
        size += cost
    if current:
        out.append(current)
    return out


class CloudWatchLogsSender:
    """Delivers batches through ``append`` on ``loop``; see the module docstring."""

    def __init__(
        self,
        logs: LogsAppender,
        loop: asyncio.AbstractEventLoop,
        *,
        account: str,
        region: str,
        create_group: bool = False,
        name: str | None = None,
        timeout: float = CALL_TIMEOUT,
    ) -> None:
        self.name = name or f"cloudwatch-logs {region}"
        self.logs = logs
        self.loop = loop
        self.account = account
        self.region = region
        self.create_group = create_group
        self.timeout = timeout
        self._batch_key = b""
        self._stored: set[int] = set()

    def send(self, items: Sequence[bytes]) -> Attempt:
        key = hashlib.blake2b(b"".join(items), digest_size=16).digest()
        if key != self._batch_key:
            self._batch_key, self._stored = key, set()
        streams: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for raw in items:
            group, stream, events = msgpack.unpackb(raw, raw=False)
            streams.setdefault((group, stream), []).extend((int(ts), str(message)) for ts, message in events)
        failures: list[str] = []
        index = 0
        for (group, stream), events in streams.items():
            for part in chunks(events):
                index += 1
                if index in self._stored:
                    continue
                try:
                    self._call(
                        lambda g=group, s=stream, p=part: self.logs.append(  # type: ignore[misc]
                            self.account, self.region, g, s, p, self.create_group
                        )
                    )
                except AwsError as error:
                    failures.append(f"{group}/{stream}: {error.code}: {error.message}")
                except (concurrent.futures.TimeoutError, RuntimeError) as error:
                    return Attempt(Outcome.RETRY, None, None, f"CloudWatch Logs did not answer: {error!r}")
                self._stored.add(index)
        if failures:
            return Attempt(Outcome.FAIL, 400, None, "; ".join(failures))
        return Attempt(Outcome.DONE, 200)

    def _call(self, make: Callable[[], Awaitable[Any]]) -> Any:
        async def run() -> Any:
            return await make()

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        try:
            return future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        return None
