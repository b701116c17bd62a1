"""``ecslite top``: CPU, memory, network and processes of every running task and its containers,
refreshed in place (``--once`` prints one table, ``--json`` one snapshot).

The figures are the runtime's cgroup readings as the server stores them (spec/telemetry.md §9.1,
``telemetry.runtime_metrics``), read with one PromQL instant query through ecslite's Prometheus API:
``ecs_task_*`` and ``ecs_container_*`` series, the newest sample of each. They are joined by task id
to the tasks DescribeTasks shows as not stopped in the region and cluster asked for, so a task that
has stopped disappears at once even though its last samples are still in the store; a task too new
to have a sample (CPU needs two readings) shows ``-``.

On a terminal the table is redrawn in place (rich Live); written to a pipe or a file, each refresh
follows the last under its time, as ``top -b`` does.

CPU is shown as a share of one vCPU (1024 units = 100 %, as ``docker stats`` shows a core) and as a
share of what the task reserves; memory in MiB against the reservation.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from ecslite.cli import render
from ecslite.cli.client import (
    DEFAULT,
    Client,
    ClusterOpt,
    EndpointOpt,
    RegionOpt,
    parse_duration,
    reporting,
    short_id,
)

CPU_UNITS_PER_VCPU = 1024
TASK_METRICS = {
    "ecs_task_cpu_utilized": "cpuUnits",
    "ecs_task_cpu_reserved": "cpuReservedUnits",
    "ecs_task_cpu_utilization_percent": "cpuUtilizationPercent",
    "ecs_task_memory_utilized_mebibytes": "memoryMiB",
    "ecs_task_memory_reserved_mebibytes": "memoryReservedMiB",
    "ecs_task_memory_utilization_percent": "memoryUtilizationPercent",
    "ecs_task_network_rx_bytes_per_second": "networkRxBytesPerSecond",
    "ecs_task_network_tx_bytes_per_second": "networkTxBytesPerSecond",
}
CONTAINER_METRICS = {
    "ecs_container_cpu_utilized": "cpuUnits",
    "ecs_container_memory_utilized_mebibytes": "memoryMiB",
    "ecs_container_pids": "pids",
}
QUERY = '{__name__=~"%s",job="ecslite"}' % "|".join([*TASK_METRICS, *CONTAINER_METRICS])  # noqa: UP031
# An instant query's values carry the evaluation time, not the sample's: timestamp() gives that, of
# one series every sample of a task has (all of a reading share one time, runtime_metrics).
SAMPLED_QUERY = 'max by (task_id) (timestamp(ecs_task_memory_reserved_mebibytes{job="ecslite"}))'


# Columns left out, in this order, when a terminal is too narrow for every one (render.fitted_table).
NARROW_DROPS = ("PIDS", "NET TX", "NET RX", "CLUSTER", "CPU/RES")


def samples_by_task(result: list[dict[str, Any]], sampled: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The query's series arranged per task id: task figures, per-container figures, and the time
    of the task's newest sample (from the ``timestamp()`` query's answer, ``sampled``)."""
    tasks: dict[str, dict[str, Any]] = {}
    for series in result:
        labels: Mapping[str, str] = series.get("metric") or {}
        task_id = labels.get("task_id")
        name = labels.get("__name__", "")
        if not task_id or not series.get("value"):
            continue
        value = float(series["value"][1])
        entry = tasks.setdefault(task_id, {"task": {}, "containers": {}, "sampledAt": None})
        if name in TASK_METRICS:
            entry["task"][TASK_METRICS[name]] = value
        elif name in CONTAINER_METRICS and labels.get("container"):
            entry["containers"].setdefault(labels["container"], {})[CONTAINER_METRICS[name]] = value
    for series in sampled:
        task_id = (series.get("metric") or {}).get("task_id")
        if task_id in tasks and series.get("value"):
            tasks[task_id]["sampledAt"] = float(series["value"][1])
    return tasks


def usage_row(task: dict[str, Any], samples: dict[str, Any] | None) -> dict[str, Any]:
    """The ``top --json`` object of one task."""
    figures = (samples or {}).get("task", {})
    per_container = (samples or {}).get("containers", {})
    group = str(task.get("group") or "")
    containers = []
    for container in task.get("containers") or ():
        found = per_container.get(container.get("name"), {})
        cpu = found.get("cpuUnits")
        containers.append(
            {
                "name": container.get("name"),
                "lastStatus": container.get("lastStatus"),
                "cpuUnits": cpu,
                "cpuPercentOfVcpu": _share(cpu, CPU_UNITS_PER_VCPU),
                "memoryMiB": found.get("memoryMiB"),
                "memoryLimitMiB": _number(container.get("memory")),
                "pids": int(found["pids"]) if "pids" in found else None,
            }
        )
    cpu = figures.get("cpuUnits")
    pids = [c["pids"] for c in containers if c["pids"] is not None]
    sampled = (samples or {}).get("sampledAt")
    return {
        "cluster": short_id(task["clusterArn"]),
        "taskId": short_id(task["taskArn"]),
        "service": group.removeprefix("service:") if group.startswith("service:") else None,
        "group": group or None,
        "taskDefinition": short_id(task["taskDefinitionArn"]),
        "lastStatus": task.get("lastStatus"),
        "cpuUnits": cpu,
        "cpuReservedUnits": figures.get("cpuReservedUnits"),
        "cpuPercentOfVcpu": _share(cpu, CPU_UNITS_PER_VCPU),
        "cpuUtilizationPercent": figures.get("cpuUtilizationPercent"),
        "memoryMiB": figures.get("memoryMiB"),
        "memoryReservedMiB": figures.get("memoryReservedMiB"),
        "memoryUtilizationPercent": figures.get("memoryUtilizationPercent"),
        "networkRxBytesPerSecond": figures.get("networkRxBytesPerSecond"),
        "networkTxBytesPerSecond": figures.get("networkTxBytesPerSecond"),
        "pids": sum(pids) if pids else None,
        "sampledAt": render.iso(sampled) if sampled else None,
        "containers": containers,
    }


def _share(value: float | None, whole: float) -> float | None:
    return None if value is None else round(100.0 * value / whole, 2)


def _number(text: Any) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except (TypeError, ValueError):
        return None


def sort_key(row: dict[str, Any]) -> tuple[float, float, str]:
    return (-(row["cpuUnits"] or 0.0), -(row["memoryMiB"] or 0.0), row["taskId"])


def snapshot(client: Client, cluster: str | None) -> list[dict[str, Any]]:
    tasks = [t for arn in client.cluster_arns(cluster) for t in client.tasks(arn, stopped=False)]
    at = f"{time.time():.3f}"
    answer = client.get_json("/prometheus/api/v1/query", {"query": QUERY, "time": at})
    sampled = client.get_json("/prometheus/api/v1/query", {"query": SAMPLED_QUERY, "time": at})
    samples = samples_by_task(answer.get("data", {}).get("result") or [], sampled.get("data", {}).get("result") or [])
    rows = [usage_row(task, samples.get(short_id(task["taskArn"]))) for task in tasks]
    return sorted(rows, key=sort_key)


def _mib(value: float | None) -> str:
    return "-" if value is None else render.human_bytes(value * 1024 * 1024)


def _memory_text(used: float | None, limit: float | None, percent: float | None) -> str:
    if used is None:
        return "-"
    text = _mib(used)
    if limit:
        text += f" / {_mib(limit)}"
    if percent is not None:
        text += f" ({percent:.0f}%)"
    return text


def view(rows: list[dict[str, Any]], *, interval: float | None, console: Console) -> Group:
    """The table (tasks in bold with their containers beneath) and a line saying how fresh it is."""
    columns = ("!TASK / CONTAINER", "!CLUSTER", "!SERVICE/GROUP", ">CPU", ">CPU/RES", "!MEMORY", ">NET RX", ">NET TX")
    cells: list[list[Text | str]] = []
    for row in rows:
        cells.append(
            [
                Text(row["taskId"], style="bold"),
                row["cluster"],
                row["service"] or row["group"] or "-",
                render.percent(row["cpuPercentOfVcpu"]),
                render.percent(row["cpuUtilizationPercent"]),
                _memory_text(row["memoryMiB"], row["memoryReservedMiB"], row["memoryUtilizationPercent"]),
                render.human_bytes(row["networkRxBytesPerSecond"], per_second=True),
                render.human_bytes(row["networkTxBytesPerSecond"], per_second=True),
                "-" if row["pids"] is None else str(row["pids"]),
            ]
        )
        for index, container in enumerate(row["containers"]):
            glyph = "└─ " if index == len(row["containers"]) - 1 else "├─ "
            name = Text(glyph, style="dim")
            name.append(str(container["name"]), style="" if container["lastStatus"] == "RUNNING" else "dim")
            cpu = render.percent(container["cpuPercentOfVcpu"])
            memory = _memory_text(container["memoryMiB"], container["memoryLimitMiB"], None)
            pids = "-" if container["pids"] is None else str(container["pids"])
            cells.append([name, "", "", cpu, "", memory, "", "", pids])
    table = render.fitted_table(console, [*columns, ">PIDS"], cells, optional=NARROW_DROPS)
    sampled = [r["sampledAt"] for r in rows if r["sampledAt"]]
    footer = Text(f"{len(rows)} task{'' if len(rows) == 1 else 's'}", style="dim")
    if sampled:
        footer.append(f" · newest sample {max(sampled)[11:19]} UTC", style="dim")
    if interval is not None:
        footer.append(f" · refreshing every {render.duration(interval)}, Ctrl-C to quit", style="dim")
    if not rows:
        return Group(Text("No running tasks."), footer)
    return Group(table, footer)


def top_command(
    once: Annotated[bool, typer.Option("--once", help="Print one table and exit.")] = False,
    interval: Annotated[str, typer.Option("--interval", "-i", help="Time between refreshes (2s, 500ms).")] = "2s",
    cluster: ClusterOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON snapshot and exit.")] = False,
    endpoint: EndpointOpt = DEFAULT,
    region: RegionOpt = None,
) -> None:
    """Live CPU, memory, network and processes per task and container (cgroup readings)."""
    with reporting():
        every = parse_duration(interval, "--interval")
        with Client(endpoint, region) as client:
            if json_output:
                render.print_json(snapshot(client, cluster))
                return
            console = render.stdout_console()
            if once:
                render.print_table(console, view(snapshot(client, cluster), interval=None, console=console))
            elif console.is_terminal:
                _live(client, cluster, every, console)
            else:
                _batch(client, cluster, every, console)


def _live(client: Client, cluster: str | None, every: float, console: Console) -> None:
    """The table redrawn in place until Ctrl-C."""
    try:
        first = view(snapshot(client, cluster), interval=every, console=console)
        with Live(first, console=console, auto_refresh=False) as live:
            while True:
                time.sleep(every)
                live.update(view(snapshot(client, cluster), interval=every, console=console), refresh=True)
    except KeyboardInterrupt:
        return


def _batch(client: Client, cluster: str | None, every: float, console: Console) -> None:
    """Off a terminal (``top -b``'s way): one table after the other, each under the time it was
    taken, so a pipe or a log file gets every refresh (rich's Live would only print the last)."""
    try:
        while True:
            rows = snapshot(client, cluster)
            console.file.write(f"{render.iso(time.time())}\n")
            render.print_table(console, view(rows, interval=every, console=console))
            console.file.write("\n")
            console.file.flush()
            time.sleep(every)
    except KeyboardInterrupt:
        return


def register(app: typer.Typer) -> None:
    app.command("top")(top_command)
