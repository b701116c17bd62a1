"""``ecslite instances`` (add, list, remove virtual container instances) and ``ecslite spot interrupt``.

They talk to the server over HTTP only: the ECS API itself for what it has (ListContainerInstances,
DescribeContainerInstances, DeregisterContainerInstance), ecslite's own routes for what it has not
(``/_ecslite/container-instances``, ``/_ecslite/spot/interrupt``).
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from ecslite.config import DEFAULT_ENDPOINT

instances_app = typer.Typer(
    name="instances", help="Virtual container instances (EC2 launch type).", no_args_is_help=True
)
spot_app = typer.Typer(name="spot", help="Fargate Spot capacity.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

EndpointOpt = Annotated[str, typer.Option("--endpoint", envvar="ECSLITE_ENDPOINT", help="URL of the ecslite server.")]
ClusterOpt = Annotated[str, typer.Option("--cluster", help="Cluster name or ARN.")]
TARGET = "AmazonEC2ContainerServiceV20141113."


class CommandFailed(Exception):
    pass


def _post(endpoint: str, path: str, body: dict[str, Any], target: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target:
        headers["X-Amz-Target"] = TARGET + target
    try:
        response = httpx.post(f"{endpoint.rstrip('/')}{path}", content=orjson.dumps(body), headers=headers, timeout=30)
    except httpx.HTTPError as error:
        raise CommandFailed(
            f"ecslite is not reachable at {endpoint} ({error}). Start it with: ecslite server -d"
        ) from None
    data: dict[str, Any] = orjson.loads(response.content or b"{}")
    if response.status_code >= 400:
        code = str(data.get("__type", "Error")).rsplit("#", 1)[-1]
        raise CommandFailed(f"{code}: {data.get('message') or data.get('Message') or response.text}")
    return data


def _ecs(endpoint: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    return _post(endpoint, "/", body, operation)


def _fail(error: CommandFailed) -> typer.Exit:
    err.print(f"[red]{error}[/]")
    return typer.Exit(1)


def _resource(instance: dict[str, Any], kind: str, name: str) -> int:
    for item in instance.get(kind) or ():
        if item["name"] == name:
            return int(item.get("integerValue") or 0)
    return 0


def _attribute(instance: dict[str, Any], name: str) -> str:
    for item in instance.get("attributes") or ():
        if item["name"] == name:
            return str(item.get("value") or "")
    return ""


def _table(instances: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("instance", "ec2 id", "type", "zone", "status", "cpu free/total", "memory free/total", "tasks"):
        table.add_column(column)
    for instance in instances:
        table.add_row(
            instance["containerInstanceArn"].rsplit("/", 1)[-1],
            instance.get("ec2InstanceId", ""),
            _attribute(instance, "ecs.instance-type"),
            _attribute(instance, "ecs.availability-zone"),
            instance["status"] + ("" if instance.get("agentConnected", True) else " (agent disconnected)"),
            f"{_resource(instance, 'remainingResources', 'CPU')}/{_resource(instance, 'registeredResources', 'CPU')}",
            f"{_resource(instance, 'remainingResources', 'MEMORY')}/"
            f"{_resource(instance, 'registeredResources', 'MEMORY')}",
            f"{instance.get('runningTasksCount', 0)} running, {instance.get('pendingTasksCount', 0)} pending"
            + (f" [{instance['capacityProviderName']}]" if instance.get("capacityProviderName") else ""),
        )
    return table


@instances_app.command("add")
def add(
    cluster: ClusterOpt = "default",
    instance_type: Annotated[str, typer.Option("--type", help="EC2 instance type, e.g. m5.large.")] = "m5.large",
    zone: Annotated[
        str | None, typer.Option("--az", help="Availability zone (default: round-robin over the VPC's zones).")
    ] = None,
    count: Annotated[int, typer.Option("--count", min=1, max=100, help="How many instances.")] = 1,
    capacity_provider: Annotated[
        str | None, typer.Option("--capacity-provider", help="Auto Scaling group provider the instances belong to.")
    ] = None,
    attribute: Annotated[
        list[str] | None, typer.Option("--attribute", help="Custom attribute NAME=VALUE (repeatable).")
    ] = None,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
) -> None:
    """Add virtual container instances to a cluster."""
    attributes = {}
    for item in attribute or ():
        name, sep, value = item.partition("=")
        if not sep or not name:
            err.print(f"[red]--attribute takes NAME=VALUE, not {item!r}[/]")
            raise typer.Exit(2)
        attributes[name] = value
    body: dict[str, Any] = {"cluster": cluster, "instanceType": instance_type, "count": count}
    if zone:
        body["availabilityZone"] = zone
    if capacity_provider:
        body["capacityProvider"] = capacity_provider
    if attributes:
        body["attributes"] = attributes
    try:
        added = _post(endpoint, "/_ecslite/container-instances", body)["containerInstances"]
    except CommandFailed as error:
        raise _fail(error) from None
    console.print(_table(added))


@instances_app.command("list")
def list_instances(
    cluster: ClusterOpt = "default",
    filter_expression: Annotated[
        str | None, typer.Option("--filter", help="Cluster query language expression.")
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help="ACTIVE, DRAINING, ...")] = None,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
) -> None:
    """List a cluster's container instances with what is left of them."""
    body: dict[str, Any] = {"cluster": cluster}
    if filter_expression:
        body["filter"] = filter_expression
    if status:
        body["status"] = status
    try:
        arns: list[str] = []
        while True:
            page = _ecs(endpoint, "ListContainerInstances", body)
            arns += page["containerInstanceArns"]
            if not page.get("nextToken"):
                break
            body["nextToken"] = page["nextToken"]
        described: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):
            chunk = arns[start : start + 100]
            result = _ecs(endpoint, "DescribeContainerInstances", {"cluster": cluster, "containerInstances": chunk})
            described += result["containerInstances"]
    except CommandFailed as error:
        raise _fail(error) from None
    console.print(_table(described))


@instances_app.command("remove")
def remove(
    instances: Annotated[list[str], typer.Argument(help="Container instance ids or ARNs.")],
    cluster: ClusterOpt = "default",
    force: Annotated[bool, typer.Option("--force", help="Also stop the tasks running on them.")] = False,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
) -> None:
    """Deregister container instances (DeregisterContainerInstance)."""
    try:
        for instance in instances:
            body = {"cluster": cluster, "containerInstance": instance, "force": force}
            done = _ecs(endpoint, "DeregisterContainerInstance", body)["containerInstance"]
            console.print(f"{done['containerInstanceArn'].rsplit('/', 1)[-1]} {done['status']}")
    except CommandFailed as error:
        raise _fail(error) from None


@spot_app.command("interrupt")
def interrupt(
    cluster: ClusterOpt = "default",
    service: Annotated[str | None, typer.Option("--service", help="Only this service's tasks.")] = None,
    task: Annotated[str | None, typer.Option("--task", help="Only this task (id or ARN).")] = None,
    warning: Annotated[
        float, typer.Option("--warning", min=0, max=3600, help="Seconds of warning before the stop (ECS: 120).")
    ] = 120.0,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
) -> None:
    """Interrupt FARGATE_SPOT tasks: a warning, then SIGTERM and stopCode SpotInterruption."""
    body: dict[str, Any] = {"cluster": cluster, "warningSeconds": warning}
    if service:
        body["service"] = service
    if task:
        body["task"] = task
    try:
        result = _post(endpoint, "/_ecslite/spot/interrupt", body)["interruptions"]
    except CommandFailed as error:
        raise _fail(error) from None
    if not result:
        console.print("No FARGATE_SPOT task to interrupt.")
        return
    for item in result:
        console.print(
            f"{item['taskArn'].rsplit('/', 1)[-1]} interrupted in {item['interruptAt'] - item['warnedAt']:.0f} s"
        )
