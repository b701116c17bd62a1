"""The per-server agent endpoint at ``http://169.254.170.2`` (spec/ecs.md §9, §4.11; design.md security bar).

One HTTP server per ecslite server. As on ECS, where the agent listens on ``127.0.0.1:51679`` and
the host's iptables send ``169.254.170.2:80`` there, nothing holds port 80: the endpoint listens on
``settings.agent_port`` (51679, or any free port when that one is taken) at ``169.254.170.2`` on this
server's bridge (``SO_BINDTODEVICE``, like the task gateway on 4578) and at ``127.0.0.1``, and the
host network's nftables table maps ``169.254.170.2:80`` to those (:meth:`HostNetwork.serve_agent
<ecslite.runtime.process.network.HostNetwork.serve_agent>`: tasks' packets keep their source
address, the host's own arrive from ``169.254.170.2``). The URLs tasks get are ECS's, without a
port. The mapping exists exactly while the endpoint listens. It serves what the ECS agent serves a task:

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
itself, which host-network-mode tasks share) reaches only host-network-mode tasks' tokens and
credentials, and not the AWS API. Store reads run on the event loop (sub-millisecond, :mod:`ecslite.store.db`);
stats, storage and clock readings run on threads.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import logging
import os
import socket
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
from ecslite.listen_sockets import listen_tcp
from ecslite.model.task_launch import METADATA_HOST
from ecslite.runtime.base import Runtime
from ecslite.store import container_instances as instance_store
from ecslite.store import tags as tag_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Database

log = logging.getLogger(__name__)

AGENT_PORT = 51679  # the ECS agent's introspection-and-metadata port
LOOPBACK = "127.0.0.1"
PORT_ATTEMPTS = 5
CallerLookup = Callable[[str], str | None]  # source address → task ARN
AwsHandler = Callable[[str, dict[str, str], str, bytes], Awaitable[AwsResponse]]


class Redirect(Protocol):
    """Maps ``169.254.170.2:80`` to the endpoint's port (the host network's nftables table)."""

    async def serve_agent(self, port: int) -> None:
        """Raises ``OSError`` saying why when the mapping cannot be made."""

    async def withdraw_agent(self) -> None: ...


def bind_agent(bridge: str, port: int) -> list[socket.socket]:
    """The endpoint's listeners, on one port: ``169.254.170.2`` on ``bridge`` (tasks) and
    ``127.0.0.1`` (the host). ``port`` when it is free on both, else one that is (0: any)."""
    for attempt in range(PORT_ATTEMPTS):
        wanted = port if attempt == 0 else 0
        try:
            loopback = listen_tcp(LOOPBACK, wanted)
        except OSError as error:
            if error.errno != errno.EADDRINUSE or wanted == 0:
                raise
            continue
        chosen = loopback.getsockname()[1]
        try:
            return [listen_tcp(METADATA_HOST, chosen, device=bridge), loopback]
        except OSError as error:
            loopback.close()
            if error.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, f"no port was free at both {METADATA_HOST}%{bridge} and {LOOPBACK}")


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
            credentials_id = path[len(CREDENTIALS_PREFIX) :]
            owner = caller if caller is not None else self._host_task(credentials_id)
            answer = self.credentials.answer(owner, credentials_id)
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

    def _host_task(self, credentials_id: str) -> dict[str, Any] | None:
        """The host-network-mode task holding ``credentials_id``: the host asks for those (module docstring)."""
        doc = task_store.by_credentials_id(self.db, credentials_id) if credentials_id else None
        return doc if doc is not None and doc["_spec"].get("networkMode") == "host" else None

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
    """A server component (process runtime only): the agent endpoint, reached at 169.254.170.2:80."""

    name = "agent-endpoint"

    def __init__(self, endpoint: AgentEndpoint, bridge: str, *, redirect: Redirect, port: int = AGENT_PORT) -> None:
        self.endpoint = endpoint
        self.bridge = bridge
        self.port = port
        self.redirect = redirect
        self.http = HttpServer(self.endpoint.handle, max_body=16 * 1024 * 1024)
        self.listening = False
        self.bound_port: int | None = None
        self.reason: str | None = None

    async def start(self) -> None:
        try:
            sockets = bind_agent(self.bridge, self.port)
        except OSError as error:
            self._unavailable(f"cannot listen: {error}")
            return
        for sock in sockets:
            await self.http.listen_socket(sock)
        self.bound_port = sockets[0].getsockname()[1]
        try:
            await self.redirect.serve_agent(self.bound_port)
        except OSError as error:
            self.http.close()
            self.bound_port = None
            self._unavailable(str(error))
            return
        self.listening = True

    def _unavailable(self, reason: str) -> None:
        self.reason = reason
        log.error(
            "agent endpoint unavailable: tasks get no metadata or credentials",
            extra={"address": f"{METADATA_HOST}:80", "bridge": self.bridge, "error": reason},
        )

    async def stop(self) -> None:
        if self.listening:
            self.listening = False
            await self.redirect.withdraw_agent()
        self.http.close()

    def stats(self) -> dict[str, Any]:
        return {
            "listening": self.listening,
            "port": self.bound_port,
            "reason": self.reason,
            "requests": self.endpoint.requests,
        }
