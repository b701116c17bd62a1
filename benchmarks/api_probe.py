"""DescribeClusters latency of an ecslite server while something else loads it (the ingest benchmarks).

A child process sends one SigV4-signed DescribeClusters request every ``interval`` seconds over one
keep-alive connection (signed once: the client costs next to nothing per request) and records each
answer's latency; every answer must be HTTP 200. :func:`idle_then_during` measures the server idle
for a few seconds first, so the two figures come from the same server and the same client.
"""

from __future__ import annotations

import http.client
import json
import math
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TARGET = "AmazonEC2ContainerServiceV20141113"
CLUSTER = "bench"


def signed(operation: str, params: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(params).encode()
    request = AWSRequest(
        method="POST",
        url="http://127.0.0.1/",
        data=body,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{TARGET}.{operation}"},
    )
    SigV4Auth(Credentials("test", "test"), "ecs", "us-east-1").add_auth(request)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    headers["Content-Length"] = str(len(body))
    return body, headers


def call(conn: http.client.HTTPConnection, operation: str, params: dict[str, object]) -> bytes:
    body, headers = signed(operation, params)
    conn.request("POST", "/", body, headers)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{operation} answered {response.status}: {data[:300]!r}")
    return data


@dataclass
class Latencies:
    seconds: list[float]
    errors: int = 0

    def percentile(self, p: float) -> float:
        if not self.seconds:
            return math.nan
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    def summary(self) -> str:
        return (
            f"p50 {self.percentile(50):6.2f} ms  p99 {self.percentile(99):6.2f} ms  "
            f"max {max(self.seconds, default=math.nan) * 1000:6.2f} ms  ({len(self.seconds)} calls, "
            f"{self.errors} errors)"
        )


def _probe(port: int, interval: float, stop: Event, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body, headers = signed("DescribeClusters", {"clusters": [CLUSTER]})
    latencies: list[float] = []
    errors = 0
    due = time.perf_counter()
    while not stop.is_set():
        began = time.perf_counter()
        conn.request("POST", "/", body, headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - began)
        errors += response.status != 200
        due += interval
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        else:
            due = time.perf_counter()
    out.put((latencies, errors))


class Probe:
    """DescribeClusters every ``interval`` seconds from a child process, between start() and stop()."""

    def __init__(self, port: int, interval: float = 0.01) -> None:
        self.port = port
        self.interval = interval
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        call(conn, "CreateCluster", {"clusterName": CLUSTER})
        conn.close()
        self._stop = multiprocessing.Event()
        self._out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        self._process: multiprocessing.Process | None = None

    def start(self) -> None:
        self._stop.clear()
        self._process = multiprocessing.Process(
            target=_probe, args=(self.port, self.interval, self._stop, self._out), daemon=True
        )
        self._process.start()

    def stop(self) -> Latencies:
        assert self._process is not None
        self._stop.set()
        latencies, errors = self._out.get(timeout=60)
        self._process.join(10)
        return Latencies(latencies, errors)

    def idle(self, seconds: float = 3.0) -> Latencies:
        self.start()
        time.sleep(seconds)
        return self.stop()
