"""Prometheus scraping of a container's ``/metrics`` (the seed's ``:9464/metrics``): a ``prometheus_client``
exporter in a task on the process runtime, marked by the ``ECS_PROMETHEUS_EXPORTER_PORT`` docker label
or by a port mapping named ``*-metrics``, is scraped from the host at the task's address and its series
are stored with the task's labels."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from ecslite.telemetry.store import Matcher, StoreSettings, TelemetryStore
from tests.conftest import make_client, stop_server
from tests.runtime.conftest import ProcessServer, assert_no_leaks, start_process_server, wait_for, worker_vpc
from tests.runtime.test_tasks_e2e import PROGRAMS_IMAGE, details, register, run, stop, wait_status

Series = dict[tuple[tuple[str, str], ...], list[float]]


@pytest.fixture(scope="module")
def scrape_server(
    tmp_path_factory: pytest.TempPathFactory, worker_tag: str, worker_number: int
) -> Iterator[ProcessServer]:
    """A process server of its own (bridge ``ecsl-<worker>s``, VPC ``worker_vpc("scrape", n)``) that scrapes
    every second and keeps its telemetry on disk, where the test reads it."""
    server = start_process_server(
        tmp_path_factory.mktemp("scrape"),
        f"ecsl-{worker_tag}s",
        worker_vpc("scrape", worker_number),
        "--scrape-interval",
        "1",
        ephemeral=False,
    )
    yield server
    try:
        server.reset()
        assert_no_leaks(server.settings)
    finally:
        stop_server(server.server)


def read(server: ProcessServer, name: str, since_ms: int, **labels: str) -> Series:
    store = TelemetryStore(StoreSettings(directory=server.settings.data_dir / "telemetry", read_only=True))
    try:
        matchers = [Matcher("__name__", "=", name), *(Matcher(k, "=", v) for k, v in labels.items())]
        found = store.read_series(matchers, since_ms, int(time.time() * 1000) + 1000)
        return {series.labels: series.values for series in found}
    finally:
        store.close()


def test_marked_ports_are_scraped_with_the_task_labels(scrape_server: ProcessServer) -> None:
    endpoint = scrape_server.endpoint
    ecs = make_client("ecs", endpoint)
    definition = register(
        ecs,
        "scrape-probe",
        {
            "name": "exporter",
            "image": PROGRAMS_IMAGE,
            "command": ["metrics_exporter.py", "9464"],
            "essential": True,
            "dockerLabels": {"ECS_PROMETHEUS_EXPORTER_PORT": "9464"},
        },
        {
            "name": "sidecar",
            "image": PROGRAMS_IMAGE,
            "command": ["metrics_exporter.py", "9465"],
            "essential": True,
            "portMappings": [{"containerPort": 9465, "protocol": "tcp", "name": "sidecar-metrics"}],
        },
    )
    started_ms = int(time.time() * 1000)
    (arn,) = run(ecs, endpoint, definition)
    task_id = arn.rsplit("/", 1)[1]
    try:
        task = wait_status(ecs, arn, "RUNNING", timeout=60)
        address = details(task)["privateIPv4Address"]

        def counted() -> Series | None:
            found = read(scrape_server, "demo_orders_total", started_ms, task_id=task_id, status="ok")
            ready = len(found) == 2 and all(len(values) >= 3 for values in found.values())
            return found if ready else None

        orders: Series = wait_for(counted, timeout=60, interval=0.5)
        by_job = {dict(labels)["job"]: (dict(labels), values) for labels, values in orders.items()}
        labels, values = by_job["exporter"]
        assert labels == {
            "__name__": "demo_orders_total",
            "status": "ok",
            "job": "exporter",
            "instance": f"{address}:9464",
            "source": "scrape",
            "cluster": "default",
            "task_family": "scrape-probe",
            "task_id": task_id,
            "container": "exporter",
        }
        assert values == sorted(values) and values[-1] > values[0]  # a counter that counts
        assert by_job["sidecar"][0]["instance"] == f"{address}:9465"

        depth = read(scrape_server, "demo_queue_depth", started_ms, task_id=task_id, job="exporter")
        assert [v[-1] for v in depth.values()] == [7.0]
        buckets = read(scrape_server, "http_server_request_duration_seconds_bucket", started_ms, job="exporter")
        assert {dict(labels)["le"] for labels in buckets} == {"0.1", "0.5", "1.0", "+Inf"}
        up = read(scrape_server, "up", started_ms, task_id=task_id)
        assert {dict(labels)["job"]: v[-1] for labels, v in up.items()} == {"exporter": 1.0, "sidecar": 1.0}

        store = TelemetryStore(StoreSettings(directory=scrape_server.settings.data_dir / "telemetry", read_only=True))
        try:
            (meta,) = store.metric_metadata("demo_orders")
        finally:
            store.close()
        assert (meta.type, meta.help) == ("counter", "Orders created")
    finally:
        stop(ecs, arn)


def test_a_target_that_stops_answering_reports_up_zero(scrape_server: ProcessServer) -> None:
    endpoint = scrape_server.endpoint
    ecs = make_client("ecs", endpoint)
    definition = register(
        ecs,
        "scrape-silent",
        {
            "name": "quiet",
            "image": PROGRAMS_IMAGE,
            "command": ["-c", "import time; time.sleep(3600)"],
            "essential": True,
            "stopTimeout": 2,  # a PID 1 without a SIGTERM handler: no need to wait out the 30 s default
            "dockerLabels": {"ECS_PROMETHEUS_EXPORTER_PORT": "9464", "ECS_PROMETHEUS_METRICS_PATH": "custom"},
        },
    )
    started_ms = int(time.time() * 1000)
    (arn,) = run(ecs, endpoint, definition)
    task_id = arn.rsplit("/", 1)[1]
    try:
        wait_status(ecs, arn, "RUNNING", timeout=60)

        def down() -> Any:
            found = read(scrape_server, "up", started_ms, task_id=task_id)
            return found if found and all(len(v) >= 2 for v in found.values()) else None

        found: Series = wait_for(down, timeout=30, interval=0.5)
        ((labels, values),) = found.items()
        assert set(values) == {0.0} and dict(labels)["job"] == "quiet"
    finally:
        stop(ecs, arn)
