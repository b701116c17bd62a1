"""OTLP/HTTP span ingestion: ecslite beside a null HTTP sink, a parsing sink and raw protobuf parsing.

    .venv/bin/python benchmarks/otlp_ingest.py [--batches 1200] [--connections 4] [--ephemeral]

Builds ``--batches`` OTLP/HTTP protobuf requests of 512 spans each, spread over 20 services with
realistic attributes (HTTP method, route, status code, peer, db system, user agent; one trace id
per request, parent/child links inside it, traces starting 10 ms apart and ending by now), then,
in the same run:

1. raw parsing: ``ExportTraceServiceRequest.FromString`` over every body, in this process;
2. null sink: an asyncio + httptools HTTP/1.1 server (a child process) that reads each body and
   answers 200;
3. parsing sink: the same server, also parsing every body with protobuf (the figure ecslite is
   held against: a sink that does the least a receiver must do);
4. ecslite: ``python -m ecslite server --runtime fake --otlp-http-port P`` on a fresh data dir
   (``--ephemeral`` keeps the store in memory), same requests.

Every HTTP target gets the same load: ``--connections`` client processes, each one keep-alive
connection, sending their share of the requests back to back (a 503 is retried after a tenth of
its Retry-After). Prints spans/s per target, ecslite/parsing-sink ratio, and for ecslite the time
from the last accepted request until every trace id was readable through the store (goal ≤ 2 s),
the CPU time per span of the server and of its telemetry writer process, and the latency of
DescribeClusters called every 10 ms on the server's API port, idle and during the load
(``api_probe``). Exits non-zero if a span is missing or an API call failed.

It also prints the parsing sink's own CPU per span, the CPU per span a receiver may spend at 0.45
of the sink's rate, and floors of per-span Python measured in this process on 200 of the bodies
(parsing, reading six fields of every span, reading every attribute's key and type, ecslite's
decoder alone): what per-span Python costs before any indexing, metrics or storage.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import multiprocessing
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from api_probe import Latencies, Probe
from common import cpu_seconds, free_port, start_ingest_server, writer_pid

SPANS_PER_BATCH = 512
TRACE_EVERY_NS = 10_000_000
SERVICES = 20
ROUTES = ["/orders", "/orders/{id}", "/cart", "/checkout", "/price", "/stock", "/users/{id}", "/health"]


def build_batches(count: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    """(trace id of the batch, body) for ``count`` batches of 512 spans."""
    rng = random.Random(seed)
    batches = []
    # One trace every 10 ms, the last ending now: start times grow as they do in real traffic.
    first = time.time_ns() - count * TRACE_EVERY_NS
    for n in range(count):
        now = first + n * TRACE_EVERY_NS
        service = n % SERVICES
        request = trace_service_pb2.ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        for key, value in (
            ("service.name", f"service-{service:02d}"),
            ("service.version", "1.4.2"),
            ("telemetry.sdk.language", "python"),
            ("telemetry.sdk.name", "opentelemetry"),
            ("host.name", f"ip-10-0-1-{service}.ec2.internal"),
        ):
            kv = rs.resource.attributes.add(key=key)
            kv.value.string_value = value
        scope = rs.scope_spans.add()
        scope.scope.name = "opentelemetry.instrumentation.fastapi"
        scope.scope.version = "0.66b2"
        trace_id = (n + 1).to_bytes(8, "big") + rng.getrandbits(64).to_bytes(8, "big")
        for i in range(SPANS_PER_BATCH):
            start = now + i * 1000
            span = scope.spans.add(
                trace_id=trace_id,
                span_id=(i + 1).to_bytes(8, "big"),
                parent_span_id=(i // 2 + 1).to_bytes(8, "big") if i else b"",
                name=f"GET {ROUTES[i % len(ROUTES)]}",
                kind=2 if i % 3 == 0 else 3,
                start_time_unix_nano=start,
                end_time_unix_nano=start + rng.randint(100_000, 50_000_000),
            )
            status = 500 if i % 50 == 0 else 200
            for key, value in (
                ("http.request.method", "GET"),
                ("http.route", ROUTES[i % len(ROUTES)]),
                ("url.path", ROUTES[i % len(ROUTES)].replace("{id}", str(i))),
                ("server.address", f"service-{(service + 1) % SERVICES:02d}"),
                ("user_agent.original", "python-requests/2.32"),
                ("db.system", "sqlite"),
            ):
                kv = span.attributes.add(key=key)
                kv.value.string_value = value
            kv = span.attributes.add(key="http.response.status_code")
            kv.value.int_value = status
            if status == 500:
                span.status.code = 2
                span.status.message = "upstream failed"
        batches.append((trace_id, request.SerializeToString()))
    return batches


# -- sinks -------------------------------------------------------------------------------------------


def run_sink(port: int, parse: bool, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    import httptools

    class Sink(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)
            self.body: list[bytes] = []

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_body(self, chunk: bytes) -> None:
            self.body.append(chunk)

        def on_message_complete(self) -> None:
            body = b"".join(self.body)
            self.body = []
            if parse:
                trace_service_pb2.ExportTraceServiceRequest.FromString(body)
            self.transport.write(  # type: ignore[attr-defined]
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
            )

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


# -- load ------------------------------------------------------------------------------------------


def send_share(port: int, bodies: list[bytes], out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/x-protobuf"}
    retries = 0
    for body in bodies:
        while True:
            conn.request("POST", "/v1/traces", body, headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                break
            if response.status != 503:
                raise SystemExit(f"unexpected status {response.status}")
            retries += 1
            time.sleep(float(response.getheader("Retry-After") or 1) / 10)
    out.put((time.monotonic(), retries))


def drive(port: int, bodies: list[bytes], connections: int) -> tuple[float, float, int]:
    """(spans/s, monotonic time of the last answer, 503 retries)."""
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    shares = [bodies[i::connections] for i in range(connections)]
    processes = [multiprocessing.Process(target=send_share, args=(port, share, out)) for share in shares]
    start = time.monotonic()
    for process in processes:
        process.start()
    finished = [out.get() for _ in processes]
    for process in processes:
        process.join()
    last = max(t for t, _ in finished)
    return len(bodies) * SPANS_PER_BATCH / (last - start), last, sum(r for _, r in finished)


def measure_sink(parse: bool, bodies: list[bytes], connections: int) -> tuple[float, float]:
    """(spans/s, the sink process's CPU seconds per span)."""
    port = free_port()
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=run_sink, args=(port, parse, ready), daemon=True)
    process.start()
    ready.wait(10)
    try:
        assert process.pid is not None
        before = cpu_seconds(process.pid)
        rate, _, _ = drive(port, bodies, connections)
        return rate, (cpu_seconds(process.pid) - before) / (len(bodies) * SPANS_PER_BATCH)
    finally:
        process.terminate()
        process.join(5)


@dataclass
class EcsliteRun:
    rate: float
    lag: float  # seconds from the last answer until every span was readable
    retries: int
    missing: int
    api_idle: Latencies
    api_during: Latencies
    cpu: dict[str, float]  # CPU seconds per process from the first request until all was stored


def measure_ecslite(batches: list[tuple[bytes, bytes]], connections: int, ephemeral: bool) -> EcsliteRun:
    from ecslite.telemetry.store import StoreSettings, TelemetryStore

    data_dir = Path(tempfile.mkdtemp(prefix="ecslite-otlp-bench-"))
    port, http_port = free_port(), free_port()
    args = ["--port", str(port), "--otlp-grpc-port", "0", "--otlp-http-port", str(http_port), "--forward-port", "0"]
    server = start_ingest_server(data_dir, [*args, *(["--ephemeral"] if ephemeral else [])], (http_port, port))
    try:
        probe = Probe(port)
        api_idle = probe.idle()
        child = writer_pid(server.pid)
        pids = {"server": server.pid, **({"writer process": child} if child else {})}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        probe.start()
        rate, last, retries = drive(http_port, [b for _, b in batches], connections)
        api_during = probe.stop()
        if ephemeral:
            cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
            return EcsliteRun(rate, float("nan"), retries, -1, api_idle, api_during, cpu)
        # Poll the traces' summaries (cheap: the checker must not take the CPU the writer needs),
        # then read every trace in full once.
        waiting = {trace_id for trace_id, _ in batches}
        lag = float("nan")
        while waiting and time.monotonic() - last < 30:
            store = TelemetryStore(StoreSettings(directory=data_dir / "telemetry", read_only=True))
            try:
                summaries = store.trace_summaries(list(waiting))
            finally:
                store.close()
            waiting -= {tid for tid, summary in summaries.items() if summary.span_count == SPANS_PER_BATCH}
            if not waiting:
                lag = time.monotonic() - last
                break
            time.sleep(0.05)
        # Until everything is stored (the writer process may still be committing after the last answer).
        cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        store = TelemetryStore(StoreSettings(directory=data_dir / "telemetry", read_only=True))
        try:
            missing = sum(1 for trace_id, _ in batches if len(store.trace(trace_id)) != SPANS_PER_BATCH)
        finally:
            store.close()
        return EcsliteRun(rate, lag, retries, missing, api_idle, api_during, cpu)
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
        server.wait(60)
        shutil.rmtree(data_dir, ignore_errors=True)


# -- floors of per-span Python -------------------------------------------------------------------


def python_floors(bodies: list[bytes]) -> list[tuple[str, float]]:
    """CPU seconds per span, in this process, of the least a Python receiver can do with each span.

    The parsing sink's figure sets a budget: a receiver at 0.45 of its rate may spend about
    1 / 0.45 = 2.2 times the sink's CPU per span. These floors show what per-span Python costs on
    the same machine before any validation, indexing, metric or storage work.
    """
    from ecslite.telemetry.otlp import decode_trace_bytes

    parse = trace_service_pb2.ExportTraceServiceRequest.FromString

    def fields() -> None:
        for body in bodies:
            for rs in parse(body).resource_spans:
                for ss in rs.scope_spans:
                    _ = [
                        (s.trace_id, s.name, s.kind, s.start_time_unix_nano, s.end_time_unix_nano, s.status.code)
                        for s in ss.spans
                    ]

    def attributes() -> None:
        for body in bodies:
            for rs in parse(body).resource_spans:
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        _ = [(a.key, a.value.WhichOneof("value")) for a in s.attributes]

    steps: list[tuple[str, Callable[[], object]]] = [
        ("protobuf parsing (C)", lambda: [parse(body) for body in bodies]),
        ("+ six fields of each span read in Python", fields),
        ("parsing + each attribute's key and type", attributes),
        ("ecslite's OTLP decoder alone", lambda: [decode_trace_bytes(body, lambda r: r, 0) for body in bodies]),
    ]
    spans = len(bodies) * SPANS_PER_BATCH
    out = []
    for label, step in steps:
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            step()
            best = min(best, time.process_time() - start)
        out.append((label, best / spans))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=1200)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--ephemeral", action="store_true")
    options = parser.parse_args()
    batches = build_batches(options.batches)
    bodies = [b for _, b in batches]
    total = len(bodies) * SPANS_PER_BATCH
    mib = sum(map(len, bodies)) / 2**20
    print(f"{total:,} spans in {len(bodies)} requests of {SPANS_PER_BATCH} ({mib:.1f} MiB), {SERVICES} services")
    start = time.perf_counter()
    for body in bodies:
        trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    raw = total / (time.perf_counter() - start)
    null, _ = measure_sink(False, bodies, options.connections)
    parsing, parsing_cpu = measure_sink(True, bodies, options.connections)
    floors = python_floors(bodies[:200])
    run = measure_ecslite(batches, options.connections, options.ephemeral)
    print(f"raw protobuf parsing      {raw:12,.0f} spans/s")
    print(f"null HTTP sink            {null:12,.0f} spans/s  ({options.connections} keep-alive connections)")
    print(f"parsing sink              {parsing:12,.0f} spans/s")
    print(f"ecslite                   {run.rate:12,.0f} spans/s  ({run.retries} requests retried after 503)")
    print(f"ecslite / parsing sink    {run.rate / parsing:12.2f}  (goal >= 0.45)")
    print(f"ecslite / null sink       {run.rate / null:12.2f}")
    if run.missing >= 0:
        print(f"all trace ids readable    {run.lag:12.2f} s after the last answer (goal <= 2 s); missing {run.missing}")
    for name, seconds in run.cpu.items():
        print(f"CPU per span              {seconds / total * 1e6:12.2f} us  ({name}, {seconds:.2f} s)")
    print(f"parsing sink CPU per span {parsing_cpu * 1e6:12.2f} us  (its one process)")
    budget = 1 / (0.45 * parsing)
    print(
        f"budget at 0.45 of it      {budget * 1e6:12.2f} us  of one core per span "
        f"({2 * budget * 1e6:.2f} us with both of 2 cores, clients' CPU not counted)"
    )
    for label, seconds in floors:
        print(f"Python floor {seconds * 1e6:25.2f} us  per span: {label}")
    print(f"DescribeClusters idle     {run.api_idle.summary()}")
    print(f"DescribeClusters ingest   {run.api_during.summary()}")
    print(f"goal 50,000 spans/s       {'met' if run.rate >= 50_000 else 'MISSED'}")
    failed = run.missing > 0 or run.api_idle.errors or run.api_during.errors
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
