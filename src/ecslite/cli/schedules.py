"""``ecslite schedules``: the EventBridge schedules and rules whose ECS targets start tasks, with
their expression, state, next run and how their last invocation went (the error text when it
failed); ``--history NAME`` shows one schedule's or rule's recent invocations.

Read from the server's ``/_ecslite/schedules`` (ui.schedule_views), which AWS has no equivalent of:
its console shows a failed invocation only as a count in CloudWatch.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.text import Text

from ecslite.cli import render
from ecslite.cli.client import DEFAULT, Client, CliError, ClusterOpt, EndpointOpt, JsonOpt, RegionOpt, reporting

NARROW_DROPS = ("DEFINITION", "CLUSTER", "STATE", "KIND")
OUTCOME_STYLES = {"STARTED": "green", "RETRYING": "yellow", "FAILED": "red"}
HistoryOpt = Annotated[
    str | None, typer.Option("--history", help="Show the recent invocations of this schedule or rule (name or ARN).")
]


def _when(epoch: float | None, now: float) -> str:
    if epoch is None:
        return "-"
    delta = epoch - now
    return f"in {render.ago(delta)}" if delta >= 0 else f"{render.ago(-delta)} ago"


def _last_text(last: dict[str, Any] | None, now: float) -> Text:
    if last is None:
        return Text("never ran", style="dim")
    text = Text(last["outcome"], style=OUTCOME_STYLES.get(last["outcome"], ""))
    text.append(f" {render.ago(now - last['time'])} ago", style="dim")
    if last.get("error"):
        text.append(f": {render.first_line(last['error'])}")
    elif last.get("taskArns"):
        text.append(f" ({len(last['taskArns'])} task{'s' if len(last['taskArns']) != 1 else ''})", style="dim")
    return text


def render_table(rows: list[dict[str, Any]], now: float) -> None:
    console = render.stdout_console()
    if not rows:
        console.print("No schedules or rules with ECS targets.")
        return
    columns = ("!NAME", "!KIND", "!CLUSTER", "!EXPRESSION", "!STATE", "!NEXT RUN", "!DEFINITION")
    cells = []
    for row in rows:
        name = row["name"] if row["kind"] == "schedule" else f"{row['name']}/{row['targetId']}"
        state = render.styled(row["state"], {"ENABLED": "green", "DISABLED": "dim"})
        definition = str(row.get("taskDefinition") or "-").rsplit("/", 1)[-1]
        expression = render.first_line(str(row.get("expression") or "-"), 60)
        cells.append(
            [
                name,
                row["kind"],
                row["clusterName"],
                expression,
                state,
                _when(row.get("nextRun"), now),
                definition,
                _last_text(row.get("last"), now),
            ]
        )
    table = render.fitted_table(console, [*columns, "LAST INVOCATION"], cells, optional=NARROW_DROPS)
    render.print_table(console, table)


def render_history(entry: dict[str, Any], now: float) -> None:
    console = render.stdout_console()
    invocations = entry.get("history") or []
    console.print(f"{entry['kind']} {entry['name']} → {entry['clusterName']} ({entry['startedBy']})")
    if not invocations:
        console.print("No invocations yet.")
        return
    cells = []
    for item in invocations:
        outcome = Text(item["outcome"], style=OUTCOME_STYLES.get(item["outcome"], ""))
        detail = item.get("error") or " ".join(arn.rsplit("/", 1)[-1] for arn in item.get("taskArns") or [])
        cells.append([render.clock_time(item["time"]), str(item["attempt"]), outcome, detail])
    table = render.fitted_table(console, ["!TIME", ">ATTEMPT", "!OUTCOME", "TASKS / ERROR"], cells)
    render.print_table(console, table)


def schedules_command(
    cluster: ClusterOpt = None,
    history: HistoryOpt = None,
    json_output: JsonOpt = False,
    endpoint: EndpointOpt = DEFAULT,
    region: RegionOpt = None,
) -> None:
    """List schedules and rules with ECS targets: expression, state, next run and the last invocation."""
    with reporting(), Client(endpoint, region) as client:
        params: dict[str, Any] = {"history": "1"} if history else {}
        if cluster:
            params["cluster"] = cluster
        answer = client.get_json("/_ecslite/schedules", params)
        rows: list[dict[str, Any]] = answer["scheduledTasks"]
        now = float(answer.get("now") or time.time())
        if history:
            rows = [r for r in rows if history in (r["name"], r["arn"])]
            if not rows:
                raise CliError(f"No schedule or rule with an ECS target is named {history}.")
        if json_output:
            render.print_json(rows)
        elif history:
            for row in rows:
                render_history(row, now)
        else:
            render_table(rows, now)


def register(app: typer.Typer) -> None:
    app.command("schedules")(schedules_command)
