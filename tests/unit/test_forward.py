"""The Forward protocol without I/O (spec/telemetry.md §4): framing, the four event modes, EventTime,
acks, the handshake, and Forward/FireLens records as log records (§2.3, §4.7)."""

from __future__ import annotations

import gzip
import struct
from typing import Any

import msgpack
import pytest
import zstandard

from ecslite.telemetry.enrich import ContainerOwner, TaskOwner, TaskOwners
from ecslite.telemetry.log_records import decode_log_detail
from ecslite.telemetry.receivers.forward import (
    EventTime,
    ForwardSession,
    ForwardSettings,
    Peer,
    PipelineSink,
    ack,
    decode_message,
    event_time,
    ping,
    time_ns,
)
from ecslite.telemetry.receivers.forward_records import RecordConverter, scan_line, to_log_record

NS = 1_000_000_000
T = 1_732_430_000


def pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def fixext8(seconds: int, nanos: int) -> bytes:
    return b"\xd7\x00" + struct.pack(">II", seconds, nanos)


def ext8(seconds: int, nanos: int) -> bytes:
    return b"\xc7\x08\x00" + struct.pack(">II", seconds, nanos)


def feed_all(session: ForwardSession, data: bytes) -> list[Any]:
    fed = session.feed(data)
    assert fed.error is None, fed.error
    return fed.messages


# -- modes ---------------------------------------------------------------------------------------


def test_message_mode_with_integer_time_and_option() -> None:
    [message] = feed_all(ForwardSession(), pack(["app.web", T, {"log": "hi"}, {"chunk": "abc"}]))
    assert (message.tag, message.mode, message.entries) == ("app.web", "message", [(T * NS, {"log": "hi"})])
    assert message.chunk == "abc"


def test_message_mode_with_float_time_keeps_fraction() -> None:
    [message] = feed_all(ForwardSession(), pack(["a", T + 0.25, {"x": 1}]))
    assert message.entries[0][0] == T * NS + 250_000_000


@pytest.mark.parametrize("encode", [fixext8, ext8])
def test_event_time_as_fixext_and_ext8(encode: Any) -> None:
    # ["t", <EventTime>, {}] written by hand: fixarray(3), fixstr "t", the ext, fixmap(0)
    raw = b"\x93\xa1t" + encode(T, 123_456_789) + b"\x80"
    [message] = feed_all(ForwardSession(), raw)
    assert message.entries == [(T * NS + 123_456_789, {})]
    assert isinstance(message.entries[0][0], int)


def test_forward_mode_entries_and_retained_metadata_form() -> None:
    entries = [[T, {"n": 1}], [[T + 1, {"meta": True}], {"n": 2}], ["bad", {"n": 3}], [T, "not a map"]]
    [message] = feed_all(ForwardSession(), pack(["fw", entries, {"size": 4}]))
    assert message.mode == "forward"
    assert message.entries == [(T * NS, {"n": 1}), ((T + 1) * NS, {"n": 2})]
    assert message.invalid == 2


def test_packed_forward_bin_and_str_entries() -> None:
    packed = pack([T, {"n": 1}]) + pack([T + 1, {"n": 2}])
    [as_bin] = feed_all(ForwardSession(), pack(["p", packed, {"size": 2}]))
    assert (as_bin.mode, [r["n"] for _, r in as_bin.entries]) == ("packed", [1, 2])
    # Fluentd sends the entries as a msgpack str (bytes that are not UTF-8): still decoded exactly.
    raw = b"\x92\xa1p" + b"\xdb" + struct.pack(">I", len(packed)) + packed
    [as_str] = feed_all(ForwardSession(), raw)
    assert [r["n"] for _, r in as_str.entries] == [1, 2]


def test_compressed_packed_forward_with_concatenated_gzip_members() -> None:
    first = gzip.compress(pack([T, {"n": 1}]))
    second = gzip.compress(pack([T, {"n": 2}]) + pack([T, {"n": 3}]))
    [message] = feed_all(ForwardSession(), pack(["c", first + second, {"compressed": "gzip", "chunk": "q"}]))
    assert message.mode == "compressed"
    assert [r["n"] for _, r in message.entries] == [1, 2, 3]


def test_compressed_packed_forward_with_zstd() -> None:
    data = zstandard.ZstdCompressor().compress(pack([T, {"n": 7}]))
    [message] = feed_all(ForwardSession(), pack(["z", data, {"compressed": "zstd"}]))
    assert message.entries == [(T * NS, {"n": 7})]


def test_fluent_signal_metrics_are_not_decoded_as_logs() -> None:
    [message] = feed_all(ForwardSession(), pack(["m", b"\x00\x01cmetrics", {"fluent_signal": 1}]))
    assert (message.signal, message.entries) == (1, [])


# -- framing -------------------------------------------------------------------------------------


def test_byte_by_byte_splits_and_heartbeats() -> None:
    session = ForwardSession()
    stream = pack(None) + pack(["a", T, {"i": 1}]) + pack(None) + pack(["b", [[T, {"i": 2}]]])
    messages = []
    for i in range(len(stream)):
        messages += feed_all(session, stream[i : i + 1])
    assert [(m.tag, m.entries[0][1]["i"]) for m in messages] == [("a", 1), ("b", 2)]
    assert [m.size for m in messages] == [len(pack(["a", T, {"i": 1}])), len(pack(["b", [[T, {"i": 2}]]]))]


def test_oversize_request_closes_the_connection() -> None:
    session = ForwardSession(ForwardSettings(buffer_max_size=1024))
    fed = session.feed(pack(["big", T, {"log": "x" * 4096}]))
    assert fed.close and fed.error is not None and "buffer limit" in fed.error


@pytest.mark.parametrize(
    ("value", "reason"),
    [({"not": "array"}, "array"), ([1, T, {}], "tag"), (["t"], "array"), (["t", True, {}], "second element")],
)
def test_malformed_requests_close_with_a_reason(value: Any, reason: str) -> None:
    fed = ForwardSession().feed(pack(value))
    assert fed.close
    assert fed.error is not None and reason in fed.error


def test_packed_entries_that_are_not_entries_are_counted() -> None:
    [message] = feed_all(ForwardSession(), pack(["t", b"x"]))
    assert (message.entries, message.invalid) == ([], 1)


def test_ack_echoes_the_chunk() -> None:
    assert msgpack.unpackb(ack("Y2h1bms="), raw=False) == {"ack": "Y2h1bms="}


def test_time_forms() -> None:
    assert time_ns(EventTime(5)) == 5
    assert time_ns(3) == 3 * NS
    assert time_ns(True) is None
    assert time_ns([T, {}]) == T * NS
    assert time_ns(msgpack.unpackb(msgpack.packb(event_time(T * NS + 9)), raw=False)) == T * NS + 9


def test_decode_message_heartbeat_is_none() -> None:
    assert decode_message(None) is None


# -- handshake -----------------------------------------------------------------------------------


def _helo(session: ForwardSession) -> Any:
    greeting = session.greeting()
    assert greeting is not None
    return msgpack.unpackb(greeting, raw=False)


def test_handshake_with_shared_key_then_events() -> None:
    session = ForwardSession(ForwardSettings(shared_key="s3cret", self_hostname="router"))
    helo = _helo(session)
    assert helo[0] == "HELO" and len(helo[1]["nonce"]) == 16 and helo[1]["keepalive"] is True
    fed = session.feed(ping(helo, "s3cret", "client") + pack(["after", T, {"ok": 1}]))
    pong = msgpack.unpackb(fed.replies[0], raw=False)
    assert pong[:4] == ["PONG", True, "", "router"]
    assert [m.tag for m in fed.messages] == ["after"]


def test_handshake_with_wrong_key_is_refused_and_closed() -> None:
    session = ForwardSession(ForwardSettings(shared_key="right", self_hostname="router"))
    fed = session.feed(ping(_helo(session), "wrong", "client"))
    pong = msgpack.unpackb(fed.replies[0], raw=False)
    assert pong[:3] == ["PONG", False, "shared_key mismatch"]
    assert fed.close


def test_handshake_with_users_checks_the_password() -> None:
    settings = ForwardSettings(shared_key="k", self_hostname="router", users=(("alice", "pw"),))
    good = ForwardSession(settings)
    assert good.feed(ping(_helo(good), "k", "client", "alice", "pw")).close is False
    bad = ForwardSession(settings)
    fed = bad.feed(ping(_helo(bad), "k", "client", "alice", "nope"))
    assert fed.close and msgpack.unpackb(fed.replies[0], raw=False)[2] == "username/password mismatch"


def test_events_before_the_handshake_are_refused() -> None:
    session = ForwardSession(ForwardSettings(shared_key="k"))
    fed = session.feed(pack(["sneaky", T, {}]))
    assert fed.close and not fed.messages


# -- records ------------------------------------------------------------------------------------


def test_firelens_record_becomes_a_log_record_with_the_ecs_keys() -> None:
    record = {
        "log": "GET /health 200\n",
        "source": "stdout",
        "container_id": "abc-123",
        "container_name": "python-service",
        "ecs_cluster": "otel",
        "ecs_task_arn": "arn:aws:ecs:us-east-1:000000000000:task/otel/5f0c",
        "ecs_task_definition": "otel-demo-app:1",
    }
    out = to_log_record(T * NS, record, "python-service-firelens-5f0c", (T + 1) * NS)
    assert (out.body, out.source, out.time_ns, out.observed_ns) == ("GET /health 200", "stdout", T * NS, (T + 1) * NS)
    detail = decode_log_detail(out.detail)
    assert detail.attributes["log.iostream"] == "stdout"
    assert detail.attributes["fluent.tag"] == "python-service-firelens-5f0c"
    for key in ("container_id", "container_name", "ecs_cluster", "ecs_task_arn", "ecs_task_definition"):
        assert detail.attributes[key] == record[key]
    assert "log" not in detail.attributes


def test_docker_driver_bytes_values_become_text() -> None:
    out = to_log_record(T * NS, {b"log": b"caf\xc3\xa9 \xff", "source": b"stderr"}, "t", 0)
    assert out.body == "café \ufffd"
    assert out.source == "stderr"


def test_record_without_log_is_kept_as_json() -> None:
    out = to_log_record(T * NS, {"message": "hello", "level": "warning"}, "app.x", 0)
    assert out.body == '{"message":"hello","level":"warning"}'
    assert (out.severity_number, out.severity_text) == (13, "warning")
    assert out.source == "forward"


@pytest.mark.parametrize(
    ("line", "severity", "trace", "span"),
    [
        (
            '{"level": "ERROR", "trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174"}',
            17,
            "5b8efff798038103d269b633813fc60c",
            "eee19b7ec3c1b174",
        ),
        ('{"levelname": "INFO", "otelTraceID": "nothex"}', 9, "", ""),
        (
            "2024-11-24 WARNING [app] trace_id=5b8efff798038103d269b633813fc60c span_id=eee19b7ec3c1b174 x",
            13,
            "5b8efff798038103d269b633813fc60c",
            "eee19b7ec3c1b174",
        ),
        ("INFO root: X-Ray 1-5759e988-bd862e3fe1be46a994272793 done", 9, "5759e988bd862e3fe1be46a994272793", ""),
        ('msg {"traceId": "5B8EFFF798038103D269B633813FC60C"}', 0, "5b8efff798038103d269b633813fc60c", ""),
        ("x" * 70 + " ERROR late", 0, "", ""),
        ("CRITICAL disk full", 21, "", ""),
    ],
)
def test_scan_line_lifts_severity_and_trace_context(line: str, severity: int, trace: str, span: str) -> None:
    found_severity, _, trace_id, span_id = scan_line(line)
    assert (found_severity, trace_id.hex(), span_id.hex()) == (severity, trace, span)


def _owner() -> TaskOwner:
    return TaskOwner(
        task_arn="arn:aws:ecs:us-east-1:000000000000:task/otel/5f0c",
        cluster_arn="arn:aws:ecs:us-east-1:000000000000:cluster/otel",
        family="otel-demo-app",
        revision=3,
        launch_type="FARGATE",
        region="us-east-1",
        account="000000000000",
        containers=(
            ContainerOwner("python-service", "5f0c-1234567890", image="otel-demo:python", otel_service_name="orders"),
            ContainerOwner("fluent-bit", "5f0c-2222222222", image="aws-for-fluent-bit:3.0.0"),
        ),
    )


def test_converter_finds_the_task_by_ecs_task_arn_and_names_the_service() -> None:
    owners = TaskOwners()
    owners.update(_owner())
    session = ForwardSession()
    record = {
        "log": "hello",
        "source": "stdout",
        "container_name": "/python-service",
        "ecs_task_arn": _owner().task_arn,
    }
    messages = feed_all(session, pack(["python-service-firelens-5f0c", T, record]))
    [batch] = RecordConverter(owners).batches(messages, None, T * NS)
    attrs = batch.resource.attributes
    assert attrs["service.name"] == "orders"
    assert attrs["container.name"] == "python-service"
    assert attrs["aws.ecs.task.family"] == "otel-demo-app"
    assert attrs["aws.ecs.task.revision"] == "3"
    assert attrs["cloud.platform"] == "aws_ecs"


def test_converter_without_a_task_uses_the_tag() -> None:
    messages = feed_all(ForwardSession(), pack(["myapp.access", T, {"path": "/"}]))
    [batch] = RecordConverter(None).batches(messages, None, 0)
    assert dict(batch.resource.attributes) == {"service.name": "myapp"}
    assert len(batch.records) == 1


class RefusingPipeline:
    """A pipeline that refuses the first ``refusals`` offers, then takes everything."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.taken: list[Any] = []

    def submit_batches(self, signal: str, batches: list[Any], owner: Any, receiver: str) -> object | None:
        if self.refusals:
            self.refusals -= 1
            return None
        self.taken.extend(batches)
        return object()


def test_a_refused_delivery_is_converted_and_counted_once() -> None:
    pipeline = RefusingPipeline(refusals=2)
    clock = iter([100.0, 200.0, 300.0])
    sink = PipelineSink(pipeline, None, clock=lambda: next(clock))  # type: ignore[arg-type]
    messages = feed_all(ForwardSession(), pack(["app", [[T, {"log": "one"}], ["no time", {"log": "x"}]]]))
    peer = Peer("127.0.0.1", 5000, "tcp")
    assert not sink.deliver(messages, peer)
    assert not sink.deliver(messages, peer)
    assert sink.deliver(messages, peer)
    [batch] = pipeline.taken
    assert [(r.body, r.observed_ns) for r in batch.records] == [("one", 100 * NS)]  # observed when first received
    assert sink.invalid_entries == 1
    # Other messages are converted afresh.
    assert sink.deliver(feed_all(ForwardSession(), pack(["app", T, {"log": "two"}])), peer)
    assert [r.body for b in pipeline.taken for r in b.records] == ["one", "two"]
