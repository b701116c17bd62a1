"""Placement benchmark (issue 6; spec/ecs.md §5.2): how fast tasks are placed, and how fast a
service grows.

1. **Engine**: 10,000 tasks onto 1,000 virtual instances (m5.large, three zones) with
   ``spread(attribute:ecs.availability-zone)`` then ``binpack(memory)``, through the engine the
   server uses (``model.placement.engine``), beside a naive reference in the same run (every
   instance looked at for every task, keys computed from counts kept by the reference). Both must
   choose the same instances; the ratio is engine / naive.
2. **API on the fake runtime**: a server (``--runtime fake``) gets 1,000 virtual instances
   (``/_ecslite/container-instances``) and RunTask places 1,000 tasks (100 calls of 10) with the
   same strategies; placements per second as a client sees them (store reads, documents, writes).
3. **Service 0 → 200 on the process runtime** (``--process``, needs root): a service of real
   processes (``sleep``, a health check ``CMD true`` every 5 s) scaled from 0 to 200 tasks on
   Fargate; seconds until ``runningCount == 200`` and until steady state (one COMPLETED deployment,
   every task healthy), the reconcile runs of the service and task controllers until then (the
   server's ``/_ecslite/health``) and the server's CPU time over the ramp.

Goals: ≥ 2,000 placements/s (1) and 0 → 200 tasks to steady state ≤ 10 s (3). The script exits
non-zero when a measured goal is missed; every server it starts is stopped by pid.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ecslite.model.placement.engine import Engine, Instance, PlacementRequest  # noqa: E402
from ecslite.model.placement.strategies import parse_strategies  # noqa: E402
from ecslite.model.task_placement import Demand, Placement  # noqa: E402

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
STRATEGY = [
    {"type": "spread", "field": "attribute:ecs.availability-zone"},
    {"type": "binpack", "field": "memory"},
]
# The service's own bridge and VPC, so it never meets a developer's server or a test run's.
BRIDGE = "ecslbench1"
VPC_CIDR = "10.234.0.0/16"
GOAL_PLACEMENTS = 2000.0
GOAL_STEADY_SECONDS = 10.0


# -- 1. the engine against a naive reference ------------------------------------------------------


def instances(count: int) -> list[Instance]:
    return [
        Instance(
            arn=f"arn:aws:ecs:us-east-1:000000000000:container-instance/bench/{i:032x}",
            index=i,
            cpu=2048,
            memory=7824,
            tcp_used={22, 2375, 2376, 51678, 51679},
            attributes={"ecs.availability-zone": ZONES[i % len(ZONES)], "ecs.instance-type": "m5.large"},
        )
        for i in range(count)
    ]


def naive(pool: list[Instance], demand: Demand, group: str, count: int) -> list[str | None]:
    """Every instance, every task: fits? key (tasks of the group in its zone, remaining memory, order)."""
    zone_counts: Counter[str | None] = Counter()
    chosen: list[str | None] = []
    for _ in range(count):
        best: Instance | None = None
        best_key: tuple[int, int, int] | None = None
        for inst in pool:
            if inst.cpu < demand.cpu or inst.memory < demand.memory:
                continue
            key = (zone_counts[inst.attributes.get("ecs.availability-zone")], inst.memory, inst.index)
            if best_key is None or key < best_key:
                best, best_key = inst, key
        if best is None:
            chosen.append(None)
            continue
        best.cpu -= demand.cpu
        best.memory -= demand.memory
        best.task_groups[group] += 1
        zone_counts[best.attributes.get("ecs.availability-zone")] += 1
        chosen.append(best.arn)
    return chosen


def bench_engine(tasks: int, hosts: int) -> dict[str, float]:
    demand = Demand(cpu=128, memory=512)
    request = PlacementRequest(demand, "service:bench", (), parse_strategies(STRATEGY))
    started = time.perf_counter()
    engine = Engine(instances(hosts), request)
    outcomes = engine.place_many(tasks)
    engine_seconds = time.perf_counter() - started
    placed = [o.arn if isinstance(o, Placement) else None for o in outcomes]
    started = time.perf_counter()
    reference = naive(instances(hosts), demand, "service:bench", tasks)
    naive_seconds = time.perf_counter() - started
    if placed != reference:
        raise SystemExit("the engine and the naive reference chose different instances")
    if None in placed:
        raise SystemExit("some tasks found no instance")
    zones = Counter(ZONES[int(arn.rsplit("/", 1)[-1], 16) % 3] for arn in placed if arn)
    return {
        "engine_per_second": tasks / engine_seconds,
        "naive_per_second": tasks / naive_seconds,
        "engine_seconds": engine_seconds,
        "naive_seconds": naive_seconds,
        "zone_spread": max(zones.values()) - min(zones.values()),
    }


# -- servers ------------------------------------------------------------------------------------------


class Server:
    def __init__(self, *args: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ecslite-bench-"))
        env = {**os.environ, "ECSLITE_OTLP_GRPC_PORT": "0", "ECSLITE_OTLP_HTTP_PORT": "0", "ECSLITE_FORWARD_PORT": "0"}
        log = open(self.dir / "server.log", "ab")  # noqa: SIM115 - handed to the child
        command = [sys.executable, "-m", "ecslite", "server", "--port", "0", "--data-dir", str(self.dir), *args]
        self.process = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited: {(self.dir / 'server.log').read_text()[-2000:]}")
            try:
                info = json.loads((self.dir / "server.json").read_text())
                if info["pid"] == self.process.pid:
                    self.endpoint = str(info["endpoint"])
                    httpx.get(f"{self.endpoint}/_ecslite/health", timeout=5).raise_for_status()
                    return
            except (FileNotFoundError, json.JSONDecodeError, KeyError, httpx.HTTPError):
                pass
            time.sleep(0.05)
        self.stop()
        raise SystemExit("server did not start")

    def client(self) -> Any:
        return boto3.client(
            "ecs",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(retries={"max_attempts": 1}, read_timeout=120),
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- 2. RunTask through the API -------------------------------------------------------------------------


def bench_api(hosts: int, calls: int) -> dict[str, float]:
    server = Server("--runtime", "fake", "--ephemeral")
    try:
        for start in range(0, hosts, 100):
            response = httpx.post(
                f"{server.endpoint}/_ecslite/container-instances",
                json={"cluster": "default", "instanceType": "m5.large", "count": min(100, hosts - start)},
                timeout=120,
            )
            response.raise_for_status()
        ecs = server.client()
        ecs.register_task_definition(
            family="bench", containerDefinitions=[{"name": "app", "image": "bench/app:1", "memory": 512, "cpu": 128}]
        )
        placed = 0
        started = time.perf_counter()
        for _ in range(calls):
            result = ecs.run_task(taskDefinition="bench", count=10, group="bench", placementStrategy=STRATEGY)
            placed += len(result["tasks"])
        seconds = time.perf_counter() - started
        return {"api_per_second": placed / seconds, "api_tasks": float(placed), "api_seconds": seconds}
    finally:
        server.stop()


# -- 3. a service from 0 to 200 tasks on the process runtime ------------------------------------------


def bench_service(tasks: int) -> dict[str, float]:
    image_map = _image_map()
    try:
        return _grow(tasks, image_map)
    finally:
        shutil.rmtree(image_map.parent, ignore_errors=True)


def _grow(tasks: int, image_map: Path) -> dict[str, float]:
    server = Server(
        "--runtime",
        "process",
        "--ephemeral",
        "--image-map",
        str(image_map),
        "--bridge",
        BRIDGE,
        "--vpc-cidr",
        VPC_CIDR,
    )
    ecs = None
    try:
        ecs = server.client()
        ec2 = boto3.client(
            "ec2",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:3]
        check = {"command": ["CMD", "true"], "interval": 5, "timeout": 2, "retries": 1}
        ecs.register_task_definition(
            family="grow",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {"name": "app", "image": "bench/host", "command": ["sleep", "3600"], "healthCheck": check}
            ],
        )
        ecs.create_service(
            serviceName="grow",
            taskDefinition="grow",
            desiredCount=0,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": subnets}},
        )
        cpu_before = _cpu_seconds(server.process.pid)
        started = time.perf_counter()
        ecs.update_service(service="grow", desiredCount=tasks)
        running_at = None
        while time.perf_counter() - started < 600:
            service = ecs.describe_services(services=["grow"])["services"][0]
            if running_at is None and service["runningCount"] == tasks:
                running_at = time.perf_counter() - started
            deployments = service["deployments"]
            if (
                service["runningCount"] == tasks
                and len(deployments) == 1
                and any(e["message"].endswith("has reached a steady state.") for e in service["events"][:3])
                and service["events"][0]["createdAt"].timestamp() >= time.time() - (time.perf_counter() - started)
            ):
                steady = time.perf_counter() - started
                runs = httpx.get(f"{server.endpoint}/_ecslite/health", timeout=10).json().get("reconciles", {})
                return {
                    "running_seconds": running_at or steady,
                    "steady_seconds": steady,
                    "service_runs": float(runs.get("services", -1)),
                    "task_runs": float(runs.get("tasks", -1)),
                    "server_cpu_seconds": _cpu_seconds(server.process.pid) - cpu_before,
                }
            time.sleep(0.2)
        raise SystemExit("the service did not reach a steady state in 10 minutes")
    finally:
        if ecs is not None:
            _stop_service_tasks(ecs)
        server.stop()


def _cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop_service_tasks(ecs: Any) -> None:
    """Tasks outlive the server (their shims stay), so they are stopped, and seen STOPPED, first."""
    with contextlib.suppress(Exception):
        ecs.update_service(service="grow", desiredCount=0)
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(desiredStatus="RUNNING"):
        arns.extend(page["taskArns"])
    for arn in arns:
        ecs.stop_task(task=arn, reason="benchmark finished")
    for page in ecs.get_paginator("list_tasks").paginate(desiredStatus="STOPPED"):
        arns.extend(a for a in page["taskArns"] if a not in arns)
    pending = set(arns)
    deadline = time.monotonic() + 180
    while pending and time.monotonic() < deadline:
        batch = list(pending)[:100]
        for task in ecs.describe_tasks(tasks=batch)["tasks"]:
            if task["lastStatus"] == "STOPPED":
                pending.discard(task["taskArn"])
        time.sleep(0.2)
    if pending:
        print(f"{len(pending)} tasks did not stop in time", file=sys.stderr)


def _image_map() -> Path:
    path = Path(tempfile.mkdtemp(prefix="ecslite-bench-images-")) / "images.json"
    path.write_text(json.dumps({"bench/host": {"path": "/"}}))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=1_000)
    parser.add_argument("--api-calls", type=int, default=100, help="RunTask calls of 10 tasks (0: skip)")
    parser.add_argument("--process", action="store_true", help="also scale a service 0 → 200 on the process runtime")
    parser.add_argument("--service-tasks", type=int, default=200)
    args = parser.parse_args()
    missed = []
    engine = bench_engine(args.tasks, args.instances)
    print(f"engine: {args.tasks} tasks on {args.instances} instances in {engine['engine_seconds']:.3f} s")
    print(f"  {engine['engine_per_second']:,.0f} placements/s (goal ≥ {GOAL_PLACEMENTS:,.0f})")
    print(f"  naive reference {engine['naive_per_second']:,.0f} placements/s in {engine['naive_seconds']:.2f} s")
    print(f"  engine / naive {engine['engine_per_second'] / engine['naive_per_second']:.1f}x, same choices")
    print(f"  zone imbalance {engine['zone_spread']:.0f} task(s)")
    if engine["engine_per_second"] < GOAL_PLACEMENTS:
        missed.append("placements/s")
    if args.api_calls:
        api = bench_api(args.instances, args.api_calls)
        print(f"api (RunTask, fake runtime): {api['api_tasks']:.0f} tasks in {api['api_seconds']:.2f} s,")
        print(f"  {api['api_per_second']:,.0f} placements/s")
    if args.process:
        grow = bench_service(args.service_tasks)
        print(f"service 0 → {args.service_tasks} (process runtime): running after {grow['running_seconds']:.1f} s,")
        print(f"  steady state after {grow['steady_seconds']:.1f} s (goal ≤ {GOAL_STEADY_SECONDS:.0f} s)")
        print(f"  reconcile runs until then: services {grow['service_runs']:.0f}, tasks {grow['task_runs']:.0f};")
        print(f"  server CPU until then {grow['server_cpu_seconds']:.1f} s")
        if grow["steady_seconds"] > GOAL_STEADY_SECONDS:
            missed.append("steady state")
    if missed:
        raise SystemExit(f"goal missed: {', '.join(missed)}")


if __name__ == "__main__":
    main()
