"""The ADOT collector process (``python -m ecslite.builtin.otelcol [--config=FILE]``).

Configuration, first found: ``AOT_CONFIG_CONTENT`` (the YAML itself, as ADOT reads it), ``--config``
(an image path, ``ECSLITE_IMAGE_ROOT`` first), the image's ``/etc/ecs/ecs-default-config.yaml``. The
configurations ADOT ships under ``/etc/ecs/`` are not files on this machine: any of them, and no
configuration at all, means :data:`ECS_DEFAULT` (OTLP 4317/4318 and X-Ray UDP 2000 in; X-Ray and
EMF out), said once in the log. ``${env:VAR}`` and ``${VAR}`` are replaced from the environment.

Every receiver first hands what it received to ecslite (the tap, as the built-in Fluent Bit does),
then to the pipelines that list it, signal by signal (``traces``, ``metrics``, ``logs``,
``traces/name``...). Processors pass data unchanged (``batch`` and ``memory_limiter`` need nothing
here; others that would change data say so once). Exporters:

- ``otlphttp``: ``endpoint`` + ``/v1/<signal>`` (or ``traces_endpoint``...), ``headers``, gzip;
- ``otlp``: OTLP/gRPC to ``endpoint`` (``tls.insecure``);
- ``prometheusremotewrite``: remote write 1.0 to ``endpoint``, ``external_labels``;
- ``debug``/``logging``: a line per batch on stdout;
- ``awsxray``, ``awsemf``, ``awscloudwatchlogs``: AWS backends, which in ecslite are ecslite itself:
  the data is already there (the tap).

A failed export is retried (1, 2, 4 s) and then dropped with a warning. Unknown components give one
warning each and are skipped; ``health_check`` serves ``GET /`` on its endpoint (13133).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import gzip
import logging
import os
import re
import signal
import sys
import time
from typing import Any, cast

import httpx
import yaml

from ecslite.builtin.fluentbit.config import image_path
from ecslite.builtin.http import HttpServer, Request, Response, json_response
from ecslite.builtin.tap import Tap

log = logging.getLogger("ecslite.builtin.otelcol")

ECS_DEFAULT = """
extensions:
  health_check:
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
      http:
        endpoint: 0.0.0.0:4318
  awsxray:
    endpoint: 0.0.0.0:2000
    transport: udp
processors:
  batch/traces:
    timeout: 1s
    send_batch_size: 50
  batch/metrics:
    timeout: 60s
exporters:
  awsxray:
  awsemf:
service:
  extensions: [health_check]
  pipelines:
    traces:
      receivers: [otlp, awsxray]
      processors: [batch/traces]
      exporters: [awsxray]
    metrics:
      receivers: [otlp]
      processors: [batch/metrics]
      exporters: [awsemf]
"""
IMAGE_CONFIG = "/etc/ecs/ecs-default-config.yaml"
ADOT_CONFIG_DIR = "/etc/ecs/"
SIGNALS = ("traces", "metrics", "logs")
LOCAL_EXPORTERS = ("awsxray", "awsemf", "awscloudwatchlogs", "awsprometheusremotewrite")
QUIET_PROCESSORS = ("batch", "memory_limiter")
_ENV = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text: str) -> str:
    return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), text)


def load_config(path: str | None) -> tuple[dict[str, Any], str]:
    """The configuration and where it came from."""
    content = os.environ.get("AOT_CONFIG_CONTENT")
    if content:
        return _parse(content), "AOT_CONFIG_CONTENT"
    wanted = path or IMAGE_CONFIG
    found = image_path(wanted)
    if found.exists():
        return _parse(found.read_text()), str(found)
    if wanted.startswith(ADOT_CONFIG_DIR) or path is None:
        return _parse(ECS_DEFAULT), f"ADOT's ECS default configuration (for {wanted})"
    raise SystemExit(f"Error: cannot read the configuration {wanted}: no such file")


def _parse(text: str) -> dict[str, Any]:
    document = yaml.safe_load(expand(text)) or {}
    if not isinstance(document, dict):
        raise SystemExit("Error: the collector configuration must be a YAML mapping")
    return document


def _kind(name: str) -> str:
    return name.split("/", 1)[0]


def _endpoint(value: Any, default: str) -> tuple[str, int]:
    text = str(value or default)
    host, _, port = text.rpartition(":")
    return host or "0.0.0.0", int(port)


class Exporter:
    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        self.name = name
        self.kind = _kind(name)
        self.settings = settings or {}
        self.sent = 0
        self.failed = 0

    async def export(self, signal: str, payload: bytes) -> bool:
        kind = self.kind
        if kind in LOCAL_EXPORTERS:
            return True  # ecslite is the AWS backend here: the tap delivered the data already
        if kind in ("debug", "logging"):
            print(f"{self.name}: {signal} batch of {len(payload)} bytes", flush=True)
            return True
        if kind == "otlphttp":
            return await self._otlp_http(signal, payload)
        if kind == "otlp":
            return await asyncio.to_thread(self._otlp_grpc, signal, payload)
        if kind == "prometheusremotewrite" and signal == "metrics":
            return await self._remote_write(payload)
        return True

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> bool:
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            log.warning("exporter %s: %s: %s", self.name, url, error)
            return False
        if response.status_code >= 300:
            log.warning("exporter %s: %s answered HTTP %s", self.name, url, response.status_code)
        return response.status_code < 300 or (400 <= response.status_code < 500 and response.status_code != 429)

    async def _otlp_http(self, signal: str, payload: bytes) -> bool:
        base = str(self.settings.get("endpoint") or "").rstrip("/")
        url = str(self.settings.get(f"{signal}_endpoint") or f"{base}/v1/{signal}")
        headers = {"Content-Type": "application/x-protobuf", **(self.settings.get("headers") or {})}
        body = payload
        if (self.settings.get("compression") or "gzip") == "gzip":
            body = gzip.compress(payload)
            headers["Content-Encoding"] = "gzip"
        return await self._post(url, body, headers)

    def _otlp_grpc(self, signal: str, payload: bytes) -> bool:
        import grpc

        methods = {
            "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        }
        target = str(self.settings.get("endpoint") or "localhost:4317").removeprefix("http://")
        with grpc.insecure_channel(target) as channel:
            call = channel.unary_unary(methods[signal])
            try:
                call(payload, timeout=10, metadata=tuple((self.settings.get("headers") or {}).items()))
            except grpc.RpcError as error:
                log.warning("exporter %s: %s: %s", self.name, target, error)
                return False
        return True

    async def _remote_write(self, payload: bytes) -> bool:
        import cramjam
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

        from ecslite.builtin.fluentbit.outputs import write_request
        from ecslite.telemetry.attributes import attributes_from_pb
        from ecslite.telemetry.model import Resource
        from ecslite.telemetry.prometheus import DeltaAccumulator, convert

        request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(payload)
        resources = [Resource(attributes_from_pb(rm.resource.attributes)) for rm in request.resource_metrics]
        batches, _, _, _ = convert(request, resources, DeltaAccumulator(), time.time(), 0)
        extra = {str(k): str(v) for k, v in (self.settings.get("external_labels") or {}).items()}
        series = []
        for batch in batches:
            for sample in batch.samples:
                labels = sorted({**dict(sample.labels), **extra}.items())
                series.append((labels, [(sample.ts_ms, sample.value)]))
        body = bytes(cramjam.snappy.compress_raw(write_request(series)))
        headers = {
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "snappy",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        }
        return await self._post(str(self.settings.get("endpoint")), body, headers)


class Collector:
    def __init__(self, config: dict[str, Any], tap: Tap) -> None:
        self.config = config
        self.tap = tap
        self.started = time.time()
        self.warnings: list[str] = []
        exporters = config.get("exporters") or {}
        self.exporters = {name: Exporter(name, settings or {}) for name, settings in exporters.items()}
        self.routes: dict[tuple[str, str], list[Exporter]] = {}
        for pipeline, spec in ((config.get("service") or {}).get("pipelines") or {}).items():
            signal = _kind(pipeline)
            if signal not in SIGNALS or not isinstance(spec, dict):
                self.warn(f"pipeline {pipeline!r} is not traces, metrics or logs; it is skipped")
                continue
            for processor in spec.get("processors") or ():
                if _kind(processor) not in QUIET_PROCESSORS:
                    self.warn(f"processor {processor} is not applied by ecslite's collector (data passes unchanged)")
            targets = []
            for name in spec.get("exporters") or ():
                exporter = self.exporters.get(name)
                if exporter is None:
                    self.warn(f"pipeline {pipeline} names exporter {name}, which is not configured")
                    continue
                if exporter.kind not in (
                    *LOCAL_EXPORTERS,
                    "debug",
                    "logging",
                    "otlphttp",
                    "otlp",
                    "prometheusremotewrite",
                ):
                    self.warn(f"exporter {name} is not implemented by ecslite's collector; it is skipped")
                    continue
                targets.append(exporter)
            for receiver in spec.get("receivers") or ():
                self.routes.setdefault((receiver, signal), []).extend(targets)
        self._servers: list[Any] = []
        self._background: set[asyncio.Task[Any]] = set()

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            log.warning(message)

    async def deliver(self, receiver: str, signal: str, payload: bytes, content_type: str, encoding: str) -> int:
        """Tap, then the pipelines' exporters (in the background); the tap's HTTP status."""
        status, text, _ = await self.tap.otlp(signal, payload, content_type, encoding)
        if status == 503:
            return 503
        if status == 400:
            log.warning("ecslite refused %s from %s: %s", signal, receiver, text)
            return 400
        for exporter in self.routes.get((receiver, signal), ()):
            task = asyncio.get_running_loop().create_task(self._export(exporter, signal, payload, encoding))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return 200

    async def _export(self, exporter: Exporter, signal: str, payload: bytes, encoding: str) -> None:
        if encoding == "gzip":
            payload = gzip.decompress(payload)
        for wait in (1, 2, 4, None):
            if await exporter.export(signal, payload):
                exporter.sent += 1
                return
            if wait is None:
                exporter.failed += 1
                log.warning("exporter %s dropped a %s batch after retries", exporter.name, signal)
                return
            await asyncio.sleep(wait)

    async def start(self) -> None:
        receivers = self.config.get("receivers") or {}
        used = {receiver for receiver, _ in self.routes}
        for name in sorted(used):
            settings = receivers.get(name) or {}
            kind = _kind(name)
            if kind == "otlp":
                await self._start_otlp(name, settings)
            elif kind == "awsxray":
                await self._start_xray(name, settings)
            else:
                self.warn(f"receiver {name} is not implemented by ecslite's collector; it receives nothing")
        extensions = (self.config.get("service") or {}).get("extensions") or ()
        for name in extensions:
            if _kind(name) == "health_check":
                settings = (self.config.get("extensions") or {}).get(name) or {}
                host, port = _endpoint(settings.get("endpoint"), "0.0.0.0:13133")
                server = HttpServer(self._health)
                await server.listen(host, port)
                self._servers.append(server)

    async def _health(self, request: Request) -> Response:
        up = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.started))
        uptime = f"{time.time() - self.started:.3f}s"
        return json_response({"status": "Server available", "upSince": up, "uptime": uptime})

    async def _start_otlp(self, name: str, settings: dict[str, Any]) -> None:
        from ecslite.telemetry.pipeline import Pipeline, PipelineSettings
        from ecslite.telemetry.receivers.otlp_grpc import GrpcBackend
        from ecslite.telemetry.receivers.otlp_http import OtlpConnection

        collector, loop = self, asyncio.get_running_loop()

        class Routing:
            """What the OTLP listener code calls ``pipeline``: ``submit`` an export request."""

            settings = PipelineSettings()

            def submit(self, request: Any) -> concurrent.futures.Future[Any] | None:
                if collector.tap.full_until > time.monotonic():
                    return None
                return asyncio.run_coroutine_threadsafe(collector._otlp_request(name, request), loop)

        routing = cast(Pipeline, Routing())
        backend = await asyncio.to_thread(GrpcBackend, routing, workers=4)
        self._servers.append(backend)
        protocols = settings.get("protocols") or {"grpc": {}, "http": {}}
        for protocol, default in (("grpc", "0.0.0.0:4317"), ("http", "0.0.0.0:4318")):
            if protocol not in protocols:
                continue
            host, port = _endpoint((protocols.get(protocol) or {}).get("endpoint"), default)
            server = await loop.create_server(lambda: OtlpConnection(routing, backend, None), host, port)
            self._servers.append(server)

    async def _otlp_request(self, receiver: str, request: Any) -> Any:
        from ecslite.telemetry.pipeline import IngestResult, Outcome

        content_type = "application/json" if request.encoding == "json" else "application/x-protobuf"
        while True:
            status = await self.deliver(receiver, request.signal, request.body, content_type, request.compression)
            if status != 503:
                break
            self.tap.full_until = time.monotonic() + 1.0
            await asyncio.sleep(1.0)
        if status == 400:
            return IngestResult(Outcome.BAD_REQUEST, message="ecslite could not decode the request")
        return IngestResult(Outcome.OK, 0)

    async def _start_xray(self, name: str, settings: dict[str, Any]) -> None:
        from ecslite.builtin.xray.segments import BadSegment, parse_datagram, to_request

        collector = self

        class Segments(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                try:
                    document = parse_datagram(data)
                except BadSegment as error:
                    log.warning("%s: segment dropped: %s", name, error)
                    return
                request, _ = to_request([document])
                if request.resource_spans:
                    task = asyncio.get_running_loop().create_task(
                        collector.deliver(name, "traces", request.SerializeToString(), "application/x-protobuf", "")
                    )
                    collector._background.add(task)
                    task.add_done_callback(collector._background.discard)

        host, port = _endpoint(settings.get("endpoint"), "0.0.0.0:2000")
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Segments, local_addr=(host, port))
        self._servers.append(transport)

    async def stop(self) -> None:
        for server in self._servers:
            closer = getattr(server, "close", None)
            if closer is not None:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)


async def run(args: argparse.Namespace) -> int:
    tap = Tap()
    config, source = load_config(args.config)
    print(f"ecslite built-in AWS Distro for OpenTelemetry collector; configuration: {source}", flush=True)
    collector = Collector(config, tap)
    try:
        await collector.start()
    except OSError as error:
        print(f"Error: cannot start a receiver: {error}", file=sys.stderr, flush=True)
        return 1
    context = await asyncio.to_thread(tap.context, 4, 0.25)
    if collector.warnings and context is not None:
        await tap.post_json("/v1/diagnostics", {"container": None, "messages": collector.warnings})
    print("Everything is ready. Begin running and processing data.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await collector.stop()
    await tap.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="awscollector", description="ecslite's built-in ADOT collector")
    parser.add_argument("--config", default=None)
    args, _unknown = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s\t%(message)s")
    return asyncio.run(run(args))
