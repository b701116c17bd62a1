"""Container log throughput: lines a container prints → retrievable through GetLogEvents (the awslogs
driver), against the same lines written to a file, in the same run.

    sudo .venv/bin/python benchmarks/log_throughput.py [--lines 300000] [--rounds 3]

Needs root on Linux (the process runtime). It starts an ecslite server (``--runtime process``, its own
data directory, so events go to ``logs.db`` on disk; bridge ``ecslbench2``, VPC ``10.234.0.0/16``)
with an image map entry ``ecslite-bench/printer:1``: this Python running a small printer program that
writes N numbered lines of 89 characters (``<8-digit number> <80 x>``) as a logging program does,
one formatted ``write`` per line into a buffered stream, and records its own start and end time.
Everything is stopped by pid on the way out, also on errors, Ctrl-C and SIGTERM.

In interleaved rounds (the order alternates, so drift in the machine's load hits both alike), in a
Fargate task of 4 vCPU / 8 GiB (so the task's own CPU cap never throttles the printer):

- **end to end**: the printer writes to stdout; the container logs through ``awslogs`` (blocking
  mode). Time from the printer's start until its last line is returned by GetLogEvents (polled for
  the newest event). Then, untimed, every line is read back from the head of the stream with
  GetLogEvents pages and checked: all N there, each exactly once, in the order printed.
- **file floor**: the same printer, in the same kind of task, writes the lines to a file instead
  (``flush`` and ``fsync`` at the end). Its own start-to-end time.
- **shim floor** (shown beside them): the printer writes to stdout in a container without a log
  configuration; time until the shim's output file holds every line (what any log driver reads).

Exits non-zero when a goal is missed: ≥ 100,000 lines/s end to end, ≥ 0.3 of the file floor, no
line lost or out of order.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from common import Owned, stop_pid

REGION = "us-east-1"
BRIDGE = "ecslbench2"
VPC_CIDR = "10.234.0.0/16"
IMAGE = "ecslite-bench/printer:1"
GROUP = "/ecs/bench"
EXECUTION_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
GOAL_LINES_PER_SECOND = 100_000
GOAL_RATIO = 0.3
CLIENT_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=120, inject_host_prefix=False)

# The container's program: argv = lines, target ("-" for stdout, or a file), result file.
PRINTER = """
import json, os, sys, time
count, target, result = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = sys.stdout if target == "-" else open(target, "w", buffering=1 << 16)
payload = "x" * 80
write = out.write
start = time.time()
for number in range(count):
    write(f"{number:08d} {payload}\\n")
out.flush()
if target != "-":
    os.fsync(out.fileno())
end = time.time()
with open(result + ".tmp", "w") as handle:
    json.dump({"start": start, "end": end}, handle)
os.replace(result + ".tmp", result)
"""


def expected_line(number: int) -> str:
    return f"{number:08d} {'x' * 80}"


# -- processes we own -----------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 120.0, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- the server ---------------------------------------------------------------------------------------------


class Server:
    def __init__(self, work: Path, owned: Owned) -> None:
        self.data_dir = work / "ecslite"
        self.data_dir.mkdir()
        image_map = work / "images.json"
        image_map.write_text(json.dumps({IMAGE: {"path": "/", "entryPoint": [sys.executable, "-c", PRINTER]}}))
        owned.add("bridge", lambda: subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False))
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - handed to the child
        args = ["--port", "0", "--data-dir", str(self.data_dir), "--runtime", "process", "--bridge", BRIDGE]
        args += ["--vpc-cidr", VPC_CIDR, "--image-map", str(image_map), "--otlp-grpc-port", "0"]
        args += ["--otlp-http-port", "0", "--forward-port", "0"]
        process = subprocess.Popen(
            [sys.executable, "-m", "ecslite", "server", *args], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        log.close()
        self.pid = process.pid
        owned.add("ecslite server", lambda: stop_pid(process.pid))

        def ready() -> str | None:
            if process.poll() is not None:
                raise RuntimeError(f"ecslite exited: {(self.data_dir / 'server.log').read_text()[-2000:]}")
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
                info = json.loads((self.data_dir / "server.json").read_text())
                if info["pid"] == process.pid:
                    return str(info["endpoint"])
            return None

        self.endpoint: str = wait_for(ready, "the ecslite server", interval=0.05)
        self.ecs, self.ec2, self.logs = (
            boto3.client(
                name,
                endpoint_url=self.endpoint,
                region_name=REGION,
                aws_access_key_id="test",
                aws_secret_access_key="test",
                config=CLIENT_CONFIG,
            )
            for name in ("ecs", "ec2", "logs")
        )
        owned.add("tasks", self.stop_tasks)
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        self.subnet = sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"]
        self.logs.create_log_group(logGroupName=GROUP)

    def register(self, family: str, command: list[str], logging: bool) -> None:
        container: dict[str, Any] = {"name": "printer", "image": IMAGE, "essential": True, "command": command}
        if logging:
            options = {
                "awslogs-group": GROUP,
                "awslogs-region": REGION,
                "awslogs-stream-prefix": "bench",
                "mode": "blocking",
            }
            container["logConfiguration"] = {"logDriver": "awslogs", "options": options}
        self.ecs.register_task_definition(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="4096",
            memory="8192",
            executionRoleArn=EXECUTION_ROLE,
            containerDefinitions=[container],
        )

    def run(self, family: str) -> str:
        network = {"awsvpcConfiguration": {"subnets": [self.subnet]}}
        result = self.ecs.run_task(taskDefinition=family, launchType="FARGATE", networkConfiguration=network)
        if result["failures"]:
            raise RuntimeError(f"RunTask failed: {result['failures']}")
        return str(result["tasks"][0]["taskArn"])

    def wait_stopped(self, arn: str) -> dict[str, Any]:
        def stopped() -> dict[str, Any] | None:
            task: dict[str, Any] = self.ecs.describe_tasks(tasks=[arn])["tasks"][0]
            return task if task["lastStatus"] == "STOPPED" else None

        task: dict[str, Any] = wait_for(stopped, "the task to stop", timeout=600, interval=0.1)
        exit_code = task["containers"][0].get("exitCode")
        if exit_code != 0:
            raise RuntimeError(f"the printer failed ({exit_code}): {task.get('stoppedReason')}; see the server log")
        return task

    def stop_tasks(self) -> None:
        arns = [a for page in self.ecs.get_paginator("list_tasks").paginate() for a in page["taskArns"]]
        for arn in arns:
            self.ecs.stop_task(task=arn, reason="benchmark finished")
        for arn in arns:
            self.wait_stopped_quietly(arn)

    def wait_stopped_quietly(self, arn: str) -> None:
        with contextlib.suppress(RuntimeError):
            wait_for(
                lambda: self.ecs.describe_tasks(tasks=[arn])["tasks"][0]["lastStatus"] == "STOPPED",
                "a task to stop",
                timeout=60,
                interval=0.2,
            )


# -- measurements ------------------------------------------------------------------------------------------


def read_result(path: Path) -> dict[str, float]:
    data: dict[str, float] = wait_for(lambda: path.exists() and json.loads(path.read_text()), "the printer's times")
    return data


def end_to_end(server: Server, work: Path, lines: int, round_number: int) -> tuple[float, Timeline, int]:
    """(lines/s from the printer's start to its last line in GetLogEvents, the run's timeline, lines checked)."""
    result = work / f"e2e-{round_number}.json"
    family = f"bench-e2e-{round_number}"
    server.register(family, [str(lines), "-", str(result)], logging=True)
    arn = server.run(family)
    stream = f"bench/printer/{arn.rsplit('/', 1)[1]}"
    last = expected_line(lines - 1)

    def newest_is_last() -> float | None:
        with contextlib.suppress(server.logs.exceptions.ResourceNotFoundException):
            events = server.logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=1)["events"]
            if events and events[-1]["message"] == last:
                return time.time()
        return None

    retrievable = wait_for(newest_is_last, "the last line in GetLogEvents", timeout=600, interval=0.005)
    times = read_result(result)
    server.wait_stopped(arn)
    checked = check_stream(server, stream, lines)
    timeline = Timeline(
        first_stored=ingested(server, stream, head=True) - times["start"],
        printed=times["end"] - times["start"],
        last_stored=ingested(server, stream, head=False) - times["start"],
        retrievable=retrievable - times["start"],
    )
    return lines / timeline.retrievable, timeline, checked


@dataclass(frozen=True)
class Timeline:
    """Seconds from the printer's start: first line stored, last line printed, last line stored, and
    the last line seen through GetLogEvents (ingestion times are whole milliseconds)."""

    first_stored: float
    printed: float
    last_stored: float
    retrievable: float


def ingested(server: Server, stream: str, head: bool) -> float:
    page = server.logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=head, limit=1)
    return float(page["events"][0]["ingestionTime"]) / 1000


def check_stream(server: Server, stream: str, lines: int) -> int:
    """Every line there, once, in order (GetLogEvents from the head, page after page)."""
    number = 0
    token: str | None = None
    while True:
        params: dict[str, Any] = {"logGroupName": GROUP, "logStreamName": stream, "startFromHead": True}
        if token:
            params["nextToken"] = token
        page = server.logs.get_log_events(**params)
        for event in page["events"]:
            if event["message"] != expected_line(number):
                raise RuntimeError(f"line {number} is {event['message'][:40]!r}: lost or out of order")
            number += 1
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    if number != lines:
        raise RuntimeError(f"{lines - number} of {lines} lines missing from the stream")
    return number


def file_floor(server: Server, work: Path, lines: int, round_number: int) -> float:
    result, target = work / f"file-{round_number}.json", work / f"file-{round_number}.txt"
    family = f"bench-file-{round_number}"
    server.register(family, [str(lines), str(target), str(result)], logging=False)
    server.wait_stopped(server.run(family))
    times = read_result(result)
    if sum(1 for _ in target.open()) != lines:
        raise RuntimeError("the file floor's file does not hold every line")
    target.unlink()
    return lines / (times["end"] - times["start"])


def shim_floor(server: Server, work: Path, lines: int, round_number: int) -> float:
    result = work / f"shim-{round_number}.json"
    family = f"bench-shim-{round_number}"
    server.register(family, [str(lines), "-", str(result)], logging=False)
    arn = server.run(family)
    output = server.data_dir / "runtime" / "tasks" / arn.rsplit("/", 1)[1] / "printer.log"
    server.wait_stopped(arn)
    times = read_result(result)
    # The shim's last record time is when the last line was in its file.
    with output.open("rb") as handle:
        handle.seek(max(0, output.stat().st_size - 4096))
        records = handle.read().splitlines()
    if records[-1].split(b" ", 2)[2].decode() != expected_line(lines - 1):
        raise RuntimeError("the shim's output does not end with the last line")
    return lines / (float(records[-1].split(b" ", 1)[0]) - times["start"])


# -- report -----------------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, Python {platform.python_version()}, "
        f"load average {load:.1f}, {time.strftime('%Y-%m-%d')}"
    )


@dataclass
class Results:
    e2e: list[float] = field(default_factory=list)
    printing: list[float] = field(default_factory=list)  # the printer's own rate in the end-to-end runs
    timelines: list[Timeline] = field(default_factory=list)
    files: list[float] = field(default_factory=list)
    shims: list[float] = field(default_factory=list)


def measure_round(server: Server, work: Path, lines: int, number: int, results: Results) -> None:
    """One run of each, in an order that alternates between rounds."""
    order = ("e2e", "file", "shim") if number % 2 else ("shim", "file", "e2e")
    for kind in order:
        if kind == "e2e":
            rate, timeline, checked = end_to_end(server, work, lines, number)
            results.e2e.append(rate)
            results.printing.append(checked / timeline.printed)
            results.timelines.append(timeline)
        elif kind == "file":
            results.files.append(file_floor(server, work, lines, number))
        else:
            results.shims.append(shim_floor(server, work, lines, number))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000, help="lines per run")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds of each (after one warm-up)")
    args = parser.parse_args()
    if os.geteuid() != 0 or sys.platform != "linux":
        print("the process runtime needs root on Linux; run this with sudo", file=sys.stderr)
        return 2
    owned = Owned()
    results = Results()
    with signals_raise(), tempfile.TemporaryDirectory(prefix="ecslite-bench-") as tmp:
        try:
            work = Path(tmp)
            server = Server(work, owned)
            for number in range(args.rounds + 1):
                measure_round(server, work, args.lines, number, results if number else Results())
        finally:
            owned.release()
    return report(args.lines, results)


def report(lines: int, results: Results) -> int:
    e2e, files, shims = results.e2e, results.files, results.shims
    rate, file_rate, shim_rate = statistics.median(e2e), statistics.median(files), statistics.median(shims)
    ratio = rate / file_rate
    print(f"Machine: {machine()}")
    print()
    print(f"{lines:,} lines of 89 characters per run; medians of {len(e2e)} rounds (lines/s):")
    print()
    print("| run | lines/s | rounds |")
    print("|---|---:|---|")
    print(f"| end to end: printed → GetLogEvents | {rate:,.0f} | {', '.join(f'{v:,.0f}' for v in e2e)} |")
    print(f"| the printer's own rate while logging | {statistics.median(results.printing):,.0f} | |")
    print(
        f"| shim floor: printed → the shim's output file | {shim_rate:,.0f} | {', '.join(f'{v:,.0f}' for v in shims)} |"
    )
    print(f"| file floor: printed into a file | {file_rate:,.0f} | {', '.join(f'{v:,.0f}' for v in files)} |")
    print()
    print()
    print("end-to-end timeline (seconds from the printer's start; median of the rounds):")
    for name, label in (
        ("first_stored", "first line stored"),
        ("printed", "last line printed"),
        ("last_stored", "last line stored"),
        ("retrievable", "last line returned by GetLogEvents"),
    ):
        values = [getattr(t, name) for t in results.timelines]
        print(f"- {label}: {statistics.median(values):.3f} ({', '.join(f'{v:.3f}' for v in values)})")
    print()
    print(f"end to end / file floor: {ratio:.2f}; end to end / shim floor: {rate / shim_rate:.2f}")
    print(f"every line of every end-to-end run read back once and in order ({len(e2e)} × {lines:,})")
    met = rate >= GOAL_LINES_PER_SECOND and ratio >= GOAL_RATIO
    print(
        f"goals: ≥ {GOAL_LINES_PER_SECOND:,} lines/s: {'met' if rate >= GOAL_LINES_PER_SECOND else 'missed'}; "
        f"≥ {GOAL_RATIO} of the file floor: {'met' if ratio >= GOAL_RATIO else 'missed'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
