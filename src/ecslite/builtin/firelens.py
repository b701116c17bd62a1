"""FireLens as ECS does it (spec/ecs.md §10.3, telemetry.md §4.7): the generated router configuration
and the delivery of containers' stdout/stderr to the task's log router.

Configuration (:func:`generate_config`), in the ECS agent's order: a ``forward`` input on the
FireLens unix socket, a ``forward`` input on TCP 24224, the ``tcp`` health-check input on
127.0.0.1:8877, a ``record_modifier`` filter adding ``ecs_cluster``, ``ecs_task_arn``,
``ecs_task_definition`` (and ``ec2_instance_id`` on EC2) when ``enable-ecs-log-metadata`` is not
``"false"``, ``grep`` filters for ``include-pattern``/``exclude-pattern``, ``@INCLUDE`` of
``config-file-value``, the ``null`` output of the health check and one output per ``awsfirelens``
container made of its options with ``Match <container>-firelens*``. **Local model:** the unix
socket is the task's own path under ``/run/ecslite`` instead of ``/var/run/fluent.sock`` (the
built-in router runs on the host's filesystem, so every task needs its own); an S3
``config-file-value`` is read from ``$ECSLITE_S3_DIR/<bucket>/<key>``, as environment files are.

Delivery (:class:`FireLensFeed`): each ``awsfirelens`` container's output records (the shim's
``<name>.log``, ``T stdout|stderr LINE``) are sent in Forward mode to the router's unix socket,
tagged ``<container>-firelens-<task-id>`` with ``log``, ``source``, ``container_id``,
``container_name`` (and the ``ecs_*`` keys when metadata is on, so the records ecslite taps at the
router's input carry them too). Every message asks for an ack; the read position moves only past
acknowledged lines and is kept in ``<data dir>/firelens/<task id>.json``, so nothing is sent twice
or lost across a router restart or a server restart.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from ecslite.telemetry.receivers.forward import event_time

log = logging.getLogger(__name__)

SOCKET_ROOT = Path("/run/ecslite")
ECS_OPTION_KEYS = ("include-pattern", "exclude-pattern", "log-driver-buffer-limit")
HEALTHCHECK_TAG = "firelens-healthcheck"
# Docker's name of an ECS container on EC2 (ecs.md §4.7, unverified on Fargate, where the plain
# container name is used).
EC2_CONTAINER_NAME = "/ecs-{family}-{revision}-{name}-{hash}"
MAX_ENTRIES = 1000
POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class RouterSpec:
    """What the generated configuration depends on, read from the task and its definition."""

    task_arn: str
    task_id: str
    cluster: str
    family: str
    revision: int
    launch_type: str
    router: str  # the router container's name
    router_type: str  # fluentbit | fluentd
    options: Mapping[str, str]
    outputs: Sequence[tuple[str, Mapping[str, str]]]  # (container, logConfiguration options)
    ec2_instance_id: str | None = None

    @property
    def metadata(self) -> bool:
        return str(self.options.get("enable-ecs-log-metadata", "true")).lower() != "false"


def socket_path(runtime_dir: Path, task_id: str) -> str:
    """The task's FireLens socket; short enough for a unix socket address (108 bytes)."""
    key = hashlib.sha256(str(runtime_dir).encode()).hexdigest()[:12]
    return str(SOCKET_ROOT / key / f"{task_id}.sock")


def include_path(options: Mapping[str, str]) -> str | None:
    value = options.get("config-file-value")
    if not value:
        return None
    if options.get("config-file-type") == "s3" or value.startswith("arn:"):
        bucket_key = value.split(":::", 1)[-1]
        root = os.environ.get("ECSLITE_S3_DIR")
        return str(Path(root) / bucket_key) if root else None
    return value


def generate_config(spec: RouterSpec, socket: str) -> str:
    lines = [
        "[INPUT]",
        "    Name forward",
        f"    unix_path {socket}",
        "",
        "[INPUT]",
        "    Name forward",
        "    Listen 0.0.0.0",
        "    Port 24224",
        "",
        "[INPUT]",
        "    Name tcp",
        f"    Tag {HEALTHCHECK_TAG}",
        "    Listen 127.0.0.1",
        "    Port 8877",
        "",
    ]
    if spec.metadata:
        lines += [
            "[FILTER]",
            "    Name record_modifier",
            "    Match *",
            f"    Record ecs_cluster {spec.cluster}",
            f"    Record ecs_task_arn {spec.task_arn}",
            f"    Record ecs_task_definition {spec.family}:{spec.revision}",
        ]
        if spec.ec2_instance_id:
            lines.append(f"    Record ec2_instance_id {spec.ec2_instance_id}")
        lines.append("")
    for container, options in spec.outputs:
        for key, directive in (("include-pattern", "Regex"), ("exclude-pattern", "Exclude")):
            if options.get(key):
                lines += ["[FILTER]", "    Name grep", f"    Match {container}-firelens*"]
                lines += [f"    {directive} log {options[key]}", ""]
    included = include_path(spec.options)
    if included:
        lines += [f"@INCLUDE {included}", ""]
    lines += ["[OUTPUT]", "    Name null", f"    Match {HEALTHCHECK_TAG}", ""]
    for container, options in spec.outputs:
        plugin = options.get("Name") or options.get("name")
        if not plugin:
            continue  # no options: the custom configuration routes these records (§10.3)
        lines += ["[OUTPUT]", f"    Name {plugin}", f"    Match {container}-firelens*"]
        for key, value in options.items():
            if key.lower() == "name" or key in ECS_OPTION_KEYS:
                continue
            lines.append(f"    {key} {value}")
        lines.append("")
    return "\n".join(lines)


def router_spec(doc: Mapping[str, Any], definition: Mapping[str, Any] | None) -> RouterSpec | None:
    """The FireLens set-up of a task, or ``None`` when it has no router."""
    if definition is None:
        return None
    containers = definition.get("containerDefinitions") or ()
    router = next((c for c in containers if c.get("firelensConfiguration")), None)
    if router is None:
        return None
    firelens = router["firelensConfiguration"]
    spec = doc["_spec"]
    outputs = [
        (str(c["name"]), {str(k): str(v) for k, v in ((c.get("logConfiguration") or {}).get("options") or {}).items()})
        for c in containers
        if (c.get("logConfiguration") or {}).get("logDriver") == "awsfirelens"
    ]
    return RouterSpec(
        task_arn=str(doc["taskArn"]),
        task_id=str(spec["taskId"]),
        cluster=str(spec["clusterName"]),
        family=str(spec["family"]),
        revision=int(spec["revision"]),
        launch_type=str(spec.get("launchType") or "FARGATE"),
        router=str(router["name"]),
        router_type=str(firelens.get("type") or "fluentbit"),
        options={str(k): str(v) for k, v in (firelens.get("options") or {}).items()},
        outputs=outputs,
        ec2_instance_id=spec.get("ec2InstanceId"),
    )


def container_name(spec: RouterSpec, name: str) -> str:
    if spec.launch_type == "EC2":
        digest = hashlib.sha256(f"{spec.task_id}/{name}".encode()).hexdigest()[:20]
        return EC2_CONTAINER_NAME.format(family=spec.family, revision=spec.revision, name=name, hash=digest)
    return name


# -- delivery ----------------------------------------------------------------------------------


def parse_output(data: bytes) -> tuple[list[tuple[int, str, str]], list[int]]:
    """Complete records ``(time ns, source, line)`` of shim output, and where each one ends."""
    records = []
    ends = []
    position = 0
    while (newline := data.find(b"\n", position)) >= 0:
        raw = data[position:newline]
        position = newline + 1
        stamp, _, rest = raw.partition(b" ")
        source, _, line = rest.partition(b" ")
        seconds, _, fraction = stamp.partition(b".")
        try:
            ns = int(seconds) * 1_000_000_000 + int((fraction + b"000000000")[:9] or b"0")
        except ValueError:
            continue
        records.append((ns, source.decode("ascii", "replace"), line.decode("utf-8", "replace")))
        ends.append(position)
    return records, ends


@dataclass(slots=True)
class _Stream:
    container: str
    container_id: str
    path: Path
    offset: int = 0
    sent: int = 0


@dataclass(slots=True)
class TaskFeed:
    """The feeders of one task's ``awsfirelens`` containers."""

    spec: RouterSpec
    socket: str
    streams: list[_Stream]
    state_file: Path
    task: asyncio.Task[None] | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


class FireLensFeed:
    """Sends every ``awsfirelens`` container's output to its task's router (see the module docstring)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.feeds: dict[str, TaskFeed] = {}
        self.delivered = 0

    def start_task(self, spec: RouterSpec, socket: str, outputs: Mapping[str, tuple[str, Path]]) -> None:
        """Feed ``outputs`` (container → (container id, output file)); idempotent per task."""
        if spec.task_arn in self.feeds or not outputs:
            return
        state_file = self.state_dir / f"{spec.task_id}.json"
        offsets = _read_offsets(state_file)
        streams = [
            _Stream(name, container_id, path, offsets.get(name, 0)) for name, (container_id, path) in outputs.items()
        ]
        feed = TaskFeed(spec, socket, streams, state_file)
        feed.task = asyncio.get_running_loop().create_task(self._run(feed))
        self.feeds[spec.task_arn] = feed

    async def stop_task(self, task_arn: str, drain: float = 2.0) -> None:
        """Send what is left (for at most ``drain`` seconds), then forget the task and its offsets."""
        feed = self.feeds.pop(task_arn, None)
        if feed is None:
            return
        feed.stopping.set()
        if feed.task is not None:
            try:
                await asyncio.wait_for(feed.task, drain)
            except (TimeoutError, asyncio.CancelledError):
                feed.task.cancel()
        with contextlib.suppress(OSError):
            feed.state_file.unlink()

    async def close(self) -> None:
        for feed in list(self.feeds.values()):
            if feed.task is not None:
                feed.task.cancel()
        self.feeds.clear()

    async def _run(self, feed: TaskFeed) -> None:
        writer: asyncio.StreamWriter | None = None
        reader: asyncio.StreamReader | None = None
        try:
            while True:
                pending = [(s, *self._read(s)) for s in feed.streams]
                pending = [(s, records, used) for s, records, used in pending if records]
                if not pending:
                    if feed.stopping.is_set():
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(feed.stopping.wait(), POLL_SECONDS)
                    continue
                if writer is None:
                    try:
                        reader, writer = await asyncio.open_unix_connection(feed.socket)
                    except OSError:
                        if feed.stopping.is_set():
                            return
                        await asyncio.sleep(0.25)  # the router is not listening yet (or restarts)
                        continue
                assert reader is not None
                try:
                    for stream, records, used in pending:
                        await self._send(feed, stream, records, reader, writer)
                        stream.offset += used
                        self.delivered += len(records)
                    _write_offsets(feed.state_file, {s.container: s.offset for s in feed.streams})
                except (OSError, TimeoutError, ValueError) as error:
                    log.info(
                        "FireLens delivery interrupted; retrying",
                        extra={"task": feed.spec.task_id, "error": str(error)},
                    )
                    writer.close()
                    writer = reader = None
                    await asyncio.sleep(0.25)
        finally:
            if writer is not None:
                writer.close()

    @staticmethod
    def _read(stream: _Stream) -> tuple[list[tuple[int, str, str]], int]:
        try:
            with open(stream.path, "rb") as handle:
                handle.seek(stream.offset)
                data = handle.read(4 * 1024 * 1024)
        except OSError:
            return [], 0
        records, ends = parse_output(data)
        if not records:
            return [], 0
        # At most MAX_ENTRIES a message; the offset moves to the end of the last line sent.
        return records[:MAX_ENTRIES], ends[:MAX_ENTRIES][-1]

    async def _send(
        self,
        feed: TaskFeed,
        stream: _Stream,
        records: list[tuple[int, str, str]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        spec = feed.spec
        base: dict[str, Any] = {
            "container_id": stream.container_id,
            "container_name": container_name(spec, stream.container),
        }
        if spec.metadata:
            base.update(
                ecs_cluster=spec.cluster,
                ecs_task_arn=spec.task_arn,
                ecs_task_definition=f"{spec.family}:{spec.revision}",
            )
            if spec.ec2_instance_id:
                base["ec2_instance_id"] = spec.ec2_instance_id
        entries = [[event_time(ns), {"log": line, "source": source, **base}] for ns, source, line in records]
        chunk = base64.b64encode(secrets.token_bytes(16)).decode()
        tag = f"{stream.container}-firelens-{spec.task_id}"
        writer.write(msgpack.packb([tag, entries, {"chunk": chunk, "size": len(entries)}], use_bin_type=True))
        await writer.drain()
        unpacker = msgpack.Unpacker(raw=False)
        while True:
            data = await asyncio.wait_for(reader.read(4096), 30)
            if not data:
                raise OSError("the router closed the connection")
            unpacker.feed(data)
            for answer in unpacker:
                if isinstance(answer, dict) and answer.get("ack") == chunk:
                    return


def _read_offsets(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_offsets(path: Path, offsets: Mapping[str, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(offsets)))
    os.replace(tmp, path)
