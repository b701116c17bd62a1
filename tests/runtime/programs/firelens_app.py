"""An application container for the FireLens runtime test: logs to stdout and stderr (delivered by
awsfirelens to the task's router) and sends one span over OTLP/gRPC to localhost:4317 (the
router's opentelemetry input), then waits for SIGTERM.

    python3 firelens_app.py TRACE_ID_HEX
"""

import signal
import sys
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

trace_id = int(sys.argv[1], 16)
print(f"INFO app started trace_id={sys.argv[1]}", flush=True)
print("ERROR something went wrong", file=sys.stderr, flush=True)
provider = TracerProvider(resource=Resource.create({}))
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint="localhost:4317", insecure=True)))
parent = NonRecordingSpan(SpanContext(trace_id, 0x1111111111111111, is_remote=True, trace_flags=TraceFlags(1)))
# The exporter retries while the router is still starting (it answers UNAVAILABLE or refuses).
with provider.get_tracer("firelens-app").start_as_current_span(
    "GET /work", context=trace.set_span_in_context(parent), kind=trace.SpanKind.SERVER
):
    pass
provider.shutdown()
print("INFO span sent", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(1)
