"""``ecslite logs``: a task's, a service's or a log group's logs, as ``aws logs tail`` and ``docker logs`` show them.

What is read, always over HTTP from the server:

- a container with an ``awslogs`` configuration: its stream, through CloudWatch Logs'
  ``FilterLogEvents`` (the group's region, ``--filter`` applied by the server); followed by polling
  from the last time seen, skipping the event ids already shown, as ``aws logs tail --follow`` does;
- any other container: its output as the runtime keeps it, from the server's
  ``/_ecslite/tasks/<id>/containers/<name>/output`` (``--filter`` applied here, with the same
  pattern language, :mod:`ecslite.model.log_filters`);
- ``--group``: every stream of the group (``--stream-prefix`` narrows it).

An awslogs container whose group is gone (deleted by hand or by a CloudFormation rollback) while the
runtime still has its output falls back to that output, with a one-line note on stderr.

``--follow`` keeps printing: for a task until it has stopped and its output is read to the end, for
a service (picking up its new tasks as they start) and a group until interrupted. Each container
gets its own colour (``--color auto|always|never``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.text import Text

from ecslite.config import DEFAULT_ENDPOINT
from ecslite.model.log_filters import InvalidFilterPattern, Matcher, parse_filter_pattern

COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta", "bright_green", "red")
POLL_SECONDS = 0.5
SERVICE_POLL_SECONDS = 2.0
DRAIN_SECONDS = 1.5  # after a task stopped, how long its streams are still polled for the driver's last lines
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


class LogsError(Exception):
    """A problem to report in one line before exiting non-zero."""


class UsageError(LogsError):
    """An option the command cannot use (exit status 2)."""


@dataclass(frozen=True, slots=True)
class Line:
    ts: int
    label: str
    message: str


def parse_since(text: str | None, now_ms: int) -> int:
    """``--since``: a duration back from now (``30s``, ``10m``, ``1h``, ``2d``, ``1w``) or an ISO 8601 time."""
    if not text:
        return 0
    found = _DURATION.match(text.strip())
    if found:
        return now_ms - int(found.group(1)) * _UNIT_MS[found.group(2)]
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"Invalid --since value '{text}': give a duration (30s, 10m, 1h, 2d, 1w) or an ISO 8601 time "
            "(2025-06-15T10:00:00Z)."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def label_of_stream(stream: str) -> str:
    """``<prefix>/<container>/<task id>`` streams show as ``<container>/<task id, 8 characters>``."""
    parts = stream.split("/")
    if len(parts) >= 3 and re.fullmatch(r"[0-9a-f]{32}", parts[-1]):
        return f"{parts[-2]}/{parts[-1][:8]}"
    return stream


# -- talking to the server ----------------------------------------------------------------------------


class Api:
    """botocore clients for the server (any region), and its own HTTP routes."""

    def __init__(self, endpoint: str, region: str | None) -> None:
        self.endpoint = endpoint.rstrip("/")
        try:
            health = httpx.get(f"{self.endpoint}/_ecslite/health", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            raise LogsError(f"ecslite is not running at {endpoint}. Start it with: ecslite server --detach") from None
        self.region = region or str(health.get("region") or "us-east-1")
        import botocore.session  # here, not at import: every ecslite command would pay for it

        self._session = botocore.session.get_session()
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.region)
        with self._lock:
            if key not in self._clients:
                from botocore.config import Config

                credentials = self._session.get_credentials()
                self._clients[key] = self._session.create_client(
                    service,
                    endpoint_url=self.endpoint,
                    region_name=key[1],
                    aws_access_key_id=credentials.access_key if credentials else "ecslite",
                    aws_secret_access_key=credentials.secret_key if credentials else "ecslite",
                    aws_session_token=credentials.token if credentials else None,
                    config=Config(inject_host_prefix=False, retries={"max_attempts": 3}, read_timeout=30),
                )
            return self._clients[key]

    def output(self, task_id: str, container: str, since: int, follow: bool) -> Iterator[dict[str, Any]]:
        url = f"{self.endpoint}/_ecslite/tasks/{task_id}/containers/{container}/output"
        params = {"since": str(since), "follow": "1" if follow else "0"}
        with httpx.stream("GET", url, params=params, timeout=httpx.Timeout(10, read=None)) as response:
            if response.status_code != 200:
                response.read()
                raise LogsError(str(response.json().get("message") or f"HTTP {response.status_code}"))
            for raw in response.iter_lines():
                if raw:
                    yield orjson.loads(raw)


# -- sources ----------------------------------------------------------------------------------------


class CloudWatchSource:
    """Events of a log group (one stream, streams with a prefix, or all), read with FilterLogEvents."""

    def __init__(
        self,
        api: Api,
        region: str,
        group: str,
        *,
        stream: str | None = None,
        prefix: str | None = None,
        pattern: str | None = None,
        label: str | None = None,
        fallback: OutputSource | None = None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.api, self.region, self.group = api, region, group
        self.stream, self.prefix, self.pattern, self.label = stream, prefix, pattern, label
        self.fallback, self.note = fallback, note
        self.gone = False  # the group is gone: ``fallback`` is read instead
        self.last_ts = 0
        self.seen: set[str] = set()  # ids of the events shown at ``last_ts``

    def read(self, since: int) -> list[Line]:
        """Everything new from ``since`` (or after what was already read) until now."""
        if self.gone:
            return []  # shown by ``_fall_back``; ``follow`` goes on with the fallback's own follow
        client = self.api.client("logs", self.region)
        params: dict[str, Any] = {"logGroupName": self.group, "startTime": max(since, self.last_ts)}
        if self.stream:
            params["logStreamNames"] = [self.stream]
        elif self.prefix:
            params["logStreamNamePrefix"] = self.prefix
        if self.pattern:
            params["filterPattern"] = self.pattern
        lines: list[Line] = []
        while True:
            try:
                page = client.filter_log_events(**params)
            except client.exceptions.ResourceNotFoundException:
                if self.stream is None:
                    raise  # --group names a group that does not exist
                # A task's group not created yet (awslogs-create-group at its start), or gone since.
                return lines + self._fall_back(since)
            for event in page["events"]:
                if event["eventId"] in self.seen:
                    continue
                if event["timestamp"] > self.last_ts:
                    self.last_ts, self.seen = event["timestamp"], set()
                self.seen.add(event["eventId"])
                label = self.label or label_of_stream(event["logStreamName"])
                lines.append(Line(event["timestamp"], label, event["message"]))
            if not page.get("nextToken"):
                return lines
            params["nextToken"] = page["nextToken"]

    def _fall_back(self, since: int) -> list[Line]:
        """The runtime's copy of the output when the group is gone. Output only exists once the container
        ran, and a container only runs once its group exists (the task's start checks it), so a missing
        group with output is one deleted since; without output it may still be created."""
        if self.fallback is None or self._group_exists():
            return []
        try:
            lines = self.fallback.read(since)
        except LogsError:  # a runtime that keeps no copy
            return []
        if not self.fallback.shown:
            return []
        self.gone = True
        if self.note is not None:
            self.note(f"log group {self.group} is gone; showing ecslite's own copy of the container's output")
        return lines

    def _group_exists(self) -> bool:
        client = self.api.client("logs", self.region)
        pages = client.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=self.group)
        return any(g["logGroupName"] == self.group for page in pages for g in page["logGroups"])

    def follow(self, since: int, out: queue.Queue[Any], finished: Callable[[], bool], stop: threading.Event) -> None:
        drained_at: float | None = None
        while not stop.is_set():
            if self.gone and self.fallback is not None:
                self.fallback.follow(since, out, finished, stop)  # skips what the fall-back read showed
                return
            done = finished()
            lines = self.read(since)
            for line in lines:
                out.put(line)
            if done:
                drained_at = drained_at or time.monotonic()
                if not lines and time.monotonic() - drained_at >= DRAIN_SECONDS:
                    return
            stop.wait(POLL_SECONDS)


class OutputSource:
    """A container's output as the runtime keeps it (containers without a log configuration)."""

    def __init__(self, api: Api, task_id: str, container: str, matcher: Matcher, label: str) -> None:
        self.api, self.task_id, self.container, self.matcher, self.label = api, task_id, container, matcher, label
        self.shown = 0  # records from ``since`` already shown, skipped when following

    def read(self, since: int) -> list[Line]:
        records = list(self.api.output(self.task_id, self.container, since, follow=False))
        self.shown = len(records)
        return [self._line(r) for r in records if self.matcher.matches(r["message"])]

    def follow(self, since: int, out: queue.Queue[Any], finished: Callable[[], bool], stop: threading.Event) -> None:
        for index, record in enumerate(self.api.output(self.task_id, self.container, since, follow=True)):
            if stop.is_set():
                return
            if index >= self.shown and self.matcher.matches(record["message"]):
                out.put(self._line(record))

    def _line(self, record: dict[str, Any]) -> Line:
        return Line(int(record["timestamp"]), self.label, str(record["message"]))


Source = CloudWatchSource | OutputSource


def task_sources(
    api: Api,
    task: dict[str, Any],
    container: str | None,
    pattern: str | None,
    matcher: Matcher,
    *,
    short: bool,
    note: Callable[[str], None] | None = None,
) -> list[Source]:
    """One source per container of the task (all, or the one asked for)."""
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    ecs = api.client("ecs")
    definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
    configs = {c["name"]: c.get("logConfiguration") or {} for c in definition["containerDefinitions"]}
    names = [c["name"] for c in task["containers"]]
    if container is not None and container not in names:
        raise LogsError(f"Task {task_id} has no container named {container}; it has {', '.join(names)}.")
    sources: list[Source] = []
    for item in task["containers"]:
        name = item["name"]
        if container is not None and name != container:
            continue
        label = f"{name}/{task_id[:8]}" if short else name
        config = configs.get(name) or {}
        options = config.get("options") or {}
        if config.get("logDriver") == "awslogs" and options.get("awslogs-group"):
            prefix = options.get("awslogs-stream-prefix")
            stream = f"{prefix}/{name}/{task_id}" if prefix else str(item.get("runtimeId") or "")
            region = options.get("awslogs-region") or api.region
            own_copy = OutputSource(api, task_id, name, matcher, label)
            group = options["awslogs-group"]
            sources.append(
                CloudWatchSource(
                    api, region, group, stream=stream, pattern=pattern, label=label, fallback=own_copy, note=note
                )
            )
        else:
            sources.append(OutputSource(api, task_id, name, matcher, label))
    return sources


def find_task(api: Api, reference: str, cluster: str | None) -> dict[str, Any]:
    """The task by ARN or id: in ``cluster``, the ARN's cluster, or whichever cluster has it."""
    ecs = api.client("ecs")
    if reference.startswith("arn:"):
        cluster = cluster or reference.split("/")[1]
    clusters = [cluster] if cluster else _clusters(ecs)
    for name in clusters:
        tasks = ecs.describe_tasks(cluster=name, tasks=[reference])["tasks"]
        if tasks:
            task: dict[str, Any] = tasks[0]
            return task
    where = f"cluster {cluster}" if cluster else "any cluster"
    raise LogsError(f"Task {reference} was not found in {where} of region {api.region}.")


def _clusters(ecs: Any) -> list[str]:
    return [arn for page in ecs.get_paginator("list_clusters").paginate() for arn in page["clusterArns"]]


def service_tasks(api: Api, service: str, cluster: str, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
    ecs = api.client("ecs")
    arns: list[str] = []
    for status in statuses:
        pages = ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=service, desiredStatus=status)
        arns += [arn for page in pages for arn in page["taskArns"]]
    tasks: list[dict[str, Any]] = []
    for start in range(0, len(arns), 100):
        tasks += ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + 100])["tasks"]
    return sorted(tasks, key=lambda t: t.get("createdAt") or 0)


# -- printing ---------------------------------------------------------------------------------------


class Printer:
    def __init__(self, console: Console, timestamps: bool) -> None:
        self.console = console
        self.timestamps = timestamps
        self.colours: dict[str, str] = {}
        self.width = 0

    def reserve(self, labels: list[str]) -> None:
        """Pad labels to the longest one known up front, so the columns line up from the start."""
        self.width = max([self.width, *(len(label) for label in labels)])

    def print(self, line: Line) -> None:
        colour = self.colours.setdefault(line.label, COLOURS[len(self.colours) % len(COLOURS)])
        self.width = max(self.width, len(line.label))
        text = Text()
        if self.timestamps:
            moment = dt.datetime.fromtimestamp(line.ts / 1000, dt.UTC)
            text.append(moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{line.ts % 1000:03d}Z ", style="dim")
        text.append(line.label.ljust(self.width), style=colour)
        text.append(" | ", style=colour)
        text.append(line.message.rstrip("\n"))
        self.console.print(text, soft_wrap=True, highlight=False, markup=False)


# -- the command ---------------------------------------------------------------------------------


def logs_command(
    task: Annotated[str | None, typer.Argument(help="Task id or ARN.")] = None,
    container: Annotated[str | None, typer.Option("--container", "-c", help="Only this container.")] = None,
    service: Annotated[str | None, typer.Option("--service", "-s", help="Every task of this service.")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="Cluster of the task or service.")] = None,
    group: Annotated[str | None, typer.Option("--group", "-g", help="Every stream of this log group.")] = None,
    stream_prefix: Annotated[
        str | None, typer.Option("--stream-prefix", help="With --group: only streams starting with this.")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="From this long ago (10m, 1h, 2d) or this ISO 8601 time.")
    ] = None,
    filter_pattern: Annotated[
        str | None, typer.Option("--filter", help="A CloudWatch Logs filter pattern lines must match.")
    ] = None,
    timestamps: Annotated[bool, typer.Option("--timestamps/--no-timestamps", help="Show each line's time.")] = True,
    color: Annotated[str, typer.Option("--color", help="auto, always or never.")] = "auto",
    region: Annotated[str | None, typer.Option("--region", envvar="AWS_REGION", help="Region of the task.")] = None,
    endpoint: Annotated[
        str, typer.Option("--endpoint", envvar="ECSLITE_ENDPOINT", help="URL of the ecslite server.")
    ] = DEFAULT_ENDPOINT,
) -> None:
    """Print the logs of a task, a service or a log group (-f follows them)."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if color not in ("auto", "always", "never"):
        err.print(f"--color must be auto, always or never, not {color!r}.")
        raise typer.Exit(2)
    if sum(x is not None for x in (task, service, group)) != 1:
        err.print("Give one of: a task id or ARN, --service NAME, or --group NAME.")
        raise typer.Exit(2)
    console = Console(
        force_terminal=True if color == "always" else None, no_color=color == "never", highlight=False, soft_wrap=True
    )
    try:
        matcher = parse_filter_pattern(filter_pattern)
        start = parse_since(since, int(time.time() * 1000))
        api = Api(endpoint, region)
        run = _Run(api, Printer(console, timestamps), err, start, filter_pattern, matcher)
        if group is not None:
            run.group(group, stream_prefix, follow)
        elif service is not None:
            run.service(service, cluster or "default", container, follow)
        else:
            assert task is not None
            run.task(task, cluster, container, follow)
    except InvalidFilterPattern as invalid:
        err.print(f"Invalid --filter: {invalid.message}")
        raise typer.Exit(2) from None
    except LogsError as error:
        err.print(str(error))
        raise typer.Exit(2 if isinstance(error, UsageError) else 1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except Exception as error:
        detail = getattr(error, "response", {}).get("Error") if hasattr(error, "response") else None
        if detail:  # botocore's ClientError: the server's AWS error
            err.print(f"An error occurred ({detail.get('Code')}): {detail.get('Message')}")
        elif isinstance(error, httpx.HTTPError) or type(error).__module__.startswith("botocore"):
            err.print(f"Cannot read logs from {endpoint}: {error}")
        else:
            raise
        raise typer.Exit(1) from None


class _Run:
    def __init__(
        self, api: Api, printer: Printer, notes: Console, since: int, pattern: str | None, matcher: Matcher
    ) -> None:
        self.api, self.printer, self.notes = api, printer, notes
        self.since, self.pattern, self.matcher = since, pattern, matcher
        self.lines: queue.Queue[Any] = queue.Queue()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def task(self, reference: str, cluster: str | None, container: str | None, follow: bool) -> None:
        found = find_task(self.api, reference, cluster)
        sources = task_sources(self.api, found, container, self.pattern, self.matcher, short=False, note=self._note)
        self._history(sources)
        if not follow:
            self._note_failed_start(found)
            return
        stopped = threading.Event()
        cluster_arn = found["clusterArn"]

        def watch() -> None:
            ecs = self.api.client("ecs")
            while not self.stop.is_set():
                tasks = ecs.describe_tasks(cluster=cluster_arn, tasks=[found["taskArn"]])["tasks"]
                if not tasks or tasks[0]["lastStatus"] == "STOPPED":
                    stopped.set()
                    return
                self.stop.wait(1.0)

        self._spawn(watch)
        for source in sources:
            self._spawn(source.follow, self.since, self.lines, stopped.is_set, self.stop)
        self._print_until_done(wait_all=True)
        ecs = self.api.client("ecs")
        self._note_failed_start(ecs.describe_tasks(cluster=cluster_arn, tasks=[found["taskArn"]])["tasks"][0])

    def _note(self, text: str) -> None:
        self.notes.print(text, markup=False)

    def _note_failed_start(self, task: dict[str, Any]) -> None:
        """A task that never ran has no output: say why instead of printing nothing."""
        if task.get("stopCode") == "TaskFailedToStart":
            self.notes.print(f"Task {task['taskArn'].rsplit('/', 1)[-1]} failed to start: {task.get('stoppedReason')}")

    def service(self, name: str, cluster: str, container: str | None, follow: bool) -> None:
        statuses = ("RUNNING",) if follow else ("RUNNING", "STOPPED")
        known: set[str] = set()
        sources: list[Source] = []
        for task in service_tasks(self.api, name, cluster, statuses):
            known.add(task["taskArn"])
            sources += task_sources(self.api, task, container, self.pattern, self.matcher, short=True, note=self._note)
        self._history(sources)
        if not follow:
            return
        for source in sources:
            self._spawn(source.follow, self.since, self.lines, lambda: False, self.stop)

        def watch() -> None:
            while not self.stop.wait(SERVICE_POLL_SECONDS):
                for task in service_tasks(self.api, name, cluster, ("RUNNING",)):
                    if task["taskArn"] in known:
                        continue
                    known.add(task["taskArn"])
                    found = task_sources(
                        self.api, task, container, self.pattern, self.matcher, short=True, note=self._note
                    )
                    for source in found:
                        self._spawn(source.follow, self.since, self.lines, lambda: False, self.stop)

        self._spawn(watch)
        self._print_until_done(wait_all=False)

    def group(self, name: str, prefix: str | None, follow: bool) -> None:
        source = CloudWatchSource(self.api, self.api.region, name, prefix=prefix, pattern=self.pattern)
        self._history([source])
        if follow:
            self._spawn(source.follow, self.since, self.lines, lambda: False, self.stop)
            self._print_until_done(wait_all=False)

    # -- plumbing --

    def _history(self, sources: list[Source]) -> None:
        self.printer.reserve([s.label for s in sources if s.label])
        lines = [line for source in sources for line in source.read(self.since)]
        for line in sorted(lines, key=lambda line: line.ts):
            self.printer.print(line)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        def body() -> None:
            try:
                target(*args)
            except BaseException as error:  # handed to the printing thread, which reports it and exits
                self.lines.put(error)

        thread = threading.Thread(target=body, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _print_until_done(self, *, wait_all: bool) -> None:
        try:
            while True:
                try:
                    item = self.lines.get(timeout=0.2)
                except queue.Empty:
                    if wait_all and not any(t.is_alive() for t in self.threads):
                        return
                    continue
                if isinstance(item, BaseException):
                    raise item
                self.printer.print(item)
        finally:
            self.stop.set()
            with contextlib.suppress(Exception):
                for thread in self.threads:
                    thread.join(timeout=0.5)


def register(app: typer.Typer) -> None:
    app.command("logs")(logs_command)
