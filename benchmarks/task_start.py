"""Task start latency of ecslite's process runtime against ``docker run -d``, and the cost of idle tasks.

    sudo .venv/bin/python benchmarks/task_start.py [--runs 30] [--tasks 200] [--idle-seconds 10] [--no-docker]
                                                   [--idle-only] [--idle-service] [--bridge NAME] [--vpc-cidr CIDR]

Needs root on Linux (the process runtime makes namespaces, veths and cgroups). It starts everything
itself and stops it by pid on the way out, also on errors, Ctrl-C and SIGTERM:

- an ecslite server (``python -m ecslite server --runtime process``) on a free port with its own
  data directory, bridge (``--bridge``, by default ``ecslb<pid>``), VPC (``--vpc-cidr``, by
  default a ``/16`` of 172.16-172.30 chosen by the pid among those no address of the host is in)
  and an image map that maps ``ecslite-bench/sleep:1`` to the host's ``sleep``;
- unless ``--no-docker``: ``dockerd`` on a private socket, data root and bridge (``ecslbd<pid>``
  on a ``/24`` of 10.232.0.0/16 chosen likewise, no iptables), with ``docker.io`` and
  ``busybox-static`` installed by apt-get when missing, and a one-file image made with
  ``docker import`` of a busybox root filesystem (no registry pull).

So runs at the same time on one host keep apart: each has its own bridges and address space, and
removes only the bridges (and the server's nftables table) it made; a bridge that exists already
is refused rather than taken over.

Part 1, start latency, in interleaved rounds (the order rotates every round, so drift in the
machine's load hits all three alike):

- ecslite: RunTask of a one-container ``sleep`` task (Fargate, awsvpc: its own network namespace,
  veth and address, like a Docker container on a bridge) → the first DescribeTasks that shows it
  RUNNING, polled back to back from the client over one keep-alive connection (unsigned JSON
  requests, so the client's own work stays small on a small machine). The controller's own
  ``startedAt - createdAt`` is printed beside it, and the time between its other §3.2 timestamps.
  Each task is stopped (untimed; ``stopTimeout`` 2 s, since ``sleep`` as PID 1 ignores SIGTERM as
  it does in Docker) before the next round.
- docker: ``docker run -d`` of ``sleep 3600`` in the busybox image on the bridge network, until the
  command returns (the container runs); removed untimed afterwards.
- floor: ``unshare -n true``: a process in a new network namespace, the least any of them does.

Part 2, idle cost: ``--tasks`` tasks running at once; then over ``--idle-seconds`` the server's
CPU (utime+stime from ``/proc/<pid>/stat``), and memory per task beyond the containers' own: the
shims' PSS (``/proc/<pid>/smaps_rollup``) plus the server's RSS growth, divided by the task count.
``--idle-only`` runs part 2 alone (no docker, no start rounds, no goals of part 1); with
``--idle-service`` the idle tasks are a service's (CreateService with ``desiredCount`` ``--tasks``,
timed until ``runningCount`` reaches it) instead of RunTask's, deleted again before the tasks stop.

Exits non-zero when a goal is missed: p50 ≤ 50 ms, ≥ 10× faster than docker run (p50), idle
server < 5 % of a core, ≤ 3 MB per task.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import ipaddress
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from common import Owned, cpu_seconds, stop_pid

REGION = "us-east-1"
# Where the default VPC and the docker bridge are chosen from, starting at the pid: outside the
# project's default VPC (172.31.0.0/16) and the tests' 10.x VPCs.
VPC_BLOCKS = [f"172.{octet}.0.0/16" for octet in range(16, 31)]
DOCKER_BLOCKS = [f"10.232.{octet}.0/24" for octet in range(256)]
IMAGE = "ecslite-bench/sleep:1"
DOCKER_IMAGE = "ecslite-bench/busybox:1"
FAMILY = "bench-sleep"
IDLE_SERVICE = "bench-idle"
TARGET = "AmazonEC2ContainerServiceV20141113"
GOAL_P50_MS = 50.0
GOAL_RATIO = 10.0
GOAL_IDLE_CPU_PERCENT = 5.0
GOAL_MB_PER_TASK = 3.0
CLIENT_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60)


@dataclass
class Samples:
    name: str
    values: list[float] = field(default_factory=list)

    def p(self, q: float) -> float:
        ordered = sorted(self.values)
        index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
        return ordered[index]

    def row(self) -> str:
        return (
            f"| {self.name} | {self.p(50):.1f} | {self.p(95):.1f} | {min(self.values):.1f} | "
            f"{max(self.values):.1f} | {len(self.values)} |"
        )


# -- processes we own -------------------------------------------------------------------------------


def run(*args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, **kwargs)


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 60.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


# -- ecslite ----------------------------------------------------------------------------------------


class RawEcs:
    """ECS JSON 1.1 calls on one keep-alive connection, unsigned (the server does not check signatures
    unless told to): what the timed loop uses, so the client's own cost stays small beside the
    server's on a machine with few cores. Timestamps come back as epoch seconds."""

    def __init__(self, endpoint: str) -> None:
        parsed = urllib.parse.urlsplit(endpoint)
        self.connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=60)

    def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        self.connection.request(
            "POST",
            "/",
            body=json.dumps(body),
            headers={"X-Amz-Target": f"{TARGET}.{operation}", "Content-Type": "application/x-amz-json-1.1"},
        )
        response = self.connection.getresponse()
        data: dict[str, Any] = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{operation} failed: {data}")
        return data


@dataclass
class Ecslite:
    pid: int
    endpoint: str
    data_dir: Path
    ecs: Any
    ec2: Any
    raw: RawEcs

    def rss_kb(self) -> int:
        return status_kb(self.pid, "VmRSS")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)


@dataclass(frozen=True)
class Network:
    """This run's bridges and address space (see the module docstring)."""

    bridge: str
    vpc_cidr: str
    docker_bridge: str
    docker_address: str  # the docker bridge's own address, with its prefix


def host_networks() -> list[ipaddress.IPv4Network]:
    """The networks of every IPv4 address on this host (``ip -4 -o addr show``)."""
    shown = run("ip", "-4", "-o", "addr", "show", check=False).stdout
    fields = (line.split() for line in shown.splitlines())
    return [ipaddress.IPv4Interface(f[3]).network for f in fields if len(f) > 3 and f[2] == "inet"]


def unused_block(blocks: list[str], start: int, taken: list[ipaddress.IPv4Network]) -> str:
    """The first of ``blocks``, from ``start`` on, that overlaps none of ``taken``: another run,
    with another pid, starts its search elsewhere and skips what this one already uses."""
    for offset in range(len(blocks)):
        block = ipaddress.IPv4Network(blocks[(start + offset) % len(blocks)])
        if not any(block.overlaps(network) for network in taken):
            return str(block)
    raise RuntimeError(f"every one of {blocks[0]} … {blocks[-1]} overlaps an address of this host")


def choose_network(bridge: str | None, vpc_cidr: str | None) -> Network:
    pid = os.getpid()
    taken = host_networks()
    vpc = vpc_cidr or unused_block(VPC_BLOCKS, pid, taken)
    docker = ipaddress.IPv4Network(unused_block(DOCKER_BLOCKS, pid, [*taken, ipaddress.IPv4Network(vpc)]))
    # Linux allows 15 characters in a link name; a pid has at most 7 digits.
    return Network(bridge or f"ecslb{pid}", vpc, f"ecslbd{pid}", f"{docker.network_address + 1}/{docker.prefixlen}")


def take_bridge(name: str, owned: Owned) -> None:
    """Claim ``name`` for this run: refused when the link exists (another run's, or a server's);
    removed on the way out, after whatever uses it has stopped."""
    if run("ip", "link", "show", name, check=False).returncode == 0:
        raise RuntimeError(f"the link {name} exists already (another run?); choose another with --bridge")
    owned.add(f"bridge {name}", lambda: delete_link(name))


def start_ecslite(work: Path, owned: Owned, network: Network) -> Ecslite:
    data_dir = work / "ecslite"
    data_dir.mkdir()
    image_map = work / "images.json"
    image_map.write_text(json.dumps({IMAGE: {"path": "/", "command": ["sleep", "3600"]}}))
    # Released after the server has stopped; the server removes both itself when it stops cleanly.
    take_bridge(network.bridge, owned)
    owned.add("ecslite nftables table", lambda: delete_nft_table(f"ecslite-{network.bridge}"))
    log = open(data_dir / "server.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecslite",
            "server",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--runtime",
            "process",
            "--bridge",
            network.bridge,
            "--vpc-cidr",
            network.vpc_cidr,
            "--image-map",
            str(image_map),
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        # The host's OTLP and Forward ports may be taken by another server; tasks keep their own
        # implicit OTLP listeners (bound in each task's namespace) either way.
        env={**os.environ, "ECSLITE_OTLP_GRPC_PORT": "0", "ECSLITE_OTLP_HTTP_PORT": "0", "ECSLITE_FORWARD_PORT": "0"},
    )
    log.close()
    owned.add("ecslite server", lambda: stop_pid(process.pid))

    def ready() -> str | None:
        if process.poll() is not None:
            raise RuntimeError(f"ecslite exited: {(data_dir / 'server.log').read_text()[-2000:]}")
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
            info = json.loads((data_dir / "server.json").read_text())
            if info["pid"] == process.pid:
                return str(info["endpoint"])
        return None

    endpoint = wait_for(ready, "the ecslite server")
    with urllib.request.urlopen(f"{endpoint}/_ecslite/health", timeout=10) as response:
        health = json.loads(response.read())
    if health.get("runtime") not in (None, "process"):
        raise RuntimeError(f"ecslite runs the {health.get('runtime')} runtime: {health.get('runtimeReason')}")
    clients = {
        name: boto3.client(
            name,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=CLIENT_CONFIG,
        )
        for name in ("ecs", "ec2")
    }
    server = Ecslite(process.pid, endpoint, data_dir, clients["ecs"], clients["ec2"], RawEcs(endpoint))
    owned.add("ecslite tasks", lambda: stop_all_tasks(server))
    return server


def stop_all_tasks(server: Ecslite) -> None:
    """Tasks outlive the server (their shims stay), so they are stopped before it is."""
    arns: list[str] = []
    for page in server.ecs.get_paginator("list_tasks").paginate(desiredStatus="RUNNING"):
        arns.extend(page["taskArns"])
    for arn in arns:
        server.ecs.stop_task(task=arn, reason="benchmark finished")
    pending = set(arns)
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        batch = list(pending)[:100]
        for task in server.ecs.describe_tasks(tasks=batch)["tasks"]:
            if task["lastStatus"] == "STOPPED":
                pending.discard(task["taskArn"])
        time.sleep(0.2)
    if pending:
        print(f"{len(pending)} tasks did not stop in time", file=sys.stderr)


def run_one(server: Ecslite, subnet: str, count: int = 1) -> tuple[list[str], float]:
    started = time.perf_counter()
    result = server.raw.call(
        "RunTask",
        {
            "taskDefinition": FAMILY,
            "launchType": "FARGATE",
            "count": count,
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": [subnet]}},
        },
    )
    if result.get("failures"):
        raise RuntimeError(f"RunTask failed: {result['failures']}")
    return [t["taskArn"] for t in result["tasks"]], started


def wait_running(server: Ecslite, arns: list[str], timeout: float = 120.0) -> dict[str, dict[str, Any]]:
    """Poll DescribeTasks back to back until every task is RUNNING; returns them as first seen RUNNING."""
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(arns):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(arns) - len(seen)} tasks did not reach RUNNING in {timeout:.0f} s")
        waiting = [a for a in arns if a not in seen]
        for start in range(0, len(waiting), 100):
            for task in server.raw.call("DescribeTasks", {"tasks": waiting[start : start + 100]})["tasks"]:
                if task["lastStatus"] == "RUNNING":
                    seen[task["taskArn"]] = task
                elif task["lastStatus"] == "STOPPED":
                    raise RuntimeError(f"task stopped: {task.get('stoppedReason')}")
    return seen


# The controller's steps between the §3.2 timestamps, for the breakdown of a start.
PHASES = (
    ("createdAt", "connectivityAt", "createdAt → connectivityAt"),
    ("connectivityAt", "pullStartedAt", "connectivityAt → pullStartedAt"),
    ("pullStartedAt", "pullStoppedAt", "pullStartedAt → pullStoppedAt"),
    ("pullStoppedAt", "startedAt", "pullStoppedAt → startedAt"),
)


def measure_ecslite(
    server: Ecslite, subnet: str, samples: Samples, controller: Samples, phases: dict[str, Samples]
) -> None:
    (arn,), started = run_one(server, subnet)
    task = wait_running(server, [arn])[arn]
    samples.values.append((time.perf_counter() - started) * 1000)
    controller.values.append((task["startedAt"] - task["createdAt"]) * 1000)
    for first, second, label in PHASES:
        if task.get(first) and task.get(second):
            phases.setdefault(label, Samples(label)).values.append((task[second] - task[first]) * 1000)
    server.raw.call("StopTask", {"task": arn})
    wait_for(
        lambda: server.raw.call("DescribeTasks", {"tasks": [arn]})["tasks"][0]["lastStatus"] == "STOPPED",
        "the task to stop",
        interval=0.02,
    )


# -- docker -----------------------------------------------------------------------------------------


@dataclass
class Docker:
    socket: str
    pid: int
    binary: str = "docker"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(self.binary, "-H", f"unix://{self.socket}", *args, check=check)


def ensure_packages() -> None:
    missing = [pkg for pkg, probe in (("docker.io", "dockerd"), ("busybox-static", None)) if not installed(pkg, probe)]
    if missing:
        print(f"installing {', '.join(missing)} with apt-get", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-qq", env=env)
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env)


def installed(package: str, program: str | None) -> bool:
    if program is not None and shutil.which(program) is None:
        return False
    status = run("dpkg-query", "-W", "-f=${Status}", package, check=False).stdout
    return "install ok installed" in status


def start_docker(work: Path, owned: Owned, network: Network) -> Docker:
    ensure_packages()
    root = work / "docker"
    root.mkdir()
    take_bridge(network.docker_bridge, owned)
    run("ip", "link", "add", network.docker_bridge, "type", "bridge")
    run("ip", "addr", "add", network.docker_address, "dev", network.docker_bridge)
    run("ip", "link", "set", network.docker_bridge, "up")
    sock = str(root / "docker.sock")
    log = open(root / "dockerd.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [
            "dockerd",
            "--host",
            f"unix://{sock}",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "dockerd.pid"),
            "--bridge",
            network.docker_bridge,
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
        ],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    owned.add("dockerd", lambda: stop_pid(process.pid, timeout=60))
    # The docker.io package's own client, not another one earlier in PATH.
    docker = Docker(sock, process.pid, shutil.which("docker", path="/usr/bin:/bin") or "docker")

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"dockerd exited: {(root / 'dockerd.log').read_text()[-2000:]}")
        return docker.cli("version", check=False).returncode == 0

    wait_for(ready, "dockerd", timeout=60)
    owned.add("docker containers", lambda: remove_containers(docker))
    build_image(docker, work)
    return docker


def delete_link(name: str) -> None:
    run("ip", "link", "del", name, check=False)


def delete_nft_table(name: str) -> None:
    if shutil.which("nft") is not None:
        run("nft", "delete", "table", "ip", name, check=False)


def remove_containers(docker: Docker) -> None:
    ids = docker.cli("ps", "-aq", check=False).stdout.split()
    if ids:
        docker.cli("rm", "-f", *ids, check=False)


def build_image(docker: Docker, work: Path) -> None:
    """A busybox root filesystem from Debian's busybox-static, imported as a one-layer image."""
    rootfs = work / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
    for applet in ("sh", "sleep", "true"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        [docker.binary, "-H", f"unix://{docker.socket}", "import", "-", DOCKER_IMAGE],
        stdin=tar.stdout,
        capture_output=True,
        text=True,
        check=True,
    )
    tar.wait()
    if not imported.stdout.strip():
        raise RuntimeError(f"docker import failed: {imported.stderr}")


def measure_docker(docker: Docker, samples: Samples) -> None:
    started = time.perf_counter()
    container = docker.cli("run", "-d", "--network", "bridge", DOCKER_IMAGE, "sleep", "3600").stdout.strip()
    samples.values.append((time.perf_counter() - started) * 1000)
    docker.cli("rm", "-f", container)


def measure_floor(samples: Samples) -> None:
    started = time.perf_counter()
    subprocess.run(["unshare", "-n", "true"], check=True)
    samples.values.append((time.perf_counter() - started) * 1000)


# -- idle cost --------------------------------------------------------------------------------------


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def rollup_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def shim_pids(data_dir: Path) -> list[int]:
    pids = []
    # Tasks' shims only: spare sandboxes (``pool-…``, runtime/process/pool.py) are not tasks.
    for pid_file in sorted((data_dir / "runtime" / "tasks").glob("[0-9a-f]*/shim.pid")):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text().split()[0])
            if Path(f"/proc/{pid}").exists():
                pids.append(pid)
    return pids


@dataclass
class IdleResult:
    tasks: int
    start_seconds: float
    server_cpu_percent: float
    shims_cpu_percent: float
    server_rss_before_mb: float
    server_rss_after_mb: float
    shims: int
    shim_pss_mb: float
    shim_rss_mb: float
    owner: str = ""  # " of a service" when --idle-service

    @property
    def mb_per_task(self) -> float:
        growth = max(0.0, self.server_rss_after_mb - self.server_rss_before_mb)
        return (self.shim_pss_mb + growth) / self.tasks


def start_service(server: Ecslite, subnet: str, tasks: int, owned: Owned) -> None:
    """A service of ``tasks`` tasks, until all run; deleted (scaled to 0 first) on the way out."""

    def delete() -> None:
        arns: list[str] = []
        for page in server.ecs.get_paginator("list_tasks").paginate(serviceName=IDLE_SERVICE):
            arns.extend(page["taskArns"])
        server.ecs.update_service(service=IDLE_SERVICE, desiredCount=0)
        server.ecs.delete_service(service=IDLE_SERVICE, force=True)
        # Tasks outlive the server: the service's are seen STOPPED before it goes.
        for start in range(0, len(arns), 100):
            batch = arns[start : start + 100]
            wait_for(
                lambda batch=batch: all(
                    t["lastStatus"] == "STOPPED" for t in server.ecs.describe_tasks(tasks=batch)["tasks"]
                ),
                "the service's tasks to stop",
                timeout=120,
                interval=0.2,
            )

    server.ecs.create_service(
        serviceName=IDLE_SERVICE,
        taskDefinition=FAMILY,
        desiredCount=tasks,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet]}},
    )
    owned.add("the idle service", delete)
    wait_for(
        lambda: server.ecs.describe_services(services=[IDLE_SERVICE])["services"][0]["runningCount"] == tasks,
        "the service's tasks to run",
        timeout=600,
        interval=0.2,
    )


def measure_idle(server: Ecslite, subnet: str, tasks: int, window: float, service: Owned | None) -> IdleResult:
    time.sleep(2)
    rss_before = server.rss_kb() / 1024
    started = time.perf_counter()
    if service is not None:
        start_service(server, subnet, tasks, service)
    else:
        arns: list[str] = []
        while len(arns) < tasks:
            launched, _ = run_one(server, subnet, count=min(10, tasks - len(arns)))
            arns.extend(launched)
        wait_running(server, arns, timeout=600)
    start_seconds = time.perf_counter() - started
    # Let the start-up work settle before measuring idle: the spare sandboxes the starts asked for
    # are removed 5 s after the last start (runtime/process/pool.py).
    time.sleep(8)
    shims = shim_pids(server.data_dir)
    cpu_before = server.cpu_seconds()
    shims_before = sum(cpu_seconds(p) for p in shims)
    time.sleep(window)
    cpu_after = server.cpu_seconds()
    shims_after = sum(cpu_seconds(p) for p in shims if Path(f"/proc/{p}").exists())
    return IdleResult(
        owner="" if service is None else " of a service",
        tasks=tasks,
        start_seconds=start_seconds,
        server_cpu_percent=(cpu_after - cpu_before) / window * 100,
        shims_cpu_percent=(shims_after - shims_before) / window * 100,
        server_rss_before_mb=rss_before,
        server_rss_after_mb=server.rss_kb() / 1024,
        shims=len(shims),
        shim_pss_mb=sum(rollup_kb(p, "Pss") for p in shims) / 1024,
        shim_rss_mb=sum(rollup_kb(p, "Rss") for p in shims) / 1024,
    )


# -- the run ----------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )


def default_subnet(server: Ecslite) -> str:
    subnets = server.ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    if not subnets:
        raise RuntimeError("the default VPC has no default subnet")
    return str(sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"])


def register(server: Ecslite) -> None:
    server.ecs.register_task_definition(
        family=FAMILY,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        # `sleep` is PID 1 of its container and has no SIGTERM handler, so it ignores SIGTERM as in
        # Docker; a short stopTimeout keeps the untimed stops between rounds short.
        containerDefinitions=[{"name": "sleep", "image": IMAGE, "essential": True, "stopTimeout": 2}],
    )


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="measured rounds (after 3 warm-up rounds)")
    parser.add_argument("--tasks", type=int, default=200, help="tasks running at once for the idle figures")
    parser.add_argument("--idle-seconds", type=float, default=10.0, help="window of the idle CPU measurement")
    parser.add_argument("--no-docker", action="store_true", help="skip docker run (no ratio, no goal on it)")
    parser.add_argument("--idle-only", action="store_true", help="only the idle cost of --tasks tasks (part 2)")
    parser.add_argument("--idle-service", action="store_true", help="the idle tasks are a service's, not RunTask's")
    parser.add_argument(
        "--bridge", help="the ecslite server's bridge, made and removed by this run (default ecslb<pid>)"
    )
    parser.add_argument(
        "--vpc-cidr", help="the server's default VPC (default: a /16 of 172.16-172.30 no host address is in, by pid)"
    )
    args = parser.parse_args()
    if args.bridge is not None and not 0 < len(args.bridge) <= 15:
        parser.error("--bridge must be a link name of 1 to 15 characters")
    if args.vpc_cidr is not None:
        try:
            ipaddress.IPv4Network(args.vpc_cidr)
        except ValueError as bad:
            parser.error(f"--vpc-cidr: {bad}")
    if os.geteuid() != 0 or sys.platform != "linux":
        print("the process runtime needs root on Linux; run this with sudo", file=sys.stderr)
        return 2
    owned = Owned()
    ecslite_ms, controller_ms = Samples("ecslite RunTask → RUNNING"), Samples("ecslite startedAt − createdAt")
    docker_ms, floor_ms = Samples("docker run -d"), Samples("unshare -n true")
    phases: dict[str, Samples] = {}
    with signals_raise(), tempfile.TemporaryDirectory(prefix="ecslite-bench-") as tmp:
        try:
            work = Path(tmp)
            network = choose_network(args.bridge, args.vpc_cidr)
            print(f"bridge {network.bridge}, VPC {network.vpc_cidr}", file=sys.stderr)
            server = start_ecslite(work, owned, network)
            register(server)
            subnet = default_subnet(server)
            docker = None if args.no_docker or args.idle_only else start_docker(work, owned, network)
            steps: list[Callable[[bool], None]] = [
                lambda keep: measure_ecslite(
                    server,
                    subnet,
                    ecslite_ms if keep else Samples(""),
                    controller_ms if keep else Samples(""),
                    phases if keep else {},
                ),
                lambda keep: measure_floor(floor_ms if keep else Samples("")),
            ]
            if docker is not None:
                steps.insert(1, lambda keep: measure_docker(docker, docker_ms if keep else Samples("")))
            for round_number in range(0 if args.idle_only else 3 + args.runs):
                shift = round_number % len(steps)
                for step in steps[shift:] + steps[:shift]:
                    step(round_number >= 3)
            idle = measure_idle(server, subnet, args.tasks, args.idle_seconds, owned if args.idle_service else None)
        finally:
            owned.release()
    return report(ecslite_ms, controller_ms, docker_ms, floor_ms, phases, idle)


def report(
    ecslite_ms: Samples,
    controller_ms: Samples,
    docker_ms: Samples,
    floor_ms: Samples,
    phases: dict[str, Samples],
    idle: IdleResult,
) -> int:
    print(f"Machine: {machine()}")
    print()
    print("| measurement | p50 ms | p95 ms | min ms | max ms | runs |")
    print("|---|---:|---:|---:|---:|---:|")
    for samples in (ecslite_ms, controller_ms, docker_ms, floor_ms):
        if samples.values:
            print(samples.row())
    print()
    print("ecslite's start by controller phase (§3.2 timestamps, millisecond resolution):")
    print()
    print("| phase | p50 ms | p95 ms | min ms | max ms | runs |")
    print("|---|---:|---:|---:|---:|---:|")
    for samples in phases.values():
        print(samples.row())
    print()
    print(
        f"{idle.tasks} tasks{idle.owner} started in {idle.start_seconds:.1f} s. Idle over the window: server "
        f"{idle.server_cpu_percent:.2f} % of a core, {idle.shims} shims {idle.shims_cpu_percent:.2f} % together. "
        f"Server RSS {idle.server_rss_before_mb:.1f} MB before, {idle.server_rss_after_mb:.1f} MB with the tasks; "
        f"shims PSS {idle.shim_pss_mb:.1f} MB (RSS {idle.shim_rss_mb:.1f} MB) in all."
    )
    goals: list[tuple[str, str, bool]] = []
    if ecslite_ms.values:
        goals.append(("RunTask → RUNNING p50 ≤ 50 ms", f"{ecslite_ms.p(50):.1f} ms", ecslite_ms.p(50) <= GOAL_P50_MS))
    if docker_ms.values and ecslite_ms.values:
        ratio = docker_ms.p(50) / ecslite_ms.p(50)
        goals.append(("≥ 10× faster than docker run -d (p50)", f"{ratio:.1f}×", ratio >= GOAL_RATIO))
    goals.append(
        (
            f"{idle.tasks} idle tasks: server < 5 % of a core",
            f"{idle.server_cpu_percent:.2f} %",
            idle.server_cpu_percent < GOAL_IDLE_CPU_PERCENT,
        )
    )
    goals.append(
        ("≤ 3 MB per task beyond the containers", f"{idle.mb_per_task:.2f} MB", idle.mb_per_task <= GOAL_MB_PER_TASK)
    )
    print()
    print("| goal | result | met |")
    print("|---|---|---|")
    for goal, result, met in goals:
        print(f"| {goal} | {result} | {'yes' if met else 'NO'} |")
    return 0 if all(met for _, _, met in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
