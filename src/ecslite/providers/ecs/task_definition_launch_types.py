"""What a task definition must satisfy to run on Fargate or on external instances (spec/ecs.md §2.3, §13.1).

Each function returns the problems it finds as ECS error texts, in the order ECS reports them,
instead of raising: registration raises the first problem for a launch type the definition
*requires*, and the computed ``compatibilities`` list a launch type only when it has none.

Inputs are request-shaped dicts already type-checked by the protocol layer; task ``cpu``/``memory``
arrive parsed (``None`` when absent or unreadable, which the general rules report first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ecslite.model.task_definitions import (
    NetworkMode,
    describe_values,
    fargate_cpu_options,
    fargate_memory_options,
)
from ecslite.providers.ecs import task_definition_messages as msg

# Log drivers Fargate runs (§2.9); the others need a Docker daemon on an EC2 instance.
FARGATE_LOG_DRIVERS = ("awslogs", "splunk", "awsfirelens")
FARGATE_TIMEOUT_RANGE = (2, 120)
FARGATE_CAPABILITIES = ("SYS_PTRACE",)
FARGATE_ULIMITS = ("nofile",)
# Container members Fargate refuses outright (seed 004 + model docs, §2.3).
FARGATE_CONTAINER_UNSUPPORTED = (
    "disableNetworking",
    "dnsSearchDomains",
    "dnsServers",
    "dockerSecurityOptions",
    "extraHosts",
    "links",
    "privileged",
)
FARGATE_LINUX_UNSUPPORTED = ("devices", "sharedMemorySize", "tmpfs", "maxSwap", "swappiness")


def is_windows(td: dict[str, Any]) -> bool:
    family = (td.get("runtimePlatform") or {}).get("operatingSystemFamily", "LINUX")
    return str(family).startswith("WINDOWS")


def fargate_problems(td: dict[str, Any], cpu: int | None, memory: int | None) -> list[str]:
    """Everything that keeps ``td`` off Fargate, first problem first."""
    return list(_fargate(td, cpu, memory))


def _fargate(td: dict[str, Any], cpu: int | None, memory: int | None) -> Iterator[str]:
    if td.get("networkMode") != NetworkMode.AWSVPC:
        yield msg.FARGATE_ONLY_AWSVPC
    if cpu is None:
        yield msg.FARGATE_REQUIRES_TASK_CPU
    if memory is None:
        yield msg.FARGATE_REQUIRES_TASK_MEMORY
    if cpu is not None and memory is not None:
        yield from _fargate_size(cpu, memory, windows=is_windows(td))
    yield from _fargate_task_members(td)
    for container in td["containerDefinitions"]:
        yield from _fargate_container(container)
    if not td.get("executionRoleArn") and any(
        (c.get("logConfiguration") or {}).get("logDriver") == "awslogs" for c in td["containerDefinitions"]
    ):
        yield msg.FARGATE_AWSLOGS_EXECUTION_ROLE


def _fargate_size(cpu: int, memory: int, *, windows: bool) -> Iterator[str]:
    """The §2.3 table. An unknown cpu is an invalid cpu; a known cpu with the wrong memory is no configuration."""
    options = fargate_memory_options(cpu, windows=windows)
    if not options:
        yield msg.TASK_CPU_INVALID + msg.HINT_FARGATE_CPU.format(
            values=", ".join(str(c) for c in fargate_cpu_options(windows=windows))
        )
    elif memory not in options:
        yield msg.NO_FARGATE_CONFIGURATION.format(cpu=cpu, memory=memory) + msg.HINT_FARGATE_MEMORY.format(
            cpu=cpu, values=describe_values(options)
        )


def _unsupported(param: str) -> str:
    return msg.FARGATE_UNSUPPORTED.format(param=param)


def _fargate_task_members(td: dict[str, Any]) -> Iterator[str]:
    if td.get("ipcMode"):
        yield _unsupported("ipcMode")
    if td.get("pidMode") == "host":
        yield _unsupported("pidMode host")
    if td.get("placementConstraints"):
        yield _unsupported("placementConstraints")
    for volume in td.get("volumes") or ():
        if volume.get("dockerVolumeConfiguration"):
            yield _unsupported("dockerVolumeConfiguration")
        if (volume.get("host") or {}).get("sourcePath"):
            yield _unsupported("host.sourcePath")
        if volume.get("fsxWindowsFileServerVolumeConfiguration") and not is_windows(td):
            yield _unsupported("fsxWindowsFileServerVolumeConfiguration")


def _fargate_container(container: dict[str, Any]) -> Iterator[str]:
    for member in FARGATE_CONTAINER_UNSUPPORTED:
        if container.get(member):
            yield _unsupported(member)
    driver = (container.get("logConfiguration") or {}).get("logDriver")
    if driver and driver not in FARGATE_LOG_DRIVERS:
        yield _unsupported(f"log driver {driver}")
    for requirement in container.get("resourceRequirements") or ():
        if requirement.get("type") == "GPU":
            yield _unsupported("GPU resource requirements")
    for ulimit in container.get("ulimits") or ():
        if ulimit["name"] not in FARGATE_ULIMITS:
            yield _unsupported(f"ulimit {ulimit['name']}")
    for control in container.get("systemControls") or ():
        # Only namespaced network sysctls are settable inside a Fargate task (§2.3, unverified list).
        if not str(control.get("namespace", "")).startswith("net."):
            yield _unsupported(f"systemControls namespace {control.get('namespace', '')}")
    yield from _fargate_linux_parameters(container.get("linuxParameters") or {})
    yield from _fargate_timeouts(container)


def _fargate_linux_parameters(params: dict[str, Any]) -> Iterator[str]:
    for member in FARGATE_LINUX_UNSUPPORTED:
        if params.get(member) is not None and params.get(member) != []:
            yield _unsupported(f"linuxParameters.{member}")
    for capability in (params.get("capabilities") or {}).get("add") or ():
        if capability not in FARGATE_CAPABILITIES:
            yield _unsupported(f"capability {capability}")


def _fargate_timeouts(container: dict[str, Any]) -> Iterator[str]:
    low, high = FARGATE_TIMEOUT_RANGE
    for field in ("startTimeout", "stopTimeout"):
        value = container.get(field)
        if value is not None and not low <= value <= high:
            yield msg.TIMEOUT_OUT_OF_RANGE.format(field=field, name=container["name"])


def external_problems(td: dict[str, Any]) -> list[str]:
    """ECS Anywhere runs bridge, host and none tasks; it has no ENI to give an awsvpc task."""
    if td.get("networkMode") == NetworkMode.AWSVPC:
        return [msg.LAUNCH_TYPE_UNSUPPORTED.format(launch_type="External", param="networkMode awsvpc")]
    return []
