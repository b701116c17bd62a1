"""``ecslite`` commands: ``server`` (foreground or ``--detach``), ``status`` and ``stop``.

Client commands find the server through ``--endpoint`` or ``ECSLITE_ENDPOINT`` and talk to it
over HTTP only.
"""

from __future__ import annotations

import errno
import math
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from stat import S_ISFIFO, S_ISSOCK
from typing import Annotated, Any, NoReturn

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from ecslite import __version__
from ecslite.cli import exec as exec_cli
from ecslite.cli import logs as logs_cli
from ecslite.cli.client import server_health
from ecslite.config import DEFAULT_ENDPOINT, RUNTIMES, Settings, default_data_dir

app = typer.Typer(
    name="ecslite",
    help="Run Amazon ECS workloads on this machine, for real, with observability built in.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)
exec_cli.register(app)
logs_cli.register(app)

EndpointOpt = Annotated[str, typer.Option("--endpoint", envvar="ECSLITE_ENDPOINT", help="URL of the ecslite server.")]
DataDirOpt = Annotated[
    Path,
    typer.Option("--data-dir", envvar="ECSLITE_DATA_DIR", help="Directory for state, pid file and log."),
]


def _version(value: bool) -> None:
    if value:
        console.print(f"ecslite {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Run Amazon ECS workloads on this machine, for real, with observability built in."""


@app.command()
def server(
    host: Annotated[str, typer.Option(envvar="ECSLITE_HOST", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="ECSLITE_PORT", help="Port to bind (0 picks a free one).")] = 4577,
    data_dir: DataDirOpt = default_data_dir(),  # noqa: B008
    runtime: Annotated[str, typer.Option(envvar="ECSLITE_RUNTIME", help=f"One of {', '.join(RUNTIMES)}.")] = "auto",
    account_id: Annotated[
        str, typer.Option(envvar="ECSLITE_ACCOUNT_ID", help="Account id for unsigned or non-numeric keys.")
    ] = "000000000000",
    region: Annotated[
        str, typer.Option(envvar="ECSLITE_REGION", help="Region for requests without a credential scope.")
    ] = "us-east-1",
    ephemeral: Annotated[bool, typer.Option(envvar="ECSLITE_EPHEMERAL", help="Keep state in memory only.")] = False,
    durability: Annotated[
        str,
        typer.Option(envvar="ECSLITE_DURABILITY", help="normal (survives crashes) or full (also power loss)."),
    ] = "normal",
    default_cluster: Annotated[
        bool,
        typer.Option(envvar="ECSLITE_DEFAULT_CLUSTER", help="Create the 'default' cluster on first use."),
    ] = True,
    log_level: Annotated[str, typer.Option(envvar="ECSLITE_LOG_LEVEL", help="debug, info or warning.")] = "warning",
    image_map: Annotated[
        Path | None,
        typer.Option(envvar="ECSLITE_IMAGE_MAP", help="Image map file: JSON, or TOML with an [images] table."),
    ] = None,
    bridge: Annotated[str, typer.Option(envvar="ECSLITE_BRIDGE", help="Host bridge for task networks.")] = "ecslite0",
    vpc_cidr: Annotated[
        str, typer.Option(envvar="ECSLITE_VPC_CIDR", help="CIDR of the default VPC (tasks' addresses).")
    ] = "172.31.0.0/16",
    publish_address: Annotated[
        str, typer.Option(envvar="ECSLITE_PUBLISH_ADDRESS", help="Address bridge-mode host ports bind to.")
    ] = "127.0.0.1",
    otlp_grpc_port: Annotated[
        int, typer.Option(envvar="ECSLITE_OTLP_GRPC_PORT", help="Host OTLP/gRPC receiver on 127.0.0.1 (0: off).")
    ] = 4317,
    otlp_http_port: Annotated[
        int, typer.Option(envvar="ECSLITE_OTLP_HTTP_PORT", help="Host OTLP/HTTP receiver on 127.0.0.1 (0: off).")
    ] = 4318,
    forward_port: Annotated[
        int, typer.Option(envvar="ECSLITE_FORWARD_PORT", help="Host Fluent Forward receiver on 127.0.0.1 (0: off).")
    ] = 24224,
    agent_port: Annotated[
        int,
        typer.Option(
            envvar="ECSLITE_AGENT_PORT",
            help="Port of the agent endpoint, which 169.254.170.2:80 is mapped to (taken or 0: any free port).",
        ),
    ] = 51679,
    implicit_receivers: Annotated[
        bool,
        typer.Option(envvar="ECSLITE_IMPLICIT_RECEIVERS", help="OTLP receivers on localhost:4317/4318 in every task."),
    ] = True,
    telemetry_max_bytes: Annotated[
        int, typer.Option(envvar="ECSLITE_TELEMETRY_MAX_BYTES", help="Size cap of the telemetry store in bytes.")
    ] = 2 * 1024**3,
    telemetry_max_pending: Annotated[
        int,
        typer.Option(envvar="ECSLITE_TELEMETRY_MAX_PENDING", help="Records not yet stored before push-back."),
    ] = 100_000,
    telemetry_override_resource: Annotated[
        bool,
        typer.Option(envvar="ECSLITE_TELEMETRY_OVERRIDE_RESOURCE", help="ECS resource attributes win over the SDK's."),
    ] = False,
    export_otlp: Annotated[
        list[str] | None,
        typer.Option(help="Also send every trace, log and metric to this OTLP/HTTP endpoint (repeatable)."),
    ] = None,
    export_loki: Annotated[
        list[str] | None,
        typer.Option(help="Also push every log record to this Loki push URL (repeatable)."),
    ] = None,
    export_remote_write: Annotated[
        list[str] | None,
        typer.Option(help="Also send every metric sample to this Prometheus remote-write URL (repeatable)."),
    ] = None,
    export_buffer: Annotated[
        bool,
        typer.Option(envvar="ECSLITE_EXPORT_BUFFER", help="Keep export queues on disk across restarts."),
    ] = False,
    runtime_metrics_interval: Annotated[
        float,
        typer.Option(envvar="ECSLITE_RUNTIME_METRICS_INTERVAL", help="Seconds between container stats samples."),
    ] = 10.0,
    scrape_interval: Annotated[
        float,
        typer.Option(envvar="ECSLITE_SCRAPE_INTERVAL", help="Seconds between scrapes of marked metrics ports."),
    ] = 15.0,
    metrics_period: Annotated[
        float,
        typer.Option(
            envvar="ECSLITE_METRICS_PERIOD",
            help="Seconds one CloudWatch minute lasts: alarm periods and scaling cooldowns shrink in proportion "
            "(default 60, AWS's timing).",
        ),
    ] = 60.0,
    service_throttle_max: Annotated[
        float,
        typer.Option(
            envvar="ECSLITE_SERVICE_THROTTLE_MAX",
            help="Longest pause, in seconds, between launches of a service whose tasks keep failing to start.",
        ),
    ] = 900.0,
    capacity_wait_timeout: Annotated[
        float,
        typer.Option(
            envvar="ECSLITE_CAPACITY_WAIT_TIMEOUT",
            metavar="SECONDS",
            help="How long a task waits in PROVISIONING for managed-scaling capacity before it stops with "
            "TaskFailedToStart (ECS: 10 to 30 minutes).",
        ),
    ] = 1800.0,
    host_credentials: Annotated[
        bool,
        typer.Option(
            envvar="ECSLITE_HOST_CREDENTIALS",
            help="Serve tasks that have a task role this host's own AWS credentials (botocore's default chain) "
            "instead of ecslite's role credentials, for calls to a real AWS account. Off by default: without "
            "it a task never sees the host's keys.",
        ),
    ] = False,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run in the background.")] = False,
) -> None:
    """Run the ecslite server."""
    if runtime not in RUNTIMES:
        err.print(f"[red]Unknown runtime {runtime!r}[/]; choose one of {', '.join(RUNTIMES)}.")
        raise typer.Exit(2)
    if metrics_period <= 0:
        err.print("[red]--metrics-period must be a positive number of seconds.[/]")
        raise typer.Exit(2)
    if not 0 < capacity_wait_timeout < math.inf:
        err.print("[red]--capacity-wait-timeout must be a positive number of seconds.[/]")
        raise typer.Exit(2)
    if durability not in ("normal", "full"):
        err.print(f"[red]Unknown durability {durability!r}[/]; choose normal or full.")
        raise typer.Exit(2)
    settings = Settings(
        host=host,
        port=port,
        data_dir=data_dir.expanduser().resolve(),
        ephemeral=ephemeral,
        runtime=runtime,
        account_id=account_id,
        region=region,
        durability=durability,
        log_level=log_level,
        create_default_cluster=default_cluster,
        image_map=image_map.expanduser().resolve() if image_map else None,
        bridge=bridge,
        vpc_cidr=vpc_cidr,
        publish_address=publish_address,
        otlp_grpc_port=otlp_grpc_port,
        otlp_http_port=otlp_http_port,
        forward_port=forward_port,
        agent_port=agent_port,
        implicit_receivers=implicit_receivers,
        telemetry_max_bytes=telemetry_max_bytes,
        telemetry_max_pending=telemetry_max_pending,
        telemetry_override_resource=telemetry_override_resource,
        export_otlp=tuple(export_otlp or ()),
        export_loki=tuple(export_loki or ()),
        export_remote_write=tuple(export_remote_write or ()),
        export_buffer=export_buffer,
        runtime_metrics_interval=runtime_metrics_interval,
        scrape_interval=scrape_interval,
        metrics_period=metrics_period,
        service_throttle_max_seconds=service_throttle_max,
        capacity_wait_timeout_seconds=capacity_wait_timeout,
        host_credentials=host_credentials,
    )
    running = _running_server(settings)
    if running is not None:
        err.print(
            f"ecslite is already running for {settings.data_dir} (pid {running['pid']}) at {running['endpoint']}."
        )
        raise typer.Exit(1)
    if detach:
        _detach(settings)
        return
    from ecslite.logconfig import configure
    from ecslite.runtime.select import RuntimeUnavailable
    from ecslite.server import DataDirInUse, serve
    from ecslite.telemetry.receivers.listeners import ReceiverPortBusy

    configure(log_level)
    try:
        serve(settings)
    except (RuntimeUnavailable, DataDirInUse, ReceiverPortBusy) as error:
        err.print(f"[red]{error}[/]")
        raise typer.Exit(1) from None
    except OSError as error:
        err.print(f"[red]Cannot start ecslite on {host}:{port}: {error.strerror or error}[/]")
        raise typer.Exit(1) from None


def _running_server(settings: Settings) -> dict[str, Any] | None:
    """The info of a live server that owns this data directory, if any."""
    try:
        info: dict[str, Any] = orjson.loads(settings.info_file.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    return info if _alive(int(info.get("pid", 0))) else None


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return not stat[stat.rfind(")") + 2 :].startswith("Z")


def _detach(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    args = [a for a in sys.argv[1:] if a not in ("--detach", "-d")]
    with contextlib_open(settings.log_file) as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "ecslite", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    with console.status("Starting ecslite…"):
        while time.monotonic() < deadline:
            if child.poll() is not None:
                err.print(f"[red]ecslite exited with status {child.returncode}[/]; see {settings.log_file}")
                raise typer.Exit(1)
            info = _running_server(settings)
            if info is not None and info.get("pid") == child.pid and _healthy(info["endpoint"]):
                console.print(
                    f"ecslite is running at [bold]{info['endpoint']}[/] (pid {child.pid}, log {settings.log_file})"
                )
                return
            time.sleep(0.05)
    err.print(f"[red]ecslite did not become healthy within 30 s[/]; see {settings.log_file}")
    raise typer.Exit(1)


def contextlib_open(path: Path) -> Any:
    return open(path, "ab")


def _healthy(endpoint: str) -> bool:
    try:
        return httpx.get(f"{endpoint}/_ecslite/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@app.command()
def status(endpoint: EndpointOpt = DEFAULT_ENDPOINT) -> None:
    """Show whether the server is up, and what it runs."""
    health = server_health(endpoint)
    if health is None:
        err.print(f"ecslite is not running at {endpoint}. Start it with: ecslite server --detach")
        raise typer.Exit(1)
    table = Table(show_header=False, box=None)
    table.add_row("endpoint", endpoint)
    table.add_row("version", str(health["version"]))
    table.add_row("runtime", f"{health['runtime']} ({health.get('runtimeReason', '')})")
    table.add_row("uptime", f"{health['uptimeSeconds']:.0f} s")
    table.add_row("pid", str(health["pid"]))
    table.add_row("data", health["dataDir"] + (" (in memory)" if health.get("ephemeral") else ""))
    table.add_row("account / region", f"{health['accountId']} / {health['region']}")
    table.add_row("services", ", ".join(health["services"]))
    if health.get("localCa"):
        table.add_row("local CA", f"{health['localCa']} (trust it to reach HTTPS listeners)")
    console.print(table)


@app.command()
def stop(endpoint: EndpointOpt = DEFAULT_ENDPOINT, data_dir: DataDirOpt = default_data_dir()) -> None:  # noqa: B008
    """Stop the server (found through its endpoint, else through the pid file in the data dir)."""
    from ecslite.server import read_pid, terminate

    health = server_health(endpoint)
    pid = int(health["pid"]) if health else read_pid(data_dir.expanduser() / "server.pid")
    if pid is None or not _alive(pid):
        err.print(f"ecslite is not running at {endpoint}.")
        raise typer.Exit(1)
    with console.status(f"Stopping ecslite (pid {pid})…"):
        terminate(pid)
    console.print(f"ecslite (pid {pid}) stopped.")


def _add_commands() -> None:
    from ecslite.cli.instances import instances_app, spot_app

    app.add_typer(instances_app, name="instances")
    app.add_typer(spot_app, name="spot")
    _add_operator_commands()
    from ecslite.cli import up as up_cli

    up_cli.register(app)


def _add_operator_commands() -> None:
    """``ps``, ``services``, ``schedules``, ``stacks``, ``events``, ``traces``, ``trace`` and ``top``."""
    from ecslite.cli import events as events_cli
    from ecslite.cli import ps as ps_cli
    from ecslite.cli import schedules as schedules_cli
    from ecslite.cli import services as services_cli
    from ecslite.cli import stacks as stacks_cli
    from ecslite.cli import top as top_cli
    from ecslite.cli import traces as traces_cli

    ps_cli.register(app)
    services_cli.register(app)
    schedules_cli.register(app)
    stacks_cli.register(app)
    events_cli.register(app)
    traces_cli.register(app)
    top_cli.register(app)


_add_commands()


def main() -> None:
    """The ``ecslite`` program: every command, ending like a Unix tool when its reader goes away.

    ``ecslite ps | head`` closes the pipe early; rich and click then turn the failed write into exit
    status 1 (or a traceback). ``git`` and ``kubectl`` (whose Go runtime does this for fd 1 and 2)
    die of SIGPIPE instead, and so does ecslite: the shell shows 141 and prints nothing, and
    ``set -o pipefail`` scripts treat it as they treat theirs. A command that wrote nothing ends as
    it would have; a broken pipe on anything but stdout or stderr (a socket) keeps its own outcome.
    """
    watched = _watch_output()
    try:
        app()
    except (SystemExit, BrokenPipeError) as ended:
        if _lost_reader(ended, watched) or _last_flush_lost_reader(watched):
            _die_of_sigpipe()
        raise
    finally:
        for fd in watched:
            os.close(fd)


def _watch_output() -> list[int]:
    """Duplicates of stdout and stderr where they are pipes or sockets: rich points fd 1 at /dev/null
    when a write fails, so the question "did the reader go away" is asked of these."""
    watched = []
    for fd in (1, 2):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if S_ISFIFO(mode) or S_ISSOCK(mode):
            watched.append(os.dup(fd))
    return watched


def _lost_reader(ended: BaseException, watched: list[int]) -> bool:
    """True when ``ended`` came from a broken pipe and stdout's or stderr's reader is gone."""
    seen: BaseException | None = ended
    broken = False
    while seen is not None and not broken:
        broken = isinstance(seen, OSError) and seen.errno == errno.EPIPE
        seen = seen.__context__
    if not broken or not watched:
        return False
    poller = select.poll()
    for fd in watched:
        poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _last_flush_lost_reader(watched: list[int]) -> bool:
    """Flush what a command left buffered now, not at interpreter exit, where a broken pipe would
    print "Exception ignored" and end with status 120."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError as error:
            return _lost_reader(error, watched)
    return False


def _die_of_sigpipe() -> NoReturn:
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(null, fd)  # nothing left to say, and nothing to fail at a last flush
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    os._exit(128 + signal.SIGPIPE)  # the default action ends the process before this line
