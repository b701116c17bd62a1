"""The embedded telemetry store (spec/telemetry.md §8): see :mod:`ecslite.telemetry.store.api`."""

from ecslite.telemetry.store.api import StoreSettings, TelemetryStore
from ecslite.telemetry.store.logs import LogQuery, StoredLog
from ecslite.telemetry.store.matchers import Matcher
from ecslite.telemetry.store.metrics import SeriesData, StoredExemplar
from ecslite.telemetry.store.spans import SpanQuery, StoredSpan, TraceSummary

__all__ = [
    "LogQuery",
    "Matcher",
    "SeriesData",
    "SpanQuery",
    "StoreSettings",
    "StoredExemplar",
    "StoredLog",
    "StoredSpan",
    "TelemetryStore",
    "TraceSummary",
]
