"""OTLP/HTTP export: records → ``Export*ServiceRequest`` protobuf, gzip, POST (spec/telemetry.md §6.4).

To Tempo (``:4318/v1/traces``) or any OpenTelemetry Collector. One queue item is one serialized
export request of one resource and scope; a batch of items is their concatenation, which protobuf
reads as one request with every ``resource_spans``/``resource_logs``/``resource_metrics`` entry.

- Spans and log records received over OTLP are stored with their original protobuf bytes (§8.2);
  those bytes are copied into the request as they are, so a span leaves exactly as it came in (plus
  the ECS resource attributes). Records built in Python (Forward lines, X-Ray) are encoded from
  their fields and decoded detail.
- Metrics are stored in the Prometheus model; each series goes out as a ``Gauge`` point, or as a
  monotonic cumulative ``Sum`` when its family is a counter, named by its Prometheus name with
  the other labels as point attributes (histogram buckets travel as their ``_bucket`` series).
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Sequence

from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from ecslite.telemetry.attributes import DETAIL_OTLP, attributes_to_pb, set_any_value
from ecslite.telemetry.export.senders import HttpSender
from ecslite.telemetry.log_records import LogBatch, LogRecord, decode_log_detail
from ecslite.telemetry.model import MetricBatch, Resource, Scope, Signal, is_stale
from ecslite.telemetry.span_records import Span, SpanBatch, decode_span_detail

PATHS = {Signal.TRACES: "/v1/traces", Signal.LOGS: "/v1/logs", Signal.METRICS: "/v1/metrics"}
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
NO_RECORDED_VALUE = 1


# -- protobuf wire helpers -------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _resource_bytes(resource: Resource) -> bytes:
    message = resource_pb2.Resource(
        attributes=attributes_to_pb(resource.attributes), dropped_attributes_count=resource.dropped_attributes_count
    )
    data: bytes = message.SerializeToString()
    return data


def _scope_bytes(scope: Scope) -> bytes:
    message = common_pb2.InstrumentationScope(
        name=scope.name, version=scope.version, attributes=attributes_to_pb(scope.attributes)
    )
    data: bytes = message.SerializeToString()
    return data


def _request(resource: Resource, scope: Scope, records: Sequence[bytes]) -> bytes:
    """``Export*ServiceRequest {1: Resource* {1: resource, 2: Scope* {1: scope, 2: record...}}}``:
    the three signals share this layout (field numbers 1 and 2 at each level)."""
    scoped = _field(1, _scope_bytes(scope)) + b"".join(_field(2, record) for record in records)
    resourced = _field(1, _resource_bytes(resource)) + _field(2, scoped)
    return _field(1, resourced)


# -- spans -----------------------------------------------------------------------------------------


def span_bytes(span: Span) -> bytes:
    """The span as an OTLP ``Span`` message."""
    if span.detail[:1] == bytes([DETAIL_OTLP]):
        return span.detail[1:]
    detail = decode_span_detail(span.detail)
    message = trace_pb2.Span(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        trace_state=detail.trace_state,
        name=span.name,
        kind=span.kind,  # type: ignore[arg-type]
        start_time_unix_nano=span.start_ns,
        end_time_unix_nano=span.end_ns,
        attributes=attributes_to_pb(detail.attributes),
        dropped_attributes_count=detail.dropped_attributes_count,
        dropped_events_count=detail.dropped_events_count,
        dropped_links_count=detail.dropped_links_count,
        flags=span.flags,
        status=trace_pb2.Status(code=span.status_code, message=span.status_message),  # type: ignore[arg-type]
    )
    for event in detail.events:
        message.events.add(
            time_unix_nano=event.time_ns,
            name=event.name,
            attributes=attributes_to_pb(event.attributes),
            dropped_attributes_count=event.dropped_attributes_count,
        )
    for link in detail.links:
        message.links.add(
            trace_id=link.trace_id,
            span_id=link.span_id,
            trace_state=link.trace_state,
            attributes=attributes_to_pb(link.attributes),
            dropped_attributes_count=link.dropped_attributes_count,
            flags=link.flags,
        )
    data: bytes = message.SerializeToString()
    return data


def traces_request(batch: SpanBatch) -> bytes:
    """A serialized ``ExportTraceServiceRequest`` of one batch (a queue item)."""
    return _request(batch.resource, batch.scope, [span_bytes(span) for span in batch.spans])


# -- logs ------------------------------------------------------------------------------------------


def log_bytes(record: LogRecord) -> bytes:
    if record.detail[:1] == bytes([DETAIL_OTLP]):
        return record.detail[1:]
    detail = decode_log_detail(record.detail)
    message = logs_pb2.LogRecord(
        time_unix_nano=record.time_ns,
        observed_time_unix_nano=record.observed_ns,
        severity_number=record.severity_number,  # type: ignore[arg-type]
        severity_text=record.severity_text,
        attributes=attributes_to_pb(detail.attributes),
        dropped_attributes_count=detail.dropped_attributes_count,
        flags=record.flags,
        trace_id=record.trace_id,
        span_id=record.span_id,
        event_name=record.event_name,
    )
    set_any_value(message.body, detail.body if detail.body is not None else record.body)
    if record.source in ("stdout", "stderr") and "log.iostream" not in detail.attributes:
        kv = message.attributes.add(key="log.iostream")
        kv.value.string_value = record.source
    data: bytes = message.SerializeToString()
    return data


def logs_request(batch: LogBatch) -> bytes:
    """A serialized ``ExportLogsServiceRequest`` of one batch (a queue item)."""
    return _request(batch.resource, batch.scope, [log_bytes(record) for record in batch.records])


# -- metrics ---------------------------------------------------------------------------------------


def metrics_request(batch: MetricBatch) -> bytes:
    """A serialized ``ExportMetricsServiceRequest`` of one batch (a queue item)."""
    kinds = {meta.name: meta for meta in batch.metadata}
    families: dict[str, metrics_pb2.Metric] = {}
    for labels, ts_ms, value in batch.samples:
        attrs = dict(labels)
        name = attrs.pop("__name__", "")
        if not name:
            continue
        metric = families.get(name)
        if metric is None:
            meta = kinds.get(name) or kinds.get(name.removesuffix("_total"))
            metric = metrics_pb2.Metric(name=name)
            if meta is not None:
                metric.description, metric.unit = meta.help, meta.unit
            if meta is not None and meta.type == "counter":
                metric.sum.aggregation_temporality = CUMULATIVE
                metric.sum.is_monotonic = True
            else:
                metric.gauge.SetInParent()
            families[name] = metric
        points = metric.sum.data_points if metric.HasField("sum") else metric.gauge.data_points
        point = points.add(time_unix_nano=ts_ms * 1_000_000, attributes=attributes_to_pb(attrs))
        if is_stale(value):
            point.flags = NO_RECORDED_VALUE
        elif math.isnan(value):
            point.as_double = value
        else:
            point.as_double = float(value)
    if not families:
        return b""
    records = [metric.SerializeToString() for metric in families.values()]
    return _request(batch.resource, Scope("ecslite"), records)


class OtlpHttpSender(HttpSender):
    """POSTs batches of one signal to its OTLP/HTTP path, protobuf with gzip (§6.4)."""

    def __init__(
        self,
        url: str,
        *,
        compress: bool = True,
        headers: dict[str, str] | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name or f"otlp {url}", url, headers)
        self.compress = compress

    def encode(self, items: Sequence[bytes]) -> tuple[bytes, dict[str, str]]:
        body = b"".join(items)
        headers = {"Content-Type": "application/x-protobuf"}
        if self.compress:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        return body, headers


def signal_url(endpoint: str, signal: str, path: str | None = None) -> str:
    """``http://host:4318`` + the signal's path (``/v1/traces``…), as the OTLP exporters build it."""
    return endpoint.rstrip("/") + (path or PATHS[signal])
