"""Exporters to real backends: OTLP/HTTP, Loki push, Prometheus remote write, CloudWatch Logs (spec §6).

Two users: ecslite's own ``--export-*`` destinations (:mod:`.tap`, every record the store accepts)
and the built-in Fluent Bit's outputs (``loki``, ``opentelemetry``, ``prometheus_remote_write``,
``cloudwatch_logs``). The API, all thread-safe and non-blocking::

    from ecslite.telemetry.export import (
        LokiExporter, RemoteWriteExporter, OtlpHttpExporter, CloudWatchLogsExporter,
        QueueSettings, RetryPolicy, LokiEntry,
    )

    settings = QueueSettings(                      # one queue per destination (§6.1)
        flush_interval=5.0,                        # Fluent Bit's [SERVICE] Flush
        batch_bytes=1024 * 1024,
        max_bytes=64 * 1024 * 1024,                # then drop-oldest, counted
        policy=RetryPolicy.fluent_bit("3"),        # Retry_Limit; ecslite's own: ECSLITE_POLICY
        buffer_path=None,                          # a SQLite file: storage.type filesystem
    )
    out = LokiExporter("http://loki:3100/loki/api/v1/push", format="protobuf", tenant_id=None,
                       extra_labels={"job": "fluent-bit"}, settings=settings)
    out.start()
    out.export_logs(log_batch)                     # §2.3 labels, structured metadata
    out.submit([LokiEntry(labels=(("job", "x"),), ts_ns=..., line="...", metadata=())])
    RemoteWriteExporter(url, extra_labels={"cluster": "c"}).export_metrics(metric_batch)  # add_label
    OtlpHttpExporter("http://tempo:4318", signals=["traces"], paths={"traces": "/v1/traces"})
    CloudWatchLogsExporter(logs_provider, loop, account=..., region=..., group="/ecs/app").submit(group, stream, events)
    out.flush(timeout=10); out.stats()  # [ExportStats(sent_items, retries, errors, retries_failed, dropped, ...)]
    out.close(timeout=5)

``ExportStats.retries_failed`` is what Fluent Bit's ``/api/v1/health`` counts; ``errors`` are
batches the destination refused for good (4xx); ``dropped`` what a full queue let go.
"""

from __future__ import annotations

from ecslite.telemetry.export.exporters import (
    CloudWatchLogsExporter,
    Exporter,
    LokiExporter,
    OtlpHttpExporter,
    RemoteWriteExporter,
)
from ecslite.telemetry.export.loki import LokiEntry
from ecslite.telemetry.export.queue import ExportQueue, ExportStats, QueueSettings
from ecslite.telemetry.export.retry import ECSLITE_POLICY, Attempt, Outcome, RetryPolicy

__all__ = [
    "ECSLITE_POLICY",
    "Attempt",
    "CloudWatchLogsExporter",
    "ExportQueue",
    "ExportStats",
    "Exporter",
    "LokiEntry",
    "LokiExporter",
    "OtlpHttpExporter",
    "Outcome",
    "QueueSettings",
    "RemoteWriteExporter",
    "RetryPolicy",
]
