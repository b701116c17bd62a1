"""Chunks of log events: packing, cutting, and merging overlapping chunks back into key order
(store/log_chunks.py), checked against a plain sort of the same events."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ecslite.store import log_chunks
from ecslite.store.log_chunks import MAX_CHUNK_SPAN_MS, Chunk, ChunkRef, Key, StoredEvent

LOW: Key = (-(2**63), -(2**63), -(2**63))
HIGH: Key = (2**63 - 1, 2**63 - 1, 2**63 - 1)


def chunk_of(cid: int, sid: int, first_seq: int, events: list[tuple[int, str]]) -> ChunkRef:
    packed = log_chunks.pack(events)
    return ChunkRef(
        cid,
        sid,
        packed.first_ts,
        first_seq,
        packed.last_ts,
        first_seq + packed.count - 1,
        100 + cid,
        (packed.stamps, packed.ends, packed.text),
    )


def load(ref: ChunkRef) -> Chunk:
    assert ref.payload is not None
    return Chunk(ref.sid, ref.first_ts, ref.first_seq, ref.ingested_ms, ref.payload)


def merged(refs: list[ChunkRef], lower: Key, upper: Key, descending: bool) -> list[StoredEvent]:
    if descending:
        ordered = sorted(refs, key=lambda r: r.last_key, reverse=True)
        runs = log_chunks.descending(iter(ordered), load, lower, upper)
        return [e for chunk, lo, hi in runs for e in reversed(chunk.events(lo, hi))]
    ordered = sorted(refs, key=lambda r: r.first_key)
    return [
        e for chunk, lo, hi in log_chunks.ascending(iter(ordered), load, lower, upper) for e in chunk.events(lo, hi)
    ]


def reference(refs: list[ChunkRef], lower: Key, upper: Key, descending: bool) -> list[StoredEvent]:
    events = [e for ref in refs for e in load(ref).events(0, ref.last_seq - ref.first_seq + 1)]
    return sorted((e for e in events if lower <= e.group_key <= upper), key=lambda e: e.group_key, reverse=descending)


# Streams (1-3) of batches; each batch's timestamps are non-decreasing from a random start, so
# batches of one stream overlap in time and share timestamps.
batches = st.lists(
    st.tuples(
        st.integers(1, 3),
        st.integers(0, 40),
        st.lists(st.integers(0, 3), min_size=1, max_size=12),
        st.sampled_from(["", "é", "\u2603x", "line"]),
    ),
    min_size=1,
    max_size=12,
)


def build(spec: list[tuple[int, int, list[int], str]]) -> list[ChunkRef]:
    refs: list[ChunkRef] = []
    next_seq: dict[int, int] = {}
    for cid, (sid, start, steps, text) in enumerate(spec):
        stamps = list(itertools.accumulate(steps, initial=start))[1:]
        first = next_seq.get(sid, 1)
        refs.append(chunk_of(cid, sid, first, [(ts, f"{text}{sid}.{first + i}") for i, ts in enumerate(stamps)]))
        next_seq[sid] = first + len(stamps)
    return refs


@settings(max_examples=300, deadline=None)
@given(spec=batches, bounds=st.tuples(st.integers(-1, 80), st.integers(0, 4), st.integers(0, 30)), down=st.booleans())
def test_merge_returns_every_event_in_key_order_within_bounds(
    spec: list[tuple[int, int, list[int], str]], bounds: tuple[int, int, int], down: bool
) -> None:
    refs = build(spec)
    ts, sid, seq = bounds
    for lower, upper in ((LOW, HIGH), ((ts, sid, seq), HIGH), (LOW, (ts, sid, seq)), ((ts, sid, seq), (ts + 5, 2, 3))):
        assert merged(refs, lower, upper, down) == reference(refs, lower, upper, down)


def test_disjoint_chunks_merge_as_one_run_each() -> None:
    refs = [chunk_of(0, 1, 1, [(10, "a"), (11, "b")]), chunk_of(1, 1, 3, [(12, "c"), (12, "d")])]
    runs = list(log_chunks.ascending(iter(refs), load, LOW, HIGH))
    assert [(lo, hi) for _, lo, hi in runs] == [(0, 2), (0, 2)]
    assert [e.message for chunk, lo, hi in runs for e in chunk.events(lo, hi)] == ["a", "b", "c", "d"]


def test_equal_timestamps_interleave_by_stream_then_sequence() -> None:
    refs = [chunk_of(0, 2, 1, [(5, "s2-1"), (5, "s2-2")]), chunk_of(1, 1, 1, [(5, "s1-1"), (6, "s1-2")])]
    assert [e.message for e in merged(refs, LOW, HIGH, False)] == ["s1-1", "s2-1", "s2-2", "s1-2"]
    assert [e.message for e in merged(refs, LOW, HIGH, True)] == ["s1-2", "s2-2", "s2-1", "s1-1"]


def test_count_below_finds_a_key_between_equal_timestamps() -> None:
    chunk = load(chunk_of(0, 7, 10, [(1, "a"), (3, "b"), (3, "c"), (3, "d"), (4, "e")]))
    assert chunk.count_below((3, 7, 12)) == 2  # seq 10 and 11 come first
    assert chunk.count_below((3, 6, 99)) == 1  # a smaller stream id sorts before all of ts 3
    assert chunk.count_below((3, 8, 0)) == 4  # a larger one after all of ts 3
    assert chunk.count_below((2, 99, 99)) == 1
    assert chunk.count_below((0, 0, 0)) == 0 and chunk.count_below((5, 0, 0)) == 5


def test_pack_round_trips_messages_with_any_characters() -> None:
    events = [(100, ""), (100, "héllo\nworld"), (101, "\x00tab\t"), (99_000, "☃" * 1000)]
    chunk = load(chunk_of(0, 1, 1, events))
    assert [(e.ts, e.message) for e in chunk.events(0, len(chunk))] == events
    assert [e.seq for e in chunk.events(1, 3)] == [2, 3]


def test_spans_cut_batches_past_the_event_count_or_the_time_span() -> None:
    day = [(0, "a"), (MAX_CHUNK_SPAN_MS, "b"), (MAX_CHUNK_SPAN_MS + 1, "c")]
    assert [list(run) for run in log_chunks.spans(day)] == [day[:2], day[2:]]
    many = [(i, "x") for i in range(log_chunks.MAX_CHUNK_EVENTS + 5)]
    assert [len(run) for run in log_chunks.spans(many)] == [log_chunks.MAX_CHUNK_EVENTS, 5]
    assert log_chunks.spans(day[:2]) == [day[:2]]
