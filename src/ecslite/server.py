"""Wires the parts together: store, providers, runtime, controllers and the HTTP edge.

This is the only module that knows every part; :mod:`ecslite.wiring` builds each area's components
(telemetry, control, elb, host_network, scaling), called here in order. ``build_server`` is used by
the CLI and by tests that want an in-process server; ``serve`` runs one under uvicorn until it is
told to stop.

A serving process holds an exclusive lock on ``<data dir>/server.lock`` for its whole life, so two
servers never share a data directory; ``server.json`` and ``server.pid`` exist exactly while it
serves and are removed when it stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute

from ecslite import __version__
from ecslite.clock import Clock, SystemClock
from ecslite.config import Settings
from ecslite.control.task_docs import S3_DIR_VARIABLE
from ecslite.control.workqueue import Runner
from ecslite.edge.app import EdgeApp
from ecslite.edge.aws import AwsDispatcher, EdgeSettings
from ecslite.edge.s3 import S3Edge
from ecslite.model.credentials import account_for_access_key
from ecslite.providers.acm.provider import AcmProvider
from ecslite.providers.cloudformation.engine import StackEngine
from ecslite.providers.cloudformation.provider import CloudFormationProvider
from ecslite.providers.cloudformation.resources.registry import load as load_handlers
from ecslite.providers.ec2.provider import Ec2Provider
from ecslite.providers.ecr.provider import EcrProvider, served_endpoint
from ecslite.providers.ecr.registry import Registry
from ecslite.providers.ecs.provider import EcsProvider
from ecslite.providers.elbv2.provider import Elbv2Provider
from ecslite.providers.events.provider import EventsProvider
from ecslite.providers.iam.provider import IamProvider
from ecslite.providers.logs.provider import LogsProvider
from ecslite.providers.s3.provider import S3Provider
from ecslite.providers.secretsmanager.provider import SecretsManagerProvider
from ecslite.providers.servicediscovery.provider import ServiceDiscoveryProvider
from ecslite.providers.ssm.provider import SsmProvider
from ecslite.providers.sts.provider import StsProvider
from ecslite.runtime.base import Runtime
from ecslite.runtime.process.netlink import host_routes
from ecslite.runtime.select import select_runtime
from ecslite.store.certificates import CA_FILE, ca_directory
from ecslite.store.db import Database
from ecslite.store.logs import LogStore
from ecslite.wiring import Component, Core
from ecslite.wiring.control import add_controllers
from ecslite.wiring.elb import add_local_alb, add_target_health
from ecslite.wiring.event_rules import add_event_rules
from ecslite.wiring.host_network import add_agent, add_bridge_gateways, add_cloud_map_dns
from ecslite.wiring.scaling import add_scaling
from ecslite.wiring.scheduler import add_invocation_records, add_scheduler
from ecslite.wiring.telemetry import add_telemetry

log = logging.getLogger(__name__)


class Server:
    def __init__(self, settings: Settings, *, clock: Clock | None = None, runtime: Runtime | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.started = time.monotonic()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.state_path, durability=settings.durability)
        self.runtime, self.runtime_reason = (runtime, "given") if runtime else select_runtime(settings, self.clock)
        self.ecs = EcsProvider(self.db, self.clock, settings)
        self.providers: dict[str, object] = {"ecs": self.ecs, "sts": StsProvider(self.db, self.clock)}
        self.providers["iam"] = IamProvider(self.db, self.clock)
        self.providers["secretsmanager"] = SecretsManagerProvider(self.db, self.clock)
        self.providers["ssm"] = SsmProvider(self.db, self.clock)
        self.providers["servicediscovery"] = ServiceDiscoveryProvider(self.db, self.clock, settings)
        self.providers["elbv2"] = Elbv2Provider(self.db, self.clock, settings)
        self.providers["acm"] = AcmProvider(self.db, self.clock, settings)
        # S3 objects are files under settings.s3_dir, where ECS reads environmentFiles from.
        self.s3 = S3Provider(self.db, self.clock, settings.s3_dir)
        self.providers["s3"] = self.s3
        # ECR repositories; their blobs are files under <data dir>/ecr, served by the registry at /v2/.
        ecr_endpoint = functools.partial(served_endpoint, settings.info_file)
        self.ecr = EcrProvider(self.db, self.clock, settings.data_dir / "ecr", ecr_endpoint)
        self.providers["ecr"] = self.ecr
        _run_ecr_images(self.runtime, self.ecr, ecr_endpoint)
        # Express Mode services are made through the other providers' operations (filled in below).
        self.ecs.peers = self.providers
        self.components: list[Component] = [self.s3]
        core = Core(settings, self.clock, self.db, self.runtime, self.components)
        add_cloud_map_dns(core)
        # With real processes, VPC space must not take over networks the host routes elsewhere.
        routes = host_routes if self.runtime.name == "process" else None
        self.providers["ec2"] = Ec2Provider(self.db, self.clock, settings, host_routes=routes)
        logs_path = None if settings.ephemeral else settings.data_dir / "logs.db"
        self.logs = LogsProvider(LogStore(logs_path, durability=settings.durability), self.clock)
        self.providers["logs"] = self.logs
        self.components.append(self.logs)  # first in, last out: producers stop before it
        telemetry = add_telemetry(core, self.logs)
        self.telemetry, self.exports, self.forward = telemetry.telemetry, telemetry.exports, telemetry.forward
        self.gateway, self.sink = telemetry.gateway, telemetry.sink
        control = add_controllers(core, self.logs, self.ecs)
        self.output_path, self.task_logs = control.output_path, control.task_logs
        self.target_groups, self.events = control.target_groups, control.events
        # EventBridge rules on the one event bus: ECS's events and PutEvents to Logs and ECS targets.
        self.event_rules = add_event_rules(core, self.events, self.logs, self.ecs)
        self.providers["events"] = EventsProvider(self.db, self.clock, self.event_rules)
        self.local_alb = add_local_alb(core, self.target_groups, self.telemetry.store)
        add_bridge_gateways(core)
        self.target_health = add_target_health(core)
        scaling = add_scaling(core, self.telemetry.store, self.ecs, self.providers)
        self.cloudwatch, self.scaling = scaling.cloudwatch, scaling.scaling
        # EventBridge Scheduler: schedules whose ECS targets start tasks through RunTask.
        self.scheduler = add_scheduler(core, self.ecs, self.providers)
        # Both publish AWS/Scheduler and AWS/Events metrics and keep their targets' recent invocations.
        self.invocations = add_invocation_records(core, self.telemetry.store, self.scheduler, self.event_rules)
        # CloudFormation stacks make their resources through every other provider's operations; the
        # engine runs the stack operations in the background (started last, stopped first).
        self.stacks = StackEngine(self.db, self.clock, self.providers, load_handlers())
        self.providers["cloudformation"] = CloudFormationProvider(
            self.db, self.clock, self.providers, self.stacks, self.stacks.handlers
        )
        self.components.append(self.stacks)
        accounts = functools.partial(account_for_access_key, self.db)
        self.dispatcher = AwsDispatcher(
            self.providers, EdgeSettings(settings.account_id, settings.region), account_resolver=accounts
        )
        self.agent = add_agent(core, self.gateway, self.ecs, self.dispatcher.handle)
        s3_edge = S3Edge(self.s3, settings.account_id, settings.region, account_resolver=accounts)
        registry = Registry(self.db, self.clock, self.ecr.blobs, self.ecr.signer)
        self.app = EdgeApp(self.dispatcher, self._own_app(), s3_edge, registry)

    # -- ecslite's own API ---------------------------------------------------------------------

    def _own_app(self) -> Starlette:
        from ecslite.agent.exec_server import ExecServer
        from ecslite.providers.ecs.internal_routes import internal_routes
        from ecslite.telemetry.query.routes import query_routes
        from ecslite.telemetry.receivers.loki_push import loki_push_route
        from ecslite.ui.app import UiApp, UiSources
        from ecslite.ui.schedule_views import routes as schedule_routes
        from ecslite.ui.stack_views import routes as stack_routes

        # ECS Exec's data channel (§11.4): the streamUrl ExecuteCommand returns.
        self.exec_server = ExecServer(self.ecs.exec_sessions, self.runtime, self.clock, self.logs)
        # The web UI under /ui: reads both stores, changes nothing (ecslite.ui).
        self.ui = UiApp(UiSources(self.db, self.telemetry.store, self.logs, self.clock, self.output_path is not None))
        self.ui.sink_counters = self.sink.task_stats if self.sink is not None else None
        self.components.append(self.ui)
        return Starlette(
            routes=[
                Route("/", self._root, methods=["GET"]),
                WebSocketRoute(ExecServer.PATH, self.exec_server),
                Route("/_ecslite/health", self._health, methods=["GET"]),
                Route("/_ecslite/reset", self._reset, methods=["POST"]),
                *internal_routes(self.ecs, self.settings),
                Route("/_ecslite/telemetry/stats", self._telemetry_stats, methods=["GET"]),
                Route("/_ecslite/elb/listeners", self._local_alb, methods=["GET"]),
                Route("/_ecslite/express", self._express, methods=["GET"]),
                Route("/_ecslite/tasks/{task_id}/containers/{name}/output", self._container_output, methods=["GET"]),
                *self.events.routes(),
                *schedule_routes(self.db, self.clock),
                *stack_routes(self.db, self.clock, self.output_path),
                loki_push_route(self.telemetry.pipeline, self.clock),
                *query_routes(self.telemetry.store, self.clock),
                *self.ui.routes(),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        # A runtime that keeps tasks across restarts sets up the host and re-attaches to them first,
        # so the controllers find the survivors (and hear their exits) when they look.
        start_runtime = getattr(self.runtime, "start", None)
        if start_runtime is not None:
            await start_runtime()
        for component in self.components:
            await component.start()

    async def stop(self) -> None:
        for component in reversed(self.components):
            try:
                await component.stop()
            except Exception:
                log.exception("component failed to stop", extra={"component": component.name})
        try:
            await self.runtime.close()
        except Exception:
            log.exception("runtime failed to close", extra={"runtime": self.runtime.name})
        self.db.close()

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "runtime": self.runtime.name,
            "runtimeReason": self.runtime_reason,
            "uptimeSeconds": round(time.monotonic() - self.started, 3),
            "pid": os.getpid(),
            "dataDir": str(self.settings.data_dir),
            "ephemeral": self.settings.ephemeral,
            "accountId": self.settings.account_id,
            "region": self.settings.region,
            "services": {name: "running" for name in sorted(self.providers)},
            # The CA that issues requested ACM certificates: clients trust it to reach HTTPS listeners.
            "localCa": str(ca_directory(self.settings.data_dir) / CA_FILE),
            # The image map the process runtime reads (``ecslite up`` checks it covers a project's images).
            "imageMap": _image_map_path(self.runtime),
            # Reconcile runs per controller since the start (benchmarks/placement.py reports them).
            "reconciles": {
                str(getattr(component, "name", type(component).__name__)): runner.runs
                for component in self.components
                if isinstance(runner := getattr(component, "runner", None), Runner)
            },
        }

    async def _health(self, request: Request) -> Response:
        return JSONResponse(self.health())

    async def _telemetry_stats(self, request: Request) -> Response:
        stats = {**self.telemetry.stats(), "forward": self.forward.stats(), "exporters": self.exports.stats()}
        stats["gateway"] = self.gateway.stats() if self.gateway is not None else None
        stats["sink"] = self.sink.stats() if self.sink is not None else None
        return JSONResponse(stats)

    async def _local_alb(self, request: Request) -> Response:
        """Where each listener is served (its own port, or another when the host had it taken) and
        what it answered."""
        return JSONResponse(self.local_alb.stats())

    async def _express(self, request: Request) -> Response:
        """Each Express Mode service's name and the local address its load balancer answers on."""
        from ecslite.providers.ecs.express_services import local_endpoints

        return JSONResponse(local_endpoints(self.db, self.local_alb.stats()))

    async def _container_output(self, request: Request) -> Response:
        """A container's output records as NDJSON (``ecslite logs``), also of containers without a log
        configuration; ``since`` (epoch ms) and ``follow`` (until the container has stopped)."""
        from ecslite.control.task_logs import read_output
        from ecslite.store import tasks as task_store

        task_id, name = request.path_params["task_id"], request.path_params["name"]
        arn = task_store.arn_of(self.db, task_id)
        doc = task_store.get(self.db, arn) if arn else None
        if doc is None:
            return JSONResponse({"message": f"Task {task_id} was not found."}, 404)
        if name not in {c["name"] for c in doc["containers"]}:
            return JSONResponse({"message": f"Task {task_id} has no container named {name}."}, 404)
        if self.output_path is None:
            return JSONResponse({"message": f"The {self.runtime.name} runtime keeps no container output."}, 404)
        path = self.output_path(task_id, name)
        try:
            since = int(request.query_params.get("since") or 0)
        except ValueError:
            return JSONResponse({"message": "since must be a time in milliseconds since the epoch."}, 400)
        follow = request.query_params.get("follow", "").lower() in ("1", "true", "yes")

        def finished() -> bool:
            fresh = task_store.get(self.db, arn) if arn else None
            return fresh is None or any(c["name"] == name and c["lastStatus"] == "STOPPED" for c in fresh["containers"])

        async def lines() -> AsyncIterator[bytes]:
            records = read_output(path, since_ms=since, follow=follow, finished=finished, clock=self.clock)
            async for batch in records:
                yield b"".join(orjson.dumps(record) + b"\n" for record in batch)

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def _root(self, request: Request) -> Response:
        return RedirectResponse("/_ecslite/health")

    async def _reset(self, request: Request) -> Response:
        for component in self.components:
            reset = getattr(component, "reset", None)
            if reset is not None:
                await reset()
        self.db.reset()
        return JSONResponse({"reset": True})


def _run_ecr_images(runtime: object, ecr: EcrProvider, endpoint: Callable[[], str | None]) -> None:
    """Let the process runtime run images pushed to ecslite's ECR (its image store stage)."""
    images = getattr(runtime, "images", None)
    if images is not None and getattr(images, "oci_store", False) is None:
        from ecslite.runtime.process.ecr_images import EcrImageStore

        images.oci_store = EcrImageStore(ecr.db, ecr.blobs, endpoint)


def _image_map_path(runtime: object) -> str | None:
    images = getattr(runtime, "images", None)
    path = getattr(images, "map_path", None)
    return str(path) if path is not None else None


def build_server(settings: Settings, **kwargs: Any) -> Server:
    return Server(settings, **kwargs)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _write_info(settings: Settings, sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    endpoint = f"http://{shown}:{port}"
    info = {"pid": os.getpid(), "host": host, "port": port, "endpoint": endpoint}
    _atomic_write(settings.info_file, orjson.dumps(info))
    _atomic_write(settings.pid_file, f"{os.getpid()}\n".encode())
    return endpoint


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _remove_info(settings: Settings) -> None:
    """Remove the pid and info files, unless another server has taken them over meanwhile."""
    if read_pid(settings.pid_file) == os.getpid():
        for path in (settings.info_file, settings.pid_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


class DataDirInUse(Exception):
    """Another live server holds the data directory's lock."""


def _lock_data_dir(settings: Settings) -> int:
    """Take the data directory's lock and return its descriptor; the kernel drops it when we die."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.data_dir / "server.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = read_pid(settings.pid_file)
        raise DataDirInUse(
            f"Another ecslite server{f' (pid {holder})' if holder else ''} is using {settings.data_dir}."
        ) from None
    return fd


def _stop_on_sigterm(signum: int, frame: object) -> None:
    # uvicorn answers SIGTERM with a graceful shutdown and then raises the signal again, under the
    # handler that was installed before it. Exiting here, instead of dying by the default action,
    # lets ``serve`` remove the pid and info files.
    raise SystemExit(0)


def serve(settings: Settings) -> None:
    """Run the server in this process until SIGINT/SIGTERM."""
    lock = _lock_data_dir(settings)
    # environmentFiles and FireLens config files given as S3 ARNs are read from $ECSLITE_S3_DIR; the
    # server's own S3 keeps its objects there, <data dir>/s3 unless the variable says otherwise.
    os.environ.setdefault(S3_DIR_VARIABLE, str(settings.s3_dir))
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server = build_server(settings)
        sock = _bind(settings.host, settings.port)
        try:
            endpoint = _write_info(settings, sock)
            config = uvicorn.Config(
                server.app,
                lifespan="on",
                access_log=False,
                log_level=settings.log_level,
                http="httptools",
                loop="uvloop",
                timeout_graceful_shutdown=5,
            )
            log.warning("ecslite listening", extra={"endpoint": endpoint, "runtime": server.runtime.name})
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            _remove_info(settings)
            with contextlib.suppress(OSError):
                sock.close()
    finally:
        signal.signal(signal.SIGTERM, previous)
        os.close(lock)


def process_exited(pid: int) -> bool:
    """True once ``pid`` is gone or a zombie (it has exited; only its parent has yet to reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself contain spaces.
    return stat[stat.rfind(")") + 2 :].startswith("Z")


def terminate(pid: int, timeout: float = 15.0) -> bool:
    """SIGTERM ``pid`` and wait for it to exit; SIGKILL after ``timeout``. True if it was running."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_exited(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True
