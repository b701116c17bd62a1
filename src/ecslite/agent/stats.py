"""Container stats in Docker's ``ContainerStats`` JSON, as the metadata endpoint serves them (spec/ecs.md §9.2).

The runtime's sample (:class:`~ecslite.runtime.base.ContainerStats`, read from the container's cgroups
and its task's interface counters) becomes ``cpu_stats``, ``memory_stats``, ``blkio_stats``,
``pids_stats`` and ``networks``; the previous sample of the same container becomes ``preread`` /
``precpu_stats``, and the two give v4's ``network_rate_stats``. Until a container has a previous
sample, ``preread`` is Go's zero time and ``precpu_stats`` is empty, as Docker's one-shot stats are.

``system_cpu_usage`` is the host's total CPU time in nanoseconds (``/proc/stat``), which is what
clients divide the container's CPU delta by.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from ecslite.agent.metadata import rfc3339
from ecslite.runtime.base import ContainerStats

ZERO_TIME = "0001-01-01T00:00:00Z"
INTERFACE = "eth1"  # the task ENI's name inside Fargate tasks, as the agent reports it


@dataclass(frozen=True, slots=True)
class Sample:
    stats: ContainerStats
    system_cpu_ns: int


def system_cpu_ns() -> int:
    """The host's CPU time over every CPU since boot, in nanoseconds (``/proc/stat`` ``cpu`` line)."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()[1:8]
    except OSError:
        return 0
    ticks = os.sysconf("SC_CLK_TCK") or 100
    return sum(int(value) for value in fields) * (1_000_000_000 // ticks)


def online_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


class StatsHistory:
    """The last sample of every container, so each answer can show the one before it (thread-safe)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], Sample] = {}
        self._lock = threading.Lock()

    def swap(self, key: tuple[str, str], sample: Sample) -> Sample | None:
        with self._lock:
            previous = self._last.get(key)
            self._last[key] = sample
            return previous

    def forget_task(self, task_id: str) -> None:
        with self._lock:
            for key in [k for k in self._last if k[0] == task_id]:
                del self._last[key]


def _cpu(sample: Sample | None, cpus: int) -> dict[str, Any]:
    if sample is None:
        return {"cpu_usage": {"total_usage": 0}}
    return {
        "cpu_usage": {"total_usage": sample.stats.cpu_usage_ns},
        "system_cpu_usage": sample.system_cpu_ns,
        "online_cpus": cpus,
    }


def docker_stats(
    current: Sample, previous: Sample | None, *, name: str, container_id: str, with_rates: bool = True
) -> dict[str, Any]:
    """One container's stats document; ``with_rates`` adds v4's ``network_rate_stats``."""
    stats = current.stats
    cpus = online_cpus()
    memory: dict[str, Any] = {"usage": stats.memory_usage_bytes, "stats": {}}
    if stats.memory_limit_bytes:
        memory["limit"] = stats.memory_limit_bytes
    io = [
        {"major": 0, "minor": 0, "op": "Read", "value": stats.io_read_bytes},
        {"major": 0, "minor": 0, "op": "Write", "value": stats.io_write_bytes},
        {"major": 0, "minor": 0, "op": "Total", "value": stats.io_read_bytes + stats.io_write_bytes},
    ]
    document: dict[str, Any] = {
        "read": rfc3339(stats.read_at),
        "preread": rfc3339(previous.stats.read_at) if previous else ZERO_TIME,
        "pids_stats": {"current": stats.pids},
        "blkio_stats": {
            "io_service_bytes_recursive": io,
            "io_serviced_recursive": [],
            "io_queue_recursive": [],
            "io_service_time_recursive": [],
            "io_wait_time_recursive": [],
            "io_merged_recursive": [],
            "io_time_recursive": [],
            "sectors_recursive": [],
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": _cpu(current, cpus),
        "precpu_stats": _cpu(previous, cpus),
        "memory_stats": memory,
        "name": name,
        "id": container_id,
        "networks": {
            # Only what the runtime counts: the task interface's bytes (packet counts are not sampled).
            INTERFACE: {"rx_bytes": stats.rx_bytes, "tx_bytes": stats.tx_bytes}
        },
    }
    if with_rates:
        document["network_rate_stats"] = network_rates(current, previous)
    return document


def network_rates(current: Sample, previous: Sample | None) -> dict[str, float]:
    if previous is None:
        return {"rx_bytes_per_sec": 0.0, "tx_bytes_per_sec": 0.0}
    elapsed = current.stats.read_at - previous.stats.read_at
    if elapsed <= 0:
        return {"rx_bytes_per_sec": 0.0, "tx_bytes_per_sec": 0.0}
    rx = max(0, current.stats.rx_bytes - previous.stats.rx_bytes) / elapsed
    tx = max(0, current.stats.tx_bytes - previous.stats.tx_bytes) / elapsed
    return {"rx_bytes_per_sec": rx, "tx_bytes_per_sec": tx}
