"""Metrics ecslite produces itself from the runtime's container stats (spec/telemetry.md §9.1, ecs.md §6.4, §12.2).

Every ``interval`` (10 s) :class:`RuntimeMetrics` reads the stats of every running container of
every running task (``Runtime.stats``: cgroup CPU time, memory without the inactive file cache,
storage bytes, process count, and the task's network counters) and stores three views of them
as metric series in the telemetry store, all at the same timestamp:

- Prometheus (``job="ecslite"``; labels ``cluster``, ``service``, ``task_family``,
  ``task_revision``, ``task_id``, ``container``, ``launch_type``): ``ecs_task_cpu_utilized``
  (CPU units, 1024 = one vCPU), ``ecs_task_cpu_reserved``, ``ecs_task_memory_utilized_mebibytes``,
  ``ecs_task_memory_reserved_mebibytes``, ``ecs_task_network_rx_bytes_per_second`` (and tx),
  ``ecs_task_storage_read_bytes`` (and write; bytes in the interval), ``ecs_task_cpu_utilization_percent``,
  ``ecs_task_memory_utilization_percent``, the ``ecs_container_*`` equivalents and
  ``ecs_service_running_tasks``.
- CloudWatch samples: one ``ecslite_cloudwatch_sample`` series per namespace, metric and exact
  dimension set (labels ``namespace``, ``metric_name`` and the dimensions by their CloudWatch names).
  ``AWS/ECS`` ``CPUUtilization``/``MemoryUtilization`` per ``ClusterName`` and per
  ``ClusterName``+``ServiceName`` = 100 × Σ used / Σ reserved over the running tasks (§6.4: reserved
  is the task's ``cpu``/``memory``, else what its containers reserve); ``ECS/ContainerInsights``
  when the cluster's ``containerInsights`` setting is ``enabled`` or ``enhanced``.
- :func:`cloudwatch_datapoints` aggregates those samples into CloudWatch datapoints (Average,
  Minimum, Maximum, Sum, SampleCount per period): what the CloudWatch API and the autoscaler read.

CPU needs two readings, so a container's CPU appears from its second sample on; a counter that
went backwards (processes exited) counts as zero for that interval.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ecslite.clock import Clock
from ecslite.model.tasks import CONTAINERS_UP
from ecslite.periodic import Periodic
from ecslite.runtime.base import ContainerStats, Runtime
from ecslite.store import clusters as cluster_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Database
from ecslite.telemetry.model import MetricBatch, MetricMetadata, Resource, Sample
from ecslite.telemetry.store import Matcher, TelemetryStore

log = logging.getLogger(__name__)

MIB = 1024 * 1024
CPU_UNITS_PER_CORE = 1024
CLOUDWATCH_SERIES = "ecslite_cloudwatch_sample"
AWS_ECS = "AWS/ECS"
CONTAINER_INSIGHTS = "ECS/ContainerInsights"
DIMENSIONS = ("ClusterName", "ServiceName", "TaskDefinitionFamily", "TaskId", "ContainerName")
STATISTICS = ("Average", "Minimum", "Maximum", "Sum", "SampleCount")
UNITS = {
    "CPUUtilization": "Percent",
    "MemoryUtilization": "Percent",
    "CpuUtilized": "None",
    "CpuReserved": "None",
    "MemoryUtilized": "Megabytes",
    "MemoryReserved": "Megabytes",
    "NetworkRxBytes": "Bytes/Second",
    "NetworkTxBytes": "Bytes/Second",
    "StorageReadBytes": "Bytes",
    "StorageWriteBytes": "Bytes",
    "RunningTaskCount": "Count",
}
GAUGES = (
    ("ecs_task_cpu_utilized", "CPU units used by the task (1024 = one vCPU)"),
    ("ecs_task_cpu_reserved", "CPU units the task reserves"),
    ("ecs_task_memory_utilized_mebibytes", "Memory used by the task, without the inactive file cache"),
    ("ecs_task_memory_reserved_mebibytes", "Memory the task reserves"),
    ("ecs_task_cpu_utilization_percent", "CPU used as a percentage of what the task reserves"),
    ("ecs_task_memory_utilization_percent", "Memory used as a percentage of what the task reserves"),
    ("ecs_task_network_rx_bytes_per_second", "Bytes per second the task received"),
    ("ecs_task_network_tx_bytes_per_second", "Bytes per second the task sent"),
    ("ecs_task_storage_read_bytes", "Bytes the task read from storage in the interval"),
    ("ecs_task_storage_write_bytes", "Bytes the task wrote to storage in the interval"),
    ("ecs_container_cpu_utilized", "CPU units used by the container"),
    ("ecs_container_memory_utilized_mebibytes", "Memory used by the container"),
    ("ecs_container_storage_read_bytes", "Bytes the container read from storage in the interval"),
    ("ecs_container_storage_write_bytes", "Bytes the container wrote to storage in the interval"),
    ("ecs_container_pids", "Processes in the container"),
    ("ecs_service_running_tasks", "Running tasks of the service"),
    (CLOUDWATCH_SERIES, "CloudWatch metric samples, one series per namespace, metric and dimension set"),
)


# -- what runs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskTarget:
    """A running task as the sampler needs it (from its stored document)."""

    task_id: str
    cluster: str
    service: str
    family: str
    revision: int
    launch_type: str
    cpu_reserved: float  # CPU units (§6.4)
    memory_reserved: float  # MiB
    containers: tuple[str, ...]
    insights: str = "disabled"  # the cluster's containerInsights setting

    def labels(self, container: str | None = None) -> dict[str, str]:
        labels = {
            "job": "ecslite",
            "cluster": self.cluster,
            "service": self.service,
            "task_family": self.family,
            "task_revision": str(self.revision),
            "task_id": self.task_id,
            "launch_type": self.launch_type,
        }
        if container is not None:
            labels["container"] = container
        return labels


def target_of(doc: Mapping[str, Any], insights: str = "disabled") -> TaskTarget:
    spec = doc["_spec"]
    running = {c.get("name") for c in doc.get("containers") or () if c.get("lastStatus") == "RUNNING"}
    return TaskTarget(
        task_id=str(spec["taskId"]),
        cluster=str(spec.get("clusterName") or str(spec["clusterArn"]).rsplit("/", 1)[-1]),
        service=str(spec.get("serviceName") or ""),
        family=str(spec["family"]),
        revision=int(spec["revision"]),
        launch_type=str(spec.get("launchType") or "FARGATE"),
        cpu_reserved=_number(doc.get("cpu")),
        memory_reserved=_number(doc.get("memory")),
        containers=tuple(c["name"] for c in spec["containers"] if c["name"] in running),
        insights=insights,
    )


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def running_targets(db: Database) -> list[TaskTarget]:
    """Every running task with a sandbox, with its cluster's Container Insights setting."""
    targets: list[TaskTarget] = []
    insights: dict[tuple[str, str, str], str] = {}
    for arn in task_store.live_arns(db):
        doc = task_store.get(db, arn)
        if doc is None or doc.get("lastStatus") not in CONTAINERS_UP or not (doc.get("_run") or {}).get("sandbox"):
            continue
        spec = doc["_spec"]
        key = (spec["account"], spec["region"], spec.get("clusterName") or str(spec["clusterArn"]).rsplit("/", 1)[-1])
        if key not in insights:
            cluster = cluster_store.get(db, *key) or {}
            values = [s.get("value") for s in cluster.get("settings") or () if s.get("name") == "containerInsights"]
            insights[key] = str(values[0]) if values else "disabled"
        try:
            targets.append(target_of(doc, insights[key]))
        except (KeyError, TypeError, ValueError):
            log.exception("task document without what runtime metrics need", extra={"task": arn})
    return targets


# -- from readings to values ---------------------------------------------------------------------


@dataclass(slots=True)
class ContainerUse:
    cpu_units: float | None  # None on the first reading
    memory_mib: float
    read_bytes: float
    write_bytes: float
    pids: int


@dataclass(slots=True)
class TaskUse:
    target: TaskTarget
    containers: dict[str, ContainerUse] = field(default_factory=dict)
    rx_per_second: float | None = None
    tx_per_second: float | None = None

    @property
    def cpu_units(self) -> float | None:
        values = [c.cpu_units for c in self.containers.values()]
        if not values or any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None)

    @property
    def memory_mib(self) -> float:
        return sum(c.memory_mib for c in self.containers.values())

    @property
    def read_bytes(self) -> float:
        return sum(c.read_bytes for c in self.containers.values())

    @property
    def write_bytes(self) -> float:
        return sum(c.write_bytes for c in self.containers.values())


def _delta(current: float, previous: float) -> float:
    return current - previous if current >= previous else 0.0


def container_use(current: ContainerStats, previous: ContainerStats | None) -> ContainerUse:
    """One container's use between two readings (§9.1: CPU units = Δusage / Δwall × 1024)."""
    cpu: float | None = None
    read = write = 0.0
    if previous is not None and current.read_at > previous.read_at:
        wall_ns = (current.read_at - previous.read_at) * 1e9
        cpu = _delta(current.cpu_usage_ns, previous.cpu_usage_ns) / wall_ns * CPU_UNITS_PER_CORE
        read = _delta(current.io_read_bytes, previous.io_read_bytes)
        write = _delta(current.io_write_bytes, previous.io_write_bytes)
    return ContainerUse(cpu, current.memory_usage_bytes / MIB, read, write, current.pids)


def network_rates(current: ContainerStats, previous: ContainerStats | None) -> tuple[float | None, float | None]:
    if previous is None or current.read_at <= previous.read_at:
        return None, None
    seconds = current.read_at - previous.read_at
    return _delta(current.rx_bytes, previous.rx_bytes) / seconds, _delta(current.tx_bytes, previous.tx_bytes) / seconds


# -- values → samples ----------------------------------------------------------------------------


def _sample(name: str, labels: Mapping[str, str], ts_ms: int, value: float) -> Sample:
    return Sample(tuple(sorted({"__name__": name, **labels}.items())), ts_ms, float(value))


def prometheus_samples(tasks: Sequence[TaskUse], ts_ms: int) -> list[Sample]:
    out: list[Sample] = []
    services: dict[tuple[str, str, str], int] = {}
    for task in tasks:
        target = task.target
        labels = target.labels()
        cpu = task.cpu_units
        out.append(_sample("ecs_task_cpu_reserved", labels, ts_ms, target.cpu_reserved))
        out.append(_sample("ecs_task_memory_reserved_mebibytes", labels, ts_ms, target.memory_reserved))
        out.append(_sample("ecs_task_memory_utilized_mebibytes", labels, ts_ms, task.memory_mib))
        if target.memory_reserved:
            percent = 100.0 * task.memory_mib / target.memory_reserved
            out.append(_sample("ecs_task_memory_utilization_percent", labels, ts_ms, percent))
        if cpu is not None:
            out.append(_sample("ecs_task_cpu_utilized", labels, ts_ms, cpu))
            out.append(_sample("ecs_task_storage_read_bytes", labels, ts_ms, task.read_bytes))
            out.append(_sample("ecs_task_storage_write_bytes", labels, ts_ms, task.write_bytes))
            if target.cpu_reserved:
                out.append(
                    _sample("ecs_task_cpu_utilization_percent", labels, ts_ms, 100.0 * cpu / target.cpu_reserved)
                )
        if task.rx_per_second is not None and task.tx_per_second is not None:
            out.append(_sample("ecs_task_network_rx_bytes_per_second", labels, ts_ms, task.rx_per_second))
            out.append(_sample("ecs_task_network_tx_bytes_per_second", labels, ts_ms, task.tx_per_second))
        for name, use in task.containers.items():
            clabels = target.labels(name)
            out.append(_sample("ecs_container_memory_utilized_mebibytes", clabels, ts_ms, use.memory_mib))
            out.append(_sample("ecs_container_pids", clabels, ts_ms, use.pids))
            if use.cpu_units is not None:
                out.append(_sample("ecs_container_cpu_utilized", clabels, ts_ms, use.cpu_units))
                out.append(_sample("ecs_container_storage_read_bytes", clabels, ts_ms, use.read_bytes))
                out.append(_sample("ecs_container_storage_write_bytes", clabels, ts_ms, use.write_bytes))
        if target.service:
            key = (target.cluster, target.service, target.launch_type)
            services[key] = services.get(key, 0) + 1
    for (cluster, service, _), count in sorted(services.items()):
        labels = {"job": "ecslite", "cluster": cluster, "service": service}
        out.append(_sample("ecs_service_running_tasks", labels, ts_ms, count))
    return out


def _cw(namespace: str, metric: str, dims: Mapping[str, str], ts_ms: int, value: float) -> Sample:
    labels = {"job": "ecslite", "namespace": namespace, "metric_name": metric, **dims}
    return _sample(CLOUDWATCH_SERIES, labels, ts_ms, value)


def _utilization(tasks: Iterable[TaskUse]) -> tuple[float | None, float | None]:
    """(CPU %, memory %) of a group of tasks: 100 × Σ used / Σ reserved (§6.4)."""
    members = list(tasks)
    cpu_used = [t.cpu_units for t in members if t.target.cpu_reserved]
    cpu_reserved = sum(t.target.cpu_reserved for t in members if t.target.cpu_reserved)
    cpu = None
    if cpu_used and cpu_reserved and all(v is not None for v in cpu_used):
        cpu = 100.0 * sum(v for v in cpu_used if v is not None) / cpu_reserved
    memory_reserved = sum(t.target.memory_reserved for t in members if t.target.memory_reserved)
    memory_used = sum(t.memory_mib for t in members if t.target.memory_reserved)
    memory = 100.0 * memory_used / memory_reserved if memory_reserved else None
    return cpu, memory


def cloudwatch_samples(tasks: Sequence[TaskUse], ts_ms: int) -> list[Sample]:
    out: list[Sample] = []
    groups: dict[tuple[tuple[str, str], ...], list[TaskUse]] = {}
    for task in tasks:
        target = task.target
        groups.setdefault((("ClusterName", target.cluster),), []).append(task)
        if target.service:
            groups.setdefault((("ClusterName", target.cluster), ("ServiceName", target.service)), []).append(task)
    for dims, members in groups.items():
        cpu, memory = _utilization(members)
        if cpu is not None:
            out.append(_cw(AWS_ECS, "CPUUtilization", dict(dims), ts_ms, cpu))
        if memory is not None:
            out.append(_cw(AWS_ECS, "MemoryUtilization", dict(dims), ts_ms, memory))
    out.extend(container_insights_samples(tasks, ts_ms))
    return out


def container_insights_samples(tasks: Sequence[TaskUse], ts_ms: int) -> list[Sample]:
    """``ECS/ContainerInsights`` (§12.2) for tasks of clusters that turned it on."""
    out: list[Sample] = []
    groups: dict[tuple[tuple[str, str], ...], list[TaskUse]] = {}
    for task in tasks:
        target = task.target
        if target.insights not in ("enabled", "enhanced"):
            continue
        cluster = ("ClusterName", target.cluster)
        keys = [(cluster,), (cluster, ("TaskDefinitionFamily", target.family))]
        if target.service:
            keys.append((cluster, ("ServiceName", target.service)))
        if target.insights == "enhanced":
            keys.append((cluster, ("TaskDefinitionFamily", target.family), ("TaskId", target.task_id)))
        for key in keys:
            groups.setdefault(key, []).append(task)
        if target.insights == "enhanced":
            for name, use in task.containers.items():
                dims = {"ClusterName": target.cluster, "TaskDefinitionFamily": target.family}
                dims |= {"TaskId": target.task_id, "ContainerName": name}
                out.append(_cw(CONTAINER_INSIGHTS, "MemoryUtilized", dims, ts_ms, use.memory_mib))
                if use.cpu_units is not None:
                    out.append(_cw(CONTAINER_INSIGHTS, "CpuUtilized", dims, ts_ms, use.cpu_units))
    for key, members in groups.items():
        dims = dict(key)
        values: dict[str, float | None] = {
            "CpuReserved": sum(t.target.cpu_reserved for t in members),
            "MemoryReserved": sum(t.target.memory_reserved for t in members),
            "MemoryUtilized": sum(t.memory_mib for t in members),
            "RunningTaskCount": float(len(members)),
        }
        cpu = [t.cpu_units for t in members]
        if all(v is not None for v in cpu):
            values["CpuUtilized"] = sum(v for v in cpu if v is not None)
            values["StorageReadBytes"] = sum(t.read_bytes for t in members)
            values["StorageWriteBytes"] = sum(t.write_bytes for t in members)
        rx = [t.rx_per_second for t in members]
        tx = [t.tx_per_second for t in members]
        if all(v is not None for v in rx) and all(v is not None for v in tx):
            values["NetworkRxBytes"] = sum(v for v in rx if v is not None)
            values["NetworkTxBytes"] = sum(v for v in tx if v is not None)
        for metric, value in values.items():
            if value is not None:
                out.append(_cw(CONTAINER_INSIGHTS, metric, dims, ts_ms, value))
    return out


# -- CloudWatch datapoints -----------------------------------------------------------------------


def cloudwatch_datapoints(
    store: TelemetryStore,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, str],
    start: float,
    end: float,
    period: int,
    statistics: Sequence[str] = ("Average",),
) -> list[dict[str, Any]]:
    """CloudWatch datapoints of one metric and exact dimension set in ``[start, end)`` (epoch seconds).

    Samples are grouped into periods aligned to multiples of ``period`` seconds since the epoch
    (as CloudWatch aligns them); each datapoint has ``Timestamp`` (period start, epoch seconds),
    ``Unit`` and the asked ``statistics`` (Average, Minimum, Maximum, Sum, SampleCount), oldest
    first. A period without samples has no datapoint. Blocking: call it from a thread.
    """
    if period <= 0:
        raise ValueError("period must be a positive number of seconds")
    unknown = [s for s in statistics if s not in STATISTICS]
    if unknown:
        raise ValueError(f"unknown statistics {unknown}: choose from {', '.join(STATISTICS)}")
    matchers = [
        Matcher("__name__", "=", CLOUDWATCH_SERIES),
        Matcher("namespace", "=", namespace),
        Matcher("metric_name", "=", metric),
        *(Matcher(name, "=", value) for name, value in dimensions.items()),
    ]
    wanted = dict(dimensions)
    buckets: dict[int, list[float]] = {}
    for series in store.read_series(matchers, int(start * 1000), int(end * 1000) - 1):
        labels = dict(series.labels)
        if {k: v for k, v in labels.items() if k in DIMENSIONS} != wanted:
            continue  # a metric is its exact dimension set: {ClusterName} is not {ClusterName, ServiceName}
        for ts, value in zip(series.timestamps, series.values, strict=True):
            if not math.isnan(value):
                buckets.setdefault(ts // 1000 // period * period, []).append(value)
    out = []
    for bucket in sorted(buckets):
        values = buckets[bucket]
        point: dict[str, Any] = {"Timestamp": float(bucket), "Unit": UNITS.get(metric, "None")}
        every = {
            "Average": sum(values) / len(values),
            "Minimum": min(values),
            "Maximum": max(values),
            "Sum": sum(values),
            "SampleCount": float(len(values)),
        }
        for statistic in statistics:
            point[statistic] = every[statistic]
        out.append(point)
    return out


# -- the component -------------------------------------------------------------------------------


class RuntimeMetrics(Periodic):
    """A server component: samples container stats every ``interval`` seconds into the store."""

    name = "runtime-metrics"
    failure = "runtime metrics sampling failed"

    def __init__(
        self, db: Database, runtime: Runtime, store: TelemetryStore, clock: Clock, interval: float = 10.0
    ) -> None:
        super().__init__(clock, interval)
        self.db = db
        self.runtime = runtime
        self.store = store
        self._previous: dict[tuple[str, str], ContainerStats] = {}
        self.resource = Resource({"service.name": "ecslite", "service.instance.id": "runtime-metrics"})

    async def reset(self) -> None:
        self._previous.clear()

    async def run_pass(self) -> None:
        await self.sample_once()

    async def sample_once(self) -> list[Sample]:
        """Read every running container once and store the samples; returns them (tests)."""
        targets = await asyncio.to_thread(running_targets, self.db)
        seen: set[tuple[str, str]] = set()
        uses: list[TaskUse] = []
        for target in targets:
            use = TaskUse(target)
            for name in target.containers:
                key = (target.task_id, name)
                stats = await self.runtime.stats(target.task_id, name)
                if stats is None:
                    continue
                seen.add(key)
                previous = self._previous.get(key)
                use.containers[name] = container_use(stats, previous)
                if use.rx_per_second is None:  # the task's interface: every container reports the same counters
                    use.rx_per_second, use.tx_per_second = network_rates(stats, previous)
                self._previous[key] = stats
            if use.containers:
                uses.append(use)
        for key in [k for k in self._previous if k not in seen]:
            del self._previous[key]
        ts_ms = int(self.clock.now() * 1000)
        samples = prometheus_samples(uses, ts_ms) + cloudwatch_samples(uses, ts_ms)
        if samples:
            metadata = [MetricMetadata(name, "gauge", text) for name, text in GAUGES]
            self.store.write_metrics(MetricBatch(self.resource, samples, metadata))
        return samples
