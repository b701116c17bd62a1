"""Exporters: one object per destination that takes telemetry records and delivers them (§6).

Each exporter owns one :class:`~ecslite.telemetry.export.queue.ExportQueue` per destination URL
(OTLP: one per signal, as the OTLP specification recommends), so a slow backend never holds up
another. Every ``export_*``/``submit`` method encodes on the caller's thread (cheap: protobuf of
one batch) and queues; none blocks on the network or raises for a delivery problem. Signals an
exporter does not carry are ignored, so a caller may offer every batch to every exporter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from ecslite.telemetry.export import cloudwatch_logs, loki, otlp_http, remote_write
from ecslite.telemetry.export.queue import ExportQueue, ExportStats, QueueSettings
from ecslite.telemetry.log_records import LogBatch
from ecslite.telemetry.model import MetricBatch, MetricMetadata, Sample, Signal
from ecslite.telemetry.span_records import SpanBatch


class Exporter(Protocol):
    name: str

    def start(self) -> None: ...

    def export_spans(self, batch: SpanBatch) -> None: ...

    def export_logs(self, batch: LogBatch) -> None: ...

    def export_metrics(self, batch: MetricBatch) -> None: ...

    def flush(self, timeout: float = 30.0) -> bool: ...

    def close(self, timeout: float = 5.0) -> None: ...

    def stats(self) -> list[ExportStats]: ...


class _Single:
    """An exporter with one queue; subclasses override the ``export_*`` they carry."""

    def __init__(self, queue: ExportQueue) -> None:
        self.queue = queue
        self.name = queue.name

    def start(self) -> None:
        self.queue.start()

    def export_spans(self, batch: SpanBatch) -> None:
        return None

    def export_logs(self, batch: LogBatch) -> None:
        return None

    def export_metrics(self, batch: MetricBatch) -> None:
        return None

    def flush(self, timeout: float = 30.0) -> bool:
        return self.queue.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.queue.close(timeout)

    def stats(self) -> list[ExportStats]:
        return [self.queue.stats()]


class LokiExporter(_Single):
    """Logs to a Loki push endpoint (``http://host:3100/loki/api/v1/push``), §6.2."""

    def __init__(
        self,
        url: str,
        *,
        format: str = loki.PROTOBUF,
        tenant_id: str | None = None,
        extra_labels: Mapping[str, str] | None = None,
        structured_metadata: bool = True,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        settings: QueueSettings | None = None,
        name: str | None = None,
    ) -> None:
        sender = loki.LokiSender(url, format=format, tenant_id=tenant_id, headers=headers, name=name, auth=auth)
        super().__init__(ExportQueue(sender, settings))
        self.extra_labels = dict(extra_labels or {})
        self.structured_metadata = structured_metadata

    def export_logs(self, batch: LogBatch) -> None:
        self.submit(loki.entries_from_logs(batch, self.extra_labels, structured_metadata=self.structured_metadata))

    def submit(self, entries: Iterable[loki.LokiEntry]) -> None:
        """Queue entries whose labels the caller chose (Fluent Bit's ``labels``/``label_keys``)."""
        entries = list(entries)
        if entries:
            self.queue.put(loki.push_request(entries))


class RemoteWriteExporter(_Single):
    """Metrics to a Prometheus remote-write receiver, §6.3; ``extra_labels`` is Fluent Bit's ``add_label``."""

    def __init__(
        self,
        url: str,
        *,
        extra_labels: Mapping[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        settings: QueueSettings | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            ExportQueue(remote_write.RemoteWriteSender(url, headers=headers, name=name, auth=auth), settings)
        )
        self.extra_labels = dict(extra_labels or {})

    def export_metrics(self, batch: MetricBatch) -> None:
        self.submit(batch.samples, batch.metadata)

    def submit(self, samples: Iterable[Sample], metadata: Sequence[MetricMetadata] = ()) -> None:
        body = remote_write.write_request(samples, metadata, self.extra_labels)
        if body:
            self.queue.put(body)


class OtlpHttpExporter:
    """Traces, logs and metrics to an OTLP/HTTP receiver (Tempo, a collector), §6.4.

    ``endpoint`` is the base (``http://tempo:4318``); ``paths`` overrides a signal's path (Fluent
    Bit's ``traces_uri``…); ``signals`` limits what is sent (the seed's Tempo output: traces only).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        signals: Iterable[str] = Signal.ALL,
        paths: Mapping[str, str] | None = None,
        headers: dict[str, str] | None = None,
        compress: bool = True,
        settings: QueueSettings | None = None,
        name: str | None = None,
    ) -> None:
        self.name = name or f"otlp {endpoint}"
        base = settings or QueueSettings()
        self.queues: dict[str, ExportQueue] = {}
        for signal in signals:
            url = otlp_http.signal_url(endpoint, signal, (paths or {}).get(signal))
            per_signal = base
            if base.buffer_path is not None:
                per_signal = replace(base, buffer_path=_suffixed(base.buffer_path, signal))
            sender = otlp_http.OtlpHttpSender(url, compress=compress, headers=headers, name=f"{self.name} {signal}")
            self.queues[signal] = ExportQueue(sender, per_signal)

    def start(self) -> None:
        for queue in self.queues.values():
            queue.start()

    def export_spans(self, batch: SpanBatch) -> None:
        queue = self.queues.get(Signal.TRACES)
        if queue is not None and batch.spans:
            queue.put(otlp_http.traces_request(batch))

    def export_logs(self, batch: LogBatch) -> None:
        queue = self.queues.get(Signal.LOGS)
        if queue is not None and batch.records:
            queue.put(otlp_http.logs_request(batch))

    def export_metrics(self, batch: MetricBatch) -> None:
        queue = self.queues.get(Signal.METRICS)
        if queue is not None and batch.samples:
            queue.put(otlp_http.metrics_request(batch))

    def flush(self, timeout: float = 30.0) -> bool:
        return all(queue.flush(timeout) for queue in self.queues.values())

    def close(self, timeout: float = 5.0) -> None:
        for queue in self.queues.values():
            queue.close(timeout)

    def stats(self) -> list[ExportStats]:
        return [queue.stats() for queue in self.queues.values()]


class CloudWatchLogsExporter(_Single):
    """Logs into ecslite's own CloudWatch Logs (``logs`` = the server's LogsProvider, ``loop`` its loop).

    ``group`` receives every record; the stream is ``stream`` when given, else
    ``<stream_prefix>/<container or service>/<task id>``.
    """

    def __init__(
        self,
        logs: cloudwatch_logs.LogsAppender,
        loop: asyncio.AbstractEventLoop,
        *,
        account: str,
        region: str,
        group: str,
        stream: str | None = None,
        stream_prefix: str = "ecslite",
        create_group: bool = True,
        settings: QueueSettings | None = None,
        name: str | None = None,
    ) -> None:
        sender = cloudwatch_logs.CloudWatchLogsSender(
            logs,
            loop,
            account=account,
            region=region,
            create_group=create_group,
            name=name or f"cloudwatch-logs {group}",
        )
        super().__init__(ExportQueue(sender, settings))
        self.group = group
        self.stream = stream
        self.stream_prefix = stream_prefix

    def export_logs(self, batch: LogBatch) -> None:
        if batch.records:
            stream = self.stream or cloudwatch_logs.default_stream(batch, self.stream_prefix)
            self.submit(self.group, stream, cloudwatch_logs.log_events(batch))

    def submit(self, group: str, stream: str, events: Iterable[tuple[int, str]]) -> None:
        """Queue (timestamp ms, message) events for one stream (Fluent Bit's ``cloudwatch_logs`` output)."""
        events = list(events)
        if events:
            self.queue.put(cloudwatch_logs.item(group, stream, events))


def _suffixed(path: Path, signal: str) -> Path:
    return path.with_name(f"{path.stem}-{signal}{path.suffix or '.db'}")
