"""``ecslite events [SERVICE] [-f]``: what the services said, oldest first as a terminal reads it,
and, on request, ECS's EventBridge events (spec/ecs.md §4.10, §12.1).

Two sources, merged by time:

- service events, from DescribeServices (ECS keeps the newest 100 per service and lists them
  newest first; events of one service that share a time keep ECS's order). Followed by polling
  every second, remembering the ids already shown; services created meanwhile are picked up.
- with ``--task-changes`` or ``--pattern``: the server's event feed (``GET /_ecslite/events``,
  :mod:`ecslite.providers.events_feed`): ``ECS Task State Change``, ``ECS Service Action`` and
  ``ECS Deployment State Change`` envelopes, filtered by the server with the pattern (value arrays,
  ``prefix``, ``anything-but``, ``exists``). Followed by long polling. A pattern selects
  EventBridge events only, so service events (which are not EventBridge events) are left out then.

Both are limited to the region, the cluster (``--cluster``) and the service (``SERVICE``) asked
for; a task belongs to a service through its ``group`` (``service:<name>``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.text import Text

from ecslite.cli import render
from ecslite.cli.client import (
    DEFAULT,
    Client,
    CliError,
    ClusterOpt,
    EndpointOpt,
    RegionOpt,
    epoch_of,
    parse_duration,
    reporting,
    short_id,
    usage_error,
)
from ecslite.cli.services import strip_prefix

POLL_SECONDS = 1.0
FEED_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Item:
    """One line to print: a service event or an EventBridge event."""

    at: float
    kind: str  # "service" | "eventbridge"
    cluster: str
    service: str | None
    body: dict[str, Any]

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "time": render.iso(self.at), "cluster": self.cluster}
        out["service"] = self.service
        if self.kind == "service":
            out["id"] = self.body["id"]
            out["message"] = self.body["message"]
        else:
            out["event"] = self.body
        return out


def _iso_epoch(text: str | None) -> float | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def feed_item(event: dict[str, Any]) -> Item:
    """Where an EventBridge event belongs (cluster, service) and when it happened (the detail's
    millisecond time, the envelope's only has seconds)."""
    detail = event.get("detail") or {}
    at = _iso_epoch(detail.get("updatedAt") or detail.get("createdAt")) or _iso_epoch(event.get("time")) or 0.0
    if event.get("detail-type") == "ECS Task State Change":
        group = str(detail.get("group") or "")
        service = group.removeprefix("service:") if group.startswith("service:") else None
        return Item(at, "eventbridge", short_id(str(detail.get("clusterArn", ""))), service, event)
    resource = (event.get("resources") or [""])[0]
    parts = resource.split("/")
    cluster, service = (parts[-2], parts[-1]) if len(parts) >= 3 else ("", None)
    return Item(at, "eventbridge", cluster, service, event)


# -- sources ----------------------------------------------------------------------------------------


@dataclass
class ServiceEvents:
    """Service events of the services in scope, each returned once."""

    client: Client
    cluster: str | None
    service: str | None
    seen: set[str] = field(default_factory=set)

    def poll(self) -> list[Item]:
        items: list[Item] = []
        for cluster_arn in self.client.cluster_arns(self.cluster):  # clusters created meanwhile too
            names = [self.service] if self.service else None
            for service in self.client.services(cluster_arn, names):
                # Newest first in the API; reversed, events of one time keep ECS's order in the sort.
                for event in reversed(service.get("events") or []):
                    if event["id"] in self.seen:
                        continue
                    self.seen.add(event["id"])
                    at = epoch_of(event["createdAt"])
                    items.append(Item(at, "service", short_id(cluster_arn), service["serviceName"], event))
        return sorted(items, key=lambda item: item.at)


@dataclass
class FeedEvents:
    """The server's EventBridge events in scope, each returned once."""

    client: Client
    cluster: str | None  # a name; None: every cluster
    service: str | None
    pattern: str | None
    cursor: int = 0
    feed_id: str | None = None

    def poll(self, wait: float) -> list[Item]:
        items: list[Item] = []
        while True:
            params: dict[str, Any] = {"after": self.cursor, "wait": wait, "limit": FEED_PAGE}
            if self.feed_id:
                params["feedId"] = self.feed_id
            if self.pattern:
                params["pattern"] = self.pattern
            page = self.client.get_json("/_ecslite/events", params, timeout=wait + 30)
            self.feed_id, self.cursor = page["feedId"], int(page["cursor"])
            items += [item for item in map(feed_item, page["events"]) if self._in_scope(item)]
            if len(page["events"]) < FEED_PAGE:
                return sorted(items, key=lambda item: item.at)
            wait = 0.0

    def _in_scope(self, item: Item) -> bool:
        if item.body.get("region") != self.client.region:
            return False
        if self.cluster is not None and item.cluster != self.cluster:
            return False
        return self.service is None or item.service == self.service


# -- printing ---------------------------------------------------------------------------------------


def describe_feed_event(event: dict[str, Any]) -> Text:
    """One line for an EventBridge event."""
    detail = event.get("detail") or {}
    kind = str(event.get("detail-type", ""))
    if kind == "ECS Task State Change":
        text = Text("task ", style="dim")
        text.append(short_id(str(detail.get("taskArn", ""))))
        text.append(" ")
        text.append(render.styled(detail.get("lastStatus")))
        if detail.get("desiredStatus") == "STOPPED" and detail.get("lastStatus") != "STOPPED":
            text.append(" → STOPPED", style="dim")
        if detail.get("healthStatus") not in (None, "UNKNOWN"):
            text.append(" ")
            text.append(render.health(detail["healthStatus"]))
        text.append(f" v{detail.get('version', '?')}", style="dim")
        containers = [_container_text(c) for c in detail.get("containers") or ()]
        if containers:
            text.append(" [")
            text.append(render.joined(containers))
            text.append("]")
        if detail.get("stopCode") or detail.get("stoppedReason"):
            text.append(f" {detail.get('stopCode') or ''}: {detail.get('stoppedReason') or ''}", style="red")
        return text
    style = {"ERROR": "red", "WARN": "yellow"}.get(str(detail.get("eventType")), "")
    text = Text(str(detail.get("eventName", kind)), style=style or "bold")
    if detail.get("deploymentId"):
        text.append(f" {detail['deploymentId']}", style="dim")
    if detail.get("reason"):
        text.append(f" {detail['reason']}")
    return text


def _container_text(container: dict[str, Any]) -> Text:
    text = Text(f"{container.get('name')} ")
    text.append(render.styled(container.get("lastStatus")))
    if container.get("healthStatus") not in (None, "UNKNOWN"):
        text.append(" ")
        text.append(render.health(container["healthStatus"]))
    if container.get("exitCode") is not None:
        text.append(f" exit {container['exitCode']}", style="red" if container["exitCode"] else "dim")
    return text


def line_of(item: Item) -> Text:
    text = Text(render.clock_time(item.at), style="dim")
    where = f"{item.cluster}/{item.service}" if item.service else item.cluster
    text.append(f"  {where}  ", style="cyan")
    if item.kind == "service":
        message = str(item.body["message"])
        text.append(strip_prefix(item.service or "", message))
    else:
        text.append(describe_feed_event(item.body))
    return text


class Printer:
    def __init__(self, json_output: bool) -> None:
        self.json_output = json_output
        self.console = Console(highlight=False, soft_wrap=True)

    def show(self, items: Iterable[Item]) -> None:
        for item in items:
            if self.json_output:
                render.print_json_line(item.json())
            else:
                self.console.print(line_of(item))


# -- the command ------------------------------------------------------------------------------------


def _check_scope(client: Client, cluster: str | None, service: str | None) -> None:
    """The cluster must exist, and the service in it (or in some cluster)."""
    clusters = client.cluster_arns(cluster)
    if service is None or any(client.services(arn, [service]) for arn in clusters):
        return
    where = f"cluster {short_id(clusters[0])}" if cluster else f"any cluster of {client.region}"
    raise CliError(f"ServiceNotFoundException: Service not found. No service {service!r} in {where}.")


def _check_pattern(pattern: str | None) -> None:
    if pattern is None:
        return
    try:
        parsed = orjson.loads(pattern)
    except orjson.JSONDecodeError as error:
        raise usage_error(f"--pattern is not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise usage_error('--pattern must be a JSON object, such as \'{"detail":{"lastStatus":["STOPPED"]}}\'.')


def events_command(
    service: Annotated[str | None, typer.Argument(help="Only this service's events (default: every service).")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
    task_changes: Annotated[
        bool,
        typer.Option(
            "--task-changes",
            help="Also show ECS's EventBridge events: ECS Task State Change, ECS Service Action, "
            "ECS Deployment State Change.",
        ),
    ] = False,
    pattern: Annotated[
        str | None,
        typer.Option(
            "--pattern",
            help='Only EventBridge events matching this event pattern, e.g. \'{"detail":{"lastStatus":["STOPPED"]}}\' '
            "(value arrays, prefix, anything-but, exists). Implies --task-changes and leaves service events out.",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only events of this recent past (30s, 15m, 1h, 2d).")
    ] = None,
    cluster: ClusterOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object per event.")] = False,
    endpoint: EndpointOpt = DEFAULT,
    region: RegionOpt = None,
) -> None:
    """Show service events, oldest first; -f follows new ones."""
    with reporting():
        _check_pattern(pattern)
        oldest = time.time() - parse_duration(since, "--since") if since else None
        with Client(endpoint, region) as client:
            _check_scope(client, cluster, service)
            services = None if pattern else ServiceEvents(client, cluster, service)
            feed = None
            if task_changes or pattern:
                feed = FeedEvents(client, short_id(cluster) if cluster else None, service, pattern)
            printer = Printer(json_output)
            history = (services.poll() if services else []) + (feed.poll(0.0) if feed else [])
            printer.show(item for item in sorted(history, key=lambda i: i.at) if oldest is None or item.at >= oldest)
            while follow:
                fresh = feed.poll(POLL_SECONDS) if feed else _pause(POLL_SECONDS)
                if services:
                    fresh += services.poll()
                printer.show(sorted(fresh, key=lambda i: i.at))


def _pause(seconds: float) -> list[Item]:
    time.sleep(seconds)
    return []


def register(app: typer.Typer) -> None:
    app.command("events")(events_command)
