"""Reading the stored task document as the controller needs it, and building runtime specs from it.

The document layout is described in :mod:`ecslite.store.tasks`; these helpers keep the controller's
steps free of dictionary plumbing and are the one place that maps a stored container snapshot
to a :class:`~ecslite.runtime.base.ContainerSpec` (with the §9.1 environment and ECS labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ecslite.model.container_ordering import ContainerFacts, parse_dependencies
from ecslite.model.task_launch import container_environment, ecs_labels
from ecslite.model.tasks import SIGTERM, AttachmentStatus, ContainerStatus, HealthStatus
from ecslite.runtime.base import ContainerSpec
from ecslite.store.tasks import Doc, stamp_value

__all__ = [
    "Doc",
    "api_container",
    "container_facts",
    "container_spec",
    "set_attachment",
    "spec_containers",
    "stamp",
    "task_id_of",
]


def task_id_of(doc: Doc) -> str:
    return str(doc["_spec"]["taskId"])


def spec_containers(doc: Doc) -> dict[str, dict[str, Any]]:
    """The launch snapshot of each container, by name, in definition order."""
    return {c["name"]: c for c in doc["_spec"]["containers"]}


def api_container(doc: Doc, name: str) -> dict[str, Any]:
    for container in doc["containers"]:
        if container["name"] == name:
            found: dict[str, Any] = container
            return found
    raise KeyError(name)


def stamp(doc: Doc, field: str, now: float) -> None:
    """Set a §3.2 timestamp, never earlier than the ones that must precede it."""
    doc[field] = stamp_value(doc, field, now)


def set_attachment(doc: Doc, status: AttachmentStatus, details: Sequence[dict[str, str]] | None = None) -> None:
    """Move the ENI attachment (always ``attachments[0]``, §3.7) to ``status``."""
    attachments = doc.get("attachments") or []
    if not attachments:
        return
    attachments[0]["status"] = status.value
    if details is not None:
        attachments[0]["details"] = list(details)


def container_facts(doc: Doc) -> dict[str, ContainerFacts]:
    """What ordering decisions need about each container, from the stored document."""
    run = (doc.get("_run") or {}).get("containers", {})
    facts: dict[str, ContainerFacts] = {}
    for name, spec in spec_containers(doc).items():
        container = api_container(doc, name)
        started_at = run.get(name, {}).get("startedAt")
        stopped = container["lastStatus"] == ContainerStatus.STOPPED
        timeout = spec.get("startTimeout")
        facts[name] = ContainerFacts(
            name=name,
            depends_on=parse_dependencies(spec.get("dependsOn")),
            start_timeout=float(timeout) if timeout else None,
            started_at=float(started_at) if started_at is not None else None,
            failed_to_start=(container.get("reason") or "never started") if stopped and started_at is None else None,
            exit_code=container.get("exitCode"),
            exited=stopped and started_at is not None,
            healthy=container.get("healthStatus") == HealthStatus.HEALTHY,
        )
    return facts


def container_spec(doc: Doc, name: str) -> ContainerSpec:
    """The runtime's view of one container: plain values only (style.md layers)."""
    task = doc["_spec"]
    container = spec_containers(doc)[name]
    memory = container.get("memory")
    reservation = container.get("memoryReservation")
    return ContainerSpec(
        task_id=task["taskId"],
        name=name,
        image=container["image"],
        runtime_id=container["runtimeId"],
        entry_point=tuple(container.get("entryPoint") or ()),
        command=tuple(container.get("command") or ()),
        environment=container_environment(task, container),
        working_directory=container.get("workingDirectory"),
        user=container.get("user"),
        cpu_units=int(container.get("cpu") or 0),
        memory_mib=int(memory) if memory else None,
        memory_reservation_mib=int(reservation) if reservation else None,
        stop_signal=SIGTERM,
        labels=ecs_labels(task, container),
        interactive=bool(container.get("interactive")),
        pseudo_terminal=bool(container.get("pseudoTerminal")),
    )
