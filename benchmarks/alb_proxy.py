"""The local ALB's proxy: keep-alive requests through a listener against the same requests sent
straight to the target, in one run.

    .venv/bin/python benchmarks/alb_proxy.py [--requests 20000] [--clients 4] [--rounds 3] [--body 256]

Starts ``python -m ecslite server --port 0 --ephemeral --runtime fake`` and a minimal HTTP/1.1
target (an asyncio protocol on uvloop in its own process, answering every request with
``--body`` bytes and ``Content-Length``), then through ecslite's API: a target group whose
instance target reaches the target's port on 127.0.0.1, an internet-facing load balancer on the
default subnets and an HTTP listener forwarding to the group. A client process (asyncio on uvloop,
one keep-alive connection per client, one request in flight on each, no pipelining) sends
``--requests`` GETs spread over ``--clients`` connections, through the listener (ecslite) and
straight to the target (the peer), in interleaved rounds (ecslite, peer, ecslite, …) so drift in the
machine's load hits both alike. Every answer must be a 200 with the target's body.

Prints per side the requests per second and the CPU time per request of the process that served
them (ecslite's server through ``/proc/<pid>/stat``, user + system, all threads; the target's for
the peer), the best round of each, the ratio of the rates and the proxy's CPU per request beside
the target's. Goal: at most 150 µs of server CPU per proxied request (a tenth of the proxy's cost
with h11 and httpx); exits non-zero when missed. Both processes are stopped by pid on the way out,
also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import boto3
import httpx
from botocore.config import Config

from common import Owned, cpu_seconds, free_port, stop_pid

REGION = "us-east-1"
GOAL_CPU_US = 150.0
REQUEST = b"GET /bench?x=1 HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: alb-bench\r\nAccept: */*\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


# -- the target (child process) ------------------------------------------------------------------


def serve_target(port: int, body_size: int) -> None:
    """A keep-alive HTTP/1.1 server that answers every request head with the same 200."""
    import uvloop

    body = (b"0123456789abcdef" * (body_size // 16 + 1))[:body_size]
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    class Target(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: Any = transport
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            # The benchmark's requests and health checks carry no body: a head ends each one.
            self.buffer += data
            heads = self.buffer.count(b"\r\n\r\n")
            if heads:
                self.buffer = self.buffer[self.buffer.rfind(b"\r\n\r\n") + 4 :]
                self.transport.write(answer * heads)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Target, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


# -- the clients (child process) -----------------------------------------------------------------


def run_clients(port: int, requests: int, clients: int, body_size: int) -> None:
    """``requests`` GETs over ``clients`` keep-alive connections; prints ``{"seconds", "failed"}``."""
    import uvloop

    class Client(asyncio.Protocol):
        def __init__(self, count: int, done: asyncio.Future[int]) -> None:
            self.left = count
            self.done = done
            self.buffer = b""
            self.failed = 0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.link = cast(asyncio.Transport, transport)
            self.link.write(REQUEST)

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            found = CONTENT_LENGTH.search(self.buffer, 0, end + 2)
            length = int(found.group(1)) if found else 0
            if len(self.buffer) < end + 4 + length:
                return
            if self.buffer[9:12] != b"200" or length != body_size:
                self.failed += 1
            self.buffer = self.buffer[end + 4 + length :]
            self.left -= 1
            if self.left:
                self.link.write(REQUEST)
            elif not self.done.done():
                self.done.set_result(self.failed)

        def connection_lost(self, exc: Exception | None) -> None:
            if not self.done.done():
                self.done.set_result(self.failed + self.left)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        shares = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
        futures: list[asyncio.Future[int]] = [loop.create_future() for _ in shares]
        started = time.perf_counter()
        transports = []
        for share, future in zip(shares, futures, strict=True):
            transport, _ = await loop.create_connection(functools.partial(Client, share, future), "127.0.0.1", port)
            transports.append(transport)
        failed = sum(await asyncio.wait_for(asyncio.gather(*futures), 600))
        seconds = time.perf_counter() - started
        for transport in transports:
            transport.close()
        print(json.dumps({"seconds": seconds, "failed": failed}))

    uvloop.run(main())


# -- the run --------------------------------------------------------------------------------------


@dataclass
class Round:
    requests: int
    seconds: float
    cpu: float  # CPU seconds of the serving process during the round

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.requests * 1e6


def child(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args]


def measure(port: int, server_pid: int, args: argparse.Namespace) -> Round:
    before = cpu_seconds(server_pid)
    out = subprocess.run(
        child("--run-clients", str(port), str(args.requests), str(args.clients), str(args.body)),
        capture_output=True,
        check=True,
        timeout=900,
    )
    used = cpu_seconds(server_pid) - before
    result = json.loads(out.stdout)
    if result["failed"]:
        raise SystemExit(f"{result['failed']} requests failed or were answered wrongly on port {port}")
    return Round(args.requests, float(result["seconds"]), used)


def wait_until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError, httpx.HTTPError):
            value = check()
            if value:
                return value
        time.sleep(0.1)
    raise SystemExit(f"{what} not ready within {timeout:.0f} s")


def start_ecslite(data_dir: Path, owned: Owned) -> tuple[int, str]:
    command = [sys.executable, "-m", "ecslite", "server", "--port", "0", "--ephemeral", "--runtime", "fake"]
    with (data_dir / "bench.log").open("ab") as log:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
    owned.add("ecslite server", lambda: stop_pid(process.pid))

    def ready() -> str | None:
        info = json.loads((data_dir / "server.json").read_text())
        if info["pid"] != process.pid or httpx.get(f"{info['endpoint']}/_ecslite/health").status_code != 200:
            return None
        return str(info["endpoint"])

    return process.pid, wait_until(ready, "ecslite")


def listener_port(endpoint: str, target_port: int) -> int:
    """A load balancer with one HTTP listener forwarding to the target; the port it is served on."""

    def client(name: str) -> Any:
        return boto3.client(
            name,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 1}),
        )

    elbv2, ec2 = client("elbv2"), client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    group = elbv2.create_target_group(
        Name="bench", Protocol="HTTP", Port=target_port, VpcId=vpc, TargetType="instance", HealthCheckPath="/"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "i-0123456789abcdef0"}])
    lb = elbv2.create_load_balancer(Name="bench", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=free_port(),
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )["Listeners"][0]["ListenerArn"]
    served = wait_until(lambda: httpx.get(f"{endpoint}/_ecslite/elb/listeners").json().get(listener), "listener")
    port = int(served["endpoint"].rsplit(":", 1)[1])
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/").status_code == 200, "listener's first answer")
    return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--body", type=int, default=256, help="bytes of the target's response body")
    parser.add_argument("--serve-target", nargs=2, type=int, metavar=("PORT", "BODY"), help=argparse.SUPPRESS)
    parser.add_argument("--run-clients", nargs=4, type=int, metavar=("PORT", "N", "C", "BODY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_target:
        serve_target(*args.serve_target)
        return
    if args.run_clients:
        run_clients(*args.run_clients)
        return

    owned = Owned()
    try:
        data_dir = Path(tempfile.mkdtemp(prefix="ecslite-alb-bench-"))
        owned.add("data dir", lambda: shutil.rmtree(data_dir, ignore_errors=True))
        target_port = free_port()
        target = subprocess.Popen(child("--serve-target", str(target_port), str(args.body)), stdin=subprocess.DEVNULL)
        owned.add("target", lambda: stop_pid(target.pid))
        server_pid, endpoint = start_ecslite(data_dir, owned)
        port = listener_port(endpoint, target_port)
        print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}")
        print(f"{args.requests} requests per round over {args.clients} keep-alive connections, {args.body} B bodies")
        # Warm-up: connections to the target pooled, code paths taken once.
        measure(port, server_pid, argparse.Namespace(**{**vars(args), "requests": 1000}))
        alb: list[Round] = []
        peer: list[Round] = []
        for number in range(1, args.rounds + 1):
            alb.append(measure(port, server_pid, args))
            peer.append(measure(target_port, target.pid, args))
            a, p = alb[-1], peer[-1]
            print(
                f"round {number}: ecslite {a.rate:8,.0f} req/s {a.cpu_us:7.1f} µs CPU/req | "
                f"target direct {p.rate:8,.0f} req/s {p.cpu_us:6.1f} µs CPU/req"
            )
        best_alb = max(alb, key=lambda r: r.rate)
        best_peer = max(peer, key=lambda r: r.rate)
        cpu_alb = min(r.cpu_us for r in alb)
        cpu_peer = min(r.cpu_us for r in peer)
        print()
        print("| | req/s (best round) | server CPU per request (lowest round) |")
        print("|---|---:|---:|")
        print(f"| through the local ALB (ecslite) | {best_alb.rate:,.0f} | {cpu_alb:,.1f} µs |")
        print(f"| straight to the target (peer) | {best_peer.rate:,.0f} | {cpu_peer:,.1f} µs |")
        print(f"| ecslite / peer | {best_alb.rate / best_peer.rate:.2f}× | {cpu_alb / cpu_peer:.1f}× |")
        met = cpu_alb <= GOAL_CPU_US
        verdict = "met" if met else "MISSED"
        print(f"\ngoal: server CPU per proxied request ≤ {GOAL_CPU_US:.0f} µs: {cpu_alb:.1f} µs, {verdict}")
        if not met:
            raise SystemExit(1)
    finally:
        owned.release()


if __name__ == "__main__":
    main()
