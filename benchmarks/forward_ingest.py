"""Fluent Forward log ingestion: ecslite's Forward receiver beside raw msgpack decoding, in one run.

    .venv/bin/python benchmarks/forward_ingest.py [--records 400000] [--per-request 1000] [--connections 4]
                                                  [--mode forward|packed|compressed] [--ephemeral]

Builds FireLens-shaped records (spec/telemetry.md §4.7: ``log``, ``source``, ``container_id``,
``container_name``, ``ecs_cluster``, ``ecs_task_arn``, ``ecs_task_definition``; lines of 60–200
characters from 8 containers, some JSON with a level and trace id, some plain text) packed in
requests of ``--per-request`` entries with EventTime stamps and a ``chunk`` option, then:

1. raw msgpack decoding: a streaming ``msgpack.Unpacker`` with the EventTime hook over every
   request, and the entries of packed modes, in this process (the floor of any Forward receiver);
2. ecslite: ``python -m ecslite server --runtime fake --forward-port P`` on a fresh data dir
   (``--ephemeral`` keeps the store in memory). ``--connections`` client processes send their
   share back to back on one connection each and read every ack. The rate is records acknowledged
   per second (an ack means the records are in the ingest queue, §4.4); then the store is read
   until every record is there, and the time from the last ack to then is printed, then the time
   until the full-text index of log bodies (filled by the writer after a burst) covers every record,
   with the CPU time per record of the server and of its telemetry writer process (until everything
   was stored, and until everything was indexed: the whole of the work), and the latency of
   DescribeClusters called every 10 ms on the server's API port,
   idle and during the load (``api_probe``).

Goal (issue 7): ≥ 100,000 log records/s. Exits non-zero if a record is missing.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import multiprocessing
import os
import random
import shutil
import signal
import socket
import sqlite3
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import msgpack

from api_probe import Latencies, Probe
from common import cpu_seconds, free_port, start_ingest_server, writer_pid

CONTAINERS = ["python-service", "nodejs-service", "go-service", "java-service", "loadgen", "web", "worker", "cron"]
WORDS = ["order", "created", "inventory", "reserved", "price", "calculated", "notification", "sent", "user", "cart"]


def event_time(ns: int) -> msgpack.ExtType:
    return msgpack.ExtType(0, struct.pack(">II", ns // 10**9, ns % 10**9))


def build_requests(records: int, per_request: int, mode: str, seed: int = 11) -> tuple[list[bytes], int]:
    rng = random.Random(seed)
    task = "5f0c2e8a9b7d4c1e8a6b3d2f1e0c9b8a"
    base = {
        "ecs_cluster": "bench",
        "ecs_task_arn": f"arn:aws:ecs:us-east-1:000000000000:task/bench/{task}",
        "ecs_task_definition": "bench-app:1",
    }
    now = time.time_ns()
    requests = []
    made = 0
    while made < records:
        container = CONTAINERS[len(requests) % len(CONTAINERS)]
        entries = []
        for _ in range(min(per_request, records - made)):
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 24)))
            if rng.random() < 0.3:
                line = f'{{"level": "INFO", "message": "{words}", "trace_id": "{rng.getrandbits(128):032x}"}}\n'
            else:
                line = f"2024-11-24 10:00:00 INFO [{container}] {words}\n"
            record = {
                "log": line,
                "source": "stdout" if rng.random() < 0.8 else "stderr",
                "container_id": f"{task}-{1000000000 + CONTAINERS.index(container)}",
                "container_name": container,
                **base,
            }
            entries.append([event_time(now + made), record])
            made += 1
        tag = f"{container}-firelens-{task}"
        chunk = base64.b64encode(rng.getrandbits(128).to_bytes(16, "big")).decode()
        if mode == "forward":
            packet = [tag, entries, {"chunk": chunk, "size": len(entries)}]
        else:
            packed = b"".join(msgpack.packb(e, use_bin_type=True) for e in entries)
            options = {"chunk": chunk, "size": len(entries)}
            if mode == "compressed":
                packed = gzip.compress(packed, compresslevel=1)
                options["compressed"] = "gzip"
            packet = [tag, packed, options]
        requests.append(msgpack.packb(packet, use_bin_type=True))
    return requests, made


def raw_decode(requests: list[bytes]) -> int:
    """Decode every request (and packed entries) as the receiver must; returns the record count."""

    def hook(code: int, data: bytes) -> object:
        if code == 0:
            seconds, nanos = struct.unpack(">II", data)
            return seconds * 10**9 + nanos
        return msgpack.ExtType(code, data)

    count = 0
    reader = msgpack.Unpacker(raw=False, ext_hook=hook, max_buffer_size=0)
    for request in requests:
        reader.feed(request)
        for message in reader:
            second = message[1]
            if isinstance(second, bytes):
                data = gzip.decompress(second) if message[2].get("compressed") else second
                inner = msgpack.Unpacker(raw=False, ext_hook=hook, max_buffer_size=0)
                inner.feed(data)
                count += sum(1 for _ in inner)
            else:
                count += len(second)
    return count


def send_share(port: int, requests: list[bytes], out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    reader = msgpack.Unpacker(raw=False)
    acks = 0
    # Send everything, reading acks as they come so neither side's buffers fill up.
    sock.setblocking(False)
    pending = b"".join(requests)
    view = memoryview(pending)
    sent = 0
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
    while acks < len(requests):
        for _, events in selector.select(timeout=60):
            if events & selectors.EVENT_WRITE and sent < len(pending):
                with contextlib.suppress(BlockingIOError):
                    sent += sock.send(view[sent : sent + (1 << 20)])
                if sent >= len(pending):
                    selector.modify(sock, selectors.EVENT_READ)
            if events & selectors.EVENT_READ:
                data = sock.recv(1 << 16)
                if not data:
                    raise SystemExit("the server closed the connection")
                reader.feed(data)
                acks += sum(1 for _ in reader)
    sock.close()
    out.put(time.monotonic())


def stored_records(directory: Path) -> int:
    total = 0
    for path in directory.glob("logs-*.db"):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            total += conn.execute("SELECT count(*) FROM logs").fetchone()[0]
        except sqlite3.OperationalError:
            pass
        finally:
            conn.close()
    return total


def unindexed_records(directory: Path) -> int:
    """Records the store's lazy full-text index of log bodies has not reached yet (store.logs)."""
    total = 0
    for path in directory.glob("logs-*.db"):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            indexed = conn.execute("SELECT indexed FROM fts_state").fetchone()[0]
            total += conn.execute("SELECT count(*) FROM logs WHERE id > ?", (indexed,)).fetchone()[0]
        except sqlite3.OperationalError:
            pass
        finally:
            conn.close()
    return total


@dataclass
class EcsliteRun:
    rate: float
    lag: float  # seconds from the last ack until every record was in the store
    indexed: float  # seconds from the last ack until every body was in the full-text index
    missing: int
    api_idle: Latencies
    api_during: Latencies
    cpu: dict[str, float]  # CPU seconds per process from the first request until all was stored
    cpu_indexed: dict[str, float]  # likewise until every body was indexed too (the whole of the work)


def measure_ecslite(requests: list[bytes], records: int, connections: int, ephemeral: bool) -> EcsliteRun:
    data_dir = Path(tempfile.mkdtemp(prefix="ecslite-forward-bench-"))
    port, forward_port = free_port(), free_port()
    args = ["--port", str(port), "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--forward-port", str(forward_port)]
    server = start_ingest_server(data_dir, [*args, *(["--ephemeral"] if ephemeral else [])], (forward_port, port))
    try:
        probe = Probe(port)
        api_idle = probe.idle()
        child = writer_pid(server.pid)
        pids = {"server": server.pid, **({"writer process": child} if child else {})}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        shares = [requests[i::connections] for i in range(connections)]
        processes = [multiprocessing.Process(target=send_share, args=(forward_port, s, out)) for s in shares]
        probe.start()
        start = time.monotonic()
        for process in processes:
            process.start()
        last = max(out.get() for _ in processes)
        api_during = probe.stop()
        for process in processes:
            process.join()
        rate = records / (last - start)
        missing = -1
        lag = indexed = float("nan")
        if not ephemeral:
            missing = records
            while time.monotonic() - last < 120:
                missing = records - stored_records(data_dir / "telemetry")
                if missing <= 0:
                    lag = time.monotonic() - last
                    break
                time.sleep(0.1)
        cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        if not ephemeral:
            # The body index is the writer's idle work: it follows the burst (store.logs, store.writer).
            while time.monotonic() - last < 300:
                if unindexed_records(data_dir / "telemetry") == 0:
                    indexed = time.monotonic() - last
                    break
                time.sleep(0.1)
        cpu_indexed = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
        return EcsliteRun(rate, lag, indexed, missing, api_idle, api_during, cpu, cpu_indexed)
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
        server.wait(60)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--per-request", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--mode", choices=["forward", "packed", "compressed"], default="forward")
    parser.add_argument("--ephemeral", action="store_true")
    options = parser.parse_args()
    requests, records = build_requests(options.records, options.per_request, options.mode)
    mib = sum(map(len, requests)) / 2**20
    shape = f"{len(requests)} {options.mode} requests ({mib:.1f} MiB), {len(CONTAINERS)} containers"
    print(f"{records:,} records in {shape}")
    start = time.perf_counter()
    decoded = raw_decode(requests)
    raw = decoded / (time.perf_counter() - start)
    assert decoded == records
    run = measure_ecslite(requests, records, options.connections, options.ephemeral)
    print(f"raw msgpack decoding      {raw:12,.0f} records/s")
    print(f"ecslite                   {run.rate:12,.0f} records/s  ({options.connections} connections, acked)")
    print(f"ecslite / raw decoding    {run.rate / raw:12.2f}")
    if not options.ephemeral:
        print(f"all records stored        {run.lag:12.2f} s after the last ack; missing {max(run.missing, 0)}")
        print(f"all bodies indexed        {run.indexed:12.2f} s after the last ack (the writer's idle work)")
    for name, seconds in run.cpu.items():
        print(f"CPU per record            {seconds / records * 1e6:12.2f} us  ({name}, {seconds:.2f} s)")
    if not options.ephemeral:
        for name, seconds in run.cpu_indexed.items():
            print(f"  ... until all indexed   {seconds / records * 1e6:12.2f} us  ({name}, {seconds:.2f} s)")
    print(f"DescribeClusters idle     {run.api_idle.summary()}")
    print(f"DescribeClusters ingest   {run.api_during.summary()}")
    print(f"goal                      {100_000:12,} records/s  {'met' if run.rate >= 100_000 else 'MISSED'}")
    failed = run.missing > 0 or run.rate < 100_000 or run.api_idle.errors or run.api_during.errors
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
