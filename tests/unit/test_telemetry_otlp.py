"""OTLP decoding through the column messages (telemetry.otlp): the same records a full parse gives,
the original bytes as the detail blob, and every string still validated."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ecslite.telemetry import otlp
from ecslite.telemetry.attributes import set_any_value
from ecslite.telemetry.log_records import decode_log_detail
from ecslite.telemetry.model import Resource
from ecslite.telemetry.span_records import decode_span_detail

NOW = 1_750_000_000_000_000_000


def same(resource: Resource) -> Resource:
    return resource


def trace_request(**span_fields: object) -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    set_any_value(resource_spans.resource.attributes.add(key="service.name").value, "orders")
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name, scope_spans.scope.version = "fastapi", "0.1"
    fields = {
        "trace_id": b"\x01" * 16,
        "span_id": b"\x02" * 8,
        "name": "GET /orders/{id}",
        "kind": trace_pb2.Span.SPAN_KIND_SERVER,
        "start_time_unix_nano": NOW,
        "end_time_unix_nano": NOW + 5_000_000,
        **span_fields,
    }
    scope_spans.spans.add(**fields)  # type: ignore[arg-type]
    return request


def test_span_columns_tags_types_and_detail() -> None:
    request = trace_request(parent_span_id=b"\x03" * 8, flags=0x301, trace_state="k=v")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    for key, value in (
        ("http.request.method", "GET"),
        ("http.response.status_code", 503),
        ("http.route", "/orders/{id}"),
        ("retry", True),
        ("ratio", 0.5),
        ("ids", [1, 2]),
        ("peer.service", "pricing"),
    ):
        set_any_value(span.attributes.add(key=key).value, value)
    span.status.code, span.status.message = trace_pb2.Status.STATUS_CODE_ERROR, "upstream failed"
    event = span.events.add(time_unix_nano=NOW + 1, name="exception")
    set_any_value(event.attributes.add(key="exception.type").value, "ValueError")
    span.links.add(trace_id=b"\x09" * 16, span_id=b"\x08" * 8)

    decoded = otlp.decode_trace_bytes(request.SerializeToString(), same, 0)
    [batch] = decoded.batches
    [stored] = batch.spans
    assert (decoded.accepted, decoded.rejected) == (1, 0)
    assert (batch.resource.service_name, batch.scope.name, batch.scope.version) == ("orders", "fastapi", "0.1")
    assert stored[:11] == (
        b"\x01" * 16,
        b"\x02" * 8,
        b"\x03" * 8,
        "GET /orders/{id}",
        2,
        NOW,
        NOW + 5_000_000,
        2,
        "upstream failed",
        0x301,
        503,
    )
    assert stored.tags == (
        ("http.request.method", "GET"),
        ("http.response.status_code", 503),
        ("http.route", "/orders/{id}"),
        ("peer.service", "pricing"),
    )
    assert dict(stored.attr_types) == {
        "http.request.method": "string",
        "http.response.status_code": "int",
        "http.route": "string",
        "retry": "bool",
        "ratio": "float",
        "ids": "array",
        "peer.service": "string",
    }
    assert trace_pb2.Span.FromString(stored.detail[1:]) == span
    detail = decode_span_detail(stored.detail)
    assert detail.attributes["ids"] == [1, 2]
    assert detail.events[0].attributes == {"exception.type": "ValueError"}
    assert (detail.links[0].trace_id, detail.trace_state) == (b"\x09" * 16, "k=v")


def test_same_records_from_a_message_and_from_its_bytes() -> None:
    request = trace_request()
    set_any_value(request.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="http.method").value, "POST")
    from_message = otlp.decode_traces(request, same, 0)
    from_bytes = otlp.decode_trace_bytes(request.SerializeToString(), same, 0)
    assert from_message.batches == from_bytes.batches


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"trace_id": b"\x00" * 16}, "invalid trace id (16 bytes, not all zero)"),
        ({"trace_id": b"\x01" * 8}, "invalid trace id (16 bytes, not all zero)"),
        ({"span_id": b""}, "invalid span id (8 bytes, not all zero)"),
        ({"end_time_unix_nano": NOW - 1}, "end time before start time"),
    ],
)
def test_invalid_spans_are_rejected_one_by_one(fields: dict[str, object], reason: str) -> None:
    request = trace_request(**fields)
    good = request.resource_spans[0].scope_spans[0].spans.add()
    good.CopyFrom(trace_request().resource_spans[0].scope_spans[0].spans[0])
    decoded = otlp.decode_trace_bytes(request.SerializeToString(), same, 0)
    assert (decoded.accepted, decoded.rejected, decoded.error_message) == (1, 1, f"1 rejected: {reason}")


def test_spans_older_than_retention_are_rejected() -> None:
    decoded = otlp.decode_trace_bytes(trace_request().SerializeToString(), same, NOW + 10**10)
    assert decoded.error_message == "1 rejected: older than the trace retention"


def _with_bad_utf8(request: trace_service_pb2.ExportTraceServiceRequest, marker: str) -> bytes:
    body = request.SerializeToString()
    assert body.count(marker.encode()) == 1
    return body.replace(marker.encode(), b"\xff" * len(marker))


@pytest.mark.parametrize("where", ["attribute", "event", "name", "status"])
def test_invalid_utf8_anywhere_in_a_span_is_a_bad_request(where: str) -> None:
    request = trace_request()
    span = request.resource_spans[0].scope_spans[0].spans[0]
    if where == "attribute":
        set_any_value(span.attributes.add(key="k").value, "MARKER")
    elif where == "event":
        set_any_value(span.events.add(name="e").attributes.add(key="k").value, "MARKER")
    elif where == "name":
        span.name = "MARKER"
    else:
        span.status.message = "MARKER"
    with pytest.raises(otlp.BadRequest, match=r"^invalid protobuf"):
        otlp.decode_trace_bytes(_with_bad_utf8(request, "MARKER"), same, 0)


def test_attribute_cache_is_bounded() -> None:
    cache = otlp.AttributeCache(max_entries=3)
    request = trace_request()
    span = request.resource_spans[0].scope_spans[0].spans[0]
    for n in range(10):
        set_any_value(span.attributes.add(key="url.path").value, f"/orders/{n}")
    raws = [kv.SerializeToString() for kv in span.attributes]
    infos = [cache.info(raw) for raw in raws]
    assert len(cache.entries) <= 3
    assert [info.tag for info in infos] == [("url.path", f"/orders/{n}") for n in range(10)]


def test_log_records_with_every_kind_of_body() -> None:
    request = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    scope_logs = resource_logs.scope_logs.add()
    text = scope_logs.log_records.add(time_unix_nano=NOW, severity_number=9, severity_text="INFO")
    text.body.string_value = "order created"
    structured = scope_logs.log_records.add(observed_time_unix_nano=NOW, trace_id=b"\x05" * 16, span_id=b"\x06" * 8)
    set_any_value(structured.body, {"msg": "hi", "n": 2})
    set_any_value(structured.attributes.add(key="user").value, "ann")
    scope_logs.log_records.add(time_unix_nano=NOW, event_name="checkout")
    decoded = otlp.decode_log_bytes(request.SerializeToString(), same, 0, NOW + 7)
    [batch] = decoded.batches
    first, second, third = batch.records
    assert (first.body, first.time_ns, first.observed_ns, first.severity_number) == ("order created", NOW, NOW + 7, 9)
    assert (second.body, second.time_ns, second.trace_id, second.source) == (
        '{"msg":"hi","n":2}',
        0,
        b"\x05" * 16,
        "otlp",
    )
    assert decode_log_detail(second.detail).attributes == {"user": "ann"}
    assert decode_log_detail(second.detail).body == {"msg": "hi", "n": 2}
    assert (third.body, third.event_name) == ("", "checkout")
