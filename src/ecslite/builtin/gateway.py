"""ecslite's task-side gateway: what built-in images inside tasks talk to, and the FireLens feeds
(design.md "Built-in images"; spec/telemetry.md §0, §4.7, §6.5; ecs.md §10.3).

The gateway listens on ``169.254.170.2:4578``, the metadata endpoint's address that every task
reaches through its gateway to the host bridge (:mod:`ecslite.builtin.tap` is its client). The
socket is bound to the server's bridge (``SO_BINDTODEVICE``), so servers with different bridges on
one machine each have their own. The calling task is the one whose address the connection comes
from; a caller that is no known task gets 403.

It serves the routes :mod:`ecslite.builtin.tap` lists: the task context (with the generated
FireLens configuration of a router task), OTLP and Forward ingest into the telemetry pipeline
(enriched with the task's resource attributes like every other receiver, pushing back with 503 +
``Retry-After`` when full), ecslite's CloudWatch Logs for the ``cloudwatch_logs`` output, and the
images' diagnostics (kept per task, logged, and listed by :meth:`TaskGateway.stats`).

It also runs the FireLens feeds (:class:`~ecslite.builtin.firelens.FireLensFeed`): when a task with
a router gets its sandbox, each ``awsfirelens`` container's output is delivered to the router's
unix socket; when the task stops, what is left is sent and the feed ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import msgpack
import orjson

from ecslite.builtin import firelens
from ecslite.builtin.http import HttpServer, Request, Response, json_response
from ecslite.builtin.tap import GATEWAY_ADDRESS, GATEWAY_PORT
from ecslite.config import Settings
from ecslite.listen_sockets import listen_tcp
from ecslite.store import task_definitions as definition_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Database
from ecslite.telemetry.enrich import TaskOwner, TaskOwners
from ecslite.telemetry.pipeline import IngestRequest, Outcome, Pipeline
from ecslite.telemetry.receivers.forward import ForwardError, Peer, PipelineSink, decode_message, unpacker

log = logging.getLogger(__name__)

SIGNALS = ("traces", "metrics", "logs")
MAX_DIAGNOSTICS = 50


class LogAppender(Protocol):
    async def append(
        self,
        account: str,
        region: str,
        group: str,
        stream: str,
        events: list[tuple[int, str]],
        create_group: bool = False,
    ) -> Any: ...


OutputPath = Callable[[str, str], Path]


def bind_gateway(bridge: str, port: int = GATEWAY_PORT) -> socket.socket:
    return listen_tcp(GATEWAY_ADDRESS, port, device=bridge)


class TaskGateway:
    """A server component (process runtime only): the gateway listener and the FireLens feeds."""

    name = "task-gateway"

    def __init__(
        self,
        db: Database,
        settings: Settings,
        pipeline: Pipeline,
        owners: TaskOwners,
        *,
        logs: LogAppender | None = None,
        output_path: OutputPath | None = None,
        port: int = GATEWAY_PORT,
    ) -> None:
        self.db = db
        self.settings = settings
        self.pipeline = pipeline
        self.owners = owners
        self.logs = logs
        self.output_path = output_path
        self.port = port
        self.http = HttpServer(self.handle)
        self.forward_sink = PipelineSink(pipeline, owners, receiver="builtin")
        self.feed = firelens.FireLensFeed(settings.data_dir / "firelens")
        self.diagnostics: dict[str, list[str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.listening = False
        owners.subscribe(self._on_owner)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            sock = bind_gateway(self.settings.bridge, self.port)
        except OSError as error:
            log.warning(
                "task gateway unavailable: built-in images will not feed ecslite",
                extra={
                    "address": f"{GATEWAY_ADDRESS}:{self.port}",
                    "bridge": self.settings.bridge,
                    "error": str(error),
                },
            )
        else:
            await self.http.listen_socket(sock)
            self.listening = True
        for arn, owner in self.owners.all().items():
            self._on_owner(arn, owner)

    async def stop(self) -> None:
        self.http.close()
        for task in list(self._background):
            task.cancel()
        await self.feed.close()

    async def reset(self) -> None:
        for arn in list(self.feed.feeds):
            await self.feed.stop_task(arn, drain=0)
        self.diagnostics.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "listening": self.listening,
            "feeds": sorted(self.feed.feeds),
            "delivered": self.feed.delivered,
            "diagnostics": dict(self.diagnostics),
        }

    # -- which task is calling ---------------------------------------------------------------------

    def owner_of(self, address: str | None) -> TaskOwner | None:
        if address is None:
            return None
        for owner in self.owners.all().values():
            if owner.ipv4 == address:
                return owner
        return None

    def _peer_owner(self, peer: Peer) -> TaskOwner | None:
        return self.owner_of(peer.address)

    # -- FireLens ------------------------------------------------------------------------------------

    def _on_owner(self, task_arn: str, owner: TaskOwner | None) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._schedule, task_arn, owner)

    def _schedule(self, task_arn: str, owner: TaskOwner | None) -> None:
        work = self._start_feed(task_arn) if owner is not None else self.feed.stop_task(task_arn)
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def router(self, task_arn: str) -> tuple[dict[str, Any], firelens.RouterSpec] | None:
        doc = task_store.get(self.db, task_arn)
        if doc is None:
            return None
        spec = doc["_spec"]
        definition = definition_store.get(
            self.db, spec["account"], spec["region"], spec["family"], int(spec["revision"])
        )
        router = firelens.router_spec(doc, definition)
        return (doc, router) if router is not None else None

    async def _start_feed(self, task_arn: str) -> None:
        if self.output_path is None or task_arn in self.feed.feeds:
            return
        found = await asyncio.to_thread(self.router, task_arn)
        if found is None:
            return
        doc, spec = found
        containers = {c["name"]: c for c in doc["_spec"]["containers"]}
        outputs = {
            name: (str(containers[name].get("runtimeId") or ""), self.output_path(spec.task_id, name))
            for name, _ in spec.outputs
            if name in containers
        }
        socket_path = firelens.socket_path(self.settings.runtime_dir, spec.task_id)
        os.makedirs(os.path.dirname(socket_path), exist_ok=True)
        self.feed.start_task(spec, socket_path, outputs)

    def context(self, owner: TaskOwner) -> dict[str, Any]:
        found = self.router(owner.task_arn)
        task = {
            "taskArn": owner.task_arn,
            "taskId": owner.task_id,
            "clusterArn": owner.cluster_arn,
            "cluster": owner.cluster_arn.rsplit("/", 1)[-1],
            "family": owner.family,
            "revision": owner.revision,
            "launchType": owner.launch_type,
            "region": owner.region,
            "account": owner.account,
            "availabilityZone": owner.availability_zone,
            "privateIpv4": owner.ipv4,
            "hostName": owner.host_name,
        }
        context: dict[str, Any] = {"task": task, "firelens": None, "container": None}
        if found is not None:
            _, spec = found
            task["ec2InstanceId"] = spec.ec2_instance_id
            socket_path = firelens.socket_path(self.settings.runtime_dir, spec.task_id)
            os.makedirs(os.path.dirname(socket_path), exist_ok=True)
            context["container"] = spec.router
            context["firelens"] = {
                "container": spec.router,
                "type": spec.router_type,
                "options": dict(spec.options),
                "socket": socket_path,
                "config": firelens.generate_config(spec, socket_path),
            }
        return context

    # -- HTTP ------------------------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        owner = self.owner_of(request.peer[0] if request.peer else None)
        if owner is None:
            return json_response({"message": "the gateway answers tasks of this ecslite server only"}, 403)
        path = request.path
        if path == "/v1/context" and request.method == "GET":
            return json_response(await asyncio.to_thread(self.context, owner))
        if request.method != "POST":
            return json_response({"message": f"{request.method} {path} is not a gateway route"}, 404)
        if path.startswith("/v1/otlp/") and path.rsplit("/", 1)[-1] in SIGNALS:
            return await self._otlp(path.rsplit("/", 1)[-1], request, owner)
        if path == "/v1/forward":
            return await self._forward(request, owner)
        if path == "/v1/cloudwatch-logs":
            return await self._cloudwatch(request, owner)
        if path == "/v1/diagnostics":
            return self._diagnostics(request, owner)
        return json_response({"message": f"POST {path} is not a gateway route"}, 404)

    def _busy(self) -> Response:
        retry = str(self.pipeline.settings.retry_after_seconds)
        return Response(
            503, b'{"message": "ecslite telemetry pipeline is full"}', "application/json", (("Retry-After", retry),)
        )

    async def _otlp(self, signal: str, request: Request, owner: TaskOwner) -> Response:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        encoding = "json" if media == "application/json" else "protobuf"
        compression = request.headers.get("content-encoding", "").strip().lower()
        future = self.pipeline.submit(IngestRequest(signal, request.body, encoding, compression, owner, "builtin"))
        if future is None:
            return self._busy()
        result = await asyncio.wrap_future(future)
        body = {"accepted": result.accepted, "rejected": result.rejected, "message": result.message}
        if result.outcome is Outcome.OK:
            return json_response(body)
        return json_response(body, 413 if result.outcome is Outcome.TOO_LARGE else 400)

    async def _forward(self, request: Request, owner: TaskOwner) -> Response:
        def work() -> bool | str:
            reader = unpacker()
            reader.feed(request.body)
            messages = []
            try:
                for value in reader:
                    message = decode_message(value)
                    if message is not None:
                        messages.append(message)
            except (ForwardError, ValueError, msgpack.UnpackException) as error:
                return str(error)
            return self.forward_sink.deliver(messages, Peer(owner.ipv4, None, "gateway")) if messages else True

        outcome = await asyncio.to_thread(work)
        if isinstance(outcome, str):
            return json_response({"message": outcome}, 400)
        return json_response({"accepted": True}) if outcome else self._busy()

    async def _cloudwatch(self, request: Request, owner: TaskOwner) -> Response:
        if self.logs is None:
            return json_response({"message": "CloudWatch Logs is not available in this server"}, 503)
        try:
            payload = orjson.loads(request.body)
            events = [(int(ts), str(message)) for ts, message in payload["events"]]
            group, stream = str(payload["logGroupName"]), str(payload["logStreamName"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            return json_response({"message": f"bad request: {error}"}, 400)
        try:
            result = await self.logs.append(
                owner.account, owner.region, group, stream, events, bool(payload.get("createGroup"))
            )
        except Exception as error:  # the provider's AWS errors: the router logs them as CloudWatch would answer
            code = getattr(error, "code", type(error).__name__)
            return json_response({"__type": code, "message": str(getattr(error, "message", error))}, 400)
        return json_response({"stored": getattr(result, "stored", len(events))})

    def _diagnostics(self, request: Request, owner: TaskOwner) -> Response:
        try:
            payload = orjson.loads(request.body)
            messages = [str(m) for m in payload.get("messages") or ()]
        except (orjson.JSONDecodeError, AttributeError):
            return json_response({"message": "bad request"}, 400)
        kept = self.diagnostics.setdefault(owner.task_arn, [])
        container = payload.get("container") or "built-in image"
        for message in messages:
            line = f"{container}: {message}"
            if line not in kept and len(kept) < MAX_DIAGNOSTICS:
                kept.append(line)
                log.warning("task diagnostic", extra={"task": owner.task_arn, "diagnostic": line})
        return json_response({"kept": len(kept)})
