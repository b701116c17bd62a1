"""Runtime metrics (§9.1, ecs.md §6.4): from container readings to the Prometheus and CloudWatch views."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ecslite.runtime.base import ContainerStats
from ecslite.telemetry.model import MetricBatch, Resource
from ecslite.telemetry.runtime_metrics import (
    CLOUDWATCH_SERIES,
    ContainerUse,
    TaskTarget,
    TaskUse,
    cloudwatch_datapoints,
    cloudwatch_samples,
    container_use,
    network_rates,
    prometheus_samples,
    target_of,
)
from ecslite.telemetry.store import StoreSettings, TelemetryStore

MIB = 1024 * 1024


def target(task_id: str, service: str = "web", cpu: float = 512, memory: float = 1024, insights: str = "disabled"):
    return TaskTarget(task_id, "demo", service, "shop", 3, "FARGATE", cpu, memory, ("app",), insights)


def use(t: TaskTarget, cpu: float | None, memory: float, rx: float | None = 100.0) -> TaskUse:
    return TaskUse(t, {"app": ContainerUse(cpu, memory, 10.0, 20.0, 3)}, rx, rx and rx * 2)


def test_cpu_units_are_usage_over_wall_time_times_1024() -> None:
    first = ContainerStats(read_at=100.0, cpu_usage_ns=1_000_000_000, memory_usage_bytes=64 * MIB)
    second = ContainerStats(
        read_at=110.0, cpu_usage_ns=6_000_000_000, memory_usage_bytes=96 * MIB, io_read_bytes=500, pids=4
    )
    assert container_use(first, None).cpu_units is None
    now = container_use(second, first)
    assert now.cpu_units == pytest.approx(512.0)  # half a core for 10 s
    assert (now.memory_mib, now.read_bytes, now.pids) == (96.0, 500.0, 4)


def test_counters_that_went_backwards_count_as_no_use() -> None:
    first = ContainerStats(read_at=0.0, cpu_usage_ns=10, memory_usage_bytes=0, io_write_bytes=900, rx_bytes=50)
    second = ContainerStats(read_at=10.0, cpu_usage_ns=20, memory_usage_bytes=0, io_write_bytes=100, rx_bytes=10)
    assert container_use(second, first).write_bytes == 0.0
    assert network_rates(second, first) == (0.0, 0.0)


def test_reserved_cpu_and_memory_come_from_the_task_document() -> None:
    doc = {
        "cpu": "256",
        "memory": "512",
        "containers": [{"name": "app", "lastStatus": "RUNNING"}, {"name": "init", "lastStatus": "STOPPED"}],
        "_spec": {
            "taskId": "t1",
            "clusterArn": "arn:aws:ecs:us-east-1:000000000000:cluster/demo",
            "clusterName": "demo",
            "serviceName": "web",
            "family": "shop",
            "revision": 2,
            "launchType": "FARGATE",
            "containers": [{"name": "app"}, {"name": "init"}],
        },
    }
    found = target_of(doc, "enhanced")
    assert (found.cpu_reserved, found.memory_reserved, found.containers) == (256.0, 512.0, ("app",))
    assert found.labels("app") == {
        "job": "ecslite",
        "cluster": "demo",
        "service": "web",
        "task_family": "shop",
        "task_revision": "2",
        "task_id": "t1",
        "launch_type": "FARGATE",
        "container": "app",
    }


def test_prometheus_view_has_section_9_1_names_and_labels() -> None:
    samples = prometheus_samples([use(target("t1"), 256.0, 300.0)], 5000)
    by_name = {dict(s.labels)["__name__"]: s for s in samples if dict(s.labels).get("container") is None}
    assert by_name["ecs_task_cpu_utilized"].value == 256.0
    assert by_name["ecs_task_cpu_utilization_percent"].value == 50.0
    assert by_name["ecs_task_memory_utilized_mebibytes"].value == 300.0
    assert by_name["ecs_task_memory_reserved_mebibytes"].value == 1024.0
    assert by_name["ecs_task_network_tx_bytes_per_second"].value == 200.0
    assert by_name["ecs_service_running_tasks"].value == 1.0
    assert dict(by_name["ecs_task_cpu_utilized"].labels)["task_family"] == "shop"
    assert all(s.ts_ms == 5000 for s in samples)


def test_service_utilization_is_the_sum_used_over_the_sum_reserved() -> None:
    tasks = [use(target("t1", cpu=256, memory=512), 128.0, 256.0), use(target("t2", cpu=1024, memory=2048), 0.0, 0.0)]
    values = {
        (dict(s.labels)["metric_name"], dict(s.labels).get("ServiceName")): s.value
        for s in cloudwatch_samples(tasks, 0)
    }
    # (128 + 0) / (256 + 1024), not the mean of 50 % and 0 %.
    assert values[("CPUUtilization", "web")] == pytest.approx(10.0)
    assert values[("MemoryUtilization", "web")] == pytest.approx(100.0 * 256 / 2560)
    assert values[("CPUUtilization", None)] == pytest.approx(10.0)


def test_cpu_utilization_waits_for_every_task_to_have_a_cpu_reading() -> None:
    tasks = [use(target("t1"), 128.0, 10.0), use(target("t2"), None, 10.0)]
    names = {dict(s.labels)["metric_name"] for s in cloudwatch_samples(tasks, 0)}
    assert names == {"MemoryUtilization"}


def test_container_insights_only_for_clusters_that_turned_it_on() -> None:
    off = cloudwatch_samples([use(target("t1"), 1.0, 1.0)], 0)
    assert {dict(s.labels)["namespace"] for s in off} == {"AWS/ECS"}
    on = cloudwatch_samples([use(target("t1", insights="enabled"), 100.0, 64.0)], 0)
    insights = {
        (
            dict(s.labels)["metric_name"],
            tuple(k for k in ("ServiceName", "TaskDefinitionFamily") if k in dict(s.labels)),
        ): s.value
        for s in on
        if dict(s.labels)["namespace"] == "ECS/ContainerInsights"
    }
    assert insights[("CpuUtilized", ())] == 100.0
    assert insights[("MemoryReserved", ("ServiceName",))] == 1024.0
    assert insights[("RunningTaskCount", ("TaskDefinitionFamily",))] == 1.0
    assert insights[("NetworkRxBytes", ())] == 100.0
    enhanced = cloudwatch_samples([use(target("t1", insights="enhanced"), 100.0, 64.0)], 0)
    assert any("ContainerName" in dict(s.labels) for s in enhanced)
    assert not any("ContainerName" in dict(s.labels) for s in on)


@pytest.fixture
def store() -> Iterator[TelemetryStore]:
    running = TelemetryStore(StoreSettings(directory=None, commit_interval=0.01))
    yield running
    running.close()


def write_samples(store: TelemetryStore, values: list[tuple[float, float]], **dims: str) -> None:
    from ecslite.telemetry.runtime_metrics import _cw

    samples = [_cw("AWS/ECS", "CPUUtilization", dims, int(ts * 1000), value) for ts, value in values]
    store.write_metrics(MetricBatch(Resource({"service.name": "ecslite"}), samples))
    assert store.flush()


def test_datapoints_aggregate_samples_per_aligned_period(store: TelemetryStore) -> None:
    minute = 1_750_000_020.0  # a multiple of 60
    write_samples(
        store,
        [(minute + 5, 10.0), (minute + 15, 30.0), (minute + 55, 20.0), (minute + 65, 70.0)],
        ClusterName="demo",
        ServiceName="web",
    )
    points = cloudwatch_datapoints(
        store,
        "AWS/ECS",
        "CPUUtilization",
        {"ClusterName": "demo", "ServiceName": "web"},
        minute,
        minute + 120,
        60,
        ["Average", "Minimum", "Maximum", "Sum", "SampleCount"],
    )
    assert points == [
        {
            "Timestamp": minute,
            "Unit": "Percent",
            "Average": 20.0,
            "Minimum": 10.0,
            "Maximum": 30.0,
            "Sum": 60.0,
            "SampleCount": 3.0,
        },
        {
            "Timestamp": minute + 60,
            "Unit": "Percent",
            "Average": 70.0,
            "Minimum": 70.0,
            "Maximum": 70.0,
            "Sum": 70.0,
            "SampleCount": 1.0,
        },
    ]


def test_datapoints_match_the_exact_dimension_set(store: TelemetryStore) -> None:
    write_samples(store, [(600.0, 40.0)], ClusterName="demo", ServiceName="web")
    write_samples(store, [(600.0, 90.0)], ClusterName="demo")
    cluster = cloudwatch_datapoints(store, "AWS/ECS", "CPUUtilization", {"ClusterName": "demo"}, 0, 1200, 300)
    assert [p["Average"] for p in cluster] == [90.0]
    service = cloudwatch_datapoints(
        store, "AWS/ECS", "CPUUtilization", {"ClusterName": "demo", "ServiceName": "web"}, 0, 1200, 300
    )
    assert [(p["Timestamp"], p["Average"]) for p in service] == [(600.0, 40.0)]
    assert cloudwatch_datapoints(store, "AWS/ECS", "CPUUtilization", {"ClusterName": "other"}, 0, 1200, 60) == []
    assert CLOUDWATCH_SERIES == "ecslite_cloudwatch_sample"


def test_datapoints_refuse_unknown_statistics(store: TelemetryStore) -> None:
    with pytest.raises(ValueError, match="unknown statistics"):
        cloudwatch_datapoints(store, "AWS/ECS", "CPUUtilization", {}, 0, 60, 60, ["p99"])


def test_storage_bytes_are_read_from_io_stat_and_proc_io() -> None:
    from ecslite.runtime.process.cgroups import parse_io_stat, parse_proc_io

    io_stat = "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n259:0 rbytes=100 wbytes=0 rios=1\n"
    assert parse_io_stat(io_stat) == (4196, 8192)
    proc_io = "rchar: 5000\nwchar: 700\nsyscr: 3\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 12288\n"
    assert parse_proc_io(proc_io) == (4096, 12288)
    assert parse_proc_io("") == (0, 0)
