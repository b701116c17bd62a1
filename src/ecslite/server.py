"""Wires the parts together: store, providers, runtime, controllers and the HTTP edge.

This is the only module that knows every part. ``build_server`` is used by the CLI and by tests
that want an in-process server; ``serve`` runs one under uvicorn until it is told to stop.

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
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute

from ecslite import __version__
from ecslite.clock import Clock, SystemClock
from ecslite.config import Settings
from ecslite.control.workqueue import Runner
from ecslite.edge.app import EdgeApp
from ecslite.edge.aws import AwsDispatcher, EdgeSettings
from ecslite.model.credentials import account_for_access_key
from ecslite.providers.base import RequestContext
from ecslite.providers.ec2.provider import Ec2Provider
from ecslite.providers.ecs.provider import EcsProvider
from ecslite.providers.elbv2.provider import Elbv2Provider
from ecslite.providers.iam.provider import IamProvider
from ecslite.providers.logs.provider import LogsProvider
from ecslite.providers.secretsmanager.provider import SecretsManagerProvider
from ecslite.providers.servicediscovery.provider import ServiceDiscoveryProvider
from ecslite.providers.ssm.provider import SsmProvider
from ecslite.providers.sts.provider import StsProvider
from ecslite.runtime.base import Runtime
from ecslite.runtime.fake import FakeRuntime
from ecslite.runtime.process.netlink import host_routes
from ecslite.runtime.select import select_runtime
from ecslite.store.db import Database
from ecslite.store.logs import LogStore

if TYPE_CHECKING:
    from ecslite.telemetry.sink import ExportSink

log = logging.getLogger(__name__)


class Component(Protocol):
    """A long-lived part started and stopped with the app (controllers, receivers)."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


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
        self._add_cloud_map_dns()
        # With real processes, VPC space must not take over networks the host routes elsewhere.
        routes = host_routes if self.runtime.name == "process" else None
        self.providers["ec2"] = Ec2Provider(self.db, self.clock, settings, host_routes=routes)
        self.components: list[Component] = []
        logs_path = None if settings.ephemeral else settings.data_dir / "logs.db"
        self.logs = LogsProvider(LogStore(logs_path, durability=settings.durability), self.clock)
        self.providers["logs"] = self.logs
        self.components.append(self.logs)  # first in, last out: producers stop before it
        self._add_telemetry()
        self._add_controllers()
        self._add_target_health()
        self._add_scaling()
        self.dispatcher = AwsDispatcher(
            self.providers,
            EdgeSettings(settings.account_id, settings.region),
            account_resolver=functools.partial(account_for_access_key, self.db),
        )
        self._add_agent()
        self.app = EdgeApp(self.dispatcher, self._own_app())

    def _add_target_health(self) -> None:
        """ELBv2 target health checks (§7.2): one loop per target group a load balancer uses."""
        from ecslite.control.target_health import TargetHealth

        if isinstance(self.runtime, FakeRuntime):
            from ecslite.elb.fake_network import fake_prober

            self.target_health = TargetHealth(self.db, self.clock, fake_prober(self.db))
        else:
            self.target_health = TargetHealth(self.db, self.clock)
        self.components.append(self.target_health)

    def _add_cloud_map_dns(self) -> None:
        """The tasks' resolver answers load balancers' DNS names and Cloud Map private DNS namespaces
        from the store (process runtime)."""
        dns = getattr(getattr(self.runtime, "network", None), "dns", None)
        if dns is None:
            return
        from ecslite.control.cloudmap_dns import local_names
        from ecslite.control.elb_dns import with_load_balancers

        dns.local_names = with_load_balancers(self.db, local_names(self.db))

    def _add_telemetry(self) -> None:
        from ecslite.control.telemetry_owners import TelemetryOwnersFeed
        from ecslite.telemetry.export.tap import ExportTap
        from ecslite.telemetry.red import SpanMetrics
        from ecslite.telemetry.runtime_metrics import RuntimeMetrics
        from ecslite.telemetry.scrape import Scraper
        from ecslite.telemetry.service import Telemetry

        self.telemetry = Telemetry(self.settings, self.clock)
        # The exporters' tap starts before the telemetry pipeline and stops after it, so what the
        # pipeline drains at shutdown still goes out (telemetry.export.tap).
        self.exports = ExportTap.from_settings(self.settings, self.telemetry.store)
        self.components.append(self.exports)
        self.components.append(self.telemetry)
        # RED metrics and service graph edges from spans (§9.2, §9.3): after the telemetry component,
        # so its last flush reaches the store before the store closes.
        self.components.append(SpanMetrics(self.telemetry.store, self.clock))
        self._add_forward_receiver()
        self.components.append(TelemetryOwnersFeed(self.db, self.telemetry.owners, self._netns_path))
        self._add_task_gateway()
        self._add_export_sink()
        # A short --metrics-period needs samples often enough to fill its periods.
        interval = min(self.settings.runtime_metrics_interval, self.settings.metrics_period / 5)
        self.components.append(RuntimeMetrics(self.db, self.runtime, self.telemetry.store, self.clock, interval))
        # The fake runtime's task addresses lead nowhere real: a scrape would go out through the
        # host's default route, so there is nothing to scrape there (elb/fake_network.py, same rule).
        if not isinstance(self.runtime, FakeRuntime):
            pipeline, owners = self.telemetry.pipeline, self.telemetry.owners
            self.components.append(Scraper(self.db, pipeline, owners, self.clock, self.settings.scrape_interval))

    def _add_forward_receiver(self) -> None:
        from ecslite.telemetry.receivers.forward import ForwardReceiver

        self.forward = ForwardReceiver(self.telemetry.pipeline, self.telemetry.owners, port=self.settings.forward_port)
        self.components.append(self.forward)

    def _add_task_gateway(self) -> None:
        """Built-in images inside tasks reach ecslite at 169.254.170.2 (process runtime only)."""
        output_path = getattr(self.runtime, "output_path", None)
        if self.runtime.name != "process" or output_path is None:
            self.gateway = None
            return
        from ecslite.builtin.gateway import TaskGateway

        self.gateway = TaskGateway(
            self.db,
            self.settings,
            self.telemetry.pipeline,
            self.telemetry.owners,
            logs=self.logs,
            output_path=output_path,
        )
        self.components.append(self.gateway)

    def _add_export_sink(self) -> None:
        """Loki, Tempo and Thanos stand-ins on the VPC bridge's subnet gateways (process runtime only;
        ecslite.telemetry.sink)."""
        self.sink: ExportSink | None = None
        if self.runtime.name != "process" or self.gateway is None:
            return
        from ecslite.model.vpc import default_layout
        from ecslite.telemetry.sink import ExportSink

        layout = default_layout(self.settings.vpc_cidr)
        gateways = [str(cidr.network_address + 1) for _, cidr in layout.subnets]
        gateways.append(str(layout.bridge_range.network_address + 1))
        self.sink = ExportSink(gateways, device=self.settings.bridge, owners=self.telemetry.owners)
        self.components.append(self.sink)
        from ecslite.control.sink_gateways import SinkGatewaysFeed

        # Subnets made with CreateSubnet are served at their gateways too, until deleted.
        self.components.append(SinkGatewaysFeed(self.db, self.sink))

    def _add_agent(self) -> None:
        """The agent endpoint at 169.254.170.2:80 (process runtime only): task metadata, credentials,
        task protection and the AWS API for tasks (ecslite.agent.listener), on ``settings.agent_port``
        with the host network mapping port 80 to it."""
        self.agent = None
        gateway = self.gateway
        network = getattr(self.runtime, "network", None)
        if gateway is None or network is None:
            return
        from ecslite.agent.listener import AgentEndpoint, AgentListener

        def caller_of(address: str) -> str | None:
            owner = gateway.owner_of(address)
            return owner.task_arn if owner is not None else None

        endpoint = AgentEndpoint(
            self.db,
            self.clock,
            self.settings,
            self.runtime,
            caller_of=caller_of,
            ecs=self.ecs,
            aws=self.dispatcher.handle,
        )
        self.agent = AgentListener(endpoint, self.settings.bridge, redirect=network, port=self.settings.agent_port)
        self.components.append(self.agent)

    def _netns_path(self, task_id: str) -> str | None:
        """The task's network namespace, where the runtime has one (the process runtime)."""
        network = getattr(self.runtime, "network", None)
        sandbox = network.sandbox(task_id) if network is not None else None
        path = getattr(sandbox, "netns_path", None)
        return str(path) if path else None

    def _add_controllers(self) -> None:
        from ecslite.control.services import ServiceController
        from ecslite.control.task_logs import TaskLogs
        from ecslite.control.tasks import TaskController

        # The awslogs driver: streams at task start, containers' output shipped to the logs provider.
        self.output_path: Callable[[str, str], Path] | None = getattr(self.runtime, "output_path", None)
        self.task_logs = TaskLogs(self.db, self.logs, self.output_path, self.clock)
        self.components.append(self.task_logs)
        tasks = TaskController(self.db, self.runtime, self.clock, self.settings, logs=self.task_logs)
        # ELBv2 target groups: service tasks register in ACTIVATING and drain in DEACTIVATING (§7.4).
        from ecslite.control.target_groups import ElbTargetGroups

        self.target_groups = ElbTargetGroups(self.db)
        tasks.reconciler.activation.target_groups = self.target_groups
        self.components.append(tasks)
        # ECS's EventBridge events from committed changes and the scheduler's announcements (§12.1).
        from ecslite.providers.events_feed import EventsFeed

        self.events = EventsFeed(self.db, self.clock)
        self.components.append(self.events)
        self.components.append(ServiceController(self.db, self.clock, self.settings, hooks=[self.events.announce]))
        # Cloud Map instances of service tasks with serviceRegistries (§8.2).
        from ecslite.control.service_registry import ServiceRegistryController

        self.components.append(ServiceRegistryController(self.db, self.clock))
        from ecslite.control.capacity import CapacityController
        from ecslite.control.capacity_scaling import ManagedScaling
        from ecslite.providers.ecs.internal_routes import ScalingCallbacks

        callbacks = ScalingCallbacks(self.ecs)
        scaling = ManagedScaling(self.db, self.clock, callbacks.add, callbacks.remove)
        self.components.append(CapacityController(self.db, self.clock, self.settings, scaling=scaling))
        self._add_local_alb()
        self._add_bridge_gateways()

    def _add_bridge_gateways(self) -> None:
        """A deleted subnet's gateway and a deleted VPC's resolver leave the bridge (process runtime only;
        control.bridge_gateways)."""
        network = getattr(self.runtime, "network", None)
        if self.runtime.name != "process" or network is None:
            return
        from ecslite.control.bridge_gateways import BridgeGatewaysFeed

        self.components.append(BridgeGatewaysFeed(self.db, network, self.settings.vpc_cidr))

    def _add_local_alb(self) -> None:
        """Each ELBv2 listener served on 127.0.0.1 (§7.5), routing to the target groups' routing set, and
        on its load balancer's private addresses on the bridge where the runtime has one."""
        from ecslite.elb.listeners import LocalAlb, StoreRouting

        transport = None
        if isinstance(self.runtime, FakeRuntime):
            from ecslite.elb.fake_network import LoopbackOnlyTransport
            from ecslite.elb.listeners import TARGET_LIMITS

            transport = LoopbackOnlyTransport(TARGET_LIMITS)
        self.local_alb = LocalAlb(
            self.db,
            StoreRouting(self.db, self.target_groups.healthy_targets),
            host_addresses=getattr(self.runtime, "network", None),
            transport=transport,
        )
        self.components.append(self.local_alb)

    def _add_scaling(self) -> None:
        """CloudWatch metrics and alarms, Application Auto Scaling, the alarm evaluator and the scaling
        controller, which changes desired counts through the ECS provider's UpdateService."""
        from ecslite.control.alarms import AlarmEvaluator
        from ecslite.control.scaling import ScalingController
        from ecslite.model.scaling import TimeScale
        from ecslite.providers.autoscaling.provider import AutoscalingProvider
        from ecslite.providers.cloudwatch.provider import CloudWatchProvider

        scale = TimeScale(self.settings.metrics_period)
        self.cloudwatch = CloudWatchProvider(self.db, self.clock, self.telemetry.store, scale)
        self.providers["cloudwatch"] = self.cloudwatch
        self.providers["application-autoscaling"] = AutoscalingProvider(self.db, self.clock, self.cloudwatch)
        self.scaling = ScalingController(self.db, self.clock, self._set_desired_count, scale)
        evaluator = AlarmEvaluator(self.db, self.clock, self.cloudwatch, scale, handlers=[self.scaling.handle])
        self.cloudwatch.state_listeners.append(evaluator.state_set)
        self.components.extend([self.scaling, evaluator])

    def _set_desired_count(self, account: str, region: str, cluster: str, service: str, count: int) -> None:
        ctx = RequestContext(account, region, str(uuid.uuid4()), "ecs", "UpdateService")
        self.ecs.prepare(ctx)
        self.ecs.update_service(ctx, {"cluster": cluster, "service": service, "desiredCount": count})

    # -- ecslite's own API ---------------------------------------------------------------------

    def _own_app(self) -> Starlette:
        from ecslite.agent.exec_server import ExecServer
        from ecslite.providers.ecs.internal_routes import internal_routes
        from ecslite.telemetry.query.routes import query_routes
        from ecslite.telemetry.receivers.loki_push import loki_push_route
        from ecslite.ui.app import UiApp, UiSources

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
                Route("/_ecslite/tasks/{task_id}/containers/{name}/output", self._container_output, methods=["GET"]),
                *self.events.routes(),
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
