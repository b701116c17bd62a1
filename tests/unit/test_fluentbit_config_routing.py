"""The built-in router on a configuration: instance names, filters, tag routing, retries and counters,
the 2020 monitoring API with its health window, and what outputs put on the wire
(spec/telemetry.md §5, §6.1–§6.3, §6.5)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from ecslite.builtin import firelens
from ecslite.builtin.fluentbit.config import Section, loads
from ecslite.builtin.fluentbit.engine import LOGS, TRACES, Chunk, Engine, Health, HealthSettings, Output, Result
from ecslite.builtin.fluentbit.filters import FILTERS
from ecslite.builtin.fluentbit.inputs import INPUTS
from ecslite.builtin.fluentbit.main import resolve_port_conflicts
from ecslite.builtin.fluentbit.monitor import Monitor, uptime_hr
from ecslite.builtin.fluentbit.outputs import OUTPUTS, LokiOutput, write_request
from ecslite.builtin.http import Request

SEED = Path(__file__).resolve().parents[1] / "data" / "custom-fluent-bit.conf"
ENV = {"LOKI_ENDPOINT": "127.0.0.1", "TEMPO_ENDPOINT": "127.0.0.1", "THANOS_ENDPOINT": "127.0.0.1"}
FARGATE = {"task": {"launchType": "FARGATE", "taskArn": "arn:aws:ecs:us-east-1:000000000000:task/c/5f0c"}}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def seed_engine(clock: Clock | None = None, context: dict[str, Any] | None = None) -> Engine:
    spec = firelens.RouterSpec(
        task_arn="arn:aws:ecs:us-east-1:000000000000:task/c/5f0c",
        task_id="5f0c",
        cluster="c",
        family="otel-demo-app",
        revision=1,
        launch_type="FARGATE",
        router="fluent-bit",
        router_type="fluentbit",
        options={"config-file-type": "file", "config-file-value": str(SEED)},
        outputs=[("python-service", {"Name": "forward", "Host": "localhost", "Port": "24224"})],
    )
    config = loads(firelens.generate_config(spec, "/run/x.sock"), environment=ENV)
    resolve_port_conflicts(config)
    return Engine(
        config,
        inputs=INPUTS,  # type: ignore[arg-type]
        filters=FILTERS,  # type: ignore[arg-type]
        outputs=OUTPUTS,  # type: ignore[arg-type]
        clock=clock or Clock(),
        context=context or FARGATE,
    )


def test_instances_are_named_per_kind_in_configuration_order() -> None:
    engine = seed_engine()
    assert [i.name for i in engine.inputs] == ["forward.0", "tcp.1", "forward.2", "opentelemetry.3", "opentelemetry.4"]
    assert [f.name for f in engine.filters] == ["record_modifier.0", "aws.1", "modify.2", "modify.3", "modify.4"]
    assert [o.name for o in engine.outputs] == [
        "loki.0",
        "opentelemetry.1",
        "prometheus_remote_write.2",
        "null.3",
        "forward.4",
    ]


def test_seed_problems_become_warnings_not_failures() -> None:
    engine = seed_engine()
    text = "\n".join(engine.warnings)
    assert "invalid label key, the name must start with '$': 'service'" in text
    assert "${ECS_CLUSTER} is not set in the environment" in text
    assert "the aws filter reads EC2 instance metadata (IMDS), which Fargate tasks do not have" in text
    assert "two forward inputs listen on TCP 24224" in text


def test_container_logs_are_filtered_and_routed_to_loki_only() -> None:
    engine = seed_engine()
    forward = engine.inputs[2]
    forward.emit(Chunk("container.logs", LOGS, [(1, {"log": "hi", "container_name": "python-service"})], size=10))
    loki = engine.outputs[0]
    [chunk] = loki.buffer
    assert chunk.records[0][1] == {
        "log": "hi",
        "container_name": "python-service",
        "ecs_cluster": "c",
        "ecs_task_arn": "arn:aws:ecs:us-east-1:000000000000:task/c/5f0c",
        "ecs_task_definition": "otel-demo-app:1",
        "cluster": "",
        "aws.region": "",
        "environment": "production",
    }
    assert [o.name for o in engine.outputs if o.buffer] == ["loki.0"]
    assert (forward.records, forward.bytes) == (1, 10)
    modify = engine.filters[2]
    assert (modify.records, modify.add_records, modify.drop_records) == (1, 0, 0)


def test_otlp_tagged_by_uri_matches_no_seed_output_and_says_so() -> None:
    clock = Clock()
    engine = seed_engine(clock)
    engine.inputs[3].emit(Chunk("v1_traces", TRACES, payload=b"", count=3))
    assert all(not o.buffer for o in engine.outputs)
    clock.now += 11
    engine._report_unmatched()
    [warning] = [w for w in engine.warnings if w.startswith("[output opentelemetry.1]")]
    assert warning == "[output opentelemetry.1] matched 0 records (Match otlp.traces); tags seen: v1_traces"


def test_firelens_tagged_records_reach_the_generated_output() -> None:
    engine = seed_engine()
    engine.inputs[0].emit(Chunk("python-service-firelens-5f0c", LOGS, [(1, {"log": "x"})]))
    assert [o.name for o in engine.outputs if o.buffer] == ["forward.4"]


class _Flaky(Output):
    signals = (LOGS,)

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.results = [Result.RETRY, Result.RETRY, Result.OK]
        self.calls = 0

    async def flush(self, chunks: Sequence[Chunk]) -> Result:
        self.calls += 1
        return self.results.pop(0)


def _engine_with(output_config: str) -> Engine:
    service = "[SERVICE]\n    scheduler.base 0.01\n    scheduler.cap 0.02\n"
    text = f"{service}[OUTPUT]\n    Name flaky\n    Match *\n{output_config}"
    return Engine(loads(text, environment={}), inputs={}, filters={}, outputs={"flaky": _Flaky})


@pytest.mark.parametrize(
    ("limit", "calls", "counters"),
    [
        ("1", 2, {"retries": 1, "retries_failed": 1, "dropped_records": 2, "proc_records": 0, "retried_records": 2}),
        ("3", 3, {"retries": 2, "retries_failed": 0, "dropped_records": 0, "proc_records": 2, "retried_records": 4}),
        ("no_retries", 1, {"retries": 0, "retries_failed": 1, "dropped_records": 2, "proc_records": 0}),
    ],
)
def test_retry_limit_and_counters(limit: str, calls: int, counters: dict[str, int]) -> None:
    engine = _engine_with(f"    Retry_Limit {limit}\n")
    output = engine.outputs[0]

    async def run() -> None:
        output.buffer.append(Chunk("t", LOGS, [(1, {}), (2, {})], size=20))
        await engine.flush_all()
        await asyncio.sleep(0.2)

    asyncio.run(run())
    assert output.calls == calls  # type: ignore[attr-defined]
    for key, value in counters.items():
        assert output.counters()[key] == value, key


def test_retry_wait_is_full_jitter_between_base_and_cap() -> None:
    engine = Engine(
        loads("[SERVICE]\n    scheduler.base 5\n    scheduler.cap 30\n", environment={}),
        inputs={},
        filters={},
        outputs={},
    )
    waits = [engine.retry_wait(n) for n in (1, 2, 3, 4, 5) for _ in range(50)]
    assert all(5 <= w <= 30 and w == int(w) for w in waits)
    assert max(engine.retry_wait(1) for _ in range(200)) <= 10


def test_health_window_flips_and_recovers() -> None:
    clock = Clock()
    health = Health(HealthSettings(enabled=True, errors_count=5, retry_failure_count=5, period=60), clock)
    assert health.healthy()  # no snapshot yet
    health.push(0, 0)
    clock.now += 30
    health.push(5, 0)
    assert health.healthy()  # grew by 5: not more than HC_Errors_Count
    clock.now += 10
    health.push(6, 0)
    assert not health.healthy()
    clock.now += 61
    health.push(6, 0)
    assert health.healthy()  # the errors left the window
    health.push(6, 6)
    assert not health.healthy()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "Fluent Bit has been running:  0 day, 0 hour, 0 minute and 0 second"),
        (61, "Fluent Bit has been running:  0 day, 0 hour, 1 minute and 1 second"),
        (2 * 86400 + 2 * 3600 + 2 * 60 + 2, "Fluent Bit has been running:  2 days, 2 hours, 2 minutes and 2 seconds"),
    ],
)
def test_uptime_sentence(seconds: int, text: str) -> None:
    assert uptime_hr(seconds) == text


def _get(monitor: Monitor, path: str) -> tuple[int, bytes, str]:
    request = Request("GET", path, {}, {}, b"", None)
    response = asyncio.run(monitor.handle(request))
    return response.status, response.body, response.content_type


def test_monitor_health_without_health_check_answers_the_root_json() -> None:
    monitor = Monitor(seed_engine())
    status, body, kind = _get(monitor, "/api/v1/health")
    assert (status, kind) == (200, "application/json")
    assert orjson.loads(body)["fluent-bit"]["version"] == "4.1.0"
    assert _get(Monitor(seed_engine(), strict_routes=True), "/api/v1/health")[0] == 404


def test_monitor_health_with_health_check_and_metrics() -> None:
    clock = Clock()
    engine = Engine(
        loads(
            "[SERVICE]\n    Health_Check On\n    HC_Errors_Count 0\n[OUTPUT]\n    Name null\n    Match *\n",
            environment={},
        ),
        inputs={},
        filters={},
        outputs=OUTPUTS,
        clock=clock,  # type: ignore[arg-type]
    )
    monitor = Monitor(engine, clock=clock)
    assert _get(monitor, "/api/v1/metrics")[0] == 404  # before the first snapshot
    assert _get(monitor, "/api/v1/health")[:2] == (200, b"ok\n")
    engine.take_snapshot()
    engine.outputs[0].errors += 1
    engine.take_snapshot()
    assert _get(monitor, "/api/v1/health")[:2] == (500, b"error\n")
    status, body, _ = _get(monitor, "/api/v1/metrics")
    assert status == 200 and orjson.loads(body)["output"]["null.0"]["errors"] == 1
    status, text, kind = _get(monitor, "/api/v1/metrics/prometheus")
    assert kind == "text/plain; version=0.0.4"
    lines = text.decode().splitlines()
    assert lines[:3] == [
        "# HELP fluentbit_output_dropped_records_total Fluentbit metrics.",
        "# TYPE fluentbit_output_dropped_records_total counter",
        f'fluentbit_output_dropped_records_total{{name="null.0"}} 0 {int(clock.now * 1000)}',
    ]
    assert f'fluentbit_output_errors_total{{name="null.0"}} 1 {int(clock.now * 1000)}' in lines
    assert lines[-3:] == [
        "# HELP fluentbit_build_info Build version information.",
        "# TYPE fluentbit_build_info gauge",
        'fluentbit_build_info{version="4.1.0",edition="Community"} 1',
    ]
    assert "fluentbit_uptime 0" in lines
    assert orjson.loads(_get(monitor, "/api/v1/uptime")[1])["uptime_sec"] == 0


def test_loki_payload_labels_and_line() -> None:
    engine = seed_engine()
    loki = engine.outputs[0]
    assert isinstance(loki, LokiOutput)
    record = {"log": "hi", "container_name": "python-service", "service": "orders", "task_arn": "arn:t"}
    payload = loki.payload([Chunk("container.logs", LOGS, [(1732430000123456789, dict(record))])])
    [stream] = payload["streams"]
    assert stream["stream"] == {
        "job": "ecs-fargate",
        "cluster": "",
        "container_name": "python-service",
        "service": "orders",
        "task_arn": "arn:t",
    }
    assert stream["values"] == [["1732430000123456789", orjson.dumps(record).decode()]]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def test_remote_write_request_encoding() -> None:
    body = write_request([([("__name__", "up"), ("job", "x")], [(1700000000000, 1.5)])])
    assert body[0] == 0x0A  # field 1 (timeseries), length-delimited
    length, at = _varint(body, 1)
    series = body[at : at + length]
    assert series.startswith(b"\x0a\x0e\x0a\x08__name__\x12\x02up")
    sample_at = series.index(b"\x12\x10")
    sample = series[sample_at + 2 : sample_at + 18]
    assert sample[0] == 0x09 and struct.unpack("<d", sample[1:9])[0] == 1.5
    assert sample[9] == 0x10 and _varint(sample, 10)[0] == 1700000000000
