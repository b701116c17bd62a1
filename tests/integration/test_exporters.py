"""ecslite's own exporters against real receivers (spec/telemetry.md §6): remote write into a real
Prometheus, Loki push into another ecslite's push endpoint; each receiver is stopped while records
keep arriving and started again, and every record must arrive, exactly once, with its values."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from ecslite.telemetry.store import LogQuery, Matcher, StoreSettings, TelemetryStore
from tests.conftest import RunningServer, start_server, stop_server
from tests.fixtures.ports import free_port
from tests.fixtures.prometheus import PrometheusServer, prometheus  # noqa: F401 - fixture

pytestmark = [pytest.mark.integration, pytest.mark.slow]
T = TypeVar("T")
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def wait_until(probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(interval)


def metrics_request(name: str, points: list[tuple[int, float]], service: str = "exporter-test") -> bytes:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    kv = resource_metrics.resource.attributes.add(key="service.name")
    kv.value.string_value = service
    metric = resource_metrics.scope_metrics.add().metrics.add(name=name)
    for ts_ms, value in points:
        point = metric.gauge.data_points.add(time_unix_nano=ts_ms * 1_000_000, as_double=value)
        point.attributes.add(key="series").value.string_value = "a"
    data: bytes = request.SerializeToString()
    return data


def logs_request(lines: list[tuple[int, str]], service: str = "exporter-test") -> bytes:
    request = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.add(key="service.name").value.string_value = service
    records = resource_logs.scope_logs.add().log_records
    for ts_ns, line in lines:
        record = records.add(time_unix_nano=ts_ns, severity_number=9, severity_text="INFO")
        record.body.string_value = line
        record.trace_id = bytes.fromhex("5b8efff798038103d269b633813fc60c")
    data: bytes = request.SerializeToString()
    return data


def post(url: str, body: bytes) -> None:
    response = httpx.post(url, content=body, headers=PROTOBUF, timeout=10)
    assert response.status_code == 200, response.text


def exporter_stats(server: RunningServer) -> list[dict[str, Any]]:
    stats: list[dict[str, Any]] = httpx.get(f"{server.endpoint}/_ecslite/telemetry/stats", timeout=5).json()[
        "exporters"
    ]
    return stats


@pytest.fixture
def exporting(tmp_path: Path) -> Iterator[Callable[..., tuple[RunningServer, str]]]:
    """Start an ecslite that exports; returns (server, its OTLP/HTTP base URL)."""
    started: list[RunningServer] = []

    def start(*args: str) -> tuple[RunningServer, str]:
        port = free_port()
        server = start_server(tmp_path / f"exporting-{len(started)}", "--otlp-http-port", str(port), *args)
        started.append(server)
        return server, f"http://127.0.0.1:{port}"

    yield start
    for server in started:
        stop_server(server)


def test_remote_write_delivers_every_sample_to_prometheus_across_an_outage(
    prometheus: PrometheusServer,  # noqa: F811 - the fixture
    exporting: Callable[..., tuple[RunningServer, str]],
) -> None:
    server, otlp = exporting("--export-remote-write", prometheus.write_url)
    now_ms = int(time.time() * 1000) // 1000 * 1000 - 60_000
    before = [(now_ms + i * 1000, float(i)) for i in range(20)]
    during = [(now_ms + (20 + i) * 1000, float(20 + i) + 0.5) for i in range(20)]
    post(f"{otlp}/v1/metrics", metrics_request("exporter_probe", before))
    selector = '{__name__="exporter_probe"}'

    def in_prometheus() -> list[tuple[int, float]]:
        found = prometheus.samples(selector, at=now_ms / 1000 + 120, window="5m")
        return next(iter(found.values()), [])

    assert wait_until(lambda: len(in_prometheus()) == 20) and in_prometheus() == before

    prometheus.stop()
    post(f"{otlp}/v1/metrics", metrics_request("exporter_probe", during))
    assert wait_until(lambda: exporter_stats(server)[0]["retries"] >= 2, timeout=20)
    prometheus.start()

    assert wait_until(lambda: len(in_prometheus()) == 40, timeout=60), in_prometheus()
    assert in_prometheus() == before + during
    (series,) = prometheus.samples(selector, at=now_ms / 1000 + 120, window="5m")
    labels = dict(series)
    assert labels["job"] == "exporter-test" and labels["series"] == "a"
    (stats,) = exporter_stats(server)
    assert stats["sentItems"] == 2 and stats["dropped"] == 0 and stats["errors"] == 0


def read_logs(directory: Path) -> list[tuple[int, str, str, dict[str, str]]]:
    store = TelemetryStore(StoreSettings(directory=directory, read_only=True))
    try:
        found = store.read_logs(
            LogQuery([Matcher("service_name", "=", "exporter-test")], 0, 2**62, limit=1000, direction="forward")
        )
    finally:
        store.close()
    return [(r.time_ns, r.record.body, r.record.trace_id.hex(), dict(r.labels)) for r in found]


def test_loki_push_delivers_every_line_to_another_ecslite_across_an_outage(
    tmp_path: Path, exporting: Callable[..., tuple[RunningServer, str]]
) -> None:
    port = free_port()
    receiver_dir = tmp_path / "receiver"
    receiver = start_server(receiver_dir, "--port", str(port), ephemeral=False)
    try:
        push_url = f"http://127.0.0.1:{port}/loki/api/v1/push"
        server, otlp = exporting("--export-loki", push_url)
        base = time.time_ns() - 60 * 1_000_000_000
        before = [(base + i * 1_000_000, f"line {i} before") for i in range(30)]
        during = [(base + (30 + i) * 1_000_000, f"line {i} during") for i in range(30)]
        post(f"{otlp}/v1/logs", logs_request(before))
        assert wait_until(lambda: len(read_logs(receiver_dir / "telemetry")) == 30)

        stop_server(receiver)
        post(f"{otlp}/v1/logs", logs_request(during))
        assert wait_until(lambda: exporter_stats(server)[0]["retries"] >= 2, timeout=20)
        receiver = start_server(receiver_dir, "--port", str(port), ephemeral=False)

        assert wait_until(lambda: len(read_logs(receiver_dir / "telemetry")) == 60, timeout=60)
        stored = read_logs(receiver_dir / "telemetry")
        assert [(ts, body) for ts, body, _, _ in stored] == before + during
        assert {trace for _, _, trace, _ in stored} == {"5b8efff798038103d269b633813fc60c"}
        assert {tuple(sorted(labels.items())) for _, _, _, labels in stored} == {
            (("level", "info"), ("service_name", "exporter-test"), ("source", "otlp"))
        }
        (stats,) = exporter_stats(server)
        assert stats["dropped"] == 0 and stats["errors"] == 0 and stats["sentItems"] == 2
    finally:
        stop_server(receiver)


def test_loki_push_endpoint_answers_like_loki(server: RunningServer) -> None:
    url = f"{server.endpoint}/loki/api/v1/push"
    good = orjson.dumps({"streams": [{"stream": {"service_name": "pushed"}, "values": [["1", "x"]]}]})
    assert httpx.post(url, content=good, headers={"Content-Type": "application/json"}).status_code == 204
    bad = httpx.post(url, content=b"{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.text.startswith("invalid JSON")
    labels = orjson.dumps({"streams": [{"stream": {"1bad": "x"}, "values": [["1", "x"]]}]})
    refused = httpx.post(url, content=labels, headers={"Content-Type": "application/json"})
    assert (refused.status_code, refused.text) == (400, "invalid label name '1bad'")
