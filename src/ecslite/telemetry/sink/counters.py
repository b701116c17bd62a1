"""The export sink's counters: per source task and per output, what arrived and how it was answered
(spec/otel-demo.md §4.1 step 2, §4.2 "Task page").

An output is the backend endpoint a router output sends to: ``loki`` (push on 3100),
``otlp/traces``, ``otlp/metrics``, ``otlp/logs`` (4318) and ``remote_write`` (19291). A source is
the task whose address the connection came from, or ``host`` when it is none of this server's
tasks (a process on the host, a test). Counters live in memory and are thread-safe; the tasks kept
are bounded (the oldest source goes first), so a long-running server does not grow with every task
it ever ran.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TypedDict

from ecslite.telemetry.sink.checks import Verdict

HOST = "host"
OUTPUTS = ("loki", "otlp/traces", "otlp/metrics", "otlp/logs", "remote_write")
MAX_SOURCES = 500
MAX_ERROR_CHARS = 300


class OutputStats(TypedDict):
    requests: int
    records: int
    rejected: int
    bytes: int
    errors: int
    lastStatus: int | None
    lastError: str | None
    lastAt: float | None


@dataclass(slots=True)
class _Counter:
    requests: int = 0
    records: int = 0
    rejected: int = 0
    bytes: int = 0
    errors: int = 0
    last_status: int | None = None
    last_error: str | None = None
    last_at: float | None = None

    def add(self, size: int, verdict: Verdict, at: float) -> None:
        self.requests += 1
        self.bytes += size
        self.records += verdict.accepted
        self.rejected += verdict.rejected
        self.last_status = verdict.status
        self.last_at = at
        if not verdict.ok:
            self.errors += 1
            self.last_error = verdict.message[:MAX_ERROR_CHARS]

    def view(self) -> OutputStats:
        return OutputStats(
            requests=self.requests,
            records=self.records,
            rejected=self.rejected,
            bytes=self.bytes,
            errors=self.errors,
            lastStatus=self.last_status,
            lastError=self.last_error,
            lastAt=self.last_at,
        )


class SinkCounters:
    def __init__(self, max_sources: int = MAX_SOURCES) -> None:
        self.max_sources = max_sources
        self._sources: OrderedDict[str, dict[str, _Counter]] = OrderedDict()
        self._totals: dict[str, _Counter] = {}
        self._lock = threading.Lock()

    def record(self, source: str, output: str, size: int, verdict: Verdict, at: float | None = None) -> None:
        """One request of ``size`` body bytes (as sent) from ``source`` to ``output``, answered ``verdict``."""
        when = time.time() if at is None else at
        with self._lock:
            outputs = self._sources.get(source)
            if outputs is None:
                outputs = self._sources[source] = {}
                while len(self._sources) > self.max_sources:
                    self._sources.popitem(last=False)
            outputs.setdefault(output, _Counter()).add(size, verdict, when)
            self._totals.setdefault(output, _Counter()).add(size, verdict, when)

    def of(self, source: str) -> dict[str, OutputStats]:
        """The counters of one source by output (empty when it sent nothing)."""
        with self._lock:
            return {name: counter.view() for name, counter in (self._sources.get(source) or {}).items()}

    def totals(self) -> dict[str, OutputStats]:
        with self._lock:
            return {name: counter.view() for name, counter in self._totals.items()}

    def sources(self) -> dict[str, dict[str, OutputStats]]:
        with self._lock:
            return {
                source: {name: counter.view() for name, counter in outputs.items()}
                for source, outputs in self._sources.items()
            }

    def clear(self) -> None:
        with self._lock:
            self._sources.clear()
            self._totals.clear()
