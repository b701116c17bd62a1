"""RegisterTaskDefinition's business rules (spec/ecs.md §2.2–2.10, §13.1).

:func:`check_registration` raises ``ClientException`` with ECS's text for the first rule a request
breaks, checking in the order ECS does where that is known: the definition's structure (family,
container list, names, images), task size, the rules of each launch type listed in
``requiresCompatibilities``, then per-container rules (memory, ports, links, dependencies, health
checks, logging, mounts, limits). It returns the parsed task size so the caller need not parse again.

Shape (types, required members, enums) was checked by the protocol layer before this runs.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from ecslite.model.task_definitions import (
    Compatibility,
    ContainerCondition,
    NetworkMode,
    dependencies_of,
    find_cycle,
    parse_task_cpu,
    parse_task_memory,
)
from ecslite.providers.ecs import task_definition_messages as msg
from ecslite.providers.ecs.common import NAME_PATTERN
from ecslite.providers.ecs.errors import ClientException
from ecslite.providers.ecs.task_definition_launch_types import external_problems, fargate_problems

# Matched with fullmatch: "$" alone would let a trailing newline through.
PORT_NAME_PATTERN = re.compile(r"[a-z0-9_][a-z0-9_-]{0,63}")
PORT_RANGE_PATTERN = re.compile(r"([0-9]{1,5})-([0-9]{1,5})")
MAX_CONTAINERS = 10
MAX_PORT_RANGES = 100
MAX_PLACEMENT_CONSTRAINTS = 10
EC2_TASK_CPU_RANGE = (128, 196608)
EPHEMERAL_STORAGE_RANGE = (21, 200)
MAX_PORT = 65535
# Health check ranges (§2.7): field → (minimum, maximum).
HEALTH_CHECK_RANGES = {"interval": (5, 300), "timeout": (2, 60), "retries": (1, 10), "startPeriod": (0, 300)}
HEALTH_CHECK_KINDS = ("CMD", "CMD-SHELL")
# Options the awslogs driver takes (Docker's awslogs options, ECS's stream prefix, delivery mode).
AWSLOGS_OPTIONS = frozenset(
    {
        "awslogs-region",
        "awslogs-endpoint",
        "awslogs-group",
        "awslogs-stream-prefix",
        "awslogs-create-group",
        "awslogs-datetime-format",
        "awslogs-multiline-pattern",
        "awslogs-force-flush-interval-seconds",
        "awslogs-max-buffer-size",
        "awslogs-format",
        "awslogs-credentials-endpoint",
        "mode",
        "max-buffer-size",
    }
)
AWSLOGS_REQUIRED = ("awslogs-region", "awslogs-group")


@dataclass(frozen=True, slots=True)
class TaskSize:
    """Task-level cpu units and memory MiB after parsing; ``None`` where the request had none."""

    cpu: int | None
    memory: int | None


def fail(message: str) -> ClientException:
    return ClientException(message)


def check_registration(td: dict[str, Any]) -> TaskSize:
    """Raise ``ClientException`` for the first rule ``td`` breaks; return its parsed task size."""
    _check_structure(td)
    size = _task_size(td)
    _check_launch_types(td, size)
    _check_task_members(td)
    containers = td["containerDefinitions"]
    for container in containers:
        _check_container(td, container, size)
    _check_sums(containers, size)
    _check_port_names(containers)
    _check_host_ports(containers, network_mode(td))
    _check_links(containers, network_mode(td))
    _check_essential(containers)
    _check_dependencies(containers)
    _check_secrets(td)
    return size


def required_compatibilities(td: dict[str, Any]) -> set[str]:
    return set(td.get("requiresCompatibilities") or ())


def network_mode(td: dict[str, Any]) -> str:
    """The effective network mode: ``bridge`` when none is given (Linux default, §2.2)."""
    return str(td.get("networkMode") or NetworkMode.BRIDGE)


# -- structure -----------------------------------------------------------------------------------------


def _check_structure(td: dict[str, Any]) -> None:
    if not NAME_PATTERN.fullmatch(td["family"]):
        raise fail(msg.FAMILY_INVALID)
    containers = td["containerDefinitions"]
    if not containers:
        raise fail(msg.CONTAINER_LIST_EMPTY)
    if len(containers) > MAX_CONTAINERS:
        raise fail(msg.TOO_MANY_CONTAINERS)
    seen: set[str] = set()
    for container in containers:
        name = container.get("name")
        if not name:
            raise fail(msg.CONTAINER_NAME_EMPTY)
        if not NAME_PATTERN.fullmatch(name):
            raise fail(msg.CONTAINER_NAME_INVALID)
        if not (container.get("image") or "").strip():
            raise fail(msg.CONTAINER_IMAGE_EMPTY)
        if name in seen:
            raise fail(msg.CONTAINER_NAMES_NOT_UNIQUE)
        seen.add(name)


def _task_size(td: dict[str, Any]) -> TaskSize:
    cpu = memory = None
    if td.get("cpu") is not None:
        cpu = parse_task_cpu(td["cpu"])
        if cpu is None or cpu <= 0:
            raise fail(msg.TASK_CPU_INVALID)
        fargate_only = required_compatibilities(td) == {Compatibility.FARGATE}
        low, high = EC2_TASK_CPU_RANGE
        if not fargate_only and not low <= cpu <= high:
            raise fail(msg.TASK_CPU_INVALID + msg.HINT_TASK_CPU_EC2)
    if td.get("memory") is not None:
        memory = parse_task_memory(td["memory"])
        if memory is None or memory <= 0:
            raise fail(msg.TASK_MEMORY_INVALID)
    return TaskSize(cpu, memory)


def _check_launch_types(td: dict[str, Any], size: TaskSize) -> None:
    required = required_compatibilities(td)
    if Compatibility.FARGATE in required:
        problems = fargate_problems(td, size.cpu, size.memory)
        if problems:
            raise fail(problems[0])
    if Compatibility.EXTERNAL in required:
        problems = external_problems(td)
        if problems:
            raise fail(problems[0])


def _check_task_members(td: dict[str, Any]) -> None:
    storage = td.get("ephemeralStorage")
    if storage is not None:
        low, high = EPHEMERAL_STORAGE_RANGE
        if not low <= storage["sizeInGiB"] <= high:
            raise fail(msg.EPHEMERAL_STORAGE_RANGE)
        required = required_compatibilities(td)
        if required and Compatibility.FARGATE not in required:
            raise fail(msg.EPHEMERAL_STORAGE_FARGATE_ONLY)
    constraints = td.get("placementConstraints") or []
    if len(constraints) > MAX_PLACEMENT_CONSTRAINTS:
        raise fail(msg.TOO_MANY_PLACEMENT_CONSTRAINTS)
    for constraint in constraints:
        if constraint.get("type") == "memberOf" and not (constraint.get("expression") or "").strip():
            raise fail(msg.PLACEMENT_CONSTRAINT_EXPRESSION)
    names: set[str] = set()
    for volume in td.get("volumes") or ():
        name = volume.get("name")
        if not name:
            raise fail(msg.VOLUME_NAME_EMPTY)
        if name in names:
            raise fail(msg.VOLUME_NAMES_NOT_UNIQUE)
        names.add(name)


# -- one container ---------------------------------------------------------------------------------------


def _check_container(td: dict[str, Any], container: dict[str, Any], size: TaskSize) -> None:
    _check_container_resources(container, size)
    _check_port_mappings(td, container)
    if container.get("hostname") and network_mode(td) == NetworkMode.AWSVPC:
        raise fail(msg.HOSTNAME_AWSVPC)
    _check_health_check(container)
    _check_timeouts(container)
    _check_logging(container)
    _check_mounts(td, container)
    _check_limits(container)


def _check_container_resources(container: dict[str, Any], size: TaskSize) -> None:
    name = container["name"]
    for field in ("cpu", "memory", "memoryReservation"):
        value = container.get(field)
        if value is not None and (value < 0 or (value == 0 and field != "cpu")):
            raise fail(msg.CONTAINER_VALUE_INVALID.format(field=field, name=name))
    memory, reservation = container.get("memory"), container.get("memoryReservation")
    if size.memory is None and memory is None and reservation is None:
        raise fail(msg.CONTAINER_MEMORY_REQUIRED.format(name=name))
    if memory is not None and reservation is not None and memory < reservation:
        raise fail(msg.CONTAINER_MEMORY_BELOW_RESERVATION.format(name=name))
    if size.memory is not None and memory is not None and memory > size.memory:
        raise fail(msg.CONTAINER_MEMORY_OVER_TASK.format(name=name))


def _check_port_mappings(td: dict[str, Any], container: dict[str, Any]) -> None:
    mappings = container.get("portMappings") or []
    mode = network_mode(td)
    if mappings and mode == NetworkMode.NONE:
        raise fail(msg.PORT_MAPPINGS_NETWORK_NONE)
    name = container["name"]
    ranges: list[tuple[int, int, str, str]] = []
    for mapping in mappings:
        if mapping.get("containerPortRange"):
            ranges.append(_port_range(mapping, name, mode))
            continue
        port = mapping.get("containerPort")
        if port is None:
            raise fail(msg.PORT_MAPPING_NO_PORT.format(name=name))
        host = mapping.get("hostPort")
        for value, lowest in ((port, 1), (host, 0)):
            if value is not None and not lowest <= value <= MAX_PORT:
                raise fail(msg.PORT_MAPPING_OUT_OF_RANGE.format(name=name, port=value))
        # awsvpc and host publish the container port itself: no remapping (§2.5).
        if mode in (NetworkMode.AWSVPC, NetworkMode.HOST) and host not in (None, port):
            raise fail(msg.HOST_PORT_MISMATCH.format(mode=mode))
    if len(ranges) > MAX_PORT_RANGES:
        raise fail(msg.PORT_RANGE_TOO_MANY.format(name=name))
    for protocol in sorted({proto for _, _, proto, _ in ranges}):
        same = sorted(r for r in ranges if r[2] == protocol)
        for (_, end, _, text), (start, _, _, next_text) in itertools.pairwise(same):
            if start <= end:
                raise fail(msg.PORT_RANGE_OVERLAP.format(name=name, first=text, second=next_text))


def _port_range(mapping: dict[str, Any], name: str, mode: str) -> tuple[int, int, str, str]:
    text = mapping["containerPortRange"]
    if mode not in (NetworkMode.BRIDGE, NetworkMode.AWSVPC):
        raise fail(msg.PORT_RANGE_NETWORK_MODE)
    if mapping.get("containerPort") is not None or mapping.get("hostPort") is not None:
        raise fail(msg.PORT_RANGE_WITH_PORT.format(name=name))
    found = PORT_RANGE_PATTERN.fullmatch(text)
    start, end = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
    if not 1 <= start < end <= MAX_PORT:
        raise fail(msg.PORT_RANGE_INVALID.format(range=text, name=name))
    return start, end, mapping.get("protocol", "tcp"), text


def _check_health_check(container: dict[str, Any]) -> None:
    check = container.get("healthCheck")
    if check is None:
        return
    name = container["name"]
    command = check["command"]
    if not command or command[0] not in HEALTH_CHECK_KINDS or len(command) < 2:
        raise fail(msg.HEALTH_CHECK_COMMAND.format(name=name))
    for field, (low, high) in HEALTH_CHECK_RANGES.items():
        value = check.get(field)
        if value is None:
            continue
        if value < low:
            raise fail(msg.HEALTH_CHECK_BELOW_MIN.format(field=field, limit=low, name=name))
        if value > high:
            raise fail(msg.HEALTH_CHECK_ABOVE_MAX.format(field=field, limit=high, name=name))


def _check_timeouts(container: dict[str, Any]) -> None:
    for field in ("startTimeout", "stopTimeout"):
        value = container.get(field)
        if value is not None and value < 0:
            raise fail(msg.CONTAINER_VALUE_INVALID.format(field=field, name=container["name"]))


def _check_logging(container: dict[str, Any]) -> None:
    config = container.get("logConfiguration")
    if not config or config["logDriver"] != "awslogs":
        return
    options = config.get("options") or {}
    secret_names = {s.get("name") for s in config.get("secretOptions") or ()}
    missing = [o for o in AWSLOGS_REQUIRED if o not in options and o not in secret_names]
    if missing:
        raise fail(msg.LOG_DRIVER_REQUIRES.format(driver="awslogs", options=", ".join(missing)))
    unknown = [o for o in options if o not in AWSLOGS_OPTIONS]
    if unknown:
        raise fail(msg.LOG_DRIVER_DISALLOWS.format(driver="awslogs", options=", ".join(unknown)))


def _check_mounts(td: dict[str, Any], container: dict[str, Any]) -> None:
    volumes = {v.get("name") for v in td.get("volumes") or ()}
    for mount in container.get("mountPoints") or ():
        source = mount.get("sourceVolume")
        if source not in volumes:
            # ECS prints a missing sourceVolume as Java's null.
            raise fail(msg.UNKNOWN_VOLUME.format(name=source if source is not None else "null"))
    containers = {c["name"] for c in td["containerDefinitions"]}
    for entry in container.get("volumesFrom") or ():
        source = entry.get("sourceContainer")
        if source not in containers:
            raise fail(msg.VOLUMES_FROM_UNKNOWN.format(name=container["name"], source=source))


def _check_limits(container: dict[str, Any]) -> None:
    name = container["name"]
    for ulimit in container.get("ulimits") or ():
        if ulimit["softLimit"] > ulimit["hardLimit"]:
            raise fail(msg.ULIMIT_SOFT_ABOVE_HARD.format(ulimit=ulimit["name"], name=name))
    swappiness = (container.get("linuxParameters") or {}).get("swappiness")
    if swappiness is not None and not 0 <= swappiness <= 100:
        raise fail(msg.SWAPPINESS_OUT_OF_RANGE.format(name=name))


# -- across containers -------------------------------------------------------------------------------------


def _check_sums(containers: list[dict[str, Any]], size: TaskSize) -> None:
    if size.cpu is not None and sum(c.get("cpu") or 0 for c in containers) > size.cpu:
        raise fail(msg.CONTAINER_CPU_SUM)
    if size.memory is None:
        return
    # A container reserves its memoryReservation when set, else its hard limit (§2.4).
    reserved = sum(c.get("memoryReservation") or c.get("memory") or 0 for c in containers)
    if reserved > size.memory:
        if any(c.get("memoryReservation") is not None for c in containers):
            raise fail(msg.CONTAINER_RESERVATION_SUM)
        raise fail(msg.CONTAINER_MEMORY_SUM)


def _check_port_names(containers: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for container in containers:
        for mapping in container.get("portMappings") or ():
            port_name = mapping.get("name")
            if port_name is None:
                continue
            if not PORT_NAME_PATTERN.fullmatch(port_name):
                raise fail(msg.PORT_NAME_INVALID.format(port_name=port_name, name=container["name"]))
            if port_name in seen:
                raise fail(msg.PORT_NAME_NOT_UNIQUE.format(port_name=port_name))
            seen.add(port_name)


def _check_host_ports(containers: list[dict[str, Any]], mode: str) -> None:
    """One static host port per protocol in a task: bridge ``hostPort``s, host-mode container ports (§2.5)."""
    if mode not in (NetworkMode.BRIDGE, NetworkMode.HOST):
        return
    seen: set[tuple[str, int]] = set()
    for container in containers:
        for mapping in container.get("portMappings") or ():
            port = mapping.get("containerPort") if mode == NetworkMode.HOST else mapping.get("hostPort")
            if not port:
                continue  # bridge 0/absent: a dynamic port, never a clash
            key = (str(mapping.get("protocol") or "tcp").upper(), int(port))
            if key in seen:
                raise fail(msg.HOST_PORT_MAPPED_TWICE.format(protocol=key[0], port=key[1]))
            seen.add(key)


def _link_target(link: str) -> str:
    return link.split(":", 1)[0]  # "name:alias"


def _check_links(containers: list[dict[str, Any]], mode: str) -> None:
    """Links are Docker bridge-network aliases, so they exist only in bridge mode (§2.4)."""
    names = [c["name"] for c in containers]
    edges = []
    for container in containers:
        if container.get("links") and mode != NetworkMode.BRIDGE:
            raise fail(msg.LINKS_NOT_SUPPORTED.format(mode=mode))
        for link in container.get("links") or ():
            target = _link_target(link)
            if target not in names:
                raise fail(msg.LINK_UNKNOWN.format(name=container["name"], target=target))
            edges.append((container["name"], target))
    if find_cycle(names, edges) is not None:
        raise fail(msg.LINKS_CYCLE)


def _check_essential(containers: list[dict[str, Any]]) -> None:
    if not any(c.get("essential", True) for c in containers):
        raise fail(msg.NO_ESSENTIAL_CONTAINER)


def _check_dependencies(containers: list[dict[str, Any]]) -> None:
    by_name = {c["name"]: c for c in containers}
    dependencies = dependencies_of(containers)
    for dep in dependencies:
        target = by_name.get(dep.target)
        if target is None:
            raise fail(
                msg.DEPENDS_ON_UNKNOWN.format(target=dep.target)
                + f". Container '{dep.container}' lists it in dependsOn."
            )
        if dep.condition in (ContainerCondition.COMPLETE, ContainerCondition.SUCCESS) and target.get("essential", True):
            raise fail(
                msg.DEPENDS_ON_ESSENTIAL
                + f". Container '{dep.container}' waits for '{dep.target}' to {dep.condition}, so '{dep.target}' "
                "must set essential to false."
            )
        if dep.condition == ContainerCondition.HEALTHY and not target.get("healthCheck"):
            raise fail(msg.DEPENDS_ON_HEALTHY_WITHOUT_CHECK.format(name=dep.container, target=dep.target))
    cycle = find_cycle(list(by_name), [(d.container, d.target) for d in dependencies])
    if cycle is not None:
        raise fail(msg.DEPENDS_ON_CYCLE.format(path=" -> ".join(cycle)))


def _check_secrets(td: dict[str, Any]) -> None:
    if td.get("executionRoleArn"):
        return
    if any(_has_secrets(c) for c in td["containerDefinitions"]):
        raise fail(msg.SECRETS_EXECUTION_ROLE)


def _has_secrets(container: dict[str, Any]) -> bool:
    """Secrets and log-driver secret options are fetched with the execution role (§2.8)."""
    return bool(container.get("secrets") or (container.get("logConfiguration") or {}).get("secretOptions"))
