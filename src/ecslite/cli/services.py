"""``ecslite services``: every service of every cluster (or one) with its counts, its rollout and
what it last said.

Read through ListClusters, ListServices and DescribeServices (ten at a time, the API's limit). The
rollout is the PRIMARY deployment's ``rolloutState`` (spec/ecs.md §4.3); ``deployments`` counts the
PRIMARY and the ACTIVE ones still owning tasks, so anything above 1 means a rolling update is under
way. The last event is the newest of the service's events, without its ``(service <name>)`` prefix.
"""

from __future__ import annotations

import time
from typing import Any

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
NARROW_DROPS = ("DEPLOYMENTS", "PENDING", "DEFINITION", "CLUSTER")


def strip_prefix(service: str, message: str) -> str:
    """An event's text after ``(service <name>)``, which every service event starts with (§4.10)."""
    prefix = f"(service {service}) "
    return message[len(prefix) :] if message.startswith(prefix) else message


def service_row(service: dict[str, Any], now: float) -> dict[str, Any]:
    """What ``services`` knows about one service (the ``--json`` object)."""
    deployments = service.get("deployments") or []
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    events = service.get("events") or []
    newest = events[0] if events else None  # the API lists events newest first
    last_event = None
    if newest is not None:
        at = epoch_of(newest["createdAt"])
        last_event = {
            "createdAt": render.iso(at),
            "ageSeconds": round(now - at),
            "message": strip_prefix(service["serviceName"], newest["message"]),
        }
    definition = service.get("taskDefinition") or (primary or {}).get("taskDefinition")
    return {
        "cluster": short_id(service["clusterArn"]),
        "serviceName": service["serviceName"],
        "serviceArn": service["serviceArn"],
        "status": service.get("status"),
        "desiredCount": service.get("desiredCount", 0),
        "runningCount": service.get("runningCount", 0),
        "pendingCount": service.get("pendingCount", 0),
        "launchType": service.get("launchType"),
        "schedulingStrategy": service.get("schedulingStrategy"),
        "taskDefinition": short_id(definition) if definition else None,
        "rolloutState": (primary or {}).get("rolloutState"),
        "rolloutStateReason": (primary or {}).get("rolloutStateReason"),
        "deploymentCount": len(deployments),
        "lastEvent": last_event,
    }


def collect(client: Client, cluster: str | None) -> list[dict[str, Any]]:
    now = time.time()
    rows = []
    for cluster_arn in client.cluster_arns(cluster):
        rows += [service_row(s, now) for s in client.services(cluster_arn)]
    return sorted(rows, key=lambda r: (r["cluster"], r["serviceName"]))


def render_table(rows: list[dict[str, Any]]) -> None:
    console = render.stdout_console()
    if not rows:
        console.print("No services.")
        return
    columns = ("!SERVICE", "!CLUSTER", ">DESIRED", ">RUNNING", ">PENDING", "!ROLLOUT", "!DEFINITION", ">DEPLOYMENTS")
    cells: list[list[Text | str]] = []
    for row in rows:
        running = Text(str(row["runningCount"]), style="" if row["runningCount"] >= row["desiredCount"] else "yellow")
        name = Text(row["serviceName"])
        if row["status"] != "ACTIVE":
            name.append(f" ({row['status']})", style=render.STATUS_STYLES.get(row["status"], "dim"))
        deployments = Text(str(row["deploymentCount"]), style="yellow" if row["deploymentCount"] > 1 else "")
        cells.append(
            [
                name,
                row["cluster"],
                str(row["desiredCount"]),
                running,
                str(row["pendingCount"]),
                render.styled(row["rolloutState"]),
                row["taskDefinition"] or "-",
                deployments,
                _event_text(row["lastEvent"]),
            ]
        )
    table = render.fitted_table(console, [*columns, "LAST EVENT"], cells, optional=NARROW_DROPS)
    render.print_table(console, table)


def _event_text(event: dict[str, Any] | None) -> Text:
    if event is None:
        return Text("-", style="dim")
    text = Text(f"{render.ago(event['ageSeconds'])} ago ", style="dim")
    text.append(render.first_line(event["message"]))
    return text


def services_command(
    cluster: ClusterOpt = None,
    json_output: JsonOpt = False,
    endpoint: EndpointOpt = DEFAULT,
    region: RegionOpt = None,
) -> None:
    """List services: counts, rollout state, task definition, deployments and the last event."""
    with reporting(), Client(endpoint, region) as client:
        rows = collect(client, cluster)
        if json_output:
            render.print_json(rows)
        else:
            render_table(rows)


def register(app: typer.Typer) -> None:
    app.command("services")(services_command)
