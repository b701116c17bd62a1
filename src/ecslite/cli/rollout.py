"""Watching a service's deployment until it is ready or has failed (``ecslite up``'s progress).

A service is **ready** when the deployment ``up`` started (or found) is the PRIMARY, no other
deployment has tasks left, and either its ``rolloutState`` is COMPLETED with ``runningCount ==
desiredCount`` (spec/ecs.md §4.6), or every one of its ``desiredCount`` tasks is RUNNING with every
container that has a health check HEALTHY. The second form matters for task definitions such as
the seed's, whose essential router has no health check: the task's health stays UNKNOWN (§2.7), so
ECS's scheduler never calls the service steady, yet everything that can be checked is healthy.

A service has **failed** when its deployment is FAILED (the circuit breaker, §4.9), when it was
rolled back, or, without a circuit breaker, when ``FAILURE_LIMIT`` of its tasks have stopped. The
failure names the last stopped task's ``stoppedReason`` and the last lines its containers printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from rich.table import Table
from rich.text import Text

from ecslite.cli.client import Client, short_id

FAILURE_LIMIT = 3
OUTPUT_LINES = 12


@dataclass(frozen=True, slots=True)
class ContainerView:
    name: str
    last_status: str
    health: str | None  # None: the container has no health check
    exit_code: int | None


@dataclass(frozen=True, slots=True)
class TaskView:
    arn: str
    last_status: str
    health: str
    address: str | None
    containers: tuple[ContainerView, ...]

    @property
    def id(self) -> str:
        return short_id(self.arn)


@dataclass(frozen=True, slots=True)
class ServiceView:
    name: str
    rollout_state: str
    running: int
    desired: int
    tasks: tuple[TaskView, ...]
    ready: bool
    failure: str | None = None
    stopped: int = 0  # tasks of this deployment that stopped

    def addresses(self) -> list[str]:
        return [t.address for t in self.tasks if t.last_status == "RUNNING" and t.address]

    def line(self) -> str:
        """One line for a log (what the live table shows for this service)."""
        tasks = "; ".join(
            f"{t.id[:8]} {t.last_status}"
            + (
                " [" + ", ".join(f"{c.name} {c.health}" for c in t.containers if c.health is not None) + "]"
                if any(c.health is not None for c in t.containers)
                else ""
            )
            for t in self.tasks
        )
        state = "ready" if self.ready else ("FAILED" if self.failure else self.rollout_state)
        return f"{self.name}: {state}, {self.running}/{self.desired} running" + (f"; {tasks}" if tasks else "")


def observe(
    client: Client, cluster: str, name: str, deployment_id: str, checked: Sequence[str], breaker: bool
) -> ServiceView:
    """The service ``name`` as its deployment ``deployment_id`` stands now; ``checked`` are the
    containers that have a health check."""
    service = client.ecs("describe_services", cluster=cluster, services=[name])["services"][0]
    deployments = service.get("deployments") or []
    ours = next((d for d in deployments if d["id"] == deployment_id), None)
    live = _tasks(client, cluster, name, "RUNNING")
    mine = [t for t in live if t.get("startedBy") == deployment_id]
    views = tuple(_task_view(t, checked) for t in mine)
    stopped = [t for t in _tasks(client, cluster, name, "STOPPED") if t.get("startedBy") == deployment_id]
    desired = int(service.get("desiredCount", 0))
    rollout_state = str((ours or {}).get("rolloutState") or "IN_PROGRESS")
    running = int((ours or {}).get("runningCount", 0))
    failure = _failure(client, service, ours, stopped, breaker)
    others_live = any(d["id"] != deployment_id and int(d.get("runningCount", 0)) > 0 for d in deployments)
    completed = rollout_state == "COMPLETED" and running == desired
    checked_healthy = len(views) == desired and all(
        t.last_status == "RUNNING" and all(c.health in (None, "HEALTHY") for c in t.containers) for t in views
    )
    ready = (
        failure is None
        and ours is not None
        and ours.get("status") == "PRIMARY"
        and not others_live
        and (completed or checked_healthy)
    )
    return ServiceView(name, rollout_state, running, desired, views, ready, failure, len(stopped))


def _tasks(client: Client, cluster: str, name: str, desired: str) -> list[dict[str, Any]]:
    arns = client.pages("ecs", "list_tasks", "taskArns", cluster=cluster, serviceName=name, desiredStatus=desired)
    return client.describe_tasks(cluster, arns) if arns else []


def _task_view(task: Mapping[str, Any], checked: Sequence[str]) -> TaskView:
    details = {d["name"]: d.get("value") for a in task.get("attachments") or [] for d in a.get("details") or []}
    containers = tuple(
        ContainerView(
            c["name"],
            c.get("lastStatus", ""),
            c.get("healthStatus", "UNKNOWN") if c["name"] in checked else None,
            c.get("exitCode"),
        )
        for c in task.get("containers") or []
    )
    address = details.get("privateIPv4Address")
    if address is None:
        for container in task.get("containers") or []:
            for interface in container.get("networkInterfaces") or []:
                address = address or interface.get("privateIpv4Address")
    return TaskView(
        task["taskArn"], task.get("lastStatus", ""), task.get("healthStatus", "UNKNOWN"), address, containers
    )


def _failure(
    client: Client,
    service: Mapping[str, Any],
    ours: Mapping[str, Any] | None,
    stopped: Sequence[Mapping[str, Any]],
    breaker: bool,
) -> str | None:
    if ours is None:
        event = next((e["message"] for e in service.get("events") or [] if "rolling back" in e["message"]), None)
        return "the deployment was replaced" + (f": {event}" if event else " (rolled back or updated by someone else)")
    if ours.get("rolloutState") == "FAILED":
        reason = ours.get("rolloutStateReason") or "the deployment failed"
        return reason + last_stop(client, stopped)
    if not breaker and len(stopped) >= FAILURE_LIMIT:
        return f"{len(stopped)} tasks of the deployment stopped" + last_stop(client, stopped)
    return None


def last_stop(client: Client, stopped: Sequence[Mapping[str, Any]]) -> str:
    """The newest stopped task's reason and the last lines of its containers that failed."""
    if not stopped:
        return ""
    task = max(stopped, key=lambda t: str(t.get("stoppedAt") or t.get("createdAt") or ""))
    parts = [f"\nLast stopped task {short_id(task['taskArn'])}: {task.get('stoppedReason', '')}"]
    containers = task.get("containers") or []
    failed = [c for c in containers if c.get("exitCode") not in (None, 0) or c.get("reason")] or containers
    for container in failed:
        parts.append(
            f"  {container['name']}: exit code {container.get('exitCode')}"
            + (f", {container['reason']}" if container.get("reason") else "")
        )
        parts += [f"    | {line}" for line in output_tail(client, short_id(task["taskArn"]), container["name"])]
    return "\n".join(parts)


def output_tail(client: Client, task_id: str, container: str, lines: int = OUTPUT_LINES) -> list[str]:
    response = client.get(f"/_ecslite/tasks/{task_id}/containers/{container}/output", timeout=10)
    if response.status_code != 200:
        return []
    out = []
    for raw in response.content.splitlines()[-lines:]:
        try:
            out.append(str(orjson.loads(raw).get("message", "")))
        except orjson.JSONDecodeError:
            continue
    return out


def table(views: Sequence[ServiceView], waiting: Mapping[str, str]) -> Table:
    """The live progress: one row per service, its tasks and their containers' health."""
    grid = Table(expand=False, pad_edge=False)
    grid.add_column("service", style="bold")
    grid.add_column("deployment")
    grid.add_column("running")
    grid.add_column("tasks")
    for view in views:
        if view.ready:
            state = Text("ready", style="green")
        elif view.failure:
            state = Text("FAILED", style="red")
        else:
            state = Text(view.rollout_state.replace("_", " ").lower(), style="yellow")
        grid.add_row(view.name, state, f"{view.running}/{view.desired}", _tasks_text(view))
    for name, why in waiting.items():
        grid.add_row(name, Text("waiting", style="dim"), "", Text(why, style="dim"))
    return grid


def _tasks_text(view: ServiceView) -> Text:
    text = Text()
    for index, task in enumerate(view.tasks):
        if index:
            text.append("\n")
        colour = {"RUNNING": "green", "STOPPED": "red"}.get(task.last_status, "yellow")
        text.append(f"{task.id[:8]} ", style="dim")
        text.append(task.last_status, style=colour)
        for container in task.containers:
            if container.health is None:
                continue
            mark = {"HEALTHY": ("✓", "green"), "UNHEALTHY": ("✗", "red")}.get(container.health, ("…", "yellow"))
            text.append(f"  {container.name} ")
            text.append(mark[0], style=mark[1])
    if view.stopped:
        text.append(f"\n{view.stopped} stopped", style="red")
    return text
