"""OpenTelemetry for the demo's services, configured from the environment only (spec/otel-demo.md §2.2).

:func:`configure` runs first in every service's ``__main__`` (before any framework is imported, so
the instrumentations read the defaults it sets): it builds the tracer, meter and logger providers
from the ``OTEL_*`` variables as :mod:`services.common.otel_env` reads them, installs them
globally with the propagators, and routes Python logging to two places:

- stdout, one JSON object per line ``{"time", "level", "logger", "message", "trace_id", "span_id",
  "service"}`` (plus the record's ``extra`` fields): what FireLens carries to the router;
- the OTLP log exporter, with the trace context of the record's span.

:meth:`Telemetry.shutdown` flushes and closes the three providers within a deadline (SIGTERM: ≤ 5 s).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

from opentelemetry import _logs, metrics, propagate, trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter, LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)

from services.common import otel_env

log = logging.getLogger("otel_setup")
E = TypeVar("E")
_ADOT_WARNED = threading.Event()
# LogRecord attributes that are the record's own, not ``extra=`` fields.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's terminal copy of the message
}


@dataclass
class Telemetry:
    """The installed providers of one service process."""

    service_name: str
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    prometheus_port: int | None = None
    _closed: bool = field(default=False, repr=False)

    def tracer(self, name: str) -> trace.Tracer:
        return self.tracer_provider.get_tracer(name)

    def meter(self, name: str) -> metrics.Meter:
        return self.meter_provider.get_meter(name)

    def flush(self, timeout_s: float = 2.0) -> None:
        millis = int(timeout_s * 1000)
        self.tracer_provider.force_flush(millis)
        self.logger_provider.force_flush(millis)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Export what is buffered and close the exporters, all within ``timeout_s``."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout_s

        def left() -> int:
            return max(int((deadline - time.monotonic()) * 1000), 1)

        self.tracer_provider.force_flush(left())
        self.meter_provider.force_flush(left())
        self.logger_provider.force_flush(left())
        # Shutdown waits for the exporters' own timeouts; a thread keeps it inside the deadline.
        closer = threading.Thread(target=self._close_providers, name="otel-shutdown", daemon=True)
        closer.start()
        closer.join(max(deadline - time.monotonic(), 0.0))

    def _close_providers(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown(timeout_millis=2000)
        self.logger_provider.shutdown()


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record, with the trace context of the span current where it was logged."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        context = trace.get_current_span().get_span_context()
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": f"{context.trace_id:032x}" if context.is_valid else None,
            "span_id": f"{context.span_id:016x}" if context.is_valid else None,
            "service": self.service,
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("otel") and key not in document:
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def configure(
    default_service_name: str,
    *,
    prometheus: bool = False,
    id_generator: IdGenerator | None = None,
    environ: Mapping[str, str] | None = None,
    extra_resource: Mapping[str, str] | None = None,
    log_stream: TextIO | None = None,
    log_formatter: logging.Formatter | None = None,
) -> Telemetry:
    """Install the providers, propagators and log handlers for this process (module docstring).

    ``prometheus`` adds a Prometheus reader served on ``OTEL_EXPORTER_PROMETHEUS_HOST``:
    ``OTEL_EXPORTER_PROMETHEUS_PORT`` (``0.0.0.0:9464``) next to the OTLP one (§2.5, notifications).
    ``log_stream``/``log_formatter`` replace stdout and :class:`JsonLineFormatter` (the generator
    writes ho11y's logrus lines, to stderr unless told otherwise).
    """
    env: Mapping[str, str]
    if environ is None:
        os.environ.update(otel_env.with_defaults(os.environ))
        env = os.environ
    else:
        env = {**environ, **otel_env.with_defaults(environ)}
    name = otel_env.service_name(env, default_service_name)
    resource = Resource.create({"service.name": name, "service.version": "1.0.0", **(extra_resource or {})})
    _configure_logging(log_stream or sys.stdout, log_formatter or JsonLineFormatter(name))
    notes: list[str] = []

    tracer_provider = TracerProvider(resource=resource, sampler=_sampler(env), id_generator=id_generator)
    span_exporters: list[SpanExporter] = _exporters(env, "traces", notes, ConsoleSpanExporter)
    for exporter in span_exporters:
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))

    metric_exporters: list[MetricExporter] = _exporters(
        env, "metrics", notes, ConsoleMetricExporter, served_elsewhere="prometheus"
    )
    readers: list[MetricReader] = [
        PeriodicExportingMetricReader(exporter, export_interval_millis=_interval(env)) for exporter in metric_exporters
    ]
    prometheus_port = None
    if prometheus or "prometheus" in otel_env.exporters(env, "metrics"):
        prometheus_port = _start_prometheus(env, readers)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)

    logger_provider = LoggerProvider(resource=resource)
    log_exporters: list[LogRecordExporter] = _exporters(env, "logs", notes, ConsoleLogRecordExporter)
    for log_exporter in log_exporters:
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))

    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    _logs.set_logger_provider(logger_provider)
    propagate.set_global_textmap(CompositePropagator(_propagators(otel_env.propagators(env), notes)))
    logging.getLogger().addHandler(LoggingHandler(logger_provider=logger_provider))

    notice = otel_env.adot_notice(env)
    if notice is not None and not _ADOT_WARNED.is_set():
        _ADOT_WARNED.set()
        log.warning(notice)
    for note in notes:
        log.warning(note)
    return Telemetry(name, tracer_provider, meter_provider, logger_provider, prometheus_port)


def _configure_logging(stream: TextIO, formatter: logging.Formatter) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    lines = logging.StreamHandler(stream)
    lines.setFormatter(formatter)
    root.addHandler(lines)
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    # Exporter retries and instrumentation chatter stay out of the application's log.
    for noisy in ("opentelemetry", "urllib3", "httpx", "httpcore", "grpc", "aiohttp.access", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _sampler(env: Mapping[str, str]) -> Sampler:
    name, ratio = otel_env.sampler(env)
    fixed = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "parentbased_always_on": DEFAULT_ON,
        "parentbased_always_off": DEFAULT_OFF,
    }
    if name in fixed:
        return fixed[name]
    if name == "traceidratio":
        return TraceIdRatioBased(ratio if ratio is not None else 1.0)
    if name == "parentbased_traceidratio":
        return ParentBasedTraceIdRatio(ratio if ratio is not None else 1.0)
    log.warning("unknown OTEL_TRACES_SAMPLER %r; sampling every trace (always_on)", name)
    return ALWAYS_ON


def _interval(env: Mapping[str, str]) -> int:
    try:
        return max(int(float(env.get("OTEL_METRIC_EXPORT_INTERVAL", "10000"))), 100)
    except ValueError:
        return 10000


# Per signal: the OTLP exporter classes for gRPC and for HTTP, as "module:Class" so that only the
# one a signal exports with is imported.
_OTLP_EXPORTERS = {
    "traces": (
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter:OTLPSpanExporter",
        "opentelemetry.exporter.otlp.proto.http.trace_exporter:OTLPSpanExporter",
    ),
    "metrics": (
        "opentelemetry.exporter.otlp.proto.grpc.metric_exporter:OTLPMetricExporter",
        "opentelemetry.exporter.otlp.proto.http.metric_exporter:OTLPMetricExporter",
    ),
    "logs": (
        "opentelemetry.exporter.otlp.proto.grpc._log_exporter:OTLPLogExporter",
        "opentelemetry.exporter.otlp.proto.http._log_exporter:OTLPLogExporter",
    ),
}


def _exporters(
    env: Mapping[str, str], signal: str, notes: list[str], console: Callable[..., E], served_elsewhere: str = ""
) -> list[E]:
    """The exporters ``OTEL_<SIGNAL>_EXPORTER`` names for ``signal``: ``otlp``, or ``console`` (made by
    ``console``, writing to stderr); another name is noted and skipped, unless it is
    ``served_elsewhere`` (metrics' ``prometheus``, a reader of its own)."""
    out: list[E] = []
    for name in otel_env.exporters(env, signal):
        if name == "otlp":
            out.append(_otlp_exporter(env, signal, notes))
        elif name == "console":
            out.append(console(out=sys.stderr))
        elif name != served_elsewhere:
            notes.append(f"unknown {signal} exporter {name!r} in OTEL_{signal.upper()}_EXPORTER is ignored")
    return out


def _otlp_exporter(env: Mapping[str, str], signal: str, notes: list[str]) -> Any:
    target = otel_env.signal_export(env, signal)
    notes.extend(target.warnings)
    grpc_class, http_class = _OTLP_EXPORTERS[signal]
    if target.protocol == otel_env.GRPC:
        return _load(grpc_class)(endpoint=target.endpoint, insecure=target.insecure)
    return _load(http_class)(endpoint=target.endpoint)


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _propagators(names: Sequence[str], notes: list[str]) -> list[TextMapPropagator]:
    out: list[TextMapPropagator] = []
    for name in names:
        if name == "tracecontext":
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

            out.append(TraceContextTextMapPropagator())
        elif name == "baggage":
            from opentelemetry.baggage.propagation import W3CBaggagePropagator

            out.append(W3CBaggagePropagator())
        elif name == "xray":
            from opentelemetry.propagators.aws import AwsXRayPropagator

            out.append(AwsXRayPropagator())
        else:
            notes.append(f"propagator {name!r} in OTEL_PROPAGATORS is not installed here and is ignored")
    return out


def _start_prometheus(env: Mapping[str, str], readers: list[MetricReader]) -> int:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    host = env.get("OTEL_EXPORTER_PROMETHEUS_HOST", "").strip() or "0.0.0.0"
    port = int(env.get("OTEL_EXPORTER_PROMETHEUS_PORT", "").strip() or "9464")
    readers.append(PrometheusMetricReader())
    start_http_server(port, addr=host)
    return port
