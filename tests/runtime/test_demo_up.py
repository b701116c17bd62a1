"""``ecslite up examples/otel-demo`` on the process runtime, end to end (spec/otel-demo.md §4.1, §4.3,
§4.4; issue 10's CI test): a fresh server (its own bridge and VPC, the project's images in its image
map), ``up --endpoint`` to steady state, the generator's traffic as traces over at least four services
through the Tempo API, logs whose trace ids resolve to stored traces, the scraped ``:9464`` series
through PromQL, the seed's checks against the task, and ``ecslite down`` leaving no task, namespace
or process behind.

The virtualenvs come from the cache (``ECSLITE_VENV_CACHE``); the first run of a machine builds them
before ``up``'s timeout starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import make_client, stop_server
from tests.examples.otel_demo import EXAMPLE, SERVICES, ensure_venv, eventually, read_trace
from tests.runtime.conftest import ProcessServer, assert_no_leaks, map_images, start_process_server, worker_vpc
from tests.runtime.test_otel_demo_services import SERVICE_PORTS, image_map_entries

REGION = "ap-northeast-1"
CLUSTER = "otel-demo-cluster"
DEMO_SERVICES = {
    "ho11y-svc",
    "python-fastapi-service",
    "nodejs-express-service",
    "go-gin-service",
    "java-spring-boot-service",
}


@pytest.fixture
def demo_server(
    tmp_path_factory: pytest.TempPathFactory, worker_tag: str, worker_number: int
) -> Iterator[ProcessServer]:
    for service in SERVICES:
        ensure_venv(service)
    server = start_process_server(
        tmp_path_factory.mktemp("demo-up"),
        f"ecsl-{worker_tag}u",
        worker_vpc("demo-up", worker_number),
        "--scrape-interval",
        "2",
    )
    try:
        map_images(server, image_map_entries())
        yield server
    finally:
        try:
            server.reset()
        finally:
            stop_server(server.server)
        assert_no_leaks(server.settings)


def ecslite(server: ProcessServer, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecslite", *args, "--endpoint", server.endpoint],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def task_address(ecs: Any, service: str) -> str:
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=service)["taskArns"]
    task = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"][0]
    return str({d["name"]: d["value"] for d in task["attachments"][0]["details"]}["privateIPv4Address"])


def test_up_runs_the_demo_to_steady_state_with_its_signals_and_down_leaves_nothing(demo_server: ProcessServer) -> None:
    up = ecslite(demo_server, "up", str(EXAMPLE), "--timeout", "150")
    assert up.returncode == 0, f"up failed:\n{up.stdout}\n{up.stderr}"
    ecs = make_client("ecs", demo_server.endpoint, region=REGION)
    address = task_address(ecs, "otel-demo-service")
    generator = task_address(ecs, "otel-demo-loadgen")
    assert f"http://{address}:8000" in up.stdout and f"http://{address}:9464/metrics" in up.stdout
    assert f"http://{address}:2020/api/v1/health" in up.stdout
    assert f"{demo_server.endpoint}/ui" in up.stdout
    print(up.stdout)  # shown with -s or on failure: the progress lines and what up printed

    check_seed_steps(address)
    check_generator_traces(demo_server.endpoint, generator)
    check_logs_resolve_to_traces(demo_server.endpoint)
    check_scraped_metrics(demo_server.endpoint, address)
    check_sink_with_the_seed_router(demo_server.endpoint, ecs, up.stdout)

    # §4.4: the fixed router configuration matches the OTLP inputs' tags, so traces and metrics reach
    # the sink too. This server's image map is the test's, which up leaves alone: the test maps the
    # router image to the fixed root (what up --router-config fixed does to the map of a server it
    # started) and rolls the service, whose new task runs it.
    seed_router = ecs.list_tasks(cluster=CLUSTER, serviceName="otel-demo-service")["taskArns"][0]
    router_image = next(name for name in image_map_entries() if name.endswith(":fluent-bit"))
    fixed_root = {**image_map_entries()[router_image], "path": str(EXAMPLE / "fluent-bit" / "fixed")}
    map_images(demo_server, {router_image: fixed_root})
    ecs.update_service(cluster=CLUSTER, service="otel-demo-service", forceNewDeployment=True)
    check_sink_with_the_fixed_router(demo_server.endpoint, seed_router)

    down = ecslite(demo_server, "down", str(EXAMPLE))
    assert down.returncode == 0, f"down failed:\n{down.stdout}\n{down.stderr}"
    assert not any(c["status"] == "ACTIVE" for c in ecs.describe_clusters(clusters=[CLUSTER])["clusters"])
    if "servicediscovery" in demo_server.server.health()["services"]:
        discovery = make_client("servicediscovery", demo_server.endpoint, region=REGION)
        assert discovery.list_namespaces()["Namespaces"] == []
    # The runtime removes a task's network just after it reports STOPPED; allow a loaded machine time.
    assert_no_leaks(demo_server.settings, timeout=30)


def check_seed_steps(address: str) -> None:
    """§4.3: health endpoints, the order, the guide's other calls, the router's monitoring API."""
    for port in SERVICE_PORTS.values():
        response = httpx.get(f"http://{address}:{port}/health", timeout=10)
        assert (response.status_code, response.json()) == (200, {"status": "healthy"})
    order = httpx.post(
        f"http://{address}:8000/orders", json={"user_id": 1, "product_name": "Laptop", "quantity": 1}, timeout=30
    ).json()
    assert isinstance(order["order_id"], int)
    assert "available" in order["inventory_check"]  # the drained-stock knob may make it false
    assert order["notification"]["status"] == "sent" or "error" in order["notification"]
    router = httpx.get(f"http://{address}:2020/api/v1/health", timeout=10)
    assert router.status_code == 200 and "fluent-bit" in router.json()
    metrics = httpx.get(f"http://{address}:2020/api/v1/metrics", timeout=10).json()
    assert {"input", "output"} <= set(metrics)


def check_generator_traces(endpoint: str, generator: str) -> None:
    """An invocation of the generator calls orders, which calls inventory, pricing and notifications."""

    def invoke() -> str | None:
        answer = httpx.get(f"http://{generator}:8765/", timeout=30).json()
        return str(answer["traceId"]) if not answer.get("errors") else None

    trace_id = eventually(invoke, timeout=30, interval=1.0)
    assert trace_id, "the generator's call to orders kept failing"
    # Four services at least: pricing is called only when the (draining) stock allows a reservation.
    spans = read_trace(endpoint, trace_id, services=4, timeout=45, including={"ho11y-svc", "python-fastapi-service"})
    services = {s["service"] for s in spans}
    assert {"ho11y-svc", "python-fastapi-service"} <= services <= DEMO_SERVICES, services


def check_logs_resolve_to_traces(endpoint: str) -> None:
    """Service lines through FireLens carry trace ids that the Tempo API finds."""

    def trace_ids() -> list[str]:
        query = '{service_name="python-fastapi-service"} |= "Creating order"'
        response = httpx.get(f"{endpoint}/loki/api/v1/query_range", params={"query": query, "limit": 20}, timeout=10)
        found = []
        for stream in response.json()["data"]["result"]:
            for _, line in stream["values"]:
                if '"trace_id"' in line:
                    found.append(json.loads(line)["trace_id"])
        return found

    ids = eventually(trace_ids, timeout=30, interval=1.0)
    assert ids, "no line of orders carried a trace id"

    def resolved() -> bool:
        # A log line may arrive before its trace's spans (batched by the SDK, then the router).
        found = httpx.get(f"{endpoint}/tempo/api/traces/{ids[0]}", timeout=10)
        return found.status_code == 200 and bool(found.json()["batches"])

    assert eventually(resolved, timeout=30, interval=1.0), f"trace {ids[0]} of a log line never arrived"


def check_scraped_metrics(endpoint: str, address: str) -> None:
    """notifications' :9464 (port mapping ``java-metrics``) is scraped and answers PromQL."""
    query = 'sum(http_server_request_duration_seconds_count{job="java-service",source="scrape"})'

    def value() -> float | None:
        response = httpx.get(f"{endpoint}/prometheus/api/v1/query", params={"query": query}, timeout=10)
        result = response.json()["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    assert eventually(value, timeout=30, interval=1.0), f"no scraped series answered {query}"
    instances = httpx.get(
        f"{endpoint}/prometheus/api/v1/label/instance/values", params={"match[]": '{job="java-service"}'}, timeout=10
    ).json()["data"]
    assert f"{address}:9464" in instances


def sink_counters(endpoint: str, ecs: Any) -> dict[str, dict[str, Any]]:
    """The export sink's counters of the running router task (the seed's service), by output."""
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName="otel-demo-service", desiredStatus="RUNNING")["taskArns"]
    sink = httpx.get(f"{endpoint}/_ecslite/telemetry/stats", timeout=10).json()["sink"]
    assert sink is not None and sink["listening"], sink
    return dict(sink["tasks"].get(arns[0], {})) if len(arns) == 1 else {}


def check_sink_with_the_seed_router(endpoint: str, ecs: Any, printed: str) -> None:
    """§4.1 step 2 with the seed's router configuration (telemetry.md §6.5): the router's endpoint
    variables hold the subnet gateway where the sink listens; service lines re-enter TCP 24224 as
    ``container.logs`` and reach Loki, while ``Match otlp.traces``/``otlp.metrics`` match no tag, so
    Tempo and Thanos receive nothing."""
    service = ecs.describe_services(cluster=CLUSTER, services=["otel-demo-service"])["services"][0]
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    router = next(c for c in definition["containerDefinitions"] if c["name"] == "fluent-bit")
    env = {e["name"]: e["value"] for e in router["environment"]}
    gateway = env["LOKI_ENDPOINT"]
    assert env["TEMPO_ENDPOINT"] == env["THANOS_ENDPOINT"] == gateway
    assert f"http://{gateway}:3100/loki/api/v1/push" in printed

    def pushed() -> dict[str, dict[str, Any]] | None:
        counters = sink_counters(endpoint, ecs)
        return counters if counters.get("loki", {}).get("records") else None

    counters = eventually(pushed, timeout=30, interval=1.0)
    assert counters, "no Loki push of the router reached the export sink"
    assert counters["loki"]["errors"] == 0, counters["loki"]
    assert "otlp/traces" not in counters and "remote_write" not in counters, counters


def check_sink_with_the_fixed_router(endpoint: str, seed_router: str) -> None:
    """The new router task sends to all three of the sink's outputs, and each takes what it gets."""
    wanted = ("loki", "otlp/traces", "remote_write")

    def all_three() -> dict[str, dict[str, Any]] | None:
        tasks = httpx.get(f"{endpoint}/_ecslite/telemetry/stats", timeout=10).json()["sink"]["tasks"]
        for arn, counters in tasks.items():
            if arn != seed_router and all(counters.get(name, {}).get("records") for name in wanted):
                return dict(counters)
        return None

    counters = eventually(all_three, timeout=90, interval=1.0)
    assert counters, "the fixed router did not reach the sink's Loki, Tempo and Thanos"
    for name in wanted:
        assert counters[name]["errors"] == 0, counters[name]
