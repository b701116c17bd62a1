"""Mount points of the query APIs on the server's own Starlette app (spec/telemetry.md §0, §7):
Grafana's data-source URLs are ``http://HOST:PORT/prometheus``, ``http://HOST:PORT`` (Loki
appends ``/loki/api/v1/...``; its ``/ready`` is at the root), ``http://HOST:PORT/tempo`` and
``http://HOST:PORT/jaeger``. The edge sends these prefixes here instead of to the AWS dispatcher
(:data:`PREFIXES`)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount

from ecslite.clock import Clock
from ecslite.telemetry.query.jaeger import JaegerApi
from ecslite.telemetry.query.loki import LokiApi
from ecslite.telemetry.query.prometheus_api import PrometheusApi
from ecslite.telemetry.query.tempo import TempoApi
from ecslite.telemetry.store import TelemetryStore

PREFIXES = ("/prometheus", "/loki", "/tempo", "/jaeger", "/ready")


def query_routes(store: TelemetryStore, clock: Clock) -> list[BaseRoute]:
    loki = LokiApi(store, clock)
    return [
        Mount("/prometheus", routes=PrometheusApi(store, clock).routes()),
        Mount("/loki/api/v1", routes=loki.routes()),
        *loki.root_routes(),
        Mount("/tempo", routes=TempoApi(store, clock).routes()),
        Mount("/jaeger", routes=JaegerApi(store, clock).routes()),
    ]
