"""Log events stored a batch to a row (store/log_events.py on an in-memory ``logs.db``): pages,
cursors, group scans, snapshots and retention give what one row per event gave."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from ecslite.store import log_events
from ecslite.store.log_events import StoredEvent
from ecslite.store.logs import LogStore

END = 2**63 - 1


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[LogStore]:
    monkeypatch.setattr(log_events, "REF_PAGE", 3)  # every read crosses pages of chunk keys
    monkeypatch.setattr(log_events, "INLINE_EVENTS", 4)  # both small (inline) and loaded chunks
    logs = LogStore(None)
    group = logs.create_group("a", "r", "g", 0)
    assert group is not None
    for name in ("s1", "s2", "s3"):
        logs.create_stream(group.gid, name, 0)
    yield logs
    logs.close()


def put(store: LogStore, sid: int, events: list[tuple[int, str]], ingested: int = 7) -> list[StoredEvent]:
    size = sum(len(m.encode()) for _, m in events)
    done = log_events.append(store, 1, sid, events, ingested, size)
    return [StoredEvent(ts, sid, done.first_seq + i, ingested, m) for i, (ts, m) in enumerate(events)]


def interleaved(store: LogStore, seed: int = 5) -> list[StoredEvent]:
    """Batches of three streams whose times overlap (each batch chronological, batches not)."""
    rng = random.Random(seed)
    stored: list[StoredEvent] = []
    for number in range(40):
        start = rng.randrange(0, 200)
        stamps = sorted(start + rng.randrange(0, 30) for _ in range(rng.randrange(1, 9)))
        stored += put(store, rng.choice((1, 2, 3)), [(ts, f"b{number}-{i} é") for i, ts in enumerate(stamps)])
    return stored


def stream_order(events: list[StoredEvent], sid: int) -> list[StoredEvent]:
    return sorted((e for e in events if e.sid == sid), key=lambda e: e.stream_key)


def test_forward_pages_from_the_head_return_every_event_once_in_order(store: LogStore) -> None:
    expected = stream_order(interleaved(store), 2)
    got: list[StoredEvent] = []
    cursor = None
    while page := log_events.read_stream(store, 2, start=0, end=END, after=cursor, limit=4):
        got += page
        cursor = page[-1].stream_key
    assert got == expected and len(got) > 20


def test_backward_pages_from_the_newest_return_every_event_once(store: LogStore) -> None:
    expected = stream_order(interleaved(store), 1)
    got: list[StoredEvent] = []
    page = log_events.read_stream(store, 1, start=0, end=END, newest=True, limit=5)
    while page:
        got = page + got
        page = log_events.read_stream(store, 1, start=0, end=END, before=page[0].stream_key, limit=5)
    assert got == expected


def test_time_range_includes_start_and_excludes_end(store: LogStore) -> None:
    expected = [e for e in stream_order(interleaved(store), 3) if 50 <= e.ts < 120]
    assert log_events.read_stream(store, 3, start=50, end=120, limit=10_000) == expected
    assert log_events.read_stream(store, 3, start=50, end=120, newest=True, limit=3) == expected[-3:]


def test_group_scan_interleaves_streams_both_ways_and_resumes_after_a_key(store: LogStore) -> None:
    stored = interleaved(store)
    ascending = sorted(stored, key=lambda e: e.group_key)
    assert [e for c in log_events.scan_group(store, 1, start=0, end=END, chunk=7) for e in c] == ascending
    middle = ascending[len(ascending) // 2]
    after = [e for c in log_events.scan_group(store, 1, start=0, end=END, after=middle.group_key) for e in c]
    assert after == ascending[len(ascending) // 2 + 1 :]
    down = [
        e for c in log_events.scan_group(store, 1, start=0, end=END, descending=True, after=middle.group_key) for e in c
    ]
    assert down == ascending[: len(ascending) // 2][::-1]
    some = [e for c in log_events.scan_group(store, 1, start=30, end=90, sids=[1, 3]) for e in c]
    assert some == [e for e in ascending if e.sid in (1, 3) and 30 <= e.ts <= 90]


def test_group_scan_chunks_are_the_size_asked(store: LogStore) -> None:
    interleaved(store)
    sizes = [len(c) for c in log_events.scan_group(store, 1, start=0, end=END, chunk=7)]
    assert set(sizes[:-1]) == {7} and 1 <= sizes[-1] <= 7


def test_snapshot_leaves_out_events_appended_after_it(store: LogStore) -> None:
    before = interleaved(store)
    snapshot = log_events.stream_positions(store, [1])
    put(store, 1, [(100, "later"), (101, "later")])
    scanned = [
        e for c in log_events.scan_group(store, 1, start=0, end=END, descending=True, snapshot=snapshot) for e in c
    ]
    assert scanned == sorted(before, key=lambda e: e.group_key, reverse=True)


def test_retention_trims_a_batch_that_straddles_the_cutoff(store: LogStore) -> None:
    put(store, 1, [(10, "old"), (20, "öld")])
    put(store, 1, [(30, "gone"), (40, "kept"), (40, "kept2")])
    put(store, 2, [(35, "s2"), (50, "s2 kept")])
    bytes_before = store.get_group("a", "r", "g").stored_bytes  # type: ignore[union-attr]
    assert log_events.purge_before(store, 1, 40) == 4
    kept = [e.message for c in log_events.scan_group(store, 1, start=0, end=END) for e in c]
    assert kept == ["kept", "kept2", "s2 kept"]
    removed = len("old") + len("öld".encode()) + len("gone") + len("s2")
    assert store.get_group("a", "r", "g").stored_bytes == bytes_before - removed  # type: ignore[union-attr]
    assert [e.seq for e in log_events.read_stream(store, 1, start=0, end=END, limit=10)] == [4, 5]
    assert log_events.purge_before(store, 1, 40) == 0


def test_deleting_a_stream_takes_its_bytes_off_the_group(store: LogStore) -> None:
    put(store, 1, [(10, "one")])
    put(store, 2, [(10, "twö")])
    store.delete_stream(2)
    assert store.get_group("a", "r", "g").stored_bytes == 3  # type: ignore[union-attr]
    assert [e.message for c in log_events.scan_group(store, 1, start=0, end=END) for e in c] == ["one"]
