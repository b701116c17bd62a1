"""Runtime metrics from real processes (spec/telemetry.md §9.1, ecs.md §6.4): a task with a CPU-burning
container and a memory-holding container on the process runtime; its cgroup readings come out with
plausible values in the Prometheus view and in the AWS/ECS per-minute CloudWatch view."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ecslite.telemetry.runtime_metrics import cloudwatch_datapoints
from ecslite.telemetry.store import Matcher, StoreSettings, TelemetryStore
from tests.conftest import make_client, stop_server
from tests.runtime.conftest import ProcessServer, assert_no_leaks, start_process_server, wait_for, worker_vpc
from tests.runtime.test_tasks_e2e import PROGRAMS_IMAGE, register, run, stop, wait_status

HOLD_MIB = 100
BURN = ["-c", "while True: pass"]
HOLD = [
    "-c",
    f"import time; b = bytearray({HOLD_MIB} * 1024 * 1024); b[::4096] = bytes(len(b) // 4096); "
    "b[::4096] = b'\\x01' * (len(b) // 4096); time.sleep(3600)",
]


@pytest.fixture(scope="module")
def metrics_server(
    tmp_path_factory: pytest.TempPathFactory, worker_tag: str, worker_number: int
) -> Iterator[ProcessServer]:
    """A process server of its own (bridge ``ecsl-<worker>m``, VPC ``worker_vpc("runtime-metrics", n)``) that samples
    every second and keeps its telemetry on disk, where the test reads it."""
    server = start_process_server(
        tmp_path_factory.mktemp("metrics"),
        f"ecsl-{worker_tag}m",
        worker_vpc("runtime-metrics", worker_number),
        "--runtime-metrics-interval",
        "1",
        ephemeral=False,
    )
    yield server
    try:
        server.reset()
        assert_no_leaks(server.settings)
    finally:
        stop_server(server.server)


def read_store(directory: Path) -> TelemetryStore:
    return TelemetryStore(StoreSettings(directory=directory, read_only=True))


def latest(store: TelemetryStore, name: str, since_ms: int, **labels: str) -> dict[str, list[float]]:
    """Values of ``name`` since ``since_ms`` per container label (``""`` for task-level series)."""
    matchers = [Matcher("__name__", "=", name), *(Matcher(k, "=", v) for k, v in labels.items())]
    found = store.read_series(matchers, since_ms, int(time.time() * 1000) + 1000)
    return {dict(series.labels).get("container", ""): series.values for series in found}


def test_cpu_burner_and_memory_holder_show_in_both_views(metrics_server: ProcessServer) -> None:
    endpoint = metrics_server.endpoint
    ecs = make_client("ecs", endpoint)
    definition = register(
        ecs,
        "metrics-probe",
        # Neither handles SIGTERM (as PID 1 they would wait out the 30 s default): a short stopTimeout.
        {"name": "burner", "image": PROGRAMS_IMAGE, "command": BURN, "essential": True, "stopTimeout": 2},
        {"name": "holder", "image": PROGRAMS_IMAGE, "command": HOLD, "essential": True, "stopTimeout": 2},
        cpu="512",
        memory="1024",
    )
    started_ms = int(time.time() * 1000)
    (arn,) = run(ecs, endpoint, definition)
    task_id = arn.rsplit("/", 1)[1]
    try:
        wait_status(ecs, arn, "RUNNING", timeout=60)
        directory = metrics_server.settings.data_dir / "telemetry"

        def enough() -> dict[str, Any] | None:
            store = read_store(directory)
            try:
                cpu = latest(store, "ecs_container_cpu_utilized", started_ms, task_id=task_id)
                memory = latest(store, "ecs_container_memory_utilized_mebibytes", started_ms, task_id=task_id)
                task_cpu = latest(store, "ecs_task_cpu_utilized", started_ms, task_id=task_id)
            finally:
                store.close()
            ready = len(cpu.get("burner", [])) >= 4 and memory.get("holder", [0])[-1] >= HOLD_MIB
            return {"cpu": cpu, "memory": memory, "task_cpu": task_cpu} if ready else None

        found: dict[str, Any] = wait_for(enough, timeout=60, interval=0.5)
        burner = found["cpu"]["burner"][-3:]
        # One busy loop under the task's half-vCPU cap: most of 512 units (the machine runs other tests too).
        assert all(150 <= units <= 560 for units in burner), burner
        assert max(found["cpu"]["holder"][-3:]) < 100
        assert HOLD_MIB <= found["memory"]["holder"][-1] <= HOLD_MIB + 80
        assert found["memory"]["burner"][-1] < 60
        assert found["task_cpu"][""][-1] == pytest.approx(
            found["cpu"]["burner"][-1] + found["cpu"]["holder"][-1], rel=0.01
        )

        store = read_store(directory)
        try:
            labels = dict(
                store.select_series([Matcher("__name__", "=", "ecs_task_cpu_reserved")], started_ms, 2**50)[0]
            )
            cpu_points = cloudwatch_datapoints(
                store,
                "AWS/ECS",
                "CPUUtilization",
                {"ClusterName": "default"},
                started_ms / 1000 - 60,
                time.time() + 60,
                60,
                ["Average", "Maximum", "SampleCount"],
            )
            memory_points = cloudwatch_datapoints(
                store,
                "AWS/ECS",
                "MemoryUtilization",
                {"ClusterName": "default"},
                started_ms / 1000 - 60,
                time.time() + 60,
                60,
                ["Average", "Minimum", "Maximum"],
            )
        finally:
            store.close()
        assert labels["task_id"] == task_id and labels["task_family"] == "metrics-probe"
        assert labels["cluster"] == "default" and labels["launch_type"] == "FARGATE" and labels["job"] == "ecslite"
        assert cpu_points and all(p["Unit"] == "Percent" and p["Timestamp"] % 60 == 0 for p in cpu_points)
        assert sum(p["SampleCount"] for p in cpu_points) >= 3
        # 100 × used / 512 reserved units; memory: (100 MiB held + two interpreters) / 1024 MiB.
        assert 25 <= cpu_points[-1]["Average"] <= 110, cpu_points
        # The last minute may also hold samples from before the holder had its memory (the minute
        # boundary falls anywhere in the run), which pull its Average down: its Maximum is a sample
        # taken while the memory was held, and the Average must lie between its Minimum and Maximum.
        last = memory_points[-1]
        assert 9 <= last["Maximum"] <= 25, memory_points
        assert last["Minimum"] <= last["Average"] <= last["Maximum"], memory_points
    finally:
        stop(ecs, arn)
