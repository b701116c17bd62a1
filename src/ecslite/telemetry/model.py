"""The shared vocabulary of telemetry records: attribute values, label sets, signals, resources and
scopes, and the Prometheus-model metric records (spec/telemetry.md §2, §8.2).

Spans are in :mod:`ecslite.telemetry.span_records`, log records in
:mod:`ecslite.telemetry.log_records`, and the attribute codec (OTLP ``AnyValue``, msgpack detail
blobs) in :mod:`ecslite.telemetry.attributes`.

Invariants:

- Attribute values are the Python form of OTLP ``AnyValue``: ``str``, ``bool``, ``int``,
  ``float``, ``bytes``, ``list`` (arrayValue), ``dict`` (kvlistValue) or ``None`` (empty value).
- :data:`Labels` are sorted ``(name, value)`` pairs; a metric's include ``__name__``.
- Metric samples carry Unix milliseconds (the Prometheus model, §8.3); a stale marker is the NaN
  with the bits :data:`STALE_NAN_BITS`.
- Hot records (:class:`Sample`, and the span and log records) are ``NamedTuple``\\ s: they are
  immutable like the frozen dataclasses used elsewhere but cost a fifth to build, which matters
  at tens of thousands of records a second (§8.1).
- A resource is identified by the hash of its sorted attributes (:attr:`Resource.key`); stores
  keep each resource once and point records at it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias

import msgpack

AttrValue: TypeAlias = "str | bool | int | float | bytes | list[AttrValue] | dict[str, AttrValue] | None"
Attributes: TypeAlias = Mapping[str, AttrValue]
Labels: TypeAlias = tuple[tuple[str, str], ...]
"""Sorted ``(name, value)`` pairs; metric labels include ``__name__``."""

UNKNOWN_SERVICE = "unknown_service"


class Signal:
    TRACES = "traces"
    LOGS = "logs"
    METRICS = "metrics"
    ALL = ("traces", "logs", "metrics")


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


_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def sanitize_label_name(name: str) -> str:
    cleaned = _LABEL_INVALID.sub("_", name)
    if not cleaned or cleaned[0].isdigit():
        cleaned = "_" + cleaned
    return cleaned


def is_stale(value: float) -> bool:
    import struct

    return math.isnan(value) and struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS
