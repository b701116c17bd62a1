"""API throughput of ecslite against moto's server, on the same machine and the same requests.

    .venv/bin/python benchmarks/api_throughput.py [--clients 8] [--duration 2] [--rounds 3]

Starts both servers itself (ecslite: ``python -m ecslite server --port 0 --ephemeral --runtime
fake``; moto: ``moto_server`` on a free loopback port), gives both the same state (a cluster and
the otel-demo task definition), then measures in interleaved rounds (ecslite, moto, ecslite, moto,
…) so drift in the machine's load hits both alike. Each measurement runs ``--clients`` threads,
each with one keep-alive ``http.client`` connection, sending requests that were signed once; the
client does as little per request as possible, so the numbers are the servers'.

Prints per operation the requests per second of each server, the ratio ecslite/moto, p50/p99
latency, the geometric mean of the ratios, and ecslite's resident memory (VmRSS) after start-up
and, idle again, after the run; and says which goals are met. Both servers are stopped by pid on
the way out, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from common import free_port

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "000000000000"
TARGET = "AmazonEC2ContainerServiceV20141113"
CLUSTER = "bench"
READS = ("DescribeTaskDefinition", "ListTaskDefinitions", "DescribeClusters")
GOAL_RATIO = 3.0
GOAL_READ_P99_MS = 10.0
GOAL_IDLE_RSS_MB = 80.0


def otel_demo() -> dict[str, Any]:
    text = (REPO / "examples" / "otel-demo" / "task-definition.json").read_text()
    doc: dict[str, Any] = json.loads(text.replace("<AWS_ACCOUNT_ID>", ACCOUNT))
    return doc


def operations() -> dict[str, dict[str, Any]]:
    """Request bodies per operation. Registrations go to their own family, so the reads (and the
    listing, filtered by family) see the same state however many registrations each server took."""
    family = otel_demo()["family"]
    return {
        "DescribeTaskDefinition": {"taskDefinition": family},
        "ListTaskDefinitions": {"familyPrefix": family},
        "RegisterTaskDefinition": {**otel_demo(), "family": "bench-register"},
        "DescribeClusters": {"clusters": [CLUSTER]},
    }


# -- servers -------------------------------------------------------------------------------------


@dataclass
class ServerProcess:
    name: str
    endpoint: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for pid {self.pid}")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def wait_until(predicate: Any, what: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        with contextlib.suppress(OSError, ValueError, KeyError, http.client.HTTPException):
            result = predicate()
            if result:
                return result
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


def http_ok(endpoint: str, path: str) -> bool:
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status < 500
    finally:
        conn.close()


def start_ecslite(data_dir: Path, log: Path) -> ServerProcess:
    args = [sys.executable, "-m", "ecslite", "server", "--port", "0", "--ephemeral", "--runtime", "fake"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*args, "--data-dir", str(data_dir)], stdout=out, stderr=out, stdin=subprocess.DEVNULL
        )
    info_file = data_dir / "server.json"

    def ready() -> str | None:
        info = json.loads(info_file.read_text())
        if info["pid"] != process.pid or not http_ok(info["endpoint"], "/_ecslite/health"):
            return None
        return str(info["endpoint"])

    return ServerProcess("ecslite", wait_until(ready, "ecslite", process), process)


def start_moto(log: Path) -> ServerProcess:
    port = free_port()
    binary = Path(sys.executable).with_name("moto_server")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out, stdin=subprocess.DEVNULL
        )
    endpoint = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_ok(endpoint, "/moto-api/"), "moto_server", process)
    return ServerProcess("moto", endpoint, process)


def prepare(server: ServerProcess) -> None:
    """The same state in both: one cluster, the otel-demo definition, one registered revision."""
    ecs = boto3.client(
        "ecs",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(**otel_demo())
    for name, body in operations().items():
        status, payload = Sender(server.endpoint, signed(name, body)).send()
        if status != 200:
            raise RuntimeError(f"{server.name} answered {name} with {status}: {payload[:300]!r}")


# -- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    body: bytes
    headers: dict[str, str]


def signed(operation: str, params: dict[str, Any]) -> Request:
    """A SigV4-signed ECS request, signed once and sent as often as needed (neither server checks)."""
    body = json.dumps(params).encode()
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{TARGET}.{operation}"},
    )
    SigV4Auth(Credentials("test", "test"), "ecs", REGION).add_auth(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    headers["Content-Length"] = str(len(body))
    return Request(body, headers)


class Sender:
    """One keep-alive connection; reconnects if the server closes it."""

    def __init__(self, endpoint: str, request: Request) -> None:
        host, port = endpoint.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.request = request

    def send(self) -> tuple[int, bytes]:
        self.conn.request("POST", "/", self.request.body, self.request.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def measure(server: ServerProcess, request: Request, clients: int, duration: float, tally: Tally | None) -> None:
    """``clients`` threads send ``request`` for ``duration`` seconds; counts go into ``tally``."""
    start = threading.Barrier(clients + 1)
    lock = threading.Lock()
    stop_at = [0.0]

    def client() -> None:
        sender = Sender(server.endpoint, request)
        latencies: list[float] = []
        errors = 0
        try:
            start.wait()
            while (began := time.perf_counter()) < stop_at[0]:
                status, _ = sender.send()
                latencies.append(time.perf_counter() - began)
                errors += status != 200
        finally:
            sender.close()
        if tally is not None:
            with lock:
                tally.requests += len(latencies)
                tally.errors += errors
                tally.latencies.extend(latencies)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at[0] = began + duration
    start.wait()
    for thread in threads:
        thread.join(duration + 60)
    if tally is not None:
        tally.seconds += time.perf_counter() - began


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


# -- reporting -----------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


@dataclass
class Memory:
    """VmRSS in MB when ready and idle, and idle again after the run; what ecslite's store then holds."""

    start: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    revisions: int = 0
    document_bytes: int = 0


def stored_registrations(server: ServerProcess) -> tuple[int, int]:
    """How many revisions the run registered in ``server``, and the size of one as JSON."""
    request = signed("DescribeTaskDefinition", {"taskDefinition": operations()["RegisterTaskDefinition"]["family"]})
    sender = Sender(server.endpoint, request)
    try:
        status, payload = sender.send()
    finally:
        sender.close()
    if status != 200:
        raise RuntimeError(f"{server.name} answered DescribeTaskDefinition with {status}")
    doc = json.loads(payload)["taskDefinition"]
    return int(doc["revision"]), len(json.dumps(doc))


def report(results: dict[str, dict[str, Tally]], memory: Memory, args: argparse.Namespace) -> bool:
    print(f"\nmachine: {os.cpu_count()} CPUs, {cpu_model()}; Python {platform.python_version()}")
    print(f"clients {args.clients}, {args.rounds} rounds x {args.duration:g} s per server and operation\n")
    print("| operation | ecslite req/s | moto req/s | ratio | ecslite p50 / p99 ms | moto p50 / p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    ratios = []
    worst_read_p99 = 0.0
    for name, by_server in results.items():
        ours, theirs = by_server["ecslite"], by_server["moto"]
        ratio = ours.rate / theirs.rate if theirs.rate else math.inf
        ratios.append(ratio)
        if name in READS:
            worst_read_p99 = max(worst_read_p99, ours.percentile(99))
        print(
            f"| {name} | {ours.rate:,.0f} | {theirs.rate:,.0f} | {ratio:.2f}x "
            f"| {ours.percentile(50):.2f} / {ours.percentile(99):.2f} "
            f"| {theirs.percentile(50):.2f} / {theirs.percentile(99):.2f} |"
        )
    mean = geomean(ratios)
    idle = memory.start["ecslite"]
    data_mb = memory.revisions * memory.document_bytes / 2**20
    print(f"\ngeometric mean of ratios: {mean:.2f}x")
    print(
        f"RSS (VmRSS): ecslite {idle:.1f} MB idle after start-up, {memory.after['ecslite']:.1f} MB idle after "
        f"the run, when its in-memory store holds the {memory.revisions:,} revisions the run registered "
        f"({data_mb:.0f} MB of task definition JSON); moto {memory.start['moto']:.1f} MB / "
        f"{memory.after['moto']:.1f} MB"
    )
    goals = [
        (f"throughput >= {GOAL_RATIO:g}x moto (geomean)", mean >= GOAL_RATIO, f"{mean:.2f}x"),
        (f"read p99 <= {GOAL_READ_P99_MS:g} ms", worst_read_p99 <= GOAL_READ_P99_MS, f"{worst_read_p99:.2f} ms"),
        (f"idle RSS <= {GOAL_IDLE_RSS_MB:g} MB", idle <= GOAL_IDLE_RSS_MB, f"{idle:.1f} MB"),
    ]
    print()
    for goal, met, value in goals:
        print(f"goal {goal}: {'met' if met else 'MISSED'} ({value})")
    errors = sum(t.errors for by_server in results.values() for t in by_server.values())
    if errors:
        print(f"\n{errors} requests did not answer 200")
    return all(met for _, met, _ in goals) and not errors


@contextlib.contextmanager
def servers(workdir: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    started: list[ServerProcess] = []
    # SIGTERM (like Ctrl-C's SIGINT) unwinds through the finally below, which stops both servers.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        started.append(start_ecslite(workdir / "ecslite", workdir / "ecslite.log"))
        started.append(start_moto(workdir / "moto.log"))
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds per server and operation")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ecslite-bench-") as tmp, servers(Path(tmp)) as (ecslite, moto):
        for server in (ecslite, moto):
            prepare(server)
        time.sleep(1.0)
        # Ready and idle: started, the ECS model loaded by the first requests, the state prepared.
        memory = Memory(start={"ecslite": ecslite.rss_mb(), "moto": moto.rss_mb()})
        requests = {name: signed(name, body) for name, body in operations().items()}
        results = {name: {"ecslite": Tally(), "moto": Tally()} for name in requests}
        for request in requests.values():
            for server in (ecslite, moto):
                measure(server, request, args.clients, args.warmup, None)
        for round_no in range(args.rounds):
            print(f"round {round_no + 1}/{args.rounds}", file=sys.stderr)
            for name, request in requests.items():
                for server in (ecslite, moto):
                    measure(server, request, args.clients, args.duration, results[name][server.name])
        time.sleep(2.0)
        memory.after = {"ecslite": ecslite.rss_mb(), "moto": moto.rss_mb()}
        memory.revisions, memory.document_bytes = stored_registrations(ecslite)
        return 0 if report(results, memory, args) else 1


if __name__ == "__main__":
    sys.exit(main())
