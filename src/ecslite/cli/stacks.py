"""``ecslite stacks``: CloudFormation stacks with their status, last change and what went wrong;
``ecslite stacks NAME`` one stack's resources and events (newest first, failures in red) and, for a
resource that failed, what ecslite knows beyond CloudFormation's reason: for an ECS service, its
rollout's reason, its last failed tasks with their stopped reason, each failing container's exit
code, its last lines of output (kept by the runtime: a rolled-back create deletes the stack's log
group) and the command that prints its logs. ``--watch`` (``-f``) prints the stack's events as they
come, oldest first, until the stack reaches a final status (as ``aws cloudformation deploy``
waits), then the outcome; it exits 1 when the stack ended failed or rolled back, so scripts can
wait on it.

Read from the server's ``/_ecslite/stacks`` (ui.stack_views) rather than CloudFormation's API: the
failure detail joins the stack with the ECS service's events and stopped tasks (a failed create
leaves the stack no physical id to find the service by), which no CloudFormation call gives, and one
request per poll serves ``--watch``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from ecslite.cli import render
from ecslite.cli.client import DEFAULT, Client, CliError, EndpointOpt, JsonOpt, RegionOpt, reporting

POLL_SECONDS = 1.0
NARROW_DROPS = ("TYPE", "PHYSICAL ID", "LAST UPDATE")
WatchOpt = Annotated[
    bool,
    typer.Option("--watch", "-f", help="Print the stack's events as they come until it reaches a final status."),
]
DeletedOpt = Annotated[bool, typer.Option("--deleted", help="Also list deleted stacks.")]


def _ago(epoch: float | None, now: float) -> str:
    return "-" if epoch is None else f"{render.ago(now - epoch)} ago"


def render_list(rows: list[dict[str, Any]], now: float) -> None:
    console = render.stdout_console()
    if not rows:
        console.print("No stacks.")
        return
    cells = []
    for row in rows:
        reason = row.get("reason") or (row.get("failureReason") if row.get("failed") else None) or ""
        cells.append(
            [
                row["stackName"],
                render.stack_status(row["status"]),
                _ago(row.get("lastEventAt") or row.get("updatedAt"), now),
                Text(render.first_line(reason), style="red" if row.get("failed") else ""),
            ]
        )
    table = render.fitted_table(
        console, ["!NAME", "!STATUS", "!LAST UPDATE", "REASON"], cells, optional=("LAST UPDATE",)
    )
    render.print_table(console, table)


# -- one stack ---------------------------------------------------------------------------------------


def event_line(event: dict[str, Any]) -> Text:
    """One event as a line: time, logical id, type, status and its reason (red for a failure)."""
    text = Text()  # a style given to Text() would be the whole line's, under each part's own
    text.append(render.clock_time(float(event["timestamp"])), style="dim")
    text.append(f"  {event['logicalId']}", style="bold")
    text.append(f"  {event['type']}  ", style="dim")
    text.append(render.stack_status(event["status"]))
    if event.get("reason"):
        text.append(f"  {event['reason']}", style="red" if event.get("failed") else "")
    return text


def failure_lines(failure: dict[str, Any], now: float) -> list[Text]:
    """A failed resource's reason, then what ECS says about it."""
    head = Text()
    head.append(f"{failure['logicalId']} ", style="bold")
    head.append(f"({failure['type']}) ", style="dim")
    head.append(render.stack_status(failure["status"]))
    head.append(f": {failure.get('reason') or ''}", style="red")
    lines = [head]
    service = failure.get("service")
    if not service:
        return lines
    line = Text(f"  service {service['cluster']}/{service['serviceName']}")
    if service.get("status") != "ACTIVE":
        line.append(f" ({service['status']})", style="dim")
    if service.get("rolloutReason"):
        line.append(f": {service['rolloutReason']}", style="red")
    lines.append(line)
    for task in service.get("stoppedTasks") or []:
        line = Text(f"  task {task['taskId']}")
        line.append(f" stopped {_ago(task.get('stoppedAt'), now)}: ", style="dim")
        line.append(f"{task.get('stopCode') or ''}: {task.get('stoppedReason') or ''}", style="red")
        lines.append(line)
        for container in task.get("containers") or []:
            line = Text(f"    {container['name']}")
            if container.get("exitCode") is not None:
                line.append(f" exit {container['exitCode']}", style="red")
            if container.get("reason"):
                line.append(f" {container['reason']}", style="red")
            logs = container.get("logs") or {}
            if logs.get("groupDeleted"):
                line.append(f"  log group {logs['group']} was deleted with the stack; its last output:", style="dim")
            else:
                line.append(f"  logs: ecslite logs {task['taskId']} --cluster {task['cluster']} -c {container['name']}")
            lines.append(line)
            for record in container.get("lastOutput") or []:
                out = Text("      | ", style="dim")
                out.append(str(record["message"]), style="red" if record.get("source") == "stderr" else "")
                lines.append(out)
    events = service.get("events") or []
    if events:
        lines.append(Text("  service events:", style="dim"))
        for event in events:
            line = Text()
            line.append(f"    {render.clock_time(float(event['createdAt']))}  ", style="dim")
            line.append(str(event["message"]).removeprefix(f"(service {service['serviceName']}) "))
            lines.append(line)
    return lines


def render_header(console: Console, detail: dict[str, Any], *, reason: bool = True) -> None:
    stack = detail["stack"]
    line = Text()
    line.append(f"stack {stack['stackName']}  ", style="bold")
    line.append(render.stack_status(stack["status"]))
    line.append(f"  {stack['region']} · {stack['account']}", style="dim")
    console.print(line)
    if reason and stack.get("reason"):
        console.print(Text(stack["reason"], style="red" if stack.get("failed") else ""))


def render_outcome(console: Console, detail: dict[str, Any], now: float) -> None:
    """The failures (with what ECS knows) and the outputs."""
    failures = detail.get("failures") or []
    if failures:
        console.print(Text("Failed:", style="bold red"))
        for failure in failures:
            for line in failure_lines(failure, now):
                console.print(line)
    outputs = detail.get("outputs") or []
    if outputs:
        console.print(Text("Outputs:", style="bold"))
        for output in outputs:
            console.print(Text(f"  {output['OutputKey']} = {output.get('OutputValue', '')}"))


def render_resources(console: Console, detail: dict[str, Any]) -> None:
    resources = detail.get("resources") or []
    if not resources:
        console.print("No resources.")
        return
    cells = [
        [
            r["logicalId"],
            r["type"],
            r["physicalId"] or "-",
            render.stack_status(r["status"]),
            Text(render.first_line(r.get("reason") or ""), style="red" if "FAILED" in str(r["status"]) else ""),
        ]
        for r in resources
    ]
    columns = ["!LOGICAL ID", "!TYPE", "!PHYSICAL ID", "!STATUS", "REASON"]
    render.print_table(console, render.fitted_table(console, columns, cells, optional=NARROW_DROPS))


def render_detail(detail: dict[str, Any], now: float) -> None:
    console = render.stdout_console()
    render_header(console, detail)
    render_outcome(console, detail, now)
    console.print()
    render_resources(console, detail)
    console.print()
    console.print(Text("Events (newest first):", style="bold"))
    for event in detail["events"]:
        console.print(event_line(event), soft_wrap=True)


def watch(client: Client, detail: dict[str, Any], json_output: bool) -> dict[str, Any]:
    """Print events oldest first as they come until the stack's status is final; the last detail."""
    console = Console(highlight=False, soft_wrap=True)
    stack_id = detail["stack"]["stackId"]
    if not json_output:
        render_header(console, detail, reason=False)  # the events that follow carry it
    seen: set[str] = set()
    while True:
        for event in reversed(detail["events"]):
            if event["eventId"] in seen:
                continue
            seen.add(event["eventId"])
            if json_output:
                render.print_json_line(event)
            else:
                console.print(event_line(event))
        if detail["stack"]["final"]:
            return detail
        time.sleep(POLL_SECONDS)
        detail = client.get_json("/_ecslite/stacks/detail", {"stack": stack_id})


def stacks_command(
    name: Annotated[str | None, typer.Argument(help="A stack's name or id: its resources and events.")] = None,
    follow: WatchOpt = False,
    deleted: DeletedOpt = False,
    json_output: JsonOpt = False,
    endpoint: EndpointOpt = DEFAULT,
    region: RegionOpt = None,
) -> None:
    """List CloudFormation stacks, or show one with its resources, events and why it failed."""
    with reporting(), Client(endpoint, region) as client:
        if name is None:
            if follow:
                raise CliError("--watch follows one stack: give its name.", exit_code=2)
            answer = client.get_json("/_ecslite/stacks", {"region": client.region, "deleted": "1" if deleted else ""})
            if json_output:
                render.print_json(answer["stacks"])
            else:
                render_list(answer["stacks"], float(answer["now"]))
            return
        params = {"stack": name} if name.startswith("arn:") else {"stack": name, "region": client.region}
        detail = client.get_json("/_ecslite/stacks/detail", params)
        if follow:
            detail = watch(client, detail, json_output)
            if json_output:
                render.print_json_line(detail)
            else:
                console = Console(highlight=False, soft_wrap=True)
                line = Text(f"stack {detail['stack']['stackName']} ended ")
                line.append(render.stack_status(detail["stack"]["status"]))
                console.print(line)
                render_outcome(console, detail, float(detail["now"]))
            if detail["stack"]["failed"]:
                raise typer.Exit(1)
            return
        if json_output:
            render.print_json(detail)
        else:
            render_detail(detail, float(detail["now"]))


def register(app: typer.Typer) -> None:
    app.command("stacks")(stacks_command)
