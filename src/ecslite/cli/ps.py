"""``ecslite ps``: the tasks of every cluster (or one), as ``docker ps`` shows containers.

Read through ListClusters, ListTasks (desired RUNNING and STOPPED, so a task still stopping shows)
and DescribeTasks. Without ``-a`` a task is listed until its ``lastStatus`` is STOPPED; with ``-a``
stopped tasks follow, with their ``stopCode`` and ``stoppedReason`` (ECS keeps them at least an
hour, spec/ecs.md §3.1). Rows are sorted by cluster, service or group, then creation time.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.text import Text

from ecslite.cli import render
from ecslite.cli.client import (
    DEFAULT,
    Client,
    ClusterOpt,
    EndpointOpt,
    JsonOpt,
    RegionOpt,
    epoch_of,
    reporting,
    short_id,
)

# Columns left out, in this order, when a terminal is too narrow for every one (render.fitted_table).
NARROW_DROPS = ("DEFINITION", "CLUSTER", "AGE", "IP")


def task_row(task: dict[str, Any], now: float) -> dict[str, Any]:
    """What ``ps`` knows about one task (the ``--json`` object; the table shows a summary of it)."""
    group = str(task.get("group") or "")
    created = epoch_of(task["createdAt"]) if task.get("createdAt") is not None else None
    started = epoch_of(task["startedAt"]) if task.get("startedAt") is not None else None
    stopped = epoch_of(task["stoppedAt"]) if task.get("stoppedAt") is not None else None
    return {
        "cluster": short_id(task["clusterArn"]),
        "taskId": short_id(task["taskArn"]),
        "taskArn": task["taskArn"],
        "service": group.removeprefix("service:") if group.startswith("service:") else None,
        "group": group or None,
        "taskDefinition": short_id(task["taskDefinitionArn"]),
        "lastStatus": task.get("lastStatus"),
        "desiredStatus": task.get("desiredStatus"),
        "healthStatus": task.get("healthStatus"),
        "launchType": task.get("launchType"),
        "capacityProviderName": task.get("capacityProviderName"),
        "ip": task_ip(task),
        "createdAt": render.iso(created),
        "startedAt": render.iso(started),
        "stoppedAt": render.iso(stopped),
        "ageSeconds": round(now - created) if created is not None else None,
        "stopCode": task.get("stopCode"),
        "stoppedReason": task.get("stoppedReason"),
        "containers": [
            {
                "name": c.get("name"),
                "lastStatus": c.get("lastStatus"),
                "healthStatus": c.get("healthStatus"),
                "exitCode": c.get("exitCode"),
                "reason": c.get("reason"),
            }
            for c in task.get("containers") or ()
        ],
    }


def task_ip(task: dict[str, Any]) -> str | None:
    """The task's address: its ENI's (awsvpc), else the first container interface's, else the host
    ports it published (bridge/host mode) as ``hostIp:hostPort``."""
    for attachment in task.get("attachments") or ():
        for detail in attachment.get("details") or ():
            if detail.get("name") == "privateIPv4Address" and detail.get("value"):
                return str(detail["value"])
    bindings = []
    for container in task.get("containers") or ():
        for interface in container.get("networkInterfaces") or ():
            if interface.get("privateIpv4Address"):
                return str(interface["privateIpv4Address"])
        for binding in container.get("networkBindings") or ():
            if binding.get("hostPort"):
                bindings.append(f"{binding.get('bindIP') or '0.0.0.0'}:{binding['hostPort']}")
    return ", ".join(bindings) if bindings else None


def containers_summary(containers: list[dict[str, Any]]) -> Text:
    """``3/4 running, 2 healthy, 1 unhealthy, worker exited 1``."""
    running = sum(1 for c in containers if c["lastStatus"] == "RUNNING")
    healthy = sum(1 for c in containers if c["healthStatus"] == "HEALTHY")
    unhealthy = sum(1 for c in containers if c["healthStatus"] == "UNHEALTHY")
    parts: list[Text | str] = [Text(f"{running}/{len(containers)} running")]
    if healthy:
        parts.append(Text(f"{healthy} healthy", style="green"))
    if unhealthy:
        parts.append(Text(f"{unhealthy} unhealthy", style="red"))
    for container in containers:
        if container["exitCode"] is not None:
            style = "dim" if container["exitCode"] == 0 else "red"
            parts.append(Text(f"{container['name']} exited {container['exitCode']}", style=style))
        elif container["reason"]:
            parts.append(Text(f"{container['name']}: {render.first_line(container['reason'], 80)}", style="red"))
    return render.joined(parts)


def sort_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["cluster"], row["group"] or "", row["createdAt"] or "", row["taskId"])


def collect(client: Client, cluster: str | None, *, stopped: bool, service: str | None) -> list[dict[str, Any]]:
    now = time.time()
    rows = []
    for cluster_arn in client.cluster_arns(cluster):
        rows += [task_row(t, now) for t in client.tasks(cluster_arn, stopped=stopped, service=service)]
    live = sorted((r for r in rows if r["lastStatus"] != "STOPPED"), key=sort_key)
    done = sorted((r for r in rows if r["lastStatus"] == "STOPPED"), key=sort_key)
    return live + done


def render_table(rows: list[dict[str, Any]], *, stopped: bool) -> None:
    console = render.stdout_console()
    if not rows:
        console.print("No tasks." if stopped else "No running tasks (ecslite ps -a shows stopped ones too).")
        return
    columns = ["!TASK", "!CLUSTER", "!SERVICE/GROUP", "!DEFINITION", "!STATUS", "!HEALTH", ">AGE", "!IP", "CONTAINERS"]
    if stopped:
        columns.append("STOPPED")
    cells: list[list[Text | str]] = []
    for row in rows:
        status = render.styled(row["lastStatus"])
        if row["desiredStatus"] != row["lastStatus"] and row["desiredStatus"] == "STOPPED":
            status.append(" → STOPPED", style="dim")
        line: list[Text | str] = [
            row["taskId"],
            row["cluster"],
            row["service"] or row["group"] or "-",
            row["taskDefinition"],
            status,
            render.health(row["healthStatus"]),
            render.ago(row["ageSeconds"] or 0),
            row["ip"] or "-",
            containers_summary(row["containers"]),
        ]
        if stopped:
            line.append(_stop_text(row))
        cells.append(line)
    table = render.fitted_table(console, columns, cells, optional=NARROW_DROPS)
    render.print_table(console, table)


def _stop_text(row: dict[str, Any]) -> Text:
    if not row["stopCode"] and not row["stoppedReason"]:
        return Text("")
    text = Text(row["stopCode"] or "", style="bold")
    if row["stoppedReason"]:
        text.append((": " if row["stopCode"] else "") + row["stoppedReason"])
    return text


def ps_command(
    all_tasks: Annotated[bool, typer.Option("--all", "-a", help="Include stopped tasks.")] = False,
    service: Annotated[str | None, typer.Option("--service", "-s", help="Only this service's tasks.")] = None,
    cluster: ClusterOpt = None,
    json_output: JsonOpt = False,
    endpoint: EndpointOpt = DEFAULT,
    region: RegionOpt = None,
) -> None:
    """List tasks: cluster, service, definition, status, health, age, address and containers."""
    with reporting(), Client(endpoint, region) as client:
        rows = collect(client, cluster, stopped=all_tasks, service=service)
        if json_output:
            render.print_json(rows)
        else:
            render_table(rows, stopped=all_tasks)


def register(app: typer.Typer) -> None:
    app.command("ps")(ps_command)
