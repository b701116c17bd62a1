"""Delivery to one destination: a bounded queue, batching by size and time, retries (spec/telemetry.md §6.1).

An :class:`ExportQueue` owns one worker thread and one :class:`Sender`. Producers call
:meth:`ExportQueue.put` with an encoded item (any thread, never blocks, never raises); the worker
gathers items into a batch of at most ``batch_bytes`` (or whatever has waited ``flush_interval``)
and hands the batch to the sender, which answers with an :class:`Attempt`:

- ``DONE`` (HTTP 2xx): the batch is gone.
- ``RETRY`` (HTTP 429, 5xx, a connection error): the same batch is sent again after the wait its
  :class:`~ecslite.telemetry.export.retry.RetryPolicy` gives (or the server's ``Retry-After``);
  once the policy is exhausted the batch is dropped and counted in ``retries_failed``.
- ``FAIL`` (any other 4xx): dropped at once, the response body logged, counted in ``errors``.

Bounds: queued items never exceed ``max_bytes``; when a new item would pass it, the oldest items
are dropped and counted in ``dropped`` (never a silent drop, §6.1), but never the batch in flight.
Every item put is resolved exactly once (delivered, refused, dropped, or kept on disk at close),
which is what :meth:`ExportQueue.flush` waits for. With a ``buffer_path`` the queue lives in a
SQLite file (:mod:`~ecslite.telemetry.export.buffers`): it survives a restart of the server and
the worker re-sends it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecslite.telemetry.export.buffers import Buffer, MemoryBuffer, SqliteBuffer
from ecslite.telemetry.export.retry import ECSLITE_POLICY, Attempt, Outcome, RetryPolicy
from ecslite.telemetry.export.senders import Sender

log = logging.getLogger(__name__)

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class QueueSettings:
    batch_bytes: int = 1 * MIB  # §6.1: 1 MiB or 5 s
    flush_interval: float = 5.0
    max_bytes: int = 64 * MIB  # §6.1: 64 MiB per destination, drop-oldest
    policy: RetryPolicy = ECSLITE_POLICY
    buffer_path: Path | None = None  # a SQLite file: the queue survives restarts


@dataclass(slots=True)
class ExportStats:
    """Counters of one destination (items are what :meth:`ExportQueue.put` was given)."""

    name: str
    sent_items: int = 0
    sent_batches: int = 0
    sent_bytes: int = 0
    retries: int = 0
    errors: int = 0  # items refused for good (4xx other than 429)
    retries_failed: int = 0  # items dropped after their retries ran out
    dropped: int = 0  # items dropped because the queue was full
    dropped_bytes: int = 0
    queued_items: int = 0
    queued_bytes: int = 0
    last_status: int | None = None
    last_error: str = ""
    delays: list[float] = field(default_factory=list)  # the last waits before retries (newest last)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "sentItems": self.sent_items,
            "sentBatches": self.sent_batches,
            "sentBytes": self.sent_bytes,
            "retries": self.retries,
            "errors": self.errors,
            "retriesFailed": self.retries_failed,
            "dropped": self.dropped,
            "droppedBytes": self.dropped_bytes,
            "queuedItems": self.queued_items,
            "queuedBytes": self.queued_bytes,
            "lastStatus": self.last_status,
            "lastError": self.last_error,
        }


class ExportQueue:
    """One destination's queue and worker thread; see the module docstring."""

    def __init__(
        self,
        sender: Sender,
        settings: QueueSettings | None = None,
        *,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sender = sender
        self.settings = settings or QueueSettings()
        self.name = sender.name
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._inbox: list[bytes] = []
        self._inbox_bytes = 0
        self._inbox_since: float | None = None
        self._stats = ExportStats(sender.name)
        self._put_count = 0
        self._resolved = 0
        self._flush_wanted = 0
        self._closing = False
        self._close_deadline = 0.0
        path = self.settings.buffer_path
        self._buffer: Buffer = SqliteBuffer(path) if path is not None else MemoryBuffer()
        self._put_count = self._buffer.items  # left by an earlier run: delivered like new items
        self._oldest_at: float | None = self._monotonic() if self._buffer.items else None
        self._thread = threading.Thread(target=self._run, name=f"export-{self.name}", daemon=True)
        self._started = False

    # -- producers (any thread) --------------------------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def put(self, item: bytes) -> None:
        """Queue ``item``; drops the oldest queued items (counted) when the queue is full."""
        self.put_many([item])

    def put_many(self, items: Sequence[bytes]) -> None:
        items = [item for item in items if item]
        if not items:
            return
        with self._cond:
            if self._closing:
                self._stats.dropped += len(items)
                self._stats.dropped_bytes += sum(map(len, items))
                self._put_count += len(items)
                self._resolved += len(items)
                return
            self._inbox.extend(items)
            self._inbox_bytes += sum(map(len, items))
            self._put_count += len(items)
            if self._inbox_since is None:
                self._inbox_since = self._monotonic()
            # The worker may be busy in a long request: the inbox obeys the cap on its own too.
            while self._inbox_bytes > self.settings.max_bytes and len(self._inbox) > 1:
                oldest = self._inbox.pop(0)
                self._inbox_bytes -= len(oldest)
                self._note_dropped(1, len(oldest))
            self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every item put so far is delivered or dropped; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._put_count
            self._flush_wanted = max(self._flush_wanted, target)
            self._cond.notify_all()
            while self._resolved < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return self._resolved >= target
                self._cond.wait(min(remaining, 0.5))
        return True

    def stats(self) -> ExportStats:
        with self._cond:
            current = ExportStats(**{name: getattr(self._stats, name) for name in ExportStats.__slots__})
            current.delays = list(self._stats.delays)
            current.queued_items = self._buffer.items + len(self._inbox)
            current.queued_bytes = self._buffer.bytes + self._inbox_bytes
            return current

    def close(self, timeout: float = 5.0) -> None:
        """Stop after trying for ``timeout`` seconds to deliver what is queued. A persistent queue
        keeps the rest on disk; a memory queue counts it as dropped."""
        with self._cond:
            self._closing = True
            self._close_deadline = time.monotonic() + timeout
            self._cond.notify_all()
        if self._started:
            self._thread.join(timeout + 35.0)
        else:
            self._finish()

    # -- the worker ----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    break
                self._deliver(batch)
        except Exception:
            log.exception("export worker failed", extra={"destination": self.name})
        finally:
            self._finish()

    def _finish(self) -> None:
        with self._cond:
            self._take_inbox()
            left = self._buffer.items
            if left and self.settings.buffer_path is None:
                self._note_dropped(left, self._buffer.bytes)
                log.warning("export queue dropped items at shutdown", extra={"destination": self.name, "items": left})
            elif left:
                self._resolved += left  # kept on disk for the next run
            self._buffer.close()
            self._cond.notify_all()
        self.sender.close()

    def _take_inbox(self) -> None:
        """Move the inbox into the buffer (caller holds the lock) and enforce the cap."""
        if self._inbox:
            self._buffer.append(self._inbox)
            if self._oldest_at is None:
                self._oldest_at = self._inbox_since or self._monotonic()
            self._inbox = []
            self._inbox_bytes = 0
            self._inbox_since = None

    def _enforce_cap(self, in_flight: Sequence[int]) -> None:
        dropped, size = self._buffer.drop_oldest(self.settings.max_bytes, in_flight)
        if dropped:
            self._note_dropped(dropped, size)

    def _note_dropped(self, items: int, size: int) -> None:
        self._stats.dropped += items
        self._stats.dropped_bytes += size
        self._resolved += items
        log.warning("export queue full: oldest items dropped", extra={"destination": self.name, "items": items})

    def _next_batch(self) -> list[tuple[int, bytes]] | None:
        """Wait until a batch is due (size, age, flush or close); ``None`` when the queue is closing and empty."""
        with self._cond:
            while True:
                self._take_inbox()
                self._enforce_cap(())
                if self._buffer.items == 0:
                    self._oldest_at = None
                    if self._closing:
                        return None
                    self._cond.wait()
                    continue
                now = self._monotonic()
                oldest = self._oldest_at if self._oldest_at is not None else now
                due = (
                    self._closing
                    or self._buffer.bytes >= self.settings.batch_bytes
                    or now - oldest >= self.settings.flush_interval
                    or self._flush_wanted > self._resolved
                )
                if due:
                    if self._closing and time.monotonic() > self._close_deadline:
                        return None
                    return self._buffer.peek(self.settings.batch_bytes)
                self._cond.wait(max(0.01, self.settings.flush_interval - (now - oldest)))

    def _deliver(self, batch: list[tuple[int, bytes]]) -> None:
        ids = [item_id for item_id, _ in batch]
        items = [item for _, item in batch]
        size = sum(map(len, items))
        policy = self.settings.policy
        first = self._monotonic()
        retries = 0
        while True:
            try:
                attempt = self.sender.send(items)
            except Exception as error:  # an encoder bug must not kill the destination
                log.exception("export sender failed", extra={"destination": self.name})
                attempt = Attempt(Outcome.FAIL, None, None, f"{type(error).__name__}: {error}")
            with self._cond:
                self._stats.last_status = attempt.status
                if attempt.outcome is Outcome.DONE:
                    self._stats.sent_items += len(items)
                    self._stats.sent_batches += 1
                    self._stats.sent_bytes += size
                    self._resolve(ids)
                    return
                self._stats.last_error = attempt.detail or f"HTTP {attempt.status}"
                if attempt.outcome is Outcome.FAIL:
                    self._stats.errors += len(items)
                    log.warning(
                        "export refused by the destination; batch dropped",
                        extra={"destination": self.name, "status": attempt.status, "body": attempt.detail},
                    )
                    self._resolve(ids)
                    return
                if policy.exhausted(retries, self._monotonic() - first):
                    self._stats.retries_failed += len(items)
                    log.warning(
                        "export retries exhausted; batch dropped",
                        extra={"destination": self.name, "retries": retries, "error": self._stats.last_error},
                    )
                    self._resolve(ids)
                    return
                retries += 1
                self._stats.retries += 1
                wait = policy.delay(retries, self._rng)
                if attempt.retry_after is not None:
                    wait = min(max(attempt.retry_after, 0.0), max(policy.cap, attempt.retry_after))
                self._stats.delays = [*self._stats.delays[-19:], wait]
                if not self._wait(wait, ids):
                    return  # closing: the batch stays queued (on disk, or counted as dropped)

    def _resolve(self, ids: Sequence[int]) -> None:
        """Remove a finished batch (caller holds the lock)."""
        self._buffer.remove(ids)
        self._resolved += len(ids)
        self._oldest_at = self._monotonic() if self._buffer.items else None
        self._cond.notify_all()

    def _wait(self, seconds: float, in_flight: Sequence[int]) -> bool:
        """Sleep before a retry while still taking in new items; False if the queue closes meanwhile
        and its close deadline passes first."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while True:
                self._take_inbox()
                self._enforce_cap(in_flight)
                remaining = deadline - time.monotonic()
                if self._closing:
                    until_close = self._close_deadline - time.monotonic()
                    if until_close < remaining:
                        return False
                if remaining <= 0:
                    return True
                self._cond.wait(remaining)
