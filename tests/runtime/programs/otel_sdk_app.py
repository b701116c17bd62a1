"""An instrumented application for the telemetry runtime test: with the OpenTelemetry SDK it sends a
span over OTLP/gRPC to localhost:4317, a log record of that span and a counter over OTLP/HTTP to
localhost:4318 — the task's implicit listeners, as an app on ECS would reach an ADOT sidecar —,
prints "sent" and waits for SIGTERM. Nothing in it knows about ECS: the resource has only the
service name from OTEL_SERVICE_NAME.

    python3 otel_sdk_app.py TRACE_ID_HEX
"""

import logging
import signal
import socket
import sys
import time

from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


wait_for_port(4317)
wait_for_port(4318)
resource = Resource.create({})
traces = TracerProvider(resource=resource)
traces.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint="localhost:4317", insecure=True)))
logs = LoggerProvider(resource=resource)
logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint="http://localhost:4318/v1/logs")))
set_logger_provider(logs)
logger = logging.getLogger("sdk-app")
logger.setLevel(logging.INFO)
logger.addHandler(LoggingHandler(logger_provider=logs))
reader = PeriodicExportingMetricReader(
    OTLPMetricExporter(endpoint="http://localhost:4318/v1/metrics"), export_interval_millis=3_600_000
)
meters = MeterProvider(resource=resource, metric_readers=[reader])
metrics.set_meter_provider(meters)
orders = meters.get_meter("sdk-app").create_counter("sdk_app_orders", unit="1", description="Orders taken")

parent = NonRecordingSpan(
    SpanContext(int(sys.argv[1], 16), 0x2222222222222222, is_remote=True, trace_flags=TraceFlags(1))
)
with traces.get_tracer("sdk-app").start_as_current_span(
    "POST /orders", context=trace.set_span_in_context(parent), kind=trace.SpanKind.SERVER
):
    logger.info("order accepted")
    orders.add(3, {"product": "laptop"})
meters.force_flush()
traces.shutdown()
logs.shutdown()
print("sent", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(1)
