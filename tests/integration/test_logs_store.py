"""Where log events live: ``logs.db`` beside the state store, kept across restarts and kills."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from ecslite.store import log_events
from ecslite.store.logs import LOG_MIGRATIONS, LogStore
from tests.conftest import make_client, start_server, stop_server


def test_acknowledged_events_survive_kill_9_in_their_own_file(tmp_path: Path) -> None:
    server = start_server(tmp_path, ephemeral=False)
    try:
        logs = make_client("logs", server.endpoint)
        logs.create_log_group(logGroupName="g")
        logs.create_log_stream(logGroupName="g", logStreamName="s")
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName="g",
            logStreamName="s",
            logEvents=[{"timestamp": now, "message": f"line {i}"} for i in range(100)],
        )
    finally:
        stop_server(server, signal.SIGKILL)
    assert (tmp_path / "logs.db").exists() and (tmp_path / "state.db").exists()
    state = sqlite3.connect(tmp_path / "state.db")
    tables = {row[0] for row in state.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    state.close()
    assert not {t for t in tables if t.startswith("log_")}
    server = start_server(tmp_path, ephemeral=False)
    try:
        logs = make_client("logs", server.endpoint)
        events = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)["events"]
        assert [e["message"] for e in events] == [f"line {i}" for i in range(100)]
    finally:
        stop_server(server)


def test_upgrading_from_the_first_schema_keeps_events(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for sql in LOG_MIGRATIONS[0]:
        conn.execute(sql)
    conn.execute("PRAGMA user_version=1")
    conn.execute(
        "INSERT INTO log_groups (account, region, name, created_ms, log_group_class) "
        "VALUES ('a', 'r', 'g', 0, 'STANDARD')"
    )
    conn.execute("INSERT INTO log_streams (gid, name, created_ms, last_seq) VALUES (1, 's', 0, 2)")
    conn.executemany(
        "INSERT INTO log_events (gid, sid, ts, seq, ingested_ms, message) VALUES (1, 1, ?, ?, 5, ?)",
        [(10, 1, "first"), (10, 2, "second")],
    )
    conn.close()
    store = LogStore(path)
    try:
        assert int(store.query_one("PRAGMA user_version")[0]) == len(LOG_MIGRATIONS)  # type: ignore[index]
        events = log_events.read_stream(store, 1, start=0, end=100, limit=10)
        assert [(e.ts, e.seq, e.message) for e in events] == [(10, 1, "first"), (10, 2, "second")]
    finally:
        store.close()


def test_upgrading_from_one_row_per_event_packs_batches_and_keeps_every_read(tmp_path: Path) -> None:
    path = tmp_path / "logs.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for statements in LOG_MIGRATIONS[:3]:
        for sql in statements:
            conn.execute(sql)
    conn.execute("PRAGMA user_version=3")
    conn.execute(
        "INSERT INTO log_groups (account, region, name, created_ms, log_group_class, stored_bytes) "
        "VALUES ('a', 'r', 'g', 0, 'STANDARD', 0)"
    )
    # Stream 1: three PutLogEvents batches (an ingestion time each) whose times overlap, with equal
    # timestamps and non-ASCII text; stream 2: one batch.
    batches = [
        (1, 100, [(10, "a1"), (20, "a2"), (20, "a3 é")]),
        (1, 200, [(5, "b1"), (20, "b2"), (30, "b3")]),
        (1, 300, [(40, "c1")]),
        (2, 150, [(15, "other ☃")]),
    ]
    rows, seqs = [], {1: 0, 2: 0}
    for sid, ingested, events in batches:
        for ts, message in events:
            seqs[sid] += 1
            rows.append((1, sid, ts, seqs[sid], ingested, message))
    conn.execute("INSERT INTO log_streams (gid, name, created_ms, last_seq) VALUES (1, 's1', 0, 7), (1, 's2', 0, 1)")
    conn.executemany("INSERT INTO log_events (gid, sid, ts, seq, ingested_ms, message) VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.close()
    store = LogStore(path)
    try:
        tables = {row[0] for row in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "log_events" not in tables and "log_chunks" in tables
        assert int(store.query_one("PRAGMA user_version")[0]) == len(LOG_MIGRATIONS)  # type: ignore[index]
        events = log_events.read_stream(store, 1, start=0, end=100, limit=100)
        expected = sorted((r for r in rows if r[1] == 1), key=lambda r: (r[2], r[3]))
        assert [(e.ts, e.seq, e.ingested_ms, e.message) for e in events] == [(r[2], r[3], r[4], r[5]) for r in expected]
        scanned = [e for chunk in log_events.scan_group(store, 1, start=0, end=100, descending=True) for e in chunk]
        assert [e.message for e in scanned] == ["c1", "b3", "b2", "a3 é", "a2", "other ☃", "a1", "b1"]
        sizes = store.query("SELECT bytes FROM log_chunks")
        assert sum(row[0] for row in sizes) == sum(len(r[5].encode()) for r in rows)
        # Within a stream a chunk needs consecutive sequence numbers and one ingestion time.
        assert len(sizes) == 5  # b1 | a1 a2 a3 | b2 b3 | c1 | other
        newest = log_events.read_stream(store, 1, start=0, end=100, newest=True, limit=2)
        assert [e.message for e in newest] == ["b3", "c1"]
    finally:
        store.close()
