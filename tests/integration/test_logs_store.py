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
