"""Log events packed by batch: one ``log_chunks`` row holds the events of one append, and readers
merge chunks back into ``(ts, sid, seq)`` order.

A chunk is a run of events of one stream that share an ingestion time and have consecutive sequence
numbers, in ``(ts, seq)`` order; it is stored as its first timestamp, the timestamps as offsets
from it (``stamps``, unsigned 32-bit, little-endian), the end of each message in the concatenated
text (``ends``, characters, same encoding) and that text. Storing a batch as one row instead of one
row per event is what lets ingestion keep up with a container's output (docs/benchmarks.md).

Invariants:

- A chunk spans at most ``MAX_CHUNK_SPAN_MS`` (PutLogEvents' 24 hours), so a reader looking for
  events at or after ``t`` only looks at chunks that start at or after ``t - MAX_CHUNK_SPAN_MS``.
- Chunks of one stream may overlap in time (two producers, or a batch with older timestamps than
  the last): readers never assume the chunks are disjoint and merge them by key.
- Nothing here touches SQLite: :mod:`ecslite.store.log_events` finds the chunks and loads them; this
  module packs, unpacks and merges (pure, unit-tested).
"""

from __future__ import annotations

import heapq
import itertools
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

MAX_CHUNK_SPAN_MS = 24 * 3600 * 1000
MAX_CHUNK_EVENTS = 10_000
_SWAP = sys.byteorder != "little"

Key = tuple[int, int, int]  # (ts, sid, seq): the order of a group's events, and of a stream's


@dataclass(frozen=True, slots=True)
class StoredEvent:
    ts: int
    sid: int
    seq: int
    ingested_ms: int
    message: str

    @property
    def stream_key(self) -> tuple[int, int]:
        return (self.ts, self.seq)

    @property
    def group_key(self) -> tuple[int, int, int]:
        return (self.ts, self.sid, self.seq)


@dataclass(frozen=True, slots=True)
class Packed:
    """One chunk's columns, ready to store."""

    first_ts: int
    last_ts: int
    count: int
    stamps: bytes
    ends: bytes
    text: str


def _u32(values: Iterator[int] | Sequence[int]) -> array[int]:
    packed = array("I", values)
    if _SWAP:
        packed.byteswap()
    return packed


def _from_u32(blob: bytes) -> array[int]:
    values = array("I")
    values.frombytes(blob)
    if _SWAP:
        values.byteswap()
    return values


def pack(events: Sequence[tuple[int, str]]) -> Packed:
    """Pack events in ``(ts, seq)`` order spanning at most ``MAX_CHUNK_SPAN_MS`` (see :func:`spans`)."""
    base = events[0][0]
    messages = [message for _, message in events]
    return Packed(
        base,
        events[-1][0],
        len(messages),
        _u32([ts - base for ts, _ in events]).tobytes(),
        _u32(itertools.accumulate(map(len, messages))).tobytes(),
        "".join(messages),
    )


def spans(events: Sequence[tuple[int, str]]) -> list[Sequence[tuple[int, str]]]:
    """Cut chronological events into runs of at most ``MAX_CHUNK_EVENTS`` that each span at most
    ``MAX_CHUNK_SPAN_MS`` (PutLogEvents' rules already keep a batch to one)."""
    if len(events) <= MAX_CHUNK_EVENTS and events[-1][0] - events[0][0] <= MAX_CHUNK_SPAN_MS:
        return [events]
    runs: list[Sequence[tuple[int, str]]] = []
    start = 0
    while start < len(events):
        end = min(len(events), start + MAX_CHUNK_EVENTS)
        limit = events[start][0] + MAX_CHUNK_SPAN_MS
        if events[end - 1][0] > limit:
            end = bisect_right(events, limit, lo=start, hi=end, key=lambda event: event[0])
        runs.append(events[start:end])
        start = end
    return runs


@dataclass(slots=True)
class ChunkRef:
    """A chunk as found by an index scan: its keys, and its payload when it came along (small chunks)."""

    cid: int
    sid: int
    first_ts: int
    first_seq: int
    last_ts: int
    last_seq: int
    ingested_ms: int
    payload: tuple[bytes, bytes, str] | None = None

    @property
    def first_key(self) -> Key:
        return (self.first_ts, self.sid, self.first_seq)

    @property
    def last_key(self) -> Key:
        return (self.last_ts, self.sid, self.last_seq)


class Chunk:
    """A loaded chunk: event ``i`` is ``(base + stamps[i], sid, first_seq + i)`` with message
    ``text[offsets[i]:offsets[i + 1]]``. ``lo``/``hi`` are the merge's cursor over it."""

    __slots__ = ("base", "first_seq", "hi", "ingested_ms", "lo", "offsets", "sid", "stamps", "text")

    def __init__(
        self, sid: int, base: int, first_seq: int, ingested_ms: int, payload: tuple[bytes, bytes, str]
    ) -> None:
        stamps, ends, text = payload
        self.sid = sid
        self.base = base
        self.first_seq = first_seq
        self.ingested_ms = ingested_ms
        self.stamps = _from_u32(stamps)
        self.offsets = _from_u32(ends)
        self.offsets.insert(0, 0)
        self.text = text
        self.lo = 0
        self.hi = len(self.stamps)

    def __len__(self) -> int:
        return len(self.stamps)

    def key(self, index: int) -> Key:
        return (self.base + self.stamps[index], self.sid, self.first_seq + index)

    def count_below(self, key: Key) -> int:
        """How many of the chunk's events sort before ``key``: the index of the first at or after it."""
        ts, sid, seq = key
        delta = ts - self.base
        stamps = self.stamps
        first = bisect_left(stamps, delta)
        if first == len(stamps) or stamps[first] != delta:
            return first
        if sid < self.sid:
            return first
        after = bisect_right(stamps, delta, first)
        if sid > self.sid:
            return after
        # Same stream and timestamp: the sequence numbers are consecutive from ``first_seq``.
        return max(first, min(after, seq - self.first_seq))

    def events(self, lo: int, hi: int) -> list[StoredEvent]:
        base, sid, first_seq, ingested = self.base, self.sid, self.first_seq, self.ingested_ms
        stamps, offsets, text = self.stamps, self.offsets, self.text
        return [
            StoredEvent(base + stamps[i], sid, first_seq + i, ingested, text[offsets[i] : offsets[i + 1]])
            for i in range(lo, hi)
        ]

    def messages(self, lo: int, hi: int) -> list[str]:
        offsets, text = self.offsets, self.text
        return [text[offsets[i] : offsets[i + 1]] for i in range(lo, hi)]


Loader = Callable[[ChunkRef], Chunk | None]
Run = tuple[Chunk, int, int]  # events [lo, hi) of a chunk, next in the merged order


def _successor(key: Key) -> Key:
    return (key[0], key[1], key[2] + 1)


def ascending(refs: Iterator[ChunkRef], load: Loader, lower: Key, upper: Key) -> Iterator[Run]:
    """Runs of events with ``lower <= key <= upper`` in ascending key order.

    ``refs`` come in ascending first-key order and include every chunk with an event in range. A
    chunk is loaded once the merge reaches its first key; a run ends where another chunk's next
    event (or an unloaded chunk's first) comes first, so disjoint chunks are one run each.
    """
    heap: list[tuple[Key, int, Chunk]] = []
    order = itertools.count()
    pending = next(refs, None)
    while True:
        while pending is not None and (not heap or pending.first_key <= heap[0][0]):
            chunk = load(pending)
            pending = next(refs, None)
            if chunk is None:
                continue
            chunk.lo, chunk.hi = chunk.count_below(lower), chunk.count_below(_successor(upper))
            if chunk.lo < chunk.hi:
                heapq.heappush(heap, (chunk.key(chunk.lo), next(order), chunk))
        if not heap:
            return
        _, _, chunk = heapq.heappop(heap)
        end = chunk.hi
        if heap:
            end = min(end, chunk.count_below(heap[0][0]))
        if pending is not None:
            end = min(end, chunk.count_below(pending.first_key))
        start, chunk.lo = chunk.lo, end
        yield chunk, start, end
        if end < chunk.hi:
            heapq.heappush(heap, (chunk.key(end), next(order), chunk))


def descending(refs: Iterator[ChunkRef], load: Loader, lower: Key, upper: Key) -> Iterator[Run]:
    """Runs of events with ``lower <= key <= upper`` in descending key order (each run's events are
    ``[lo, hi)`` of its chunk, to be read from ``hi - 1`` down); ``refs`` in descending last-key order."""
    heap: list[tuple[Key, int, Chunk]] = []  # keys negated: the newest event on top
    order = itertools.count()
    pending = next(refs, None)

    def negated(key: Key) -> Key:
        return (-key[0], -key[1], -key[2])

    while True:
        while pending is not None and (not heap or pending.last_key >= negated(heap[0][0])):
            chunk = load(pending)
            pending = next(refs, None)
            if chunk is None:
                continue
            chunk.lo, chunk.hi = chunk.count_below(lower), chunk.count_below(_successor(upper))
            if chunk.lo < chunk.hi:
                heapq.heappush(heap, (negated(chunk.key(chunk.hi - 1)), next(order), chunk))
        if not heap:
            return
        _, _, chunk = heapq.heappop(heap)
        start = chunk.lo
        if heap:
            start = max(start, chunk.count_below(_successor(negated(heap[0][0]))))
        if pending is not None:
            start = max(start, chunk.count_below(_successor(pending.last_key)))
        end, chunk.hi = chunk.hi, start
        yield chunk, start, end
        if start > chunk.lo:
            heapq.heappush(heap, (negated(chunk.key(start - 1)), next(order), chunk))
