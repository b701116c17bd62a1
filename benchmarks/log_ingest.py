"""Log ingestion through the CloudWatch Logs API, against writing the same lines to a file.

    .venv/bin/python benchmarks/log_ingest.py [--lines 300000] [--clients 2] [--ephemeral]

Starts ``python -m ecslite server --port 0 --runtime fake`` on a fresh data directory (events go to
``logs.db`` there; ``--ephemeral`` keeps them in memory), then:

1. ingest: ``--clients`` threads, each with one keep-alive connection and its own log stream, send
   PutLogEvents batches of 10,000 events (SigV4-signed, ~75-byte lines numbered per stream) until
   ``--lines`` lines are in;
2. read back: GetLogEvents from the head of every stream, 10,000 per page, forward tokens until the
   token comes back unchanged; every line must come back, in the order it was sent;
3. in process: the same batches through the logs provider's ``append`` (the path ecslite's own
   awslogs driver takes: no HTTP, no JSON), into a ``logs.db`` of its own;
4. the floor: the same lines, in the same batches, appended to a file in the same directory
   (buffered writes, a flush per batch, one fsync at the end).

Prints lines/s and MB/s for each, PutLogEvents latency (p50/p99 per batch), the ratio of API
ingestion to the file floor, and whether the read-back was complete and in order. Exits non-zero
if a line was lost or reordered. The server is stopped by pid on the way out, also on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ecslite.clock import SystemClock
from ecslite.providers.logs.provider import LogsProvider
from ecslite.store.logs import LogStore

REGION = "us-east-1"
GROUP = "/bench/ingest"
BATCH = 10_000
TARGET = "Logs_20140328"


# -- server --------------------------------------------------------------------------------------


@dataclass
class Server:
    endpoint: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def start_server(data_dir: Path, ephemeral: bool) -> Server:
    args = [sys.executable, "-m", "ecslite", "server", "--port", "0", "--runtime", "fake", "--data-dir", str(data_dir)]
    if ephemeral:
        args.append("--ephemeral")
    with (data_dir / "bench-server.log").open("ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ecslite exited with status {process.returncode}")
        with contextlib.suppress(OSError, ValueError, KeyError):
            info = json.loads((data_dir / "server.json").read_text())
            if info["pid"] == process.pid:
                return Server(info["endpoint"], process)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("ecslite did not start in time")


# -- requests ------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection sending signed Logs requests."""

    def __init__(self, endpoint: str) -> None:
        host, port = endpoint.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=120)

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params).encode()
        request = AWSRequest(
            method="POST",
            url="http://127.0.0.1/",
            data=body,
            headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{TARGET}.{operation}"},
        )
        SigV4Auth(Credentials("test", "test"), "logs", REGION).add_auth(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        self.conn.request("POST", "/", body=body, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"{operation} answered {response.status}: {payload[:300]!r}")
        result: dict[str, Any] = json.loads(payload)
        return result

    def close(self) -> None:
        self.conn.close()


def line(stream: int, number: int) -> str:
    """A ~75-byte access-log line: 10,000 of them (+26 bytes each) fit PutLogEvents' 1 MiB batch."""
    return f"12:00:00.000 INFO w{stream} req-{number:08d} GET /api/items/{number % 997:03d} 200 {number % 89:02d}ms ok"


def batches(stream: int, total: int) -> list[list[str]]:
    lines = [line(stream, n) for n in range(total)]
    return [lines[i : i + BATCH] for i in range(0, total, BATCH)]


# -- phases --------------------------------------------------------------------------------------


@dataclass
class Ingested:
    seconds: float
    latencies: list[float]


def ingest(endpoint: str, work: dict[int, list[list[str]]]) -> Ingested:
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(work) + 1)

    def run(stream: int, stream_batches: list[list[str]]) -> None:
        client = Client(endpoint)
        try:
            barrier.wait()
            for batch in stream_batches:
                base = int(time.time() * 1000)
                params = {
                    "logGroupName": GROUP,
                    "logStreamName": f"stream-{stream}",
                    "logEvents": [{"timestamp": base, "message": message} for message in batch],
                }
                started = time.perf_counter()
                client.call("PutLogEvents", params)
                with lock:
                    latencies.append(time.perf_counter() - started)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=item) for item in work.items()]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return Ingested(seconds, latencies)


def read_back(endpoint: str, work: dict[int, list[list[str]]]) -> tuple[float, bool, int]:
    """Seconds to read every stream from its head, whether all came back in order, and how many."""
    client = Client(endpoint)
    ok, count = True, 0
    started = time.perf_counter()
    try:
        for stream, stream_batches in work.items():
            expected = [message for batch in stream_batches for message in batch]
            got: list[str] = []
            params: dict[str, Any] = {
                "logGroupName": GROUP,
                "logStreamName": f"stream-{stream}",
                "startFromHead": True,
                "limit": BATCH,
            }
            while True:
                page = client.call("GetLogEvents", params)
                got += [event["message"] for event in page["events"]]
                if page["nextForwardToken"] == params.get("nextToken"):
                    break
                params["nextToken"] = page["nextForwardToken"]
            ok = ok and got == expected
            count += len(got)
    finally:
        client.close()
    return time.perf_counter() - started, ok, count


def in_process(path: Path, work: dict[int, list[list[str]]]) -> float:
    """Seconds to append every batch with ``LogsProvider.append``, streams one after another."""

    async def run() -> float:
        provider = LogsProvider(LogStore(path), SystemClock())
        await provider.start()
        try:
            started = time.perf_counter()
            for stream, stream_batches in work.items():
                for batch in stream_batches:
                    base = int(time.time() * 1000)
                    events = [(base, message) for message in batch]
                    await provider.append("000000000000", REGION, GROUP, f"stream-{stream}", events, True)
            return time.perf_counter() - started
        finally:
            await provider.stop()

    return asyncio.run(run())


def file_floor(path: Path, work: dict[int, list[list[str]]]) -> float:
    started = time.perf_counter()
    with path.open("w", encoding="utf-8") as out:
        for stream_batches in work.values():
            for batch in stream_batches:
                out.write("\n".join(batch))
                out.write("\n")
                out.flush()
        os.fsync(out.fileno())
    return time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=300_000, help="lines in all (split over the clients)")
    parser.add_argument("--clients", type=int, default=2, help="concurrent clients, one stream each")
    parser.add_argument("--ephemeral", action="store_true", help="keep events in memory instead of logs.db")
    args = parser.parse_args()
    per_client = max(BATCH, args.lines // args.clients // BATCH * BATCH)
    work = {stream: batches(stream, per_client) for stream in range(args.clients)}
    total = per_client * args.clients
    size = sum(len(m.encode()) + 1 for b in work.values() for batch in b for m in batch)

    with tempfile.TemporaryDirectory(prefix="ecslite-log-bench-") as tmp:
        data_dir = Path(tmp)
        server = start_server(data_dir, args.ephemeral)
        try:
            setup = Client(server.endpoint)
            setup.call("CreateLogGroup", {"logGroupName": GROUP})
            for stream in work:
                setup.call("CreateLogStream", {"logGroupName": GROUP, "logStreamName": f"stream-{stream}"})
            setup.close()
            ingested = ingest(server.endpoint, work)
            read_seconds, in_order, read_count = read_back(server.endpoint, work)
        finally:
            server.stop()
        append_seconds = in_process(data_dir / "in-process-logs.db", work)
        floor_seconds = file_floor(data_dir / "floor.log", work)

    api_rate = total / ingested.seconds
    floor_rate = total / floor_seconds
    storage = "memory (--ephemeral)" if args.ephemeral else "logs.db in the data directory"
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print(
        f"lines: {total:,} ({size / 2**20:.1f} MiB) in batches of {BATCH:,}, {args.clients} client(s); store: {storage}"
    )
    print()
    print(f"{'phase':<34}{'lines/s':>12}{'MiB/s':>10}")
    print(f"{'PutLogEvents (ingest)':<34}{api_rate:>12,.0f}{size / 2**20 / ingested.seconds:>10.1f}")
    print(f"{'GetLogEvents (read back)':<34}{read_count / read_seconds:>12,.0f}{size / 2**20 / read_seconds:>10.1f}")
    print(f"{'append() in process':<34}{total / append_seconds:>12,.0f}{size / 2**20 / append_seconds:>10.1f}")
    print(f"{'file floor (write+flush, fsync)':<34}{floor_rate:>12,.0f}{size / 2**20 / floor_seconds:>10.1f}")
    print()
    p50, p99 = percentile(ingested.latencies, 50) * 1000, percentile(ingested.latencies, 99) * 1000
    print(f"PutLogEvents per 10,000-event batch: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(
        f"PutLogEvents / file floor: {api_rate / floor_rate:.3f}; append() / file floor: "
        f"{total / append_seconds / floor_rate:.3f}"
    )
    print(f"read back: {read_count:,} of {total:,} lines, {'in order' if in_order else 'LOST OR REORDERED'}")
    return 0 if in_order and read_count == total else 1


if __name__ == "__main__":
    sys.exit(main())
