"""The telemetry store's writer process under a real server (spec/telemetry.md §1.4, §8.2): killed while
spans arrive, it is started again with a logged error and every acknowledged span is stored once; a
stop right after the last answer still stores everything that was answered."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ecslite.telemetry.store import StoreSettings, TelemetryStore
from tests.conftest import start_server, stop_server
from tests.fixtures.ports import free_port

pytestmark = pytest.mark.integration
PROTOBUF = {"Content-Type": "application/x-protobuf"}
SPANS = 256


def span_batch(trace_id: bytes) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    kv = resource_spans.resource.attributes.add(key="service.name")
    kv.value.string_value = "writer-test"
    spans = resource_spans.scope_spans.add()
    now = time.time_ns()
    for i in range(SPANS):
        span = spans.spans.add(
            trace_id=trace_id,
            span_id=(i + 1).to_bytes(8, "big"),
            name=f"op {i % 5}",
            start_time_unix_nano=now + i,
            end_time_unix_nano=now + i + 1000,
        )
        attribute = span.attributes.add(key="http.route")
        attribute.value.string_value = f"/r/{i % 3}"
    return request.SerializeToString()


def send(url: str, first: int, count: int, answered: list[tuple[bytes, int]]) -> None:
    with httpx.Client(timeout=60) as client:
        for n in range(first, first + count):
            trace_id = n.to_bytes(16, "big")
            while True:
                response = client.post(url, content=span_batch(trace_id), headers=PROTOBUF)
                if response.status_code != 503:
                    break
                time.sleep(0.1)
            answered.append((trace_id, response.status_code))


def stored_spans(directory: Path, trace_ids: list[bytes]) -> dict[bytes, int]:
    store = TelemetryStore(StoreSettings(directory=directory, read_only=True))
    try:
        return {trace_id: len(store.trace(trace_id)) for trace_id in trace_ids}
    finally:
        store.close()


def writer(endpoint: str) -> dict[str, object]:
    stats: dict[str, object] = httpx.get(f"{endpoint}/_ecslite/telemetry/stats").json()["pipeline"]["writer"]
    return stats


def test_killed_writer_process_is_restarted_and_every_answered_span_is_stored(tmp_path: Path) -> None:
    http_port = free_port()
    server = start_server(tmp_path, "--otlp-http-port", str(http_port), ephemeral=False)
    try:
        url = f"http://127.0.0.1:{http_port}/v1/traces"
        answered: list[tuple[bytes, int]] = []
        send(url, 1, 2, answered)
        first = writer(server.endpoint)["process"]
        assert isinstance(first, int) and first != server.pid
        senders = [threading.Thread(target=send, args=(url, 1000 * (k + 1), 40, answered)) for k in range(2)]
        for thread in senders:
            thread.start()
        while len(answered) < 20:
            time.sleep(0.01)
        os.kill(first, signal.SIGKILL)  # mid-stream: this test started the server, whose child it is
        for thread in senders:
            thread.join(120)
        assert {status for _, status in answered} == {200}
        deadline = time.monotonic() + 10
        while httpx.get(f"{server.endpoint}/_ecslite/telemetry/stats").json()["pipeline"]["pending"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        info = writer(server.endpoint)
        assert info["restarts"] == 1 and info["process"] not in (None, first)
        stored = stored_spans(tmp_path / "telemetry", [trace_id for trace_id, _ in answered])
        assert stored == {trace_id: SPANS for trace_id, _ in answered}, "each span once, none lost"
        errors = [
            entry["msg"]
            for line in (tmp_path / "server.log").read_text().splitlines()
            if line.startswith("{") and (entry := orjson.loads(line))["level"] == "error"
        ]
        assert any(message.startswith("telemetry writer process") for message in errors), errors
    finally:
        stop_server(server)


def test_stop_right_after_the_last_answer_stores_everything_answered(tmp_path: Path) -> None:
    http_port = free_port()
    server = start_server(tmp_path, "--otlp-http-port", str(http_port), ephemeral=False)
    answered: list[tuple[bytes, int]] = []
    try:
        send(f"http://127.0.0.1:{http_port}/v1/traces", 1, 30, answered)
        child = writer(server.endpoint)["process"]
    finally:
        stop_server(server)
    assert server.process.returncode == 0
    assert isinstance(child, int)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # the writer process ended with the server
    stored = stored_spans(tmp_path / "telemetry", [trace_id for trace_id, _ in answered])
    assert stored == {trace_id: SPANS for trace_id, status in answered if status == 200}
