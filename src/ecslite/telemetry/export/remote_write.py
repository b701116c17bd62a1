"""Prometheus remote write 1.0: samples → ``WriteRequest``, protobuf + snappy block (spec/telemetry.md §6.3).

Rules every request keeps (the receiver refuses anything else with a 400, which is final):

- every series has ``__name__``; label names match ``[a-zA-Z_][a-zA-Z0-9_]*`` (sanitized), names
  starting with ``__`` other than ``__name__`` are dropped (reserved), empty values are dropped,
  no name appears twice (extra labels, like Fluent Bit's ``add_label``, win), labels are sorted;
- one ``TimeSeries`` per label set per request, its samples in time order with one value per
  millisecond (the last one queued wins);
- staleness markers keep their NaN bits (protobuf carries doubles bit for bit).

Headers: ``Content-Encoding: snappy``, ``Content-Type: application/x-protobuf``,
``User-Agent: ecslite/<version>``, ``X-Prometheus-Remote-Write-Version: 0.1.0``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import cramjam

from ecslite.telemetry.export import protos
from ecslite.telemetry.export.senders import HttpSender
from ecslite.telemetry.model import Labels, MetricBatch, MetricMetadata, Sample

_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_:]")
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def clean_series_labels(labels: Iterable[tuple[str, str]], extra: Mapping[str, str] | None = None) -> Labels | None:
    """The label set as remote write wants it, or ``None`` when there is no usable ``__name__``."""
    out: dict[str, str] = {}
    for name, value in [*labels, *(extra or {}).items()]:
        if name == "__name__":
            value = _INVALID_NAME.sub("_", value)
            if value and value[0].isdigit():
                value = "_" + value
        else:
            name = _INVALID_LABEL.sub("_", name)
            if not name or name[0].isdigit():
                name = "_" + name
            if name.startswith("__"):
                continue
        if value == "":
            out.pop(name, None)
            continue
        out[name] = value
    if not out.get("__name__"):
        return None
    return tuple(sorted(out.items()))


def write_request(
    samples: Iterable[Sample],
    metadata: Sequence[MetricMetadata] = (),
    extra_labels: Mapping[str, str] | None = None,
) -> bytes:
    """A serialized ``WriteRequest`` (a queue item) for ``samples``; series without a name are left out."""
    series: dict[Labels, dict[int, float]] = {}
    for labels, ts, value in samples:
        clean = clean_series_labels(labels, extra_labels)
        if clean is not None:
            series.setdefault(clean, {})[ts] = value
    request = protos.WriteRequest()
    _fill(request, series)
    for meta in metadata:
        request.metadata.add(
            type=protos.METRIC_TYPES.get(meta.type, 0), metric_family_name=meta.name, help=meta.help, unit=meta.unit
        )
    data: bytes = request.SerializeToString()
    return data


def _fill(request: object, series: Mapping[Labels, Mapping[int, float]]) -> None:
    for labels, points in series.items():
        ts_pb = request.timeseries.add()  # type: ignore[attr-defined]
        for name, value in labels:
            ts_pb.labels.add(name=name, value=value)
        for ts in sorted(points):
            ts_pb.samples.add(value=points[ts], timestamp=ts)


def decode(body: bytes, *, compressed: bool = True) -> dict[Labels, list[tuple[int, float]]]:
    """Series of a ``WriteRequest`` body (snappy block unless ``compressed=False``), samples in order."""
    raw = bytes(cramjam.snappy.decompress_raw(body)) if compressed else body
    request = protos.WriteRequest.FromString(raw)
    out: dict[Labels, dict[int, float]] = {}
    for series in request.timeseries:
        labels = tuple((label.name, label.value) for label in series.labels)
        points = out.setdefault(labels, {})
        for sample in series.samples:
            points[sample.timestamp] = sample.value
    return {labels: sorted(points.items()) for labels, points in out.items()}


def merged_body(items: Sequence[bytes]) -> bytes:
    """One request from queued items: series merged by label set, samples in time order, snappy block."""
    combined = protos.WriteRequest.FromString(b"".join(items))
    series: dict[Labels, dict[int, float]] = {}
    for ts_pb in combined.timeseries:
        labels = tuple((label.name, label.value) for label in ts_pb.labels)
        points = series.setdefault(labels, {})
        for sample in ts_pb.samples:
            points[sample.timestamp] = sample.value
    request = protos.WriteRequest()
    _fill(request, series)
    seen: set[str] = set()
    for meta in combined.metadata:
        if meta.metric_family_name not in seen:
            seen.add(meta.metric_family_name)
            request.metadata.add().CopyFrom(meta)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


class RemoteWriteSender(HttpSender):
    """POSTs batches to a remote-write receiver (Prometheus ``/api/v1/write``, Thanos ``/api/v1/receive``)."""

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        name: str | None = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(name or f"remote-write {url}", url, headers, auth=auth)

    def encode(self, items: Sequence[bytes]) -> tuple[bytes, dict[str, str]]:
        return merged_body(items), dict(HEADERS)


def batch_request(batch: MetricBatch, extra_labels: Mapping[str, str] | None = None) -> bytes:
    return write_request(batch.samples, batch.metadata, extra_labels)
