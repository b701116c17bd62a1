"""ecslite's own exporters: a tap on the telemetry store that forwards every accepted record (§6.1, §6.5).

Configured with ``ecslite server --export-otlp URL --export-loki URL --export-remote-write URL``
(each repeatable). The tap sees every batch the store accepts, from every receiver and from
ecslite's own metrics, and offers it to each exporter; an exporter takes the signals it carries
(OTLP: all three, Loki: logs, remote write: metrics). Delivery follows ecslite's policy: unlimited
retries, 1 s → 5 min, give up after 30 min, 64 MiB per destination with drop-oldest, and with
``--export-buffer`` a SQLite queue per destination under ``<data dir>/export``.

As a server component it starts before the telemetry pipeline and stops after it, so whatever
the pipeline drains at shutdown is still offered; at stop each destination gets a few seconds to
deliver (a persistent queue keeps the rest for the next start).

Never point an exporter at the same server's own push endpoint: its records would come back
through the store and be exported again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ecslite.config import Settings
from ecslite.telemetry.export.exporters import Exporter, LokiExporter, OtlpHttpExporter, RemoteWriteExporter
from ecslite.telemetry.export.queue import QueueSettings
from ecslite.telemetry.log_records import LogBatch
from ecslite.telemetry.model import MetricBatch, Signal
from ecslite.telemetry.span_records import SpanBatch
from ecslite.telemetry.store import TelemetryStore

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0


def exporters_from_settings(settings: Settings, queue: QueueSettings | None = None) -> list[Exporter]:
    """One exporter per configured URL, each with its own queue (and buffer file when asked)."""
    base = queue or QueueSettings()
    directory = settings.export_dir
    out: list[Exporter] = []

    def queue_for(kind: str, url: str) -> QueueSettings:
        if directory is None:
            return base
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        return replace(base, buffer_path=Path(directory) / f"{kind}-{digest}.db")

    for url in settings.export_otlp:
        out.append(OtlpHttpExporter(url, settings=queue_for("otlp", url), name=f"otlp {url}"))
    for url in settings.export_loki:
        out.append(LokiExporter(url, settings=queue_for("loki", url), name=f"loki {url}"))
    for url in settings.export_remote_write:
        out.append(RemoteWriteExporter(url, settings=queue_for("remote-write", url), name=f"remote-write {url}"))
    return out


class ExportTap:
    """A server component: hands every batch the store accepts to the configured exporters."""

    name = "telemetry-export"

    def __init__(self, store: TelemetryStore, exporters: Sequence[Exporter]) -> None:
        self.store = store
        self.exporters = list(exporters)
        self._tapped = False

    @classmethod
    def from_settings(cls, settings: Settings, store: TelemetryStore) -> ExportTap:
        return cls(store, exporters_from_settings(settings))

    async def start(self) -> None:
        if not self.exporters or self._tapped:
            return
        for exporter in self.exporters:
            exporter.start()
        self.store.add_tap(self.offer)
        self._tapped = True

    def offer(self, signal: str, batch: SpanBatch | LogBatch | MetricBatch) -> None:
        for exporter in self.exporters:
            if signal == Signal.TRACES and isinstance(batch, SpanBatch):
                exporter.export_spans(batch)
            elif signal == Signal.LOGS and isinstance(batch, LogBatch):
                exporter.export_logs(batch)
            elif signal == Signal.METRICS and isinstance(batch, MetricBatch):
                exporter.export_metrics(batch)

    async def stop(self) -> None:
        if not self._tapped:
            return
        self.store.remove_tap(self.offer)
        self._tapped = False
        await asyncio.gather(*(asyncio.to_thread(e.close, STOP_TIMEOUT) for e in self.exporters))

    def stats(self) -> list[dict[str, Any]]:
        return [stat.as_dict() for exporter in self.exporters for stat in exporter.stats()]
