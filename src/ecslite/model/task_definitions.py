"""Pure task definition rules shared by the provider and the task controller (spec/ecs.md §2.2–2.6).

- Task ``cpu``/``memory`` strings in every form ECS accepts, normalized to integers
  (``"0.25 vCPU"`` → 256, ``"2 GB"`` → 2048).
- The Fargate task size table (§2.3): which memory values go with which cpu.
- The ``dependsOn`` graph: unknown targets, cycles, and a start order (§2.6).

Nothing here touches the store or the API; every function is deterministic.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum


class TaskDefinitionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"


class Compatibility(StrEnum):
    EC2 = "EC2"
    FARGATE = "FARGATE"
    EXTERNAL = "EXTERNAL"
    MANAGED_INSTANCES = "MANAGED_INSTANCES"


# The order ECS lists computed compatibilities in (["EXTERNAL", "EC2"], ["EC2", "FARGATE"]).
COMPATIBILITY_ORDER = (
    Compatibility.EXTERNAL,
    Compatibility.EC2,
    Compatibility.FARGATE,
    Compatibility.MANAGED_INSTANCES,
)


class NetworkMode(StrEnum):
    BRIDGE = "bridge"
    HOST = "host"
    AWSVPC = "awsvpc"
    NONE = "none"


class ContainerCondition(StrEnum):
    START = "START"
    COMPLETE = "COMPLETE"
    SUCCESS = "SUCCESS"
    HEALTHY = "HEALTHY"


# -- task cpu and memory ---------------------------------------------------------------------------

CPU_UNITS_PER_VCPU = 1024
MIB_PER_GB = 1024

_NUMBER = r"([0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_VCPU = re.compile(rf"{_NUMBER} *vcpu", re.IGNORECASE)
_GB = re.compile(rf"{_NUMBER} *gb", re.IGNORECASE)
_INTEGER = re.compile(r"[0-9]+")
# Longer texts are no size ECS accepts; the cap also keeps int() away from its digit limit.
_MAX_SIZE_TEXT = 32


def _scaled(number: str, factor: int) -> int | None:
    value = float(number) * factor
    return int(value) if value.is_integer() else None


def parse_task_cpu(text: str) -> int | None:
    """CPU units from ``"256"``, ``"0.25 vCPU"`` or ``"1 vcpu"``; ``None`` if the text is not one of them."""
    text = text.strip()
    if len(text) > _MAX_SIZE_TEXT:
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    found = _VCPU.fullmatch(text)
    return _scaled(found.group(1), CPU_UNITS_PER_VCPU) if found else None


def parse_task_memory(text: str) -> int | None:
    """MiB from ``"512"``, ``"1GB"`` or ``"1 GB"``; ``None`` if the text is not one of them."""
    text = text.strip()
    if len(text) > _MAX_SIZE_TEXT:
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    found = _GB.fullmatch(text)
    return _scaled(found.group(1), MIB_PER_GB) if found else None


# -- Fargate task sizes (§2.3) ------------------------------------------------------------------------


def _steps(low_gib: int, high_gib: int, step_gib: int) -> tuple[int, ...]:
    return tuple(gib * MIB_PER_GB for gib in range(low_gib, high_gib + 1, step_gib))


FARGATE_SIZES: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: _steps(1, 4, 1),
    1024: _steps(2, 8, 1),
    2048: _steps(4, 16, 1),
    4096: _steps(8, 30, 1),
    8192: _steps(16, 60, 4),
    16384: _steps(32, 120, 8),
}
# Windows on Fargate starts at 1 vCPU; 8 and 16 vCPU exist only for Linux (platform 1.4.0).
FARGATE_WINDOWS_CPU = (1024, 2048, 4096)


def fargate_memory_options(cpu: int, *, windows: bool = False) -> tuple[int, ...]:
    """The memory values Fargate accepts with ``cpu`` units (empty when the cpu is not a Fargate size)."""
    if windows and cpu not in FARGATE_WINDOWS_CPU:
        return ()
    return FARGATE_SIZES.get(cpu, ())


def fargate_cpu_options(*, windows: bool = False) -> tuple[int, ...]:
    return FARGATE_WINDOWS_CPU if windows else tuple(FARGATE_SIZES)


def is_fargate_size(cpu: int, memory: int, *, windows: bool = False) -> bool:
    return memory in fargate_memory_options(cpu, windows=windows)


def describe_values(values: Sequence[int]) -> str:
    """``512, 1024, 2048`` for short lists, ``4096–16384 in steps of 1024`` for long regular ones."""
    if len(values) > 4:
        step = values[1] - values[0]
        if all(b - a == step for a, b in itertools.pairwise(values)):
            return f"{values[0]}–{values[-1]} in steps of {step}"
    return ", ".join(str(v) for v in values)


# -- dependsOn (§2.6) ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dependency:
    """``container`` waits until ``target`` reaches ``condition``."""

    container: str
    target: str
    condition: ContainerCondition


def dependencies_of(containers: Iterable[Mapping[str, object]]) -> list[Dependency]:
    """Every ``dependsOn`` entry of the given container definitions, in definition order."""
    out = []
    for container in containers:
        for entry in container.get("dependsOn") or ():  # type: ignore[attr-defined]
            out.append(
                Dependency(str(container["name"]), entry["containerName"], ContainerCondition(entry["condition"]))
            )
    return out


def find_cycle(names: Sequence[str], edges: Iterable[tuple[str, str]]) -> list[str] | None:
    """A dependency cycle as a path that returns to its start (``["a", "b", "a"]``), or ``None``.

    ``edges`` are ``(container, target)`` pairs; targets not in ``names`` are ignored (they are
    reported separately as unknown). The search visits containers in ``names`` order, so the
    reported cycle is stable for a given definition.
    """
    graph: dict[str, list[str]] = {name: [] for name in names}
    for source, target in edges:
        if source in graph and target in graph:
            graph[source].append(target)
    done: set[str] = set()
    for start in names:
        if start in done:
            continue
        path = [start]
        pending = [iter(graph[start])]
        while pending:
            nxt = next(pending[-1], None)
            if nxt is None:
                pending.pop()
                done.add(path.pop())
            elif nxt in path:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in done:
                path.append(nxt)
                pending.append(iter(graph[nxt]))
    return None
