"""Details shared by many log records (store.logs): stored once in ``log_details``, read back in
place, for the writer process's wire form and for batches written in process alike; segments
written before the table existed get it on their first shared detail and keep their older rows."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ecslite.telemetry.log_records import LogBatch, LogRecord, decode_log_detail, log_from_python
from ecslite.telemetry.model import Resource, Scope, Signal
from ecslite.telemetry.receivers.forward import ForwardMessage
from ecslite.telemetry.receivers.forward_records import RecordConverter
from ecslite.telemetry.store import LogQuery, Matcher
from ecslite.telemetry.store import logs as log_tables
from ecslite.telemetry.store.process import from_wire, to_wire
from ecslite.telemetry.store.segments import Segment, SegmentSet

T = 1_732_430_000 * 1_000_000_000
TASK = "arn:aws:ecs:us-east-1:000000000000:task/bench/5f0c"


@pytest.fixture
def segment() -> Iterator[Segment]:
    segments = SegmentSet(
        "logs", None, log_tables.DDL, log_tables.TIME_BOUNDS_SQL, now=time.time, segment_bytes=1 << 30
    )
    yield segments.active()
    segments.close()


def firelens(count: int) -> list[LogBatch]:
    entries = [
        (
            T + i,
            {
                "log": f"line {i} INFO\n",
                "source": "stdout" if i % 3 else "stderr",
                "container_name": "orders" if i % 2 else "web",
                "ecs_task_arn": TASK,
            },
        )
        for i in range(count)
    ]
    return RecordConverter(None).batches([ForwardMessage("app", entries, {}, "forward")], None, T)


def commit(segment: Segment, batches: list[object]) -> None:
    segment.conn.execute("BEGIN")
    log_tables.write(segment.conn, segment, batches)  # type: ignore[arg-type]
    segment.conn.execute("COMMIT")


def stored(segment: Segment) -> dict[int, LogRecord]:
    query = LogQuery([Matcher("service_name", "=~", ".+")], 0, 2 * T, limit=10_000, direction="forward")
    return {log.record.time_ns: log.record for log in log_tables.read(segment.conn, segment, query)}


@pytest.mark.parametrize("through_wire", [True, False], ids=["writer-process", "in-process"])
def test_shared_details_are_stored_once_and_read_back_whole(segment: Segment, through_wire: bool) -> None:
    batches = firelens(40)
    sent = from_wire(Signal.LOGS, to_wire(Signal.LOGS, batches)) if through_wire else batches
    commit(segment, sent)
    back = stored(segment)
    assert len(back) == 40
    for batch in batches:
        for record in batch.records:
            assert back[record.time_ns] == record
    # 2 containers × 2 sources: four details for forty records.
    assert segment.conn.execute("SELECT count(*) FROM log_details").fetchone()[0] == 4
    assert segment.conn.execute("SELECT count(*) FROM logs WHERE typeof(detail) = 'integer'").fetchone()[0] == 40


def test_records_with_their_own_details_keep_the_blob(segment: Segment) -> None:
    records = [log_from_python(time_ns=T + i, body=f"b{i}", attributes={"i": i}) for i in range(10)]
    commit(
        segment,
        from_wire(Signal.LOGS, to_wire(Signal.LOGS, [LogBatch(Resource({"service.name": "s"}), Scope(), records)])),
    )
    back = stored(segment)
    assert [decode_log_detail(back[T + i].detail).attributes for i in range(10)] == [{"i": i} for i in range(10)]
    assert segment.conn.execute("SELECT count(*) FROM log_details").fetchone()[0] == 0


def test_a_segment_from_before_the_table_gets_it_and_keeps_its_rows(segment: Segment) -> None:
    segment.conn.execute("DROP TABLE log_details")
    old = [log_from_python(time_ns=T - 1, body="older", attributes={"k": "v"})]
    commit(segment, [LogBatch(Resource({"service.name": "orders"}), Scope(), old)])
    commit(segment, firelens(8))
    back = stored(segment)
    assert len(back) == 9
    assert decode_log_detail(back[T - 1].detail).attributes == {"k": "v"}
    assert decode_log_detail(back[T].detail).attributes["container_name"] == "web"


@pytest.mark.parametrize("through_wire", [True, False], ids=["writer-process", "in-process"])
def test_ids_are_blobs_or_null_and_found_by_trace(segment: Segment, through_wire: bool) -> None:
    """Ids and a record's own detail reach SQLite in another form than ``bytes`` (store.logs): they
    are stored as blobs all the same, and absent ids as NULL (the trace index holds only real ones)."""
    trace, span = bytes(range(1, 17)), bytes(range(1, 9))
    records = [
        log_from_python(time_ns=T, body="with ids", trace_id=trace, span_id=span, attributes={"k": "v"}),
        log_from_python(time_ns=T + 1, body="without ids", attributes={"k": "w"}),
    ]
    batches = [LogBatch(Resource({"service.name": "s"}), Scope(), records)]
    commit(segment, from_wire(Signal.LOGS, to_wire(Signal.LOGS, batches)) if through_wire else batches)
    types = segment.conn.execute("SELECT typeof(trace_id), typeof(span_id), typeof(detail) FROM logs ORDER BY id")
    assert types.fetchall() == [("blob", "blob", "blob"), ("null", "null", "blob")]
    back = stored(segment)
    assert back[T] == records[0]
    assert back[T + 1] == records[1]
    query = LogQuery([Matcher("service_name", "=", "s")], 0, 2 * T, trace_id=trace)
    assert [log.record.body for log in log_tables.read(segment.conn, segment, query)] == ["with ids"]
