"""Decoding OTLP export requests (protobuf or JSON) into telemetry records (spec/telemetry.md §1.3, §1.4).

Runs on the ingest thread, never on the event loop. Spans and log records are read through
"column" message types (:data:`COLUMNS`): copies of the OTLP messages in a private descriptor pool
in which each span and log record is ``bytes`` inside its scope, and each span attribute ``bytes``
inside its span. One span then costs a parse of its own bytes (kept as its detail blob, §8.2), a
handful of field reads, and one dictionary lookup per attribute: an attribute's raw
``KeyValue`` bytes map to what the store needs of it (its tag-catalog type, its value when the key
is searchable, an HTTP status), and repeated attributes, the common case, are decoded once
(:class:`AttributeCache`). Nested messages that are only displayed (events, links, log
attributes) keep their real types in the column messages, so the parse still validates every
string in them, as a full parse would.

Rules (§1.4): a span needs a 16-byte trace id and an 8-byte span id, neither all zero, and
``end >= start``; a log record's ids must be empty or of those sizes. Anything else is rejected
on its own and reported as partial success. JSON (§1.3) is normalised to protobuf first: ids are
hex (any case), enums may be names, 64-bit integers strings or numbers, unknown fields ignored,
snake_case keys accepted.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ecslite.telemetry.attributes import DETAIL_OTLP, any_value, attributes_from_pb, body_text
from ecslite.telemetry.log_records import LogBatch, LogRecord
from ecslite.telemetry.model import Resource, Scope, Signal
from ecslite.telemetry.span_records import HTTP_STATUS_KEYS, SEARCHABLE_SPAN_KEYS, Span, SpanBatch, StatusCode

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


# -- column message types ------------------------------------------------------------------------

_F = descriptor_pb2.FieldDescriptorProto
_COMMON = ".opentelemetry.proto.common.v1."
_TRACE = ".opentelemetry.proto.trace.v1."
# (field name, number, type, repeated, message type) per column message; numbers are OTLP's.
_COLUMN_MESSAGES: dict[str, tuple[tuple[str, int, int, bool, str], ...]] = {
    "Span": (
        ("trace_id", 1, _F.TYPE_BYTES, False, ""),
        ("span_id", 2, _F.TYPE_BYTES, False, ""),
        ("trace_state", 3, _F.TYPE_STRING, False, ""),
        ("parent_span_id", 4, _F.TYPE_BYTES, False, ""),
        ("name", 5, _F.TYPE_STRING, False, ""),
        ("kind", 6, _F.TYPE_INT32, False, ""),
        ("start_time_unix_nano", 7, _F.TYPE_FIXED64, False, ""),
        ("end_time_unix_nano", 8, _F.TYPE_FIXED64, False, ""),
        ("attributes", 9, _F.TYPE_BYTES, True, ""),
        ("events", 11, _F.TYPE_MESSAGE, True, _TRACE + "Span.Event"),
        ("links", 13, _F.TYPE_MESSAGE, True, _TRACE + "Span.Link"),
        ("status", 15, _F.TYPE_BYTES, False, ""),
        ("flags", 16, _F.TYPE_FIXED32, False, ""),
    ),
    "ScopeSpans": (
        ("scope", 1, _F.TYPE_MESSAGE, False, _COMMON + "InstrumentationScope"),
        ("spans", 2, _F.TYPE_BYTES, True, ""),
    ),
    "ResourceSpans": (
        ("resource", 1, _F.TYPE_MESSAGE, False, ".opentelemetry.proto.resource.v1.Resource"),
        ("scope_spans", 2, _F.TYPE_MESSAGE, True, ".ecslite.columns.ScopeSpans"),
    ),
    "TraceRequest": (("resource_spans", 1, _F.TYPE_MESSAGE, True, ".ecslite.columns.ResourceSpans"),),
    "LogRecord": (
        ("time_unix_nano", 1, _F.TYPE_FIXED64, False, ""),
        ("severity_number", 2, _F.TYPE_INT32, False, ""),
        ("severity_text", 3, _F.TYPE_STRING, False, ""),
        ("body", 5, _F.TYPE_MESSAGE, False, _COMMON + "AnyValue"),
        ("attributes", 6, _F.TYPE_MESSAGE, True, _COMMON + "KeyValue"),
        ("flags", 8, _F.TYPE_FIXED32, False, ""),
        ("trace_id", 9, _F.TYPE_BYTES, False, ""),
        ("span_id", 10, _F.TYPE_BYTES, False, ""),
        ("observed_time_unix_nano", 11, _F.TYPE_FIXED64, False, ""),
        ("event_name", 12, _F.TYPE_STRING, False, ""),
    ),
    "ScopeLogs": (
        ("scope", 1, _F.TYPE_MESSAGE, False, _COMMON + "InstrumentationScope"),
        ("log_records", 2, _F.TYPE_BYTES, True, ""),
    ),
    "ResourceLogs": (
        ("resource", 1, _F.TYPE_MESSAGE, False, ".opentelemetry.proto.resource.v1.Resource"),
        ("scope_logs", 2, _F.TYPE_MESSAGE, True, ".ecslite.columns.ScopeLogs"),
    ),
    "LogsRequest": (("resource_logs", 1, _F.TYPE_MESSAGE, True, ".ecslite.columns.ResourceLogs"),),
}


def _column_types() -> dict[str, Any]:
    # Any: the column classes are built at run time, so nothing static knows their fields.
    # A private pool: the column types share names with nothing the generated modules register.
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2, trace_pb2, logs_pb2):
        pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    file = descriptor_pb2.FileDescriptorProto(name="ecslite/columns.proto", package="ecslite.columns", syntax="proto3")
    file.dependency.extend(module.DESCRIPTOR.name for module in (common_pb2, resource_pb2, trace_pb2, logs_pb2))
    for name, fields in _COLUMN_MESSAGES.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, repeated, type_name in fields:
            label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            column = message.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                column.type_name = type_name
    pool.AddSerializedFile(file.SerializeToString())
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"ecslite.columns.{name}"))
        for name in _COLUMN_MESSAGES
    }


COLUMNS = _column_types()


class AttributeInfo(NamedTuple):
    """What the store needs of one span attribute (its raw ``KeyValue`` bytes are the cache key)."""

    key_type: tuple[str, str]  # (key, Tempo type name) for the tag catalog
    tag: tuple[str, str | int | float | bool] | None  # (key, value) when the key is searchable
    http_status: int | None


class AttributeCache:
    """Raw ``KeyValue`` bytes → :class:`AttributeInfo`, shared by every request.

    Only small attributes are kept (values such as ``http.request.method=GET`` repeat across
    spans; large ones rarely do), and the cache is emptied when it grows past ``max_entries`` so
    high-cardinality values (ids in ``url.path``) cannot grow it without bound.
    """

    MAX_KEY_BYTES = 256

    def __init__(self, searchable: frozenset[str] = SEARCHABLE_SPAN_KEYS, max_entries: int = 50_000) -> None:
        self.searchable = searchable
        self.max_entries = max_entries
        self.entries: dict[bytes, AttributeInfo] = {}
        self._lock = threading.Lock()

    def info(self, raw: bytes) -> AttributeInfo:
        """Decode one attribute (a cache miss); :class:`BadRequest` if it is not a valid ``KeyValue``."""
        try:
            kv = common_pb2.KeyValue.FromString(raw)
        except DecodeError as error:
            raise BadRequest(f"invalid protobuf: {error}") from None
        key = kv.key
        kind = kv.value.WhichOneof("value")
        tag = None
        http_status = None
        if key in self.searchable:
            plain = any_value(kv.value)
            if isinstance(plain, str | int | float | bool):
                tag = (key, plain)
                if key in HTTP_STATUS_KEYS:
                    http_status = _status_int(plain)
        found = AttributeInfo((key, _VALUE_TYPES.get(kind or "", "none")), tag, http_status)
        if len(raw) <= self.MAX_KEY_BYTES:
            with self._lock:
                if len(self.entries) >= self.max_entries:
                    self.entries = {}
                self.entries[raw] = found
        return found


ATTRIBUTES = AttributeCache()
_STATUSES: dict[bytes, tuple[int, str]] = {b"": (StatusCode.UNSET, "")}
_MAX_STATUSES = 10_000


def _status(raw: bytes) -> tuple[int, str]:
    found = _STATUSES.get(raw)
    if found is None:
        try:
            status = trace_pb2.Status.FromString(raw)
        except DecodeError as error:
            raise BadRequest(f"invalid protobuf: {error}") from None
        found = (status.code, status.message)
        if len(_STATUSES) >= _MAX_STATUSES:
            _STATUSES.clear()
            _STATUSES[b""] = (StatusCode.UNSET, "")
        _STATUSES[raw] = found
    return found


def _columns(kind: str, body: bytes) -> Any:
    try:
        return COLUMNS[kind].FromString(body)
    except DecodeError as error:
        raise BadRequest(f"invalid protobuf: {error}") from None


def _scope(pb_scope: Any) -> Scope:
    return Scope(pb_scope.name, pb_scope.version, attributes_from_pb(pb_scope.attributes))


def _resource(pb_resource: Any, on_resource: ResourceHook) -> Resource:
    return on_resource(Resource(attributes_from_pb(pb_resource.attributes), pb_resource.dropped_attributes_count))


# -- traces --------------------------------------------------------------------------------------


def decode_traces(
    request: trace_service_pb2.ExportTraceServiceRequest, on_resource: ResourceHook, oldest_ns: int
) -> Decoded:
    """Spans of a parsed request (kept for callers holding a message; ingest uses :func:`decode_trace_bytes`)."""
    return decode_trace_bytes(request.SerializeToString(), on_resource, oldest_ns)


def decode_trace_bytes(body: bytes, on_resource: ResourceHook, oldest_ns: int) -> Decoded:
    """Spans of a serialized ``ExportTraceServiceRequest``; :class:`BadRequest` if it is not one."""
    decoded = Decoded(Signal.TRACES)
    span_type = COLUMNS["Span"]
    cached = ATTRIBUTES.entries.get
    miss = ATTRIBUTES.info
    new_span = tuple.__new__
    for resource_spans in _columns("TraceRequest", body).resource_spans:
        resource = _resource(resource_spans.resource, on_resource)
        for scope_spans in resource_spans.scope_spans:
            spans: list[Span] = []
            for raw in scope_spans.spans:
                try:
                    span = span_type.FromString(raw)
                except DecodeError as error:
                    raise BadRequest(f"invalid protobuf: {error}") from None
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
                tags: list[tuple[str, str | int | float | bool]] = []
                types: list[tuple[str, str]] = []
                http_status = None
                for attribute in span.attributes:
                    info = cached(attribute) or miss(attribute)
                    types.append(info[0])
                    if info[1] is not None:
                        tags.append(info[1])
                        if http_status is None:
                            http_status = info[2]
                code, message = _status(span.status)
                spans.append(
                    new_span(
                        Span,
                        (
                            trace_id,
                            span_id,
                            span.parent_span_id,
                            span.name,
                            span.kind,
                            start,
                            end,
                            code,
                            message,
                            span.flags,
                            http_status,
                            OTLP_PREFIX + raw,
                            tuple(tags),
                            tuple(types),
                        ),
                    )
                )
            if spans:
                decoded.batches.append(SpanBatch(resource, _scope(scope_spans.scope), spans))
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
    """Records of a parsed request (kept for callers holding a message; ingest uses :func:`decode_log_bytes`)."""
    return decode_log_bytes(request.SerializeToString(), on_resource, oldest_ns, now_ns)


def decode_log_bytes(body: bytes, on_resource: ResourceHook, oldest_ns: int, now_ns: int) -> Decoded:
    """Log records of a serialized ``ExportLogsServiceRequest``; :class:`BadRequest` if it is not one."""
    decoded = Decoded(Signal.LOGS)
    record_type = COLUMNS["LogRecord"]
    new_record = tuple.__new__
    for resource_logs in _columns("LogsRequest", body).resource_logs:
        resource = _resource(resource_logs.resource, on_resource)
        for scope_logs in resource_logs.scope_logs:
            records: list[LogRecord] = []
            for raw in scope_logs.log_records:
                try:
                    record = record_type.FromString(raw)
                except DecodeError as error:
                    raise BadRequest(f"invalid protobuf: {error}") from None
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
                body_value = record.body
                kind = body_value.WhichOneof("value")
                if kind == "string_value":
                    text = body_value.string_value
                else:
                    text = body_text(any_value(body_value)) if kind is not None else ""
                records.append(
                    new_record(
                        LogRecord,
                        (
                            record.time_unix_nano,
                            observed,
                            record.severity_number,
                            record.severity_text,
                            text,
                            trace_id,
                            span_id,
                            record.flags,
                            "otlp",
                            OTLP_PREFIX + raw,
                            record.event_name,
                        ),
                    )
                )
            if records:
                decoded.batches.append(LogBatch(resource, _scope(scope_logs.scope), records))
                decoded.accepted += len(records)
    return decoded


def hex_id(value: bytes) -> str:
    return binascii.hexlify(value).decode()
