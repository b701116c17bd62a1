"""Decoding OTLP export requests (protobuf or JSON) into telemetry records (spec/telemetry.md §1.3, §1.4).

Runs on the ingest thread, never on the event loop. Per span the work is a fixed handful of field
reads plus one pass over the attribute keys; attributes, events and links stay in the original
protobuf bytes (§8.1, §8.2).

Rules (§1.4): a span needs a 16-byte trace id and an 8-byte span id, neither all zero, and
``end >= start``; a log record's ids must be empty or of those sizes. Anything else is rejected
on its own and reported as partial success. JSON (§1.3) is normalised to protobuf first: ids are
hex (any case), enums may be names, 64-bit integers strings or numbers, unknown fields ignored,
snake_case keys accepted.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ecslite.telemetry.model import (
    DETAIL_OTLP,
    HTTP_STATUS_KEYS,
    SEARCHABLE_SPAN_KEYS,
    LogBatch,
    LogRecord,
    Resource,
    Scope,
    Signal,
    Span,
    SpanBatch,
    any_value,
    attributes_from_pb,
    body_text,
)

ZERO_TRACE = bytes(16)
ZERO_SPAN = bytes(8)
OTLP_PREFIX = bytes([DETAIL_OTLP])
REQUESTS: dict[str, type[Message]] = {
    Signal.TRACES: trace_service_pb2.ExportTraceServiceRequest,
    Signal.LOGS: logs_service_pb2.ExportLogsServiceRequest,
    Signal.METRICS: metrics_service_pb2.ExportMetricsServiceRequest,
}
ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_VALUE_TYPES = {
    "string_value": "string",
    "int_value": "int",
    "double_value": "float",
    "bool_value": "bool",
    "array_value": "array",
    "kvlist_value": "kvlist",
    "bytes_value": "bytes",
}

ResourceHook = Callable[[Resource], Resource]


class BadRequest(Exception):
    """The body is not a valid export request: HTTP 400 / gRPC INVALID_ARGUMENT (§1.2)."""


@dataclass(slots=True)
class Decoded:
    """What one request yields: batches for the store and the partial-success figures."""

    signal: str
    batches: list[Any] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    request: Message | None = None

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected += count
        self.reasons[reason] = self.reasons.get(reason, 0) + count

    @property
    def error_message(self) -> str:
        return "; ".join(f"{n} rejected: {reason}" for reason, n in self.reasons.items())


def parse_request(signal: str, body: bytes, encoding: str) -> Message:
    """The export request of ``signal`` from a protobuf or JSON body; :class:`BadRequest` if invalid."""
    message_type = REQUESTS[signal]
    if encoding == "json":
        try:
            document = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError as error:
            raise BadRequest(f"invalid JSON: {error}") from None
        if not isinstance(document, dict):
            raise BadRequest("invalid JSON: the body must be an object")
        try:
            return json_format.ParseDict(_normalise_ids(document), message_type(), ignore_unknown_fields=True)
        except (json_format.ParseError, ValueError, TypeError) as error:
            raise BadRequest(f"invalid OTLP JSON: {error}") from None
    try:
        return message_type.FromString(body)
    except DecodeError as error:
        raise BadRequest(f"invalid protobuf: {error}") from None


def _normalise_ids(value: Any) -> Any:
    """OTLP JSON ids are hex; protobuf JSON wants base64 (§1.3). Invalid hex becomes an empty id
    (so the record is rejected on its own, not the request)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ID_KEYS and isinstance(item, str):
                try:
                    out[key] = base64.b64encode(bytes.fromhex(item)).decode()
                except ValueError:
                    out[key] = base64.b64encode(b"\xff").decode()  # wrong length: rejected by validation
            else:
                out[key] = _normalise_ids(item)
        return out
    if isinstance(value, list):
        return [_normalise_ids(v) for v in value]
    return value


# -- traces --------------------------------------------------------------------------------------


def decode_traces(
    request: trace_service_pb2.ExportTraceServiceRequest, on_resource: ResourceHook, oldest_ns: int
) -> Decoded:
    decoded = Decoded(Signal.TRACES)
    searchable = SEARCHABLE_SPAN_KEYS
    http_keys = HTTP_STATUS_KEYS
    for resource_spans in request.resource_spans:
        pb_resource = resource_spans.resource
        resource = on_resource(
            Resource(attributes_from_pb(pb_resource.attributes), pb_resource.dropped_attributes_count)
        )
        for scope_spans in resource_spans.scope_spans:
            pb_scope = scope_spans.scope
            scope = Scope(pb_scope.name, pb_scope.version, attributes_from_pb(pb_scope.attributes))
            spans: list[Span] = []
            for span in scope_spans.spans:
                trace_id = span.trace_id
                span_id = span.span_id
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                if len(trace_id) != 16 or trace_id == ZERO_TRACE:
                    decoded.reject("invalid trace id (16 bytes, not all zero)")
                    continue
                if len(span_id) != 8 or span_id == ZERO_SPAN:
                    decoded.reject("invalid span id (8 bytes, not all zero)")
                    continue
                if end < start:
                    decoded.reject("end time before start time")
                    continue
                if end < oldest_ns:
                    decoded.reject("older than the trace retention")
                    continue
                http_status = None
                tags: list[tuple[str, str | int | float | bool]] = []
                types: list[tuple[str, str]] = []
                for kv in span.attributes:
                    key = kv.key
                    value = kv.value
                    kind = value.WhichOneof("value")
                    types.append((key, _VALUE_TYPES.get(kind or "", "none")))
                    if key in searchable:
                        plain = any_value(value)
                        if isinstance(plain, str | int | float | bool):
                            tags.append((key, plain))
                            if key in http_keys and http_status is None:
                                http_status = _status_int(plain)
                status = span.status
                spans.append(
                    Span(
                        trace_id,
                        span_id,
                        span.parent_span_id,
                        span.name,
                        span.kind,
                        start,
                        end,
                        status.code,
                        status.message,
                        span.flags,
                        http_status,
                        OTLP_PREFIX + span.SerializeToString(),
                        tuple(tags),
                        tuple(types),
                    )
                )
            if spans:
                decoded.batches.append(SpanBatch(resource, scope, spans))
                decoded.accepted += len(spans)
    return decoded


def _status_int(value: str | int | float | bool) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


# -- logs ----------------------------------------------------------------------------------------


def decode_logs(
    request: logs_service_pb2.ExportLogsServiceRequest, on_resource: ResourceHook, oldest_ns: int, now_ns: int
) -> Decoded:
    decoded = Decoded(Signal.LOGS)
    for resource_logs in request.resource_logs:
        pb_resource = resource_logs.resource
        resource = on_resource(
            Resource(attributes_from_pb(pb_resource.attributes), pb_resource.dropped_attributes_count)
        )
        for scope_logs in resource_logs.scope_logs:
            pb_scope = scope_logs.scope
            scope = Scope(pb_scope.name, pb_scope.version, attributes_from_pb(pb_scope.attributes))
            records: list[LogRecord] = []
            for record in scope_logs.log_records:
                trace_id = record.trace_id
                span_id = record.span_id
                if trace_id and (len(trace_id) != 16 or trace_id == ZERO_TRACE):
                    decoded.reject("invalid trace id (16 bytes, not all zero)")
                    continue
                if span_id and (len(span_id) != 8 or span_id == ZERO_SPAN):
                    decoded.reject("invalid span id (8 bytes, not all zero)")
                    continue
                observed = record.observed_time_unix_nano or now_ns
                when = record.time_unix_nano or observed
                if when < oldest_ns:
                    decoded.reject("older than the log retention")
                    continue
                body = body_text(any_value(record.body)) if record.HasField("body") else ""
                records.append(
                    LogRecord(
                        record.time_unix_nano,
                        observed,
                        record.severity_number,
                        record.severity_text,
                        body,
                        trace_id,
                        span_id,
                        record.flags,
                        "otlp",
                        OTLP_PREFIX + record.SerializeToString(),
                        record.event_name,
                    )
                )
            if records:
                decoded.batches.append(LogBatch(resource, scope, records))
                decoded.accepted += len(records)
    return decoded


def hex_id(value: bytes) -> str:
    return binascii.hexlify(value).decode()
