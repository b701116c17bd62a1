"""The per-server agent endpoint at ``http://169.254.170.2`` (spec/ecs.md §9, §4.11; design.md security bar).

One HTTP server per ecslite server, bound to ``169.254.170.2:80`` on this server's bridge
(``SO_BINDTODEVICE``, like the task gateway on 4578), which every task routes to through its
gateway. It serves what the ECS agent serves a task:

- task metadata v4 and v3 (:mod:`.metadata`, :mod:`.stats`): ``/v4/<token>``, ``/v4/<token>/task``,
  ``/v4/<token>/taskWithTags``, ``/v4/<token>/stats``, ``/v4/<token>/task/stats`` (v3: the same
  without ``taskWithTags``);
- task role credentials (:mod:`.credentials`): ``/v2/credentials/<id>``;
- scale-in protection (:mod:`.task_protection`): ``/api/<token>/task-protection/v1/state``;
- **Local model:** ecslite's AWS API, for requests that are none of the above (``POST /`` with
  ``X-Amz-Target`` or a query-protocol ``Action``), so SDKs in a task reach ecslite at
  ``AWS_ENDPOINT_URL=http://169.254.170.2`` with the credentials the endpoint gave them.

Who may read what: the calling task is the task whose address the connection comes from, and a
token or credentials id answers only for that task. Another task's token gets the same answer as a
token that does not exist (the agent's 404/400 texts), so one task can neither read nor probe
another's metadata or credentials. A caller whose address is no task of this server (the host
itself, which host-network-mode tasks share) reaches only host-network-mode tasks' tokens, and
not the AWS API. Store reads run on the event loop (sub-millisecond, :mod:`ecslite.store.db`);
stats, storage and clock readings run on threads.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from ecslite.agent import metadata, stats
from ecslite.agent.credentials import PATH_PREFIX as CREDENTIALS_PREFIX
from ecslite.agent.credentials import TaskCredentials
from ecslite.agent.task_protection import PATH_SUFFIX as PROTECTION_SUFFIX
from ecslite.agent.task_protection import ProtectionOps, handle_protection
from ecslite.builtin.http import HttpServer, Request, Response, json_response
from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.edge.aws import AwsResponse
from ecslite.runtime.base import Runtime
from ecslite.store import container_instances as instance_store
from ecslite.store import tags as tag_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Database

log = logging.getLogger(__name__)

AGENT_PORT = 80
CallerLookup = Callable[[str], str | None]  # source address → task ARN
AwsHandler = Callable[[str, dict[str, str], str, bytes], Awaitable[AwsResponse]]


class Binder(Protocol):
    def __call__(self, bridge: str, port: int) -> Any: ...


class AgentEndpoint:
    """Answers one request; the transport (:class:`AgentListener`) tells it the peer's address."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        runtime: Runtime,
        *,
        caller_of: CallerLookup,
        ecs: ProtectionOps,
        aws: AwsHandler | None = None,
        credentials: TaskCredentials | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.runtime = runtime
        self.caller_of = caller_of
        self.ecs = ecs
        self.aws = aws
        self.credentials = credentials or TaskCredentials(db, clock, host_credentials=settings.host_credentials)
        self.history = stats.StatsHistory()
        self.requests = 0

    async def handle(self, request: Request) -> Response:
        self.requests += 1
        caller = self._caller(request.peer[0] if request.peer else None)
        path = request.path
        parts = [p for p in path.split("/") if p]
        if path.startswith(CREDENTIALS_PREFIX) and request.method == "GET":
            answer = self.credentials.answer(caller, path[len(CREDENTIALS_PREFIX) :])
            return json_response(answer.body, answer.status)
        if len(parts) >= 2 and parts[0] in ("v3", "v4") and request.method == "GET":
            return await self._metadata(caller, int(parts[0][1]), parts[1], "/".join(parts[2:]))
        if len(parts) >= 2 and parts[0] == "api" and path.endswith(PROTECTION_SUFFIX):
            return self._protection(caller, parts[1], request)
        if self.aws is not None and caller is not None and (request.method == "POST" or request.query):
            return await self._aws(request)
        return json_response(f"{request.method} {path} is not an endpoint of the ECS agent", 404)

    # -- who is calling ------------------------------------------------------------------------

    def _caller(self, address: str | None) -> dict[str, Any] | None:
        arn = self.caller_of(address) if address else None
        return task_store.get(self.db, arn) if arn else None

    def _owned(self, caller: dict[str, Any] | None, token: str) -> tuple[dict[str, Any], str] | None:
        """The task and container ``token`` names, if the caller may read them (module docstring)."""
        found = task_store.by_metadata_token(self.db, token)
        if found is None:
            return None
        doc = found[0]
        if caller is not None:
            return found if doc["taskArn"] == caller["taskArn"] else None
        return found if doc["_spec"].get("networkMode") == "host" else None

    # -- metadata --------------------------------------------------------------------------------

    async def _metadata(self, caller: dict[str, Any] | None, version: int, token: str, rest: str) -> Response:
        found = self._owned(caller, token)
        # The agent's lookup failures: 404 from v4, 400 from v3 (handlers/v4, handlers/v3).
        status = 404 if version == 4 else 400
        prefix = f"V{version}"
        if found is None:
            task_error = f"unable to get task arn from request: unable to get task Arn from v3 endpoint ID: {token}"
            container_error = (
                f"unable to get container ID from request: unable to get docker ID from v3 endpoint ID: {token}"
            )
            texts = {
                "": f"{prefix} container metadata handler: {container_error}",
                "task": f"{prefix} task metadata handler: {task_error}",
                "taskWithTags": f"{prefix} task metadata handler: {task_error}",
                "stats": f"{prefix} container stats handler: {task_error}",
                "task/stats": f"{prefix} task stats handler: {task_error}",
            }
            if rest not in texts or (version == 3 and rest == "taskWithTags"):
                return json_response(f"{prefix} {rest or 'container'}: no such endpoint", 404)
            return json_response(texts[rest], status)
        doc, name = found
        if rest == "":
            return json_response(metadata.container_document(doc, name, version=version))
        if rest in ("task", "taskWithTags") and not (version == 3 and rest == "taskWithTags"):
            with_tags = rest == "taskWithTags"
            extras = await self._extras(doc, with_tags=with_tags, version=version)
            return json_response(metadata.task_document(doc, version=version, extras=extras, with_tags=with_tags))
        if rest == "stats":
            return json_response(await self._stats(doc, name, version))
        if rest == "task/stats":
            names = metadata.container_names(doc)
            documents = await asyncio.gather(*(self._stats(doc, n, version) for n in names))
            return json_response({metadata.docker_id(doc, n): d for n, d in zip(names, documents, strict=True)})
        return json_response(f"{prefix} {rest}: no such endpoint", 404)

    async def _extras(self, doc: dict[str, Any], *, with_tags: bool, version: int) -> metadata.TaskExtras:
        drift = await asyncio.to_thread(clock_drift) if version >= 4 else None
        utilized = None
        if version >= 4 and doc["_spec"].get("fargate"):
            utilized = await asyncio.to_thread(
                directory_mib, self.settings.runtime_dir / "tasks" / doc["_spec"]["taskId"]
            )
        task_tags = instance_tags = None
        if with_tags:
            task_tags = dict(tag_store.get(self.db, doc["taskArn"]))
            instance = doc.get("containerInstanceArn")
            if instance:
                instance_tags = dict(tag_store.get(self.db, instance)) if self._instance_exists(instance) else {}
        return metadata.TaskExtras(drift, utilized, task_tags, instance_tags)

    def _instance_exists(self, arn: str) -> bool:
        parts = arn.split(":")
        path = parts[5].split("/") if len(parts) > 5 else []
        if len(path) != 3:
            return False
        return instance_store.get(self.db, parts[4], parts[3], path[1], path[2]) is not None

    async def _stats(self, doc: dict[str, Any], name: str, version: int) -> dict[str, Any] | None:
        task_id = doc["_spec"]["taskId"]
        sampled = await self.runtime.stats(task_id, name)
        if sampled is None:
            return None  # not running: the agent answers null for a container without stats
        sample = stats.Sample(sampled, await asyncio.to_thread(stats.system_cpu_ns))
        previous = self.history.swap((task_id, name), sample)
        return stats.docker_stats(
            sample,
            previous,
            name=metadata.docker_name(doc, name),
            container_id=metadata.docker_id(doc, name),
            with_rates=version >= 4,
        )

    # -- task protection and the AWS API -------------------------------------------------------------

    def _protection(self, caller: dict[str, Any] | None, token: str, request: Request) -> Response:
        found = self._owned(caller, token)
        if found is None:
            body = {"error": {"Code": "ResourceNotFoundException", "Message": "Failed to find a task for the request"}}
            return json_response(body, 404)
        answer = handle_protection(self.ecs, found[0], request.method, request.body)
        return json_response(answer.body, answer.status)

    async def _aws(self, request: Request) -> Response:
        assert self.aws is not None
        query = urlencode([(k, v) for k, values in request.query.items() for v in values])
        answer = await self.aws(request.method, dict(request.headers), query, request.body)
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.headers)
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "application/json")
        rest = tuple((k, v) for k, v in headers if k.lower() not in ("content-type", "content-length"))
        return Response(answer.status, answer.body, content_type, rest)


# -- readings the task document needs (on threads) --------------------------------------------------


class _Timex(ctypes.Structure):
    # struct timex (linux/timex.h): the fields up to ``tai`` are enough for adjtimex(2) reads.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("padding", ctypes.c_int * 11),
    ]


STA_UNSYNC = 0x0040
TIME_ERROR = 5


def clock_drift() -> metadata.ClockDrift | None:
    """The host clock's error bound and sync state from ``adjtimex(2)``, as Fargate reports chrony's."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    synchronized = state != TIME_ERROR and not timex.status & STA_UNSYNC
    # maxerror is in microseconds; the endpoint shows milliseconds.
    return metadata.ClockDrift(timex.maxerror / 1000.0, time.time(), synchronized)


def directory_mib(path: Path) -> int:
    """MiB the files under ``path`` take (what the task wrote to its ecslite-owned storage)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for file in files:
            try:
                total += os.lstat(os.path.join(root, file)).st_blocks * 512
            except OSError:
                continue
    return total // (1024 * 1024)


class AgentListener:
    """A server component (process runtime only): the agent endpoint on 169.254.170.2:80."""

    name = "agent-endpoint"

    def __init__(self, endpoint: AgentEndpoint, bridge: str, *, bind: Binder, port: int = AGENT_PORT) -> None:
        self.endpoint = endpoint
        self.bridge = bridge
        self.port = port
        self.bind = bind
        self.http = HttpServer(self.endpoint.handle, max_body=16 * 1024 * 1024)
        self.listening = False

    async def start(self) -> None:
        try:
            sock = self.bind(self.bridge, self.port)
        except OSError as error:
            log.warning(
                "agent endpoint unavailable: tasks get no metadata or credentials",
                extra={"address": f"169.254.170.2:{self.port}", "bridge": self.bridge, "error": str(error)},
            )
            return
        await self.http.listen_socket(sock)
        self.listening = True

    async def stop(self) -> None:
        self.http.close()

    def stats(self) -> dict[str, Any]:
        return {"listening": self.listening, "requests": self.endpoint.requests}
