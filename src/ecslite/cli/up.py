"""``ecslite up DIR`` and ``ecslite down DIR``: a project (``DIR/ecslite.toml``) deployed and removed.

``up``, in order (spec/otel-demo.md §4.1): read and check the project; check the host's
prerequisites; build or reuse the virtualenvs; find the server (else start one with the project's
image map and region); create log groups, the cluster, the Cloud Map namespace and services (when
the server has Cloud Map); then deploy the services in their ``after`` order — a service whose
``after`` names others is registered once those have a RUNNING task of their current deployment,
whose addresses fill ``{address:<service>}`` — and watch every deployment (:mod:`ecslite.cli.rollout`)
until all are ready, one has failed, or ``--timeout`` passes. Exit status 0 when ready, 1 when a
deployment failed or the time ran out (with the reason), 2 for a bad project or option.
``--export-to sink`` (default) points routers' Loki, Tempo and Thanos hosts at ecslite's export sink
(:mod:`ecslite.cli.deploy`) and the summary prints its URLs; ``real`` keeps the task definition's.

``down`` removes what ``up`` created, in reverse: scalable targets, services (scaled to 0 and
deleted with force), waiting until their tasks are STOPPED; Cloud Map services and namespace; the
task definition revisions ``up`` registered; the cluster. Log groups stay unless ``--delete-logs``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from ecslite.cli import local_server
from ecslite.cli.client import Client, CliError, reporting, server_health, usage_error
from ecslite.cli.deploy import EXPORT_TARGETS, Applied, Deployer
from ecslite.cli.envs import EnvironmentBuildFailed, ensure_venv
from ecslite.cli.project import Project, ProjectError, Service, fill_addresses, load_project, select_services
from ecslite.cli.rollout import ServiceView, observe, table
from ecslite.config import DEFAULT_ENDPOINT, default_data_dir

console = Console()
err = Console(stderr=True)
POLL_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 120.0

ProjectArg = Annotated[Path, typer.Argument(help="Project directory (with ecslite.toml).")]
EndpointOpt = Annotated[str, typer.Option("--endpoint", envvar="ECSLITE_ENDPOINT", help="URL of the ecslite server.")]


def register(app: typer.Typer) -> None:
    app.command("up")(up_command)
    app.command("down")(down_command)


def up_command(
    directory: ProjectArg,
    profile: Annotated[str | None, typer.Option("--profile", help="Also deploy the services of this profile.")] = None,
    router_config: Annotated[
        str | None, typer.Option("--router-config", help="Which router root to run: seed or fixed.")
    ] = None,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", envvar="ECSLITE_DATA_DIR", help="Data directory of a server up starts."),
    ] = default_data_dir(),  # noqa: B008
    runtime: Annotated[
        str, typer.Option("--runtime", help="Runtime of a server up starts: auto, process or fake.")
    ] = "auto",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for every service.")] = 180.0,
    export_to: Annotated[
        str,
        typer.Option(
            "--export-to",
            help="Where routers export: sink (ecslite's export sink stands in for Loki, Tempo and Thanos) "
            "or real (the task definition's hosts).",
        ),
    ] = "sink",
) -> None:
    """Deploy a project (DIR/ecslite.toml) and wait until every service is ready."""
    with reporting(err):
        if export_to not in EXPORT_TARGETS:
            raise usage_error(f"--export-to must be one of {', '.join(EXPORT_TARGETS)}.")
        try:
            project = load_project(directory)
            waves = select_services(project, profile)
        except ProjectError as error:
            raise usage_error(str(error)) from None
        configs = local_server.router_configs(project)
        if router_config is not None and router_config not in configs:
            raise usage_error(f"--router-config must be one of {', '.join(configs) or '(none in the project)'}.")
        chosen = router_config or (configs[0] if configs else None)
        services = [s for wave in waves for s in wave]
        client, remapped = _server(project, services, endpoint, data_dir.expanduser().resolve(), runtime, chosen)
        with client:
            Up(client, project, services, timeout, remapped, export_to=export_to).run()


def _server(
    project: Project, services: list[Service], endpoint: str, data_dir: Path, runtime: str, router_config: str | None
) -> tuple[Client, bool]:
    """A client of the project's server (started when none answers), and whether a running server's
    image map was just rewritten (another ``--router-config``)."""
    found = server_health(endpoint)
    wanted_runtime = runtime if found is None else str(found.get("runtime"))
    problems = local_server.prerequisite_problems(services, "fake" if wanted_runtime == "fake" else "process")
    if problems:
        raise CliError("This host cannot run the project yet:\n- " + "\n- ".join(problems))
    _prepare_environments(project)
    remapped = False
    if found is None:
        local_server.write_map(project, router_config)
        console.print(f"Starting ecslite at {endpoint} (data in {data_dir})…")
        found = local_server.start(project, endpoint, data_dir, runtime, local_server.generated_map(project))
    else:
        if found.get("imageMap") and Path(str(found["imageMap"])) == local_server.generated_map(project):
            remapped = local_server.write_map(project, router_config)
        problem = local_server.image_map_problem(found, endpoint, project, services, router_config)
        if problem:
            raise CliError(problem)
        console.print(f"Using ecslite at {endpoint} (pid {found['pid']}, {found['runtime']} runtime).")
    if found.get("runtime") != "process":
        console.print(
            f"[yellow]The server runs the {found.get('runtime')} runtime ({found.get('runtimeReason', '')}): "
            "tasks walk the ECS lifecycle, but no process runs.[/]"
        )
    return Client(endpoint, project.region), remapped


def _prepare_environments(project: Project) -> None:
    for environment in project.environments:
        try:
            prepared = ensure_venv(
                environment.name,
                environment.requirements,
                project.directory,
                on_build=lambda name: console.print(f"Building the virtualenv {name} (cached afterwards)…"),
            )
        except EnvironmentBuildFailed as error:
            raise CliError(str(error)) from None
        if prepared.built:
            console.print(f"virtualenv {environment.name} ready ({prepared.path})")


class Up:
    """One ``up`` run: shared resources, then services deployed as their ``after`` allows, watched."""

    def __init__(
        self,
        client: Client,
        project: Project,
        services: list[Service],
        timeout: float,
        remapped: bool = False,
        *,
        export_to: str = "sink",
    ) -> None:
        self.client = client
        # The image map changed under running tasks: their images now run something else, which
        # only new tasks pick up, so unchanged services get a new deployment.
        self.remapped = remapped
        self.project = project
        self.services = services
        self.timeout = timeout
        self.deployer = Deployer(client, project, lambda text: console.print(f"  {text}"), export_to=export_to)
        self.applied: dict[str, Applied] = {}
        self.views: dict[str, ServiceView] = {}
        self.registries: dict[str, str] = {}

    def run(self) -> None:
        self.deployer.apply_log_groups()
        self.deployer.apply_cluster()
        cloud_map = "servicediscovery" in self.client.get_json("/_ecslite/health").get("services", {})
        if cloud_map:
            self.registries = self.deployer.apply_cloud_map(self.services)
        elif any(s.registries for s in self.services):
            console.print("  this server has no Cloud Map: registries are skipped ({address:…} overrides apply)")
        started = time.monotonic()
        self._watch(started)
        self._summary(time.monotonic() - started)

    def _watch(self, started: float) -> None:
        live = Live(console=console, auto_refresh=False, transient=False) if console.is_terminal else None
        printed: dict[str, str] = {}
        try:
            if live is not None:
                live.start()
            while True:
                self._deploy_what_can_start()
                self._observe()
                waiting = {s.name: f"after {', '.join(s.after)}" for s in self.services if s.name not in self.applied}
                views = [self.views[s.name] for s in self.services if s.name in self.views]
                if live is not None:
                    live.update(table(views, waiting), refresh=True)
                else:
                    for view in views:
                        if printed.get(view.name) != view.line():
                            printed[view.name] = view.line()
                            console.print(view.line(), soft_wrap=True, markup=False, highlight=False)
                failed = [v for v in views if v.failure]
                if failed:
                    raise CliError("\n".join(f"Deployment of {v.name} failed: {v.failure}" for v in failed))
                if not waiting and all(v.ready for v in views):
                    return
                if time.monotonic() - started > self.timeout:
                    raise CliError(self._timeout_text(views, waiting))
                time.sleep(POLL_SECONDS)
        finally:
            if live is not None:
                live.stop()

    def _deploy_what_can_start(self) -> None:
        for service in self.services:
            if service.name in self.applied:
                continue
            addresses = self._addresses()
            if not all(other in addresses for other in service.after):
                continue
            registered = self.deployer.register(service, addresses)
            applied = self.deployer.apply_service(service, registered, self.registries, force=self.remapped)
            self.deployer.apply_autoscaling(service)
            self.applied[service.name] = applied

    def _addresses(self) -> dict[str, str]:
        """A RUNNING task's address of each deployed service that has one (``{address:<service>}``)."""
        out = {}
        for name, view in self.views.items():
            addresses = view.addresses()
            if addresses:
                out[name] = addresses[0]
        return out

    def _observe(self) -> None:
        for service in self.services:
            applied = self.applied.get(service.name)
            if applied is None:
                continue
            containers = applied.task_definition.definition["containerDefinitions"]
            checked = [c["name"] for c in containers if (c.get("healthCheck") or {}).get("command")]
            breaker = bool(service.deployment.circuit_breaker and service.deployment.circuit_breaker[0])
            self.views[service.name] = observe(
                self.client, self.project.cluster, service.name, applied.deployment_id, checked, breaker
            )

    def _timeout_text(self, views: list[ServiceView], waiting: Mapping[str, str]) -> str:
        lines = [f"Not every service was ready within {self.timeout:.0f} s (--timeout):"]
        lines += [f"- {v.line()}" for v in views if not v.ready]
        lines += [f"- {name}: not deployed yet ({why})" for name, why in waiting.items()]
        return "\n".join(lines)

    # -- what to try next ---------------------------------------------------------------------------

    def _summary(self, seconds: float) -> None:
        endpoint = self.client.endpoint
        console.print(f"\n[green]Ready[/] in {seconds:.1f} s: {', '.join(s.name for s in self.services)}.")
        console.print(f"\n[bold]UI[/]           {endpoint}/ui")
        for service in self.services:
            self._service_urls(service)
        console.print("\n[bold]Grafana data sources[/]")
        console.print(f"  Prometheus   {endpoint}/prometheus")
        console.print(f"  Loki         {endpoint}  (Grafana appends /loki/api/v1)")
        console.print(f"  Tempo        {endpoint}/tempo")
        self._sink_summary()
        self._load_balancer_summary()
        addresses = self._addresses()
        tries = [t for t in (fill_addresses(c, addresses) for c in self.project.try_commands) if t]
        if tries:
            console.print("\n[bold]Try[/]")
            for command in tries:
                console.print(f"  {command}", soft_wrap=True, markup=False)
        flags = "" if endpoint == DEFAULT_ENDPOINT else f" --endpoint {endpoint}"
        console.print("\n[bold]Next[/]")
        console.print(f"  ecslite ps{flags}")
        container = self._first_app_container()
        if container:
            console.print(f"  ecslite logs -f {container}{flags}")
        console.print(f"  ecslite traces{flags}")
        console.print(f"  ecslite down {self.project.directory}{flags}")

    def _sink_summary(self) -> None:
        """Where the routers' Loki, Tempo and Thanos went (``--export-to sink``), and whether the
        server's sink answers there (spec/otel-demo.md §4.1 step 2)."""
        address = self.deployer.sink_address
        if address is None:
            return
        console.print("\n[bold]Export sink[/] (the routers' LOKI/TEMPO/THANOS_ENDPOINT; checked, counted, not stored)")
        sink = self.client.get_json("/_ecslite/telemetry/stats").get("sink")
        ports = (sink or {}).get("ports") or {"loki": 3100, "otlp": 4318, "remote_write": 19291}
        console.print(f"  Loki         http://{address}:{ports['loki']}/loki/api/v1/push")
        console.print(f"  Tempo        http://{address}:{ports['otlp']}/v1/traces")
        console.print(f"  Thanos       http://{address}:{ports['remote_write']}/api/v1/receive")
        if sink is None:
            console.print("  [yellow]this server runs no export sink (process runtime only): exports will fail[/]")
        elif not sink.get("listening"):
            console.print(f"  [yellow]the export sink is off: {sink.get('problem')}[/]")

    def _load_balancer_summary(self) -> None:
        """Where the server's local ALB serves each listener: on this host, and (process runtime) to
        tasks at the load balancer's own addresses, which its DNS name resolves to inside tasks."""
        listeners = self.client.get_json("/_ecslite/elb/listeners") or {}
        if not listeners:
            return
        console.print("\n[bold]Load balancers[/]")
        for served in sorted(listeners.values(), key=lambda v: (str(v.get("dnsName")), v["endpoint"])):
            tasks = ", ".join(f"http://{e}" for e in served.get("privateEndpoints") or [])
            line = f"  {served.get('dnsName') or served['loadBalancerArn']}  http://{served['endpoint']}"
            console.print(line + (f"  (tasks: {tasks})" if tasks else ""), soft_wrap=True, markup=False)

    def _service_urls(self, service: Service) -> None:
        view = self.views.get(service.name)
        applied = self.applied.get(service.name)
        if view is None or applied is None:
            return
        containers = applied.task_definition.definition["containerDefinitions"]
        for address in view.addresses():
            console.print(f"\n[bold]{service.name}[/] task at {address}")
            for container in containers:
                urls = [_url(address, m) for m in container.get("portMappings") or []]
                if container.get("firelensConfiguration"):
                    # The router's monitoring API (Fluent Bit's HTTP_Server on 2020, spec §1.1).
                    urls = [f"http://{address}:2020/api/v1/health"]
                if urls:
                    console.print(f"  {container['name']:<16} {'  '.join(urls)}")

    def _first_app_container(self) -> str | None:
        for service in self.services:
            applied = self.applied.get(service.name)
            if applied is None:
                continue
            for container in applied.task_definition.definition["containerDefinitions"]:
                if not container.get("firelensConfiguration"):
                    return str(container["name"])
        return None


def _url(address: str, mapping: Mapping[str, object]) -> str:
    port = mapping.get("containerPort")
    path = "/metrics" if str(mapping.get("name", "")).endswith("-metrics") else ""
    return f"http://{address}:{port}{path}"


def down_command(
    directory: ProjectArg,
    profile: Annotated[str | None, typer.Option("--profile", help="Also remove the services of this profile.")] = None,
    endpoint: EndpointOpt = DEFAULT_ENDPOINT,
    delete_logs: Annotated[bool, typer.Option("--delete-logs", help="Also delete the project's log groups.")] = False,
    stop_server: Annotated[
        bool, typer.Option("--stop-server/--keep-server", help="Also stop the server, if ecslite up started it.")
    ] = False,
) -> None:
    """Remove what ecslite up created for a project."""
    with reporting(err):
        try:
            project = load_project(directory)
            services = [s for wave in select_services(project, profile) for s in wave]
        except ProjectError as error:
            raise usage_error(str(error)) from None
        if server_health(endpoint) is None:
            raise CliError(f"ecslite is not running at {endpoint}; nothing to remove.")
        with Client(endpoint, project.region) as client:
            _down(client, project, services, delete_logs)
        if stop_server:
            _stop_server(project, endpoint)


def _down(client: Client, project: Project, services: list[Service], delete_logs: bool) -> None:
    deployer = Deployer(client, project, lambda text: console.print(f"  {text}"))
    for service in reversed(services):
        deployer.remove_autoscaling(service)
        deployer.remove_service(service)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    with console.status("Waiting for the tasks to stop…"):
        while live := deployer.live_tasks():
            if time.monotonic() > deadline:
                ids = ", ".join(t["taskArn"].rsplit("/", 1)[-1] for t in live)
                raise CliError(f"Tasks still running after {STOP_TIMEOUT_SECONDS:.0f} s: {ids}")
            time.sleep(0.5)
    console.print("  every task stopped")
    if "servicediscovery" in client.get_json("/_ecslite/health").get("services", {}):
        deployer.remove_cloud_map(services)
    deployer.remove_task_definitions(services)
    deployer.remove_cluster()
    if delete_logs:
        deployer.remove_log_groups()
    elif project.log_groups:
        names = ", ".join(g.name for g in project.log_groups)
        console.print(f"  log groups kept: {names} (--delete-logs removes them)")
    console.print(f"[green]Removed[/] {project.name}.")


def _stop_server(project: Project, endpoint: str) -> None:
    from ecslite.server import terminate

    started = local_server.started_by_up(project)
    found = server_health(endpoint)
    if started is None or found is None or found.get("pid") != started.get("pid"):
        console.print(f"The server at {endpoint} was not started by ecslite up: left running.")
        return
    with console.status(f"Stopping ecslite (pid {started['pid']})…"):
        terminate(int(started["pid"]))
    local_server.forget_started(project)
    console.print(f"ecslite (pid {started['pid']}) stopped.")
