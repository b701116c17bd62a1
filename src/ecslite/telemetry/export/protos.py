"""The wire messages of the Loki push API and Prometheus remote write 1.0, declared in Python.

Neither project publishes a Python package of its ``.proto`` files, so the messages are declared
here as descriptors (field numbers and types exactly as spec/telemetry.md §6.2 and §6.3 give
them, and as ``pkg/push/push.proto`` of Loki and ``prompb/types.proto``/``remote.proto`` of
Prometheus define them) and turned into ordinary protobuf classes. Unknown fields a newer sender
adds are kept and ignored, as protobuf does.

- ``PushRequest {repeated StreamAdapter streams = 1; string format = 2}``,
  ``StreamAdapter {string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3}``,
  ``EntryAdapter {google.protobuf.Timestamp timestamp = 1; string line = 2;
  repeated LabelPairAdapter structuredMetadata = 3}``, ``LabelPairAdapter {string name = 1; string value = 2}``.
- ``WriteRequest {repeated TimeSeries timeseries = 1; reserved 2; repeated MetricMetadata metadata = 3}``,
  ``TimeSeries {repeated Label labels = 1; repeated Sample samples = 2; repeated Exemplar exemplars = 3}``,
  ``Label {string name = 1; string value = 2}``, ``Sample {double value = 1; int64 timestamp = 2}``,
  ``Exemplar {repeated Label labels = 1; double value = 2; int64 timestamp = 3}``,
  ``MetricMetadata {MetricType type = 1; string metric_family_name = 2; string help = 4; string unit = 5}``.

Because every top-level field is repeated (or a last-wins scalar), two serialized requests
concatenated are one valid request holding both: the export queue relies on that to batch.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_STRING, _UINT64, _INT64, _DOUBLE, _MESSAGE, _ENUM = (
    _F.TYPE_STRING,
    _F.TYPE_UINT64,
    _F.TYPE_INT64,
    _F.TYPE_DOUBLE,
    _F.TYPE_MESSAGE,
    _F.TYPE_ENUM,
)

# prompb MetricMetadata.MetricType
METRIC_TYPES = {
    "unknown": 0,
    "counter": 1,
    "gauge": 2,
    "histogram": 3,
    "gaugehistogram": 4,
    "summary": 5,
    "info": 6,
    "stateset": 7,
}


def _message(file: descriptor_pb2.FileDescriptorProto, name: str, fields: list[tuple[Any, ...]]) -> None:
    message = file.message_type.add(name=name)
    for number, field_name, kind, label, *type_name in fields:
        field = message.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name[0]


def _build() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    timestamp = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(timestamp)
    pool.Add(timestamp)

    loki = descriptor_pb2.FileDescriptorProto(name="ecslite/logproto.proto", package="logproto", syntax="proto3")
    loki.dependency.append(timestamp.name)
    _message(loki, "LabelPairAdapter", [(1, "name", _STRING, _OPTIONAL), (2, "value", _STRING, _OPTIONAL)])
    _message(
        loki,
        "EntryAdapter",
        [
            (1, "timestamp", _MESSAGE, _OPTIONAL, ".google.protobuf.Timestamp"),
            (2, "line", _STRING, _OPTIONAL),
            (3, "structuredMetadata", _MESSAGE, _REPEATED, ".logproto.LabelPairAdapter"),
        ],
    )
    _message(
        loki,
        "StreamAdapter",
        [
            (1, "labels", _STRING, _OPTIONAL),
            (2, "entries", _MESSAGE, _REPEATED, ".logproto.EntryAdapter"),
            (3, "hash", _UINT64, _OPTIONAL),
        ],
    )
    _message(
        loki,
        "PushRequest",
        [(1, "streams", _MESSAGE, _REPEATED, ".logproto.StreamAdapter"), (2, "format", _STRING, _OPTIONAL)],
    )
    pool.Add(loki)

    prom = descriptor_pb2.FileDescriptorProto(name="ecslite/prompb.proto", package="prometheus", syntax="proto3")
    _message(prom, "Label", [(1, "name", _STRING, _OPTIONAL), (2, "value", _STRING, _OPTIONAL)])
    _message(prom, "Sample", [(1, "value", _DOUBLE, _OPTIONAL), (2, "timestamp", _INT64, _OPTIONAL)])
    _message(
        prom,
        "Exemplar",
        [
            (1, "labels", _MESSAGE, _REPEATED, ".prometheus.Label"),
            (2, "value", _DOUBLE, _OPTIONAL),
            (3, "timestamp", _INT64, _OPTIONAL),
        ],
    )
    _message(
        prom,
        "TimeSeries",
        [
            (1, "labels", _MESSAGE, _REPEATED, ".prometheus.Label"),
            (2, "samples", _MESSAGE, _REPEATED, ".prometheus.Sample"),
            (3, "exemplars", _MESSAGE, _REPEATED, ".prometheus.Exemplar"),
        ],
    )
    metadata = prom.message_type.add(name="MetricMetadata")
    metric_type = metadata.enum_type.add(name="MetricType")
    for name, number in METRIC_TYPES.items():
        metric_type.value.add(name=name.upper(), number=number)
    for number, field_name, kind, type_name in (
        (1, "type", _ENUM, ".prometheus.MetricMetadata.MetricType"),
        (2, "metric_family_name", _STRING, ""),
        (4, "help", _STRING, ""),
        (5, "unit", _STRING, ""),
    ):
        field = metadata.field.add(name=field_name, number=number, type=kind, label=_OPTIONAL)
        if type_name:
            field.type_name = type_name
    _message(
        prom,
        "WriteRequest",
        [
            (1, "timeseries", _MESSAGE, _REPEATED, ".prometheus.TimeSeries"),
            (3, "metadata", _MESSAGE, _REPEATED, ".prometheus.MetricMetadata"),
        ],
    )
    write_request = prom.message_type[-1]
    write_request.reserved_range.add(start=2, end=3)
    pool.Add(prom)
    return pool


_POOL = _build()


def _class(full_name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(full_name))


PushRequest: Any = _class("logproto.PushRequest")
StreamAdapter: Any = _class("logproto.StreamAdapter")
EntryAdapter: Any = _class("logproto.EntryAdapter")
WriteRequest: Any = _class("prometheus.WriteRequest")
TimeSeries: Any = _class("prometheus.TimeSeries")
