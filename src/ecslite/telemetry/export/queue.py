"""Delivery to one destination: a bounded queue, batching by size and time, retries (spec/telemetry.md §6.1).

An :class:`ExportQueue` owns one worker thread and one :class:`Sender`. Producers call
:meth:`ExportQueue.put` with an encoded item (any thread, never blocks, never raises); the worker
gathers items into a batch of at most ``batch_bytes`` (or whatever has waited ``flush_interval``)
and hands the batch to the sender, which answers with an :class:`Attempt`:

- ``DONE`` (HTTP 2xx): the batch is gone.
- ``RETRY`` (HTTP 429, 5xx, a connection error): the same batch is sent again after the server's
  ``Retry-After`` when it gave one, else a "full jitter" wait drawn from
  ``[base, min(cap, base × 2^n)]`` for retry ``n`` (Fluent Bit's scheduler); after ``limit``
  retries or ``give_up_after`` seconds the batch is dropped and counted in ``retries_failed``.
- ``FAIL`` (any other 4xx): dropped at once, the response body logged, counted in ``errors``.

Bounds: queued items never exceed ``max_bytes``; when a new item would pass it, the oldest items
are dropped and counted in ``dropped`` (never a silent drop, §6.1). With a ``buffer_path`` the
queue lives in a SQLite file: it survives a restart of the server and the worker re-sends it.

Items are opaque bytes; the sender decides how a batch of them becomes one request (the protobuf
encoders concatenate serialized messages, which protobuf reads as one merged message).
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import random
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import httpx

from ecslite import __version__

log = logging.getLogger(__name__)

MIB = 1024 * 1024
USER_AGENT = f"ecslite/{__version__}"


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


class Sender(Protocol):
    """Turns a batch of items into one request to the destination and reports how it went."""

    name: str

    def send(self, items: Sequence[bytes]) -> Attempt: ...

    def close(self) -> None: ...


# -- retry policy --------------------------------------------------------------------------------


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


# -- HTTP senders --------------------------------------------------------------------------------


class HttpSender:
    """POSTs one body per batch; subclasses say how items become the body (:meth:`encode`)."""

    def __init__(
        self,
        name: str,
        url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._client = httpx.Client(timeout=timeout, auth=auth)

    def encode(self, items: Sequence[bytes]) -> tuple[bytes, dict[str, str]]:
        """The request body and its own headers (content type and encoding)."""
        raise NotImplementedError

    def send(self, items: Sequence[bytes]) -> Attempt:
        body, headers = self.encode(items)
        try:
            response = self._client.post(self.url, content=body, headers={**self.headers, **headers})
        except httpx.HTTPError as error:  # refused, reset, timed out: the receiver may come back
            return Attempt(Outcome.RETRY, None, None, f"{type(error).__name__}: {error}")
        return classify(response.status_code, response.headers.get("retry-after"), response.text)

    def close(self) -> None:
        self._client.close()


# -- buffers -------------------------------------------------------------------------------------


class Buffer(Protocol):
    """Queued items in order; used by the worker thread only."""

    def append(self, items: Sequence[bytes]) -> None: ...

    def peek(self, max_bytes: int) -> list[tuple[int, bytes]]: ...

    def remove(self, ids: Sequence[int]) -> None: ...

    def drop_oldest(self, max_bytes: int, keep: Sequence[int]) -> tuple[int, int]: ...

    @property
    def items(self) -> int: ...

    @property
    def bytes(self) -> int: ...

    def close(self) -> None: ...


class MemoryBuffer:
    def __init__(self) -> None:
        self._items: deque[tuple[int, bytes]] = deque()
        self._next = 0
        self._bytes = 0

    def append(self, items: Sequence[bytes]) -> None:
        for item in items:
            self._items.append((self._next, item))
            self._next += 1
            self._bytes += len(item)

    def peek(self, max_bytes: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        size = 0
        for item_id, item in self._items:
            if out and size + len(item) > max_bytes:
                break
            out.append((item_id, item))
            size += len(item)
        return out

    def remove(self, ids: Sequence[int]) -> None:
        doomed = set(ids)
        kept = deque(entry for entry in self._items if entry[0] not in doomed)
        self._bytes = sum(len(item) for _, item in kept)
        self._items = kept

    def drop_oldest(self, max_bytes: int, keep: Sequence[int]) -> tuple[int, int]:
        """Drop the oldest items (never those in ``keep``, the batch in flight) until at most ``max_bytes``."""
        dropped = dropped_bytes = 0
        protected = set(keep)
        survivors: deque[tuple[int, bytes]] = deque()
        while self._items:
            item_id, item = self._items.popleft()
            if self._bytes > max_bytes and item_id not in protected:
                self._bytes -= len(item)
                dropped += 1
                dropped_bytes += len(item)
            else:
                survivors.append((item_id, item))
        self._items = survivors
        return dropped, dropped_bytes

    @property
    def items(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        self._items.clear()
        self._bytes = 0


class SqliteBuffer:
    """Items in a SQLite file, oldest first; what is not delivered is there after a restart."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL)"
        )
        count, size = self._conn.execute("SELECT count(*), coalesce(sum(length(body)), 0) FROM items").fetchone()
        self._items, self._bytes = int(count), int(size)

    def append(self, items: Sequence[bytes]) -> None:
        if not items:
            return
        with self._transaction():
            self._conn.executemany("INSERT INTO items (body) VALUES (?)", [(item,) for item in items])
        self._items += len(items)
        self._bytes += sum(len(item) for item in items)

    def peek(self, max_bytes: int) -> list[tuple[int, bytes]]:
        out: list[tuple[int, bytes]] = []
        size = 0
        for item_id, body in self._conn.execute("SELECT id, body FROM items ORDER BY id"):
            if out and size + len(body) > max_bytes:
                break
            out.append((int(item_id), bytes(body)))
            size += len(body)
        return out

    def remove(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._transaction():
            self._conn.executemany("DELETE FROM items WHERE id=?", [(i,) for i in ids])
        self._recount()

    def drop_oldest(self, max_bytes: int, keep: Sequence[int]) -> tuple[int, int]:
        if self._bytes <= max_bytes:
            return 0, 0
        protected = set(keep)
        doomed: list[int] = []
        excess = self._bytes - max_bytes
        freed = 0
        for item_id, size in self._conn.execute("SELECT id, length(body) FROM items ORDER BY id"):
            if freed >= excess:
                break
            if item_id in protected:
                continue
            doomed.append(int(item_id))
            freed += int(size)
        self.remove(doomed)
        return len(doomed), freed

    def _recount(self) -> None:
        count, size = self._conn.execute("SELECT count(*), coalesce(sum(length(body)), 0) FROM items").fetchone()
        self._items, self._bytes = int(count), int(size)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @property
    def items(self) -> int:
        return self._items

    @property
    def bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        self._conn.close()


# -- the queue -----------------------------------------------------------------------------------


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
