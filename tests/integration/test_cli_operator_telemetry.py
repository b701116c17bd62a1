"""``ecslite traces``, ``trace`` and ``top`` run as subprocesses against a real server (fake runtime)
of this module, started with its OTLP/HTTP receiver on a free port and container stats read every
half second: traces sent with the OpenTelemetry SDK at fixed times (so durations, offsets and the
waterfall's geometry are exact), CPU and memory scripted through the fake runtime's labels."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from tests.conftest import RunningServer, make_client, start_server, stop_server
from tests.fixtures.ports import free_port
from tests.integration.test_cli_operator_helpers import (
    Follower,
    cli_env,
    run_cli,
    run_json,
    table_rows,
    wait_for,
    web_definition,
)
from tests.integration.test_tasks_helpers import SUBNETS, fake, wait_status

MS = 1_000_000  # nanoseconds
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def telemetry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int]]:
    port = free_port()
    running = start_server(
        tmp_path_factory.mktemp("ecslite-cli-telemetry"),
        "--otlp-http-port",
        str(port),
        "--runtime-metrics-interval",
        "0.5",
    )
    yield running, port
    stop_server(running)


@pytest.fixture
def server_endpoint(telemetry_server: tuple[RunningServer, int]) -> str:
    telemetry_server[0].reset()
    return telemetry_server[0].endpoint


@pytest.fixture
def otlp_port(telemetry_server: tuple[RunningServer, int]) -> int:
    return telemetry_server[1]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path)


def iso_ns(epoch_ns: int) -> str:
    stamp = dt.datetime.fromtimestamp(epoch_ns / 1e9, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


# -- traces -----------------------------------------------------------------------------------------


class SentTraces:
    """Two traces two minutes old: an order over orders, inventory and pricing (pricing failed),
    and a health check of orders alone."""

    def __init__(self, port: int) -> None:
        self.base = (int(time.time()) - 120) * 1_000_000_000
        providers = {name: self._provider(port, name) for name in ("orders", "inventory", "pricing")}
        tracers = {name: provider.get_tracer("cli-test") for name, provider in providers.items()}
        base = self.base
        root = tracers["orders"].start_span(
            "POST /orders",
            kind=SpanKind.SERVER,
            start_time=base,
            attributes={"http.request.method": "POST", "http.route": "/orders", "http.response.status_code": 500},
        )
        parent = set_span_in_context(root)
        stock = tracers["inventory"].start_span(
            "GET /inventory/{item_id}",
            context=parent,
            kind=SpanKind.SERVER,
            start_time=base + 5 * MS,
            attributes={"http.route": "/inventory/{item_id}"},
        )
        stock.end(end_time=base + 25 * MS)
        price = tracers["pricing"].start_span(
            "POST /calculate-price", context=parent, kind=SpanKind.SERVER, start_time=base + 30 * MS
        )
        price.record_exception(ValueError("price service down"), timestamp=base + 70 * MS)
        price.set_status(Status(StatusCode.ERROR, "price service down"))
        price.end(end_time=base + 80 * MS)
        root.set_status(Status(StatusCode.ERROR))
        root.end(end_time=base + 100 * MS)
        health = tracers["orders"].start_span("GET /health", kind=SpanKind.SERVER, start_time=base + 1000 * MS)
        health.end(end_time=base + 1002 * MS)
        self.order = format(root.get_span_context().trace_id, "032x")
        self.health = format(health.get_span_context().trace_id, "032x")
        self.span_ids = {
            "root": format(root.get_span_context().span_id, "016x"),
            "stock": format(stock.get_span_context().span_id, "016x"),
            "price": format(price.get_span_context().span_id, "016x"),
        }
        for provider in providers.values():
            provider.shutdown()

    @staticmethod
    def _provider(port: int, service: str) -> TracerProvider:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"))
        )
        return provider


@pytest.fixture
def sent(server_endpoint: str, otlp_port: int, env: dict[str, str]) -> SentTraces:
    traces = SentTraces(otlp_port)

    def stored() -> bool:
        rows = run_json(server_endpoint, env, "traces")
        return sorted((r["traceId"], r["spanCount"]) for r in rows) == sorted([(traces.order, 3), (traces.health, 1)])

    wait_for(stored, timeout=30, interval=0.5)
    return traces


def test_traces_json_summarises_each_trace(server_endpoint: str, env: dict[str, str], sent: SentTraces) -> None:
    rows = run_json(server_endpoint, env, "traces")

    assert rows == [
        {
            "traceId": sent.health,
            "rootService": "orders",
            "rootOperation": "GET /health",
            "startTime": iso_ns(sent.base + 1000 * MS),
            "durationMs": 2.0,
            "spanCount": 1,
            "errorCount": 0,
            "error": False,
            "services": ["orders"],
        },
        {
            "traceId": sent.order,
            "rootService": "orders",
            "rootOperation": "POST /orders",
            "startTime": iso_ns(sent.base),
            "durationMs": 100.0,
            "spanCount": 3,
            "errorCount": 2,
            "error": True,
            "services": ["inventory", "orders", "pricing"],
        },
    ]


def test_traces_filter_by_errors_service_limit_and_time(
    server_endpoint: str, env: dict[str, str], sent: SentTraces
) -> None:
    def ids(*args: str) -> list[str]:
        return [row["traceId"] for row in run_json(server_endpoint, env, "traces", *args)]

    assert ids("--errors") == [sent.order]
    assert ids("--service", "inventory") == [sent.order]
    assert ids("--service", "orders") == [sent.health, sent.order]
    assert ids("--service", "pricing", "--errors") == [sent.order]
    assert ids("--service", "nobody") == []
    assert len(ids("--limit", "1")) == 1
    assert ids("--since", "1m") == []  # both started two minutes ago
    recent = run_cli(server_endpoint, env, "traces", "--since", "1m")
    assert (recent.returncode, recent.stdout, recent.stderr) == (0, "No traces in the last 1m.\n", "")


def test_traces_table_shows_ids_roots_durations_and_errors(
    server_endpoint: str, env: dict[str, str], sent: SentTraces
) -> None:
    result = run_cli(server_endpoint, env, "traces")

    assert (result.returncode, result.stderr) == (0, "")
    rows = table_rows(result.stdout)
    assert rows[0] == ["TRACE ID", "ROOT SERVICE", "ROOT OPERATION", "DURATION", "SPANS", "ERROR", "START"]
    assert rows[1][:5] == [sent.health, "orders", "GET /health", "2.00ms", "1"]
    assert rows[2][:6] == [sent.order, "orders", "POST /orders", "100ms", "3", "error ×2"]
    assert re.fullmatch(r"\d\d:\d\d:\d\d \(2m ago\)", rows[2][6]), rows[2]


def test_trace_waterfall_is_scaled_to_the_terminal_width(
    server_endpoint: str, env: dict[str, str], sent: SentTraces
) -> None:
    result = run_cli(server_endpoint, {**env, "COLUMNS": "100"}, "trace", sent.order)

    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    xray = f"1-{sent.order[:8]}-{sent.order[8:]}"
    assert lines[0] == f"trace {sent.order}  ({xray})"
    assert re.fullmatch(r"orders POST /orders  100ms  3 spans  3 services  2 errors  started \d\d:\d\d:\d\d", lines[1])
    assert all(len(line) <= 100 for line in lines)
    rows = [line for line in lines if "█" in line]
    # "<tree><service> <name>  <duration> <bar>"
    assert [re.split(r"\s{2,}", line.split("█")[0].strip()) for line in rows] == [
        ["orders POST /orders", "100ms"],
        ["├─ inventory GET /inventory/{item_id}", "20.0ms"],
        ["└─ pricing POST /calculate-price", "50.0ms"],
    ]
    # The bars get 51 cells (100 - the 37-cell labels - 12 for the duration and gaps); each starts
    # at its offset and spans its duration on the trace's 100 ms.
    bars = [(line.index("█"), line.count("█")) for line in rows]
    start = bars[0][0]
    assert [(first - start, cells) for first, cells in bars] == [(0, 51), (2, 11), (15, 26)]
    attributes = lines[lines.index(rows[0]) + 1]
    assert attributes == "│  http.request.method=POST  http.route=/orders  http.response.status_code=500"
    last = lines[-1]
    assert last == "      otel.status_description=price service down  exception=ValueError price service down"


def test_trace_json_lays_out_spans_depth_first(server_endpoint: str, env: dict[str, str], sent: SentTraces) -> None:
    body = run_json(server_endpoint, env, "trace", sent.order)
    by_xray = run_json(server_endpoint, env, "trace", f"1-{sent.order[:8]}-{sent.order[8:]}")

    assert by_xray == body
    spans = body.pop("spans")
    assert body == {
        "traceId": sent.order,
        "xrayTraceId": f"1-{sent.order[:8]}-{sent.order[8:]}",
        "rootService": "orders",
        "rootOperation": "POST /orders",
        "startTime": iso_ns(sent.base),
        "durationMs": 100.0,
        "spanCount": 3,
        "errorCount": 2,
        "services": ["inventory", "orders", "pricing"],
    }
    keys = ["spanId", "parentSpanId", "depth", "service", "name", "kind", "startOffsetMs", "durationMs", "error"]
    assert [[span[k] for k in keys] for span in spans] == [
        [sent.span_ids["root"], None, 0, "orders", "POST /orders", "server", 0.0, 100.0, True],
        [
            sent.span_ids["stock"],
            sent.span_ids["root"],
            1,
            "inventory",
            "GET /inventory/{item_id}",
            "server",
            5.0,
            20.0,
            False,
        ],
        [
            sent.span_ids["price"],
            sent.span_ids["root"],
            1,
            "pricing",
            "POST /calculate-price",
            "server",
            30.0,
            50.0,
            True,
        ],
    ]
    assert [span["statusMessage"] for span in spans] == [None, None, "price service down"]
    assert spans[0]["attributes"]["http.response.status_code"] == 500
    assert spans[1]["attributes"]["http.route"] == "/inventory/{item_id}"
    assert [span["events"] for span in spans[:2]] == [[], []]
    (exception,) = spans[2]["events"]
    assert (exception["name"], exception["offsetMs"]) == ("exception", 70.0)
    assert exception["attributes"]["exception.type"] == "ValueError"
    assert exception["attributes"]["exception.message"] == "price service down"


def test_trace_unknown_or_malformed_id_is_one_line(server_endpoint: str, env: dict[str, str]) -> None:
    unknown = run_cli(server_endpoint, env, "trace", "0af7651916cd43dd8448eb211c80319c")
    unknown_xray = run_cli(server_endpoint, env, "trace", "1-5759e988-bd862e3fe1be46a994272793")
    malformed = run_cli(server_endpoint, env, "trace", "not-a-trace")

    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == (
        "Trace 0af7651916cd43dd8448eb211c80319c was not found: it has not arrived yet, or retention removed it.\n"
    )
    assert (unknown_xray.returncode, unknown_xray.stderr) == (
        1,
        "Trace 1-5759e988-bd862e3fe1be46a994272793 was not found: it has not arrived yet, or retention removed it.\n",
    )
    assert (malformed.returncode, malformed.stdout) == (2, "")
    assert malformed.stderr == (
        "Invalid trace id 'not-a-trace': give 32 hex digits (W3C) or an X-Ray id such as "
        "1-5759e988-bd862e3fe1be46a994272793.\n"
    )


# -- top --------------------------------------------------------------------------------------------


@pytest.fixture
def busy_task(server_endpoint: str, env: dict[str, str]) -> dict[str, Any]:
    """A task in ``prod`` whose app keeps half a vCPU busy and uses 64 MiB, once top has its CPU."""
    ecs = make_client("ecs", server_endpoint)
    ecs.create_cluster(clusterName="prod")
    definition = web_definition(ecs, app_labels=fake(cpu_units=512, memory_mib=64))
    arn = ecs.run_task(cluster="prod", taskDefinition=definition, launchType="FARGATE", networkConfiguration=SUBNETS)[
        "tasks"
    ][0]["taskArn"]
    task = wait_status(ecs, arn, "RUNNING", cluster="prod")
    wait_for(lambda: [r for r in run_json(server_endpoint, env, "top") if r["cpuUnits"] is not None], timeout=30)
    return task


def test_top_json_gives_cpu_memory_and_network_per_task_and_container(
    server_endpoint: str, env: dict[str, str], busy_task: dict[str, Any]
) -> None:
    (row,) = run_json(server_endpoint, env, "top")

    assert STAMP.match(row["sampledAt"])
    sampled = dt.datetime.fromisoformat(row["sampledAt"].replace("Z", "+00:00"))
    assert (dt.datetime.now(dt.UTC) - sampled).total_seconds() < 10
    approximate = {"cpuUnits": 512, "cpuPercentOfVcpu": 50.0, "cpuUtilizationPercent": 200.0}
    for key, value in approximate.items():
        assert row.pop(key) == pytest.approx(value, rel=1e-3), key
    containers = row.pop("containers")
    assert row == {
        "cluster": "prod",
        "taskId": busy_task["taskArn"].rsplit("/", 1)[1],
        "service": None,
        "group": "family:web",
        "taskDefinition": "web:1",
        "lastStatus": "RUNNING",
        "cpuReservedUnits": 256.0,
        "memoryMiB": 64.0,
        "memoryReservedMiB": 512.0,
        "memoryUtilizationPercent": 12.5,
        "networkRxBytesPerSecond": 0.0,
        "networkTxBytesPerSecond": 0.0,
        "pids": 0,
        "sampledAt": row["sampledAt"],
    }
    app, side = containers
    assert (app.pop("cpuUnits"), app.pop("cpuPercentOfVcpu")) == (
        pytest.approx(512, rel=1e-3),
        pytest.approx(50.0, rel=1e-3),
    )
    assert app == {"name": "app", "lastStatus": "RUNNING", "memoryMiB": 64.0, "memoryLimitMiB": None, "pids": 0}
    assert side == {
        "name": "side",
        "lastStatus": "RUNNING",
        "cpuUnits": 0.0,
        "cpuPercentOfVcpu": 0.0,
        "memoryMiB": 0.0,
        "memoryLimitMiB": 128.0,
        "pids": 0,
    }


def test_top_once_prints_a_table_of_tasks_and_their_containers(
    server_endpoint: str, env: dict[str, str], busy_task: dict[str, Any]
) -> None:
    result = run_cli(server_endpoint, env, "top", "--once")

    assert (result.returncode, result.stderr) == (0, "")
    rows = table_rows(result.stdout)
    task_id = busy_task["taskArn"].rsplit("/", 1)[1]
    assert rows[0] == [
        "TASK / CONTAINER",
        "CLUSTER",
        "SERVICE/GROUP",
        "CPU",
        "CPU/RES",
        "MEMORY",
        "NET RX",
        "NET TX",
        "PIDS",
    ]
    assert rows[1] == [task_id, "prod", "family:web", "50.0%", "200.0%", "64.0MiB / 512MiB (12%)", "0B/s", "0B/s", "0"]
    assert rows[2] == ["├─ app", "50.0%", "64.0MiB", "0"]
    assert rows[3] == ["└─ side", "0.0%", "0B / 128MiB", "0"]
    assert re.fullmatch(r"1 task · newest sample \d\d:\d\d:\d\d UTC", " ".join(rows[4]))


def test_top_refreshes_each_interval_off_a_terminal(
    server_endpoint: str, env: dict[str, str], busy_task: dict[str, Any]
) -> None:
    task_id = busy_task["taskArn"].rsplit("/", 1)[1]
    follower = Follower(server_endpoint, env, "top", "--interval", "500ms")
    try:
        seen = follower.until(lambda lines: sum(1 for line in lines if line.startswith(task_id)) >= 2, timeout=30)
    finally:
        follower.stop()

    stamps = [line for line in seen if STAMP.match(line)]
    assert len(stamps) >= 2 and stamps == sorted(stamps)
    assert any(line.endswith("refreshing every 500ms, Ctrl-C to quit") for line in seen)


def test_top_leaves_out_stopped_tasks_and_other_clusters(
    server_endpoint: str, env: dict[str, str], busy_task: dict[str, Any]
) -> None:
    ecs = make_client("ecs", server_endpoint)

    assert run_json(server_endpoint, env, "top", "--cluster", "default") == []
    ecs.stop_task(cluster="prod", task=busy_task["taskArn"])
    wait_status(ecs, busy_task["taskArn"], "STOPPED", cluster="prod")

    assert run_json(server_endpoint, env, "top") == []  # its last samples are still stored
    once = run_cli(server_endpoint, env, "top", "--once")
    assert (once.returncode, once.stdout, once.stderr) == (0, "No running tasks.\n0 tasks\n", "")
