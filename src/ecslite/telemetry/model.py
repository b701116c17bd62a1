"""Telemetry records: resources, scopes, spans (with events and links), log records and metric
samples, as the receivers produce them and the store keeps them (spec/telemetry.md §2, §8.2).

Invariants:

- Ids are raw bytes (trace 16, span 8); an absent id is ``b""``. Times are Unix nanoseconds,
  except metric samples, which are Unix milliseconds (the Prometheus model, §8.3).
- Attribute values are the Python form of OTLP ``AnyValue``: ``str``, ``bool``, ``int``,
  ``float``, ``bytes``, ``list`` (arrayValue), ``dict`` (kvlistValue) or ``None`` (empty value).
- What is only shown, never searched (span attributes, events, links, log attributes), travels
  and is stored as one compact blob per record (§8.2): :func:`encode_span_detail` /
  :func:`encode_log_detail` (msgpack) for records built in Python, or the original OTLP protobuf
  bytes of the span or log record for records received over OTLP (no per-attribute Python work
  on the ingest path, §8.1). :func:`decode_span_detail` and :func:`decode_log_detail` read both.
  In a msgpack blob the attributes are a list of ``[key, value]`` pairs, or a map when every
  value is a plain scalar (Forward records, which pack faster that way).
- Hot records (:class:`Span`, :class:`LogRecord`, :class:`Sample`) are ``NamedTuple``\\ s: they
  are immutable like the frozen dataclasses used elsewhere but cost a fifth to build, which
  matters at tens of thousands of records a second (§8.1).
- A resource is identified by the hash of its sorted attributes (:attr:`Resource.key`); stores
  keep each resource once and point records at it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple, TypeAlias

import msgpack
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

AttrValue: TypeAlias = "str | bool | int | float | bytes | list[AttrValue] | dict[str, AttrValue] | None"
Attributes: TypeAlias = Mapping[str, AttrValue]
Labels: TypeAlias = tuple[tuple[str, str], ...]
"""Sorted ``(name, value)`` pairs; metric labels include ``__name__``."""

UNKNOWN_SERVICE = "unknown_service"
ROOT_NOT_YET_RECEIVED = "<root span not yet received>"

# Blob formats (first byte of a detail blob).
DETAIL_MSGPACK = 0
DETAIL_OTLP = 1


class Signal:
    TRACES = "traces"
    LOGS = "logs"
    METRICS = "metrics"
    ALL = ("traces", "logs", "metrics")


class SpanKind(IntEnum):
    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


class StatusCode(IntEnum):
    UNSET = 0
    OK = 1
    ERROR = 2


# -- resources and scopes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resource:
    """The producing process or container (§2.1). Treat ``attributes`` as read-only."""

    attributes: Mapping[str, AttrValue] = field(default_factory=dict)
    dropped_attributes_count: int = 0

    @property
    def key(self) -> bytes:
        """16-byte identity: a hash of the sorted attributes."""
        return attributes_hash(self.attributes)

    @property
    def service_name(self) -> str:
        name = self.attributes.get("service.name")
        return name if isinstance(name, str) and name else UNKNOWN_SERVICE

    def get_str(self, key: str) -> str | None:
        value = self.attributes.get(key)
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Scope:
    """An instrumentation scope (library name and version)."""

    name: str = ""
    version: str = ""
    attributes: Mapping[str, AttrValue] = field(default_factory=dict)

    @property
    def key(self) -> bytes:
        return attributes_hash({"\x00name": self.name, "\x00version": self.version, **self.attributes})


def attributes_hash(attributes: Mapping[str, AttrValue]) -> bytes:
    packed = msgpack.packb(sorted(attributes.items(), key=lambda item: item[0]), use_bin_type=True)
    return hashlib.blake2b(packed, digest_size=16).digest()


# -- spans -------------------------------------------------------------------------------------


class Span(NamedTuple):
    """One span as stored; searchable fields are columns, the rest is in ``detail`` (§2.2, §8.3).

    ``tags`` are the values of the searchable attributes (the §8.3 allowlist) and ``attr_types``
    the ``(key, type)`` of every attribute seen on the span, for the tag catalog; both are filled
    by whoever builds the record (:func:`span_from_python` or the OTLP decoder).
    """

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    flags: int
    http_status: int | None
    detail: bytes
    tags: tuple[tuple[str, str | int | float | bool], ...] = ()
    attr_types: tuple[tuple[str, str], ...] = ()

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def is_root(self) -> bool:
        return not self.parent_span_id


class SpanEvent(NamedTuple):
    time_ns: int
    name: str
    attributes: dict[str, AttrValue]
    dropped_attributes_count: int = 0


class SpanLink(NamedTuple):
    trace_id: bytes
    span_id: bytes
    trace_state: str
    attributes: dict[str, AttrValue]
    dropped_attributes_count: int = 0
    flags: int = 0


@dataclass(frozen=True, slots=True)
class SpanDetail:
    """What a span's ``detail`` blob holds, decoded for display."""

    attributes: dict[str, AttrValue]
    events: tuple[SpanEvent, ...] = ()
    links: tuple[SpanLink, ...] = ()
    trace_state: str = ""
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0


@dataclass(frozen=True, slots=True)
class SpanBatch:
    """Spans of one resource and scope: the unit the pipeline hands to the store."""

    resource: Resource
    scope: Scope
    spans: Sequence[Span]


# Searchable span attributes (§8.3); values land in span_tags with an index.
SEARCHABLE_SPAN_KEYS = frozenset(
    {
        "http.request.method",
        "http.method",
        "http.response.status_code",
        "http.status_code",
        "http.route",
        "url.path",
        "rpc.method",
        "rpc.service",
        "db.system",
        "peer.service",
        "error.type",
        "server.address",
        "messaging.system",
    }
)
HTTP_STATUS_KEYS = ("http.response.status_code", "http.status_code")


def value_type(value: AttrValue) -> str:
    """The tag type names Tempo uses (``string``, ``int``, ``float``, ``bool``, ...)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "kvlist"
    return "none"


def encode_span_detail(detail: SpanDetail) -> bytes:
    payload = [
        _attrs_list(detail.attributes),
        [[e.time_ns, e.name, _attrs_list(e.attributes), e.dropped_attributes_count] for e in detail.events],
        [
            [lk.trace_id, lk.span_id, lk.trace_state, _attrs_list(lk.attributes), lk.dropped_attributes_count, lk.flags]
            for lk in detail.links
        ],
        detail.trace_state,
        detail.dropped_attributes_count,
        detail.dropped_events_count,
        detail.dropped_links_count,
    ]
    packed: bytes = msgpack.packb(payload, use_bin_type=True)
    return bytes([DETAIL_MSGPACK]) + packed


def decode_span_detail(blob: bytes) -> SpanDetail:
    if not blob:
        return SpanDetail({})
    if blob[0] == DETAIL_OTLP:
        span = trace_pb2.Span.FromString(blob[1:])
        return SpanDetail(
            attributes=attributes_from_pb(span.attributes),
            events=tuple(
                SpanEvent(e.time_unix_nano, e.name, attributes_from_pb(e.attributes), e.dropped_attributes_count)
                for e in span.events
            ),
            links=tuple(
                SpanLink(
                    lk.trace_id,
                    lk.span_id,
                    lk.trace_state,
                    attributes_from_pb(lk.attributes),
                    lk.dropped_attributes_count,
                    lk.flags,
                )
                for lk in span.links
            ),
            trace_state=span.trace_state,
            dropped_attributes_count=span.dropped_attributes_count,
            dropped_events_count=span.dropped_events_count,
            dropped_links_count=span.dropped_links_count,
        )
    attrs, events, links, trace_state, dropped_attrs, dropped_events, dropped_links = msgpack.unpackb(
        blob[1:], raw=False
    )
    return SpanDetail(
        attributes=_attrs_dict(attrs),
        events=tuple(SpanEvent(t, n, _attrs_dict(a), d) for t, n, a, d in events),
        links=tuple(SpanLink(tid, sid, ts, _attrs_dict(a), d, f) for tid, sid, ts, a, d, f in links),
        trace_state=trace_state,
        dropped_attributes_count=dropped_attrs,
        dropped_events_count=dropped_events,
        dropped_links_count=dropped_links,
    )


def span_from_python(
    *,
    trace_id: bytes,
    span_id: bytes,
    name: str,
    start_ns: int,
    end_ns: int,
    parent_span_id: bytes = b"",
    kind: int = SpanKind.INTERNAL,
    status_code: int = StatusCode.UNSET,
    status_message: str = "",
    flags: int = 0,
    attributes: Attributes | None = None,
    events: Sequence[SpanEvent] = (),
    links: Sequence[SpanLink] = (),
    trace_state: str = "",
) -> Span:
    """A span built in Python (X-Ray segments, ecslite's own hops, tests)."""
    attrs = dict(attributes or {})
    detail = SpanDetail(attrs, tuple(events), tuple(links), trace_state)
    return Span(
        trace_id,
        span_id,
        parent_span_id,
        name,
        int(kind),
        start_ns,
        end_ns,
        int(status_code),
        status_message,
        flags,
        http_status_of(attrs),
        encode_span_detail(detail),
        searchable_tags(attrs),
        tuple((k, value_type(v)) for k, v in attrs.items()),
    )


def http_status_of(attributes: Attributes) -> int | None:
    for key in HTTP_STATUS_KEYS:
        value = attributes.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def searchable_tags(attributes: Attributes) -> tuple[tuple[str, str | int | float | bool], ...]:
    return tuple(
        (k, v) for k, v in attributes.items() if k in SEARCHABLE_SPAN_KEYS and isinstance(v, str | int | float | bool)
    )


# -- logs --------------------------------------------------------------------------------------


class LogRecord(NamedTuple):
    """One log record (§2.3). ``body`` is the text form (maps and lists JSON-encoded) that line
    filters search; the original body and the attributes are in ``detail``. ``source`` is the
    Loki ``source`` label: ``stdout``, ``stderr`` or ``otlp``."""

    time_ns: int
    observed_ns: int
    severity_number: int
    severity_text: str
    body: str
    trace_id: bytes
    span_id: bytes
    flags: int
    source: str
    detail: bytes
    event_name: str = ""


@dataclass(frozen=True, slots=True)
class LogDetail:
    """What a log record's ``detail`` blob holds. ``body`` is the original body (a map, a list, ...);
    ``None`` when the record's text ``body`` is all there is (Forward lines store it once)."""

    attributes: dict[str, AttrValue]
    body: AttrValue = None
    dropped_attributes_count: int = 0


@dataclass(frozen=True, slots=True)
class LogBatch:
    resource: Resource
    scope: Scope
    records: Sequence[LogRecord]


def encode_log_detail(detail: LogDetail) -> bytes:
    payload = [_attrs_list(detail.attributes), _pack_value(detail.body), detail.dropped_attributes_count]
    packed: bytes = msgpack.packb(payload, use_bin_type=True)
    return bytes([DETAIL_MSGPACK]) + packed


def decode_log_detail(blob: bytes) -> LogDetail:
    if not blob:
        return LogDetail({})
    if blob[0] == DETAIL_OTLP:
        record = logs_pb2.LogRecord.FromString(blob[1:])
        body = any_value(record.body) if record.HasField("body") else None
        return LogDetail(attributes_from_pb(record.attributes), body, record.dropped_attributes_count)
    attrs, body, dropped = msgpack.unpackb(blob[1:], raw=False)
    return LogDetail(_attrs_dict(attrs), _unpack_value(body), dropped)


def log_from_python(
    *,
    time_ns: int,
    body: AttrValue,
    observed_ns: int = 0,
    severity_number: int = 0,
    severity_text: str = "",
    trace_id: bytes = b"",
    span_id: bytes = b"",
    flags: int = 0,
    source: str = "otlp",
    attributes: Attributes | None = None,
    event_name: str = "",
) -> LogRecord:
    """A log record built in Python (Forward/FireLens lines, awslogs, tests)."""
    detail = LogDetail(dict(attributes or {}), body)
    return LogRecord(
        time_ns,
        observed_ns or time_ns,
        severity_number,
        severity_text,
        body_text(body),
        trace_id,
        span_id,
        flags,
        source,
        encode_log_detail(detail),
        event_name,
    )


def body_text(body: AttrValue) -> str:
    if isinstance(body, str):
        return body
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    import orjson

    return orjson.dumps(_jsonable(body)).decode()


SEVERITY_NAMES = ((21, "FATAL"), (17, "ERROR"), (13, "WARN"), (9, "INFO"), (5, "DEBUG"), (1, "TRACE"))


def severity_level(number: int, text: str = "") -> str | None:
    """The Loki ``level`` label for a record: from the severity number (§2.3), else its text."""
    for low, name in SEVERITY_NAMES:
        if number >= low:
            return name.lower()
    if text:
        upper = text.upper()
        if upper.startswith("WARN"):
            return "warn"
        if upper in ("CRITICAL", "FATAL", "ERROR", "INFO", "DEBUG", "TRACE"):
            return "fatal" if upper == "CRITICAL" else upper.lower()
    return None


_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def sanitize_label_name(name: str) -> str:
    cleaned = _LABEL_INVALID.sub("_", name)
    if not cleaned or cleaned[0].isdigit():
        cleaned = "_" + cleaned
    return cleaned


def log_stream_labels(resource: Resource, source: str, level: str | None) -> Labels:
    """The Loki stream labels of a record (§2.3): a small, fixed set to keep cardinality low."""
    labels: dict[str, str] = {"service_name": resource.service_name, "source": source}
    cluster = resource.get_str("aws.ecs.cluster.arn")
    if cluster:
        labels["cluster"] = cluster.rsplit("/", 1)[-1]
    family = resource.get_str("aws.ecs.task.family")
    if family:
        labels["task_family"] = family
    container = resource.get_str("container.name")
    if container:
        labels["container"] = container
    if level:
        labels["level"] = level
    return tuple(sorted(labels.items()))


# -- metrics -----------------------------------------------------------------------------------


class Sample(NamedTuple):
    """One Prometheus-model sample: the series' full label set (with ``__name__``), ms, value."""

    labels: Labels
    ts_ms: int
    value: float


class Exemplar(NamedTuple):
    labels: Labels  # the series it belongs to
    ts_ms: int
    value: float
    trace_id: bytes
    span_id: bytes
    attributes: Labels = ()


@dataclass(frozen=True, slots=True)
class MetricMetadata:
    """Per metric family (Prometheus name): ``type`` is counter, gauge, histogram, summary or unknown."""

    name: str
    type: str
    help: str = ""
    unit: str = ""


@dataclass(frozen=True, slots=True)
class MetricBatch:
    """Samples of one resource; ``types`` gives each series' family type for the series table."""

    resource: Resource
    samples: Sequence[Sample]
    metadata: Sequence[MetricMetadata] = ()
    exemplars: Sequence[Exemplar] = ()


# Prometheus staleness marker (§2.4): a NaN with these exact bits.
STALE_NAN_BITS = 0x7FF0000000000002


def labels_of(mapping: Mapping[str, str]) -> Labels:
    return tuple(sorted((k, v) for k, v in mapping.items() if v != ""))


def metric_name(labels: Labels) -> str:
    for name, value in labels:
        if name == "__name__":
            return value
    return ""


def is_stale(value: float) -> bool:
    import struct

    return math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS


# -- attribute codec ---------------------------------------------------------------------------


def any_value(value: common_pb2.AnyValue) -> AttrValue:
    """The Python form of an OTLP ``AnyValue``."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value
    return None


def attributes_from_pb(pairs: Iterable[common_pb2.KeyValue]) -> dict[str, AttrValue]:
    return {kv.key: any_value(kv.value) for kv in pairs}


def set_any_value(target: common_pb2.AnyValue, value: AttrValue) -> None:
    """Write a Python attribute value into an OTLP ``AnyValue`` (the inverse of :func:`any_value`)."""
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, list):
        array = target.array_value
        for item in value:
            set_any_value(array.values.add(), item)
    elif isinstance(value, dict):
        kvlist = target.kvlist_value
        for key, item in value.items():
            kv = kvlist.values.add(key=key)
            set_any_value(kv.value, item)


def attributes_to_pb(attributes: Attributes) -> list[common_pb2.KeyValue]:
    out = []
    for key, value in attributes.items():
        kv = common_pb2.KeyValue(key=key)
        set_any_value(kv.value, value)
        out.append(kv)
    return out


def _attrs_list(attributes: Attributes) -> list[Any]:
    return [[k, _pack_value(v)] for k, v in attributes.items()]


def _attrs_dict(pairs: Sequence[Any] | Mapping[str, Any]) -> dict[str, AttrValue]:
    # A list of pairs, or (Forward records' fast path, flat values only) a msgpack map.
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return {k: _unpack_value(v) for k, v in items}


# msgpack keeps str/bytes/int/float/bool/None/list apart; maps are tagged so that a kvlist with
# non-string-looking keys round-trips and stays distinct from a list of pairs.
_MAP_TAG = 1


def _pack_value(value: AttrValue) -> Any:
    if isinstance(value, dict):
        return msgpack.ExtType(_MAP_TAG, msgpack.packb([[k, _pack_value(v)] for k, v in value.items()]))
    if isinstance(value, list):
        return [_pack_value(v) for v in value]
    return value


def _unpack_value(value: Any) -> AttrValue:
    if isinstance(value, msgpack.ExtType) and value.code == _MAP_TAG:
        return {k: _unpack_value(v) for k, v in msgpack.unpackb(value.data, raw=False)}
    if isinstance(value, list):
        return [_unpack_value(v) for v in value]
    result: AttrValue = value
    return result


def _jsonable(value: AttrValue) -> Any:
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
