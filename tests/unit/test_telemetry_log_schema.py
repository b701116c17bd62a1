"""The schema of logs segments and shared details (store.segments, store.logs): a segment of schema 2
is read as it is, blobs and ids alike, and a writer upgrades it to the schema whose ``logs.detail``
may hold a ``log_details`` id; a new segment carries that schema; a segment of a newer schema is
read by nobody that does not know it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from ecslite.telemetry.log_records import LogBatch, LogRecord, log_from_python
from ecslite.telemetry.model import Resource, Scope
from ecslite.telemetry.receivers.forward import ForwardMessage
from ecslite.telemetry.receivers.forward_records import RecordConverter
from ecslite.telemetry.store import LogQuery, Matcher, StoreSettings, TelemetryStore, log_index
from ecslite.telemetry.store import logs as log_tables
from ecslite.telemetry.store.segments import SCHEMA_VERSION, SegmentSet

T = 1_732_430_000 * 1_000_000_000
EVERYTHING = [Matcher("service_name", "=~", ".+")]
# What schema 2 created before shared details: one index document per row, no log_details.
BLOBS_ONLY_DDL = (
    *(s for s in log_tables.DDL if s not in log_index.DDL and s != log_tables.DETAILS_DDL),
    *log_index.SCHEMA_2_DDL,
)
# What schema 2 created once shared details were written (before the schema was raised for them).
WITH_DETAILS_DDL = (*(s for s in log_tables.DDL if s not in log_index.DDL), *log_index.SCHEMA_2_DDL)


def own_details(count: int) -> LogBatch:
    records = [log_from_python(time_ns=T + i, body=f"own {i}", attributes={"i": i}) for i in range(count)]
    return LogBatch(Resource({"service.name": "orders"}), Scope(), records)


def firelens(count: int, start: int) -> list[LogBatch]:
    """Forward records of one container: one detail shared by all of them."""
    entries = [
        (T + start + i, {"log": f"shared {i}\n", "source": "stdout", "container_name": "web", "ecs_task_arn": "a"})
        for i in range(count)
    ]
    return RecordConverter(None).batches([ForwardMessage("app", entries, {}, "forward")], None, T)


def schema_2_segment(directory: Path, ddl: tuple[str, ...], batches: list[LogBatch]) -> Path:
    """A logs segment as an ecslite of schema 2 left it, holding ``batches``."""
    segments = SegmentSet("logs", directory, ddl, log_tables.TIME_BOUNDS_SQL, now=time.time, segment_bytes=1 << 30)
    segment = segments.active()
    segment.conn.execute("BEGIN")
    log_tables.write(segment.conn, segment, batches)
    segment.conn.execute("COMMIT")
    segment.conn.execute("PRAGMA user_version=2")
    path = segment.path
    segments.close()
    assert path is not None
    return path


def everything(store: TelemetryStore) -> dict[int, LogRecord]:
    query = LogQuery(EVERYTHING, 0, 2 * 10**18, limit=10_000, direction="forward")
    return {log.record.time_ns: log.record for log in store.read_logs(query)}


def schema(path: Path) -> tuple[int, set[str], int]:
    """The file's schema, its tables, and how many of its rows hold a shared detail's id."""
    conn = sqlite3.connect(path)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        ids = int(conn.execute("SELECT count(*) FROM logs WHERE typeof(detail) = 'integer'").fetchone()[0])
    finally:
        conn.close()
    return version, tables, ids


@pytest.mark.parametrize("writer_process", [False, True], ids=["thread", "process"])
@pytest.mark.parametrize("made", ["blobs-only", "with-details"])
def test_a_schema_2_segment_is_read_and_upgraded_to_share_details(
    tmp_path: Path, made: str, writer_process: bool
) -> None:
    directory = tmp_path / "telemetry"
    own = own_details(5)
    older = [own, *firelens(6, 100)] if made == "with-details" else [own]
    path = schema_2_segment(directory, BLOBS_ONLY_DDL if made == "blobs-only" else WITH_DETAILS_DDL, older)
    expected = {record.time_ns: record for batch in older for record in batch.records}

    reader = TelemetryStore(StoreSettings(directory=directory, read_only=True))
    try:
        assert everything(reader) == expected
    finally:
        reader.close()
    assert schema(path)[0] == 2  # a reader changes nothing

    store = TelemetryStore(StoreSettings(directory=directory, commit_interval=0.01, writer_process=writer_process))
    try:
        version, tables, _ = schema(path)
        # Upgraded before anything is written: from here on only an ecslite that knows ids opens it.
        assert version == SCHEMA_VERSION >= 3
        assert "log_details" in tables
        newer = firelens(8, 1_000)
        for batch in newer:
            store.write_logs(batch)
        assert store.flush()
        expected.update({record.time_ns: record for batch in newer for record in batch.records})
        assert everything(store) == expected
    finally:
        store.close()
    version, _, ids = schema(path)
    assert version == SCHEMA_VERSION
    assert ids == 8 + (6 if made == "with-details" else 0)


def test_a_new_segment_carries_the_schema_of_shared_details(tmp_path: Path) -> None:
    directory = tmp_path / "telemetry"
    store = TelemetryStore(StoreSettings(directory=directory, commit_interval=0.01, writer_process=False))
    try:
        for batch in firelens(8, 0):
            store.write_logs(batch)
        assert store.flush()
        (path,) = directory.glob("logs-*.db")
    finally:
        store.close()
    version, tables, ids = schema(path)
    assert (version, ids) == (SCHEMA_VERSION, 8)
    assert "log_details" in tables
    # The schema that stores ids is one an ecslite of schema 2 (blobs only) does not open.
    assert version > 2


@pytest.mark.parametrize("read_only", [True, False], ids=["reader", "writer"])
def test_a_segment_of_a_newer_schema_is_left_alone(tmp_path: Path, read_only: bool) -> None:
    directory = tmp_path / "telemetry"
    path = schema_2_segment(directory, log_tables.DDL, [own_details(3)])
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()

    store = TelemetryStore(StoreSettings(directory=directory, read_only=read_only, writer_process=False))
    try:
        # Its rows may mean what this ecslite does not know: none of them is read as if it did.
        assert everything(store) == {}
    finally:
        store.close()
    assert schema(path)[0] == SCHEMA_VERSION + 1
