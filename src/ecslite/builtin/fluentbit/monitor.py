"""The Fluent Bit HTTP server (``[SERVICE] HTTP_Server On``, ``HTTP_Listen``, ``HTTP_Port`` 2020) as
Fluent Bit 4.1.0 answers it (spec/telemetry.md §5).

Routes: ``/`` (build info), ``/api/v1/uptime``, ``/api/v1/metrics`` (the per-second snapshot; 404
before the first one), ``/api/v1/metrics/prometheus``, ``/api/v1/plugins``, ``/api/v1/health`` (only
with ``Health_Check On``: ``ok``/200 or ``error``/500), ``/api/v1/storage`` (only with
``storage.metrics On``), ``/api/v2/metrics`` (cmetrics text), ``/api/v2/metrics/prometheus`` and
``/api/v2/reload``.

Routing quirk kept on purpose (§5): Fluent Bit 4.1 matches handlers as unanchored patterns and its
root handler matches every path, so an unregistered path (``/api/v1/health`` without
``Health_Check``) answers 200 with the root JSON. ``strict_routes`` (``ECSLITE_FLUENTBIT_STRICT_ROUTES=1``)
answers 404 instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from ecslite.builtin.fluentbit.engine import Engine
from ecslite.builtin.http import Request, Response, json_response, text_response

VERSION = "4.1.0"
EDITION = "Community"
FLAGS = [
    "FLB_HAVE_SYS_WAIT_H",
    "FLB_HAVE_IN_STORAGE_BACKLOG",
    "FLB_HAVE_CHUNK_TRACE",
    "FLB_HAVE_PARSER",
    "FLB_HAVE_RECORD_ACCESSOR",
    "FLB_HAVE_STREAM_PROCESSOR",
    "FLB_HAVE_TLS",
    "FLB_HAVE_OPENSSL",
    "FLB_HAVE_METRICS",
    "FLB_HAVE_WASM",
    "FLB_HAVE_AWS",
    "FLB_HAVE_AWS_CREDENTIAL_PROCESS",
    "FLB_HAVE_SIGNV4",
    "FLB_HAVE_SQLDB",
    "FLB_LOG_NO_CONTROL_CHARS",
    "FLB_HAVE_METRICS",
    "FLB_HAVE_HTTP_SERVER",
    "FLB_HAVE_SYSTEMD",
    "FLB_HAVE_FORK",
    "FLB_HAVE_TIMESPEC_GET",
    "FLB_HAVE_GMTOFF",
    "FLB_HAVE_UNIX_SOCKET",
    "FLB_HAVE_LIBYAML",
    "FLB_HAVE_ATTRIBUTE_ALLOC_SIZE",
    "FLB_HAVE_PROXY_GO",
    "FLB_HAVE_JEMALLOC",
    "FLB_HAVE_LIBBACKTRACE",
    "FLB_HAVE_REGEX",
    "FLB_HAVE_UTF8_ENCODER",
    "FLB_HAVE_LUAJIT",
    "FLB_HAVE_C_TLS",
    "FLB_HAVE_ACCEPT4",
    "FLB_HAVE_INOTIFY",
    "FLB_HAVE_GETENTROPY",
    "FLB_HAVE_GETENTROPY_SYS_RANDOM",
]
PROMETHEUS_TYPE = "text/plain; version=0.0.4"
PLUGINS = {
    "inputs": ["forward", "opentelemetry", "http", "tcp", "dummy"],
    "filters": ["aws", "grep", "modify", "nest", "record_modifier"],
    "outputs": ["cloudwatch_logs", "forward", "loki", "null", "opentelemetry", "prometheus_remote_write", "stdout"],
}


def uptime_hr(seconds: int) -> str:
    """Fluent Bit's sentence, two spaces after the colon, ``s`` only when a count is above one."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)

    def unit(count: int, name: str) -> str:
        return f"{count} {name}{'s' if count > 1 else ''}"

    return (
        f"Fluent Bit has been running:  {unit(days, 'day')}, {unit(hours, 'hour')}, "
        f"{unit(minutes, 'minute')} and {unit(secs, 'second')}"
    )


def help_text(name: str) -> str:
    """The HELP texts of Fluent Bit's v1 Prometheus endpoint, found by substring as it does."""
    for needle, text in (
        ("input_bytes", "Number of input bytes by Fluent Bit input plugin."),
        ("input_records", "Number of input records by Fluent Bit input plugin."),
        ("output_bytes", "Number of output bytes by Fluent Bit output plugin."),
        ("output_records", "Number of output records by Fluent Bit output plugin."),
        ("output_errors", "Number of output errors by Fluent Bit output plugin."),
        ("output_retries_failed", "Number of output retries failed by Fluent Bit output plugin."),
        ("output_retries", "Number of output retries by Fluent Bit output plugin."),
        ("output_proc_records", "Number of processed output records by Fluent Bit output plugin."),
        ("output_proc_bytes", "Number of processed output bytes by Fluent Bit output plugin."),
        ("filter_add_records", "Number of records added by Fluent Bit filter plugin."),
        ("filter_drop_records", "Number of records dropped by Fluent Bit filter plugin."),
    ):
        if needle in name:
            return text
    return "Fluentbit metrics."


class Monitor:
    def __init__(self, engine: Engine, *, strict_routes: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.strict_routes = strict_routes
        self.clock = clock
        service = engine.config.service
        self.health_enabled = service.flag("health_check")
        self.storage_metrics = service.flag("storage.metrics")
        self.reloads = 0
        self.routes: dict[str, Callable[[Request], Response]] = {
            "/": self.root,
            "/api/v1/uptime": self.uptime,
            "/api/v1/metrics": self.metrics,
            "/api/v1/metrics/prometheus": self.metrics_prometheus,
            "/api/v1/plugins": self.plugins,
            "/api/v2/metrics": self.metrics_v2,
            "/api/v2/metrics/prometheus": self.metrics_v2_prometheus,
            "/api/v2/reload": self.reload,
        }
        if self.health_enabled:
            self.routes["/api/v1/health"] = self.health
        if self.storage_metrics:
            self.routes["/api/v1/storage"] = self.storage

    async def handle(self, request: Request) -> Response:
        route = self.routes.get(request.path.rstrip("/") or "/")
        if route is None:
            if self.strict_routes:
                return text_response("not found\n", 404)
            route = self.root
        return route(request)

    def root(self, request: Request) -> Response:
        return json_response({"fluent-bit": {"version": VERSION, "edition": EDITION, "flags": FLAGS}})

    def uptime(self, request: Request) -> Response:
        seconds = self.engine.uptime()
        return json_response({"uptime_sec": seconds, "uptime_hr": uptime_hr(seconds)})

    def metrics(self, request: Request) -> Response:
        if self.engine.snapshot is None:
            return Response(404, b"", "text/plain")
        return json_response(self.engine.snapshot)

    def metrics_prometheus(self, request: Request) -> Response:
        snapshot = self.engine.snapshot
        if snapshot is None:
            return Response(404, b"", "text/plain")
        now_ms = int(self.clock() * 1000)
        lines = sorted(
            f'fluentbit_{kind}_{metric}_total{{name="{name}"}} {value} {now_ms}'
            for kind, instances in snapshot.items()
            for name, counters in instances.items()
            for metric, value in counters.items()
        )
        out: list[str] = []
        previous = None
        for line in lines:
            family = line.split("{", 1)[0]
            if family != previous:
                out.append(f"# HELP {family} {help_text(family)}")
                out.append(f"# TYPE {family} counter")
                previous = family
            out.append(line)
        started = int(self.engine.started)
        out += [
            "# HELP fluentbit_uptime Number of seconds that Fluent Bit has been running.",
            "# TYPE fluentbit_uptime counter",
            f"fluentbit_uptime {self.engine.uptime()}",
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {started}",
            "# HELP fluentbit_build_info Build version information.",
            "# TYPE fluentbit_build_info gauge",
            f'fluentbit_build_info{{version="{VERSION}",edition="{EDITION}"}} 1',
        ]
        return text_response("\n".join(out) + "\n", content_type=PROMETHEUS_TYPE)

    def plugins(self, request: Request) -> Response:
        return json_response({"plugins": PLUGINS})

    def health(self, request: Request) -> Response:
        if self.engine.health.healthy():
            return text_response("ok\n")
        return text_response("error\n", 500)

    def storage(self, request: Request) -> Response:
        chunks = sum(len(o.buffer) for o in self.engine.outputs)
        return json_response(
            {
                "storage_layer": {"chunks": {"total_chunks": chunks, "mem_chunks": chunks, "fs_chunks": 0}},
                "input_chunks": {i.name: {"status": {"overlimit": False}} for i in self.engine.inputs},
            }
        )

    def _v2_families(self) -> list[tuple[str, str, str, list[tuple[dict[str, str], int]]]]:
        """(name, help, type, [(labels, value)]) of the new-style metrics."""
        engine = self.engine
        families: list[tuple[str, str, str, list[tuple[dict[str, str], int]]]] = [
            (
                "fluentbit_uptime",
                "Number of seconds that Fluent Bit has been running.",
                "counter",
                [({"hostname": _hostname()}, engine.uptime())],
            ),
        ]
        for metric, help_ in (("records", "Number of input records."), ("bytes", "Number of input bytes.")):
            families.append(
                (
                    f"fluentbit_input_{metric}_total",
                    help_,
                    "counter",
                    [({"name": i.name}, getattr(i, metric)) for i in engine.inputs],
                )
            )
        for metric, help_ in (
            ("proc_records", "Number of processed output records."),
            ("proc_bytes", "Number of processed output bytes."),
            ("errors", "Number of output errors."),
            ("retries", "Number of output retries."),
            ("retries_failed", "Number of abandoned batches because the maximum number of re-tries was reached."),
            ("dropped_records", "Number of dropped records."),
            ("retried_records", "Number of retried records."),
        ):
            families.append(
                (
                    f"fluentbit_output_{metric}_total",
                    help_,
                    "counter",
                    [({"name": o.name}, getattr(o, metric)) for o in engine.outputs],
                )
            )
        families.append(
            (
                "fluentbit_build_info",
                "Build version information.",
                "gauge",
                [({"hostname": _hostname(), "version": VERSION, "os": "linux"}, 1)],
            )
        )
        return families

    def metrics_v2(self, request: Request) -> Response:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.clock())) + ".000000000Z"
        lines = []
        for name, _, _, samples in self._v2_families():
            for labels, value in samples:
                rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
                lines.append(f"{stamp} {name}{{{rendered}}} = {value}")
        return text_response("\n".join(lines) + "\n")

    def metrics_v2_prometheus(self, request: Request) -> Response:
        lines = []
        for name, help_, kind, samples in self._v2_families():
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
            for labels, value in samples:
                rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
                lines.append(f"{name}{{{rendered}}} {value}")
        return text_response("\n".join(lines) + "\n", content_type=PROMETHEUS_TYPE)

    def reload(self, request: Request) -> Response:
        if request.method == "GET":
            return json_response({"hot_reload_count": self.reloads})
        return Response(400, orjson.dumps({"reload": "not enabled", "status": -1}), "application/json")


def _hostname() -> str:
    import socket

    return socket.gethostname()
