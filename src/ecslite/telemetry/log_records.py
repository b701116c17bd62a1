"""Log records as the receivers produce them and the store keeps them, and their Loki stream labels
(spec/telemetry.md §2.3, §8.2).

Invariants:

- Times are Unix nanoseconds; ``observed_ns`` defaults to ``time_ns``. Ids are raw bytes, ``b""``
  when absent.
- :attr:`LogRecord.body` is the text line filters search (:func:`~ecslite.telemetry.attributes.body_text`);
  the original body and the attributes are in the ``detail`` blob (msgpack for records built in
  Python, the OTLP protobuf bytes otherwise), which :func:`decode_log_detail` reads.
- Stream labels are a small fixed set (service, source, cluster, task family, container, level)
  to keep Loki's stream cardinality low.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from opentelemetry.proto.logs.v1 import logs_pb2

from ecslite.telemetry.attributes import (
    DETAIL_OTLP,
    any_value,
    attributes_from_msgpack,
    attributes_from_pb,
    attributes_to_msgpack,
    body_text,
    msgpack_detail,
    msgpack_payload,
    pack_value,
    unpack_value,
)
from ecslite.telemetry.model import Attributes, AttrValue, Labels, Resource, Scope


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
    payload = [attributes_to_msgpack(detail.attributes), pack_value(detail.body), detail.dropped_attributes_count]
    return msgpack_detail(payload)


def decode_log_detail(blob: bytes) -> LogDetail:
    if not blob:
        return LogDetail({})
    if blob[0] == DETAIL_OTLP:
        record = logs_pb2.LogRecord.FromString(blob[1:])
        body = any_value(record.body) if record.HasField("body") else None
        return LogDetail(attributes_from_pb(record.attributes), body, record.dropped_attributes_count)
    attrs, body, dropped = msgpack_payload(blob)
    return LogDetail(attributes_from_msgpack(attrs), unpack_value(body), dropped)


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
