"""The Loki query API of a real server fed OTLP logs through its receiver (spec/telemetry.md §7.2):
labels, series, log queries with line filters, parsers, label filters and formatting, metric
queries, structured metadata, live tail over a websocket, and Loki's plain-text errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import start_server, stop_server
from tests.fixtures.ports import free_port

pytestmark = pytest.mark.integration
TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"

# (service, seconds after t0, severity number, body, with trace context)
RECORDS = [
    (
        "checkout",
        1.0,
        9,
        '{"level":"info","msg":"order placed","order":{"id":"o-1","total":12.5},"status":200,'
        '"latency":"120ms","tags":["a"]}',
        False,
    ),
    (
        "checkout",
        2.0,
        17,
        '{"level":"error","msg":"payment failed","order":{"id":"o-2","total":99},"status":502,"latency":"1.5s"}',
        True,
    ),
    ("checkout", 3.0, 9, 'level=info msg="cache hit" size=2KB duration=15ms', False),
    ("checkout", 4.0, 13, "disk almost full", False),
    ("checkout", 5.0, 9, "not json {", False),
    ("billing", 2.5, 17, 'level=error msg="invoice failed" code=500', False),
    ("billing", 6.0, 9, 'level=info msg="invoice sent" code=200', False),
]


@dataclass
class Loki:
    url: str
    t0: int  # ns
    otlp_port: int

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}/loki/api/v1/{path}", params=params, headers=headers, timeout=30)

    def range(self, query: str, **params: Any) -> dict[str, Any]:
        window = {"start": str(self.t0), "end": str(self.t0 + 60 * 10**9), **params}
        response = self.get("query_range", query=query, **window)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def lines(self, query: str, **params: Any) -> list[str]:
        data = self.range(query, **params)
        assert data["resultType"] == "streams"
        entries = [(int(ts), line) for stream in data["result"] for ts, line, *_ in stream["values"]]
        reverse = params.get("direction", "backward") == "backward"
        return [line for _, line in sorted(entries, reverse=reverse)]

    def instant(self, query: str) -> dict[str, Any]:
        response = self.get("query", query=query, time=str(self.t0 + 10 * 10**9))
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data


def logs_request(t0: int) -> bytes:
    request = logs_service_pb2.ExportLogsServiceRequest()
    by_service: dict[str, logs_pb2.ScopeLogs] = {}
    for service, offset, severity, body, traced in RECORDS:
        scope = by_service.get(service)
        if scope is None:
            resource_logs = request.resource_logs.add()
            resource_logs.resource.attributes.append(
                common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value=service))
            )
            scope = by_service[service] = resource_logs.scope_logs.add()
        record = scope.log_records.add(time_unix_nano=t0 + int(offset * 1e9), severity_number=severity)  # type: ignore[arg-type]
        record.body.string_value = body
        if traced:
            record.trace_id = bytes.fromhex(TRACE_ID)
            record.span_id = bytes.fromhex(SPAN_ID)
    return request.SerializeToString()


@pytest.fixture(scope="module")
def loki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loki]:
    http_port = free_port()
    server = start_server(tmp_path_factory.mktemp("loki"), "--otlp-http-port", str(http_port))
    try:
        t0 = (int(time.time()) - 120) * 10**9
        response = httpx.post(
            f"http://127.0.0.1:{http_port}/v1/logs",
            content=logs_request(t0),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        api = Loki(server.endpoint, t0, http_port)
        deadline = time.monotonic() + 5
        while len(api.lines('{source="otlp"}')) < len(RECORDS):
            assert time.monotonic() < deadline, "the log records did not become readable"
            time.sleep(0.1)
        yield api
    finally:
        stop_server(server)


def test_labels_values_and_series(loki: Loki) -> None:
    window = {"start": str(loki.t0), "end": str(loki.t0 + 60 * 10**9)}
    labels = loki.get("labels", **window).json()
    assert labels["status"] == "success"
    assert {"service_name", "source", "level"} <= set(labels["data"])
    assert loki.get("label", **window).json()["data"] == labels["data"]
    services = loki.get("label/service_name/values", **window).json()["data"]
    assert services == ["billing", "checkout"]
    levels = loki.get("label/level/values", query='{service_name="billing"}', **window).json()["data"]
    assert levels == ["error", "info"]
    series = loki.get("series", **{"match[]": '{service_name="billing", level="error"}'}, **window).json()["data"]
    assert series == [{"level": "error", "service_name": "billing", "source": "otlp"}]


def test_log_query_orders_and_limits_across_streams(loki: Loki) -> None:
    newest = loki.lines('{service_name="checkout"}')
    assert newest[0] == "not json {" and len(newest) == 5
    oldest = loki.lines('{service_name="checkout"}', direction="forward", limit="2")
    assert [line[:20] for line in oldest] == ['{"level":"info","msg', '{"level":"error","ms']
    limited = loki.lines('{source="otlp"}', limit="3")
    assert limited == ['level=info msg="invoice sent" code=200', "not json {", "disk almost full"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('{source="otlp"} |= "failed"', ['level=error msg="invoice failed" code=500', "payment failed"]),
        ('{service_name="checkout"} != "order" != "json"', ["disk almost full", "cache hit"]),
        ('{source="otlp"} |~ "(?i)INVOICE (sent|failed)"', ["invoice sent", "invoice failed"]),
        ('{service_name=~"check.*"} |= "order" or "disk"', ["disk almost full", "payment failed", "order placed"]),
        ('{service_name="billing"} !~ "code=5.."', ["invoice sent"]),
    ],
)
def test_line_filters(loki: Loki, query: str, expected: list[str]) -> None:
    found = loki.lines(query)
    assert len(found) == len(expected)
    for line, part in zip(found, expected, strict=True):
        assert part in line


def test_json_parser_flattens_and_label_filters_compare_types(loki: Loki) -> None:
    data = loki.range('{service_name="checkout"} | json | __error__="" | status >= 500')
    (stream,) = data["result"]
    assert stream["stream"]["order_id"] == "o-2"
    assert stream["stream"]["msg"] == "payment failed"
    assert stream["stream"]["level_extracted"] == "error"  # "level" is a stream label
    assert "tags" not in stream["stream"]  # arrays are skipped
    assert stream["values"][0][1].startswith('{"level":"error"')
    # As in Loki, lines whose parsing failed pass numeric filters (with their __error__ label).
    assert len(loki.lines('{service_name="checkout"} | json | status >= 500')) == 4
    assert len(loki.lines('{service_name="checkout"} | json | __error__="" | order_total > 50')) == 1
    assert len(loki.lines('{service_name="checkout"} | json | __error__="" | latency > 1s')) == 1
    assert len(loki.lines('{service_name="checkout"} | json id="order.id" | id="o-1"')) == 1


def test_parser_errors_keep_the_line_with_error_label(loki: Loki) -> None:
    errors = loki.range('{service_name="checkout"} | json | __error__="JSONParserErr"')["result"]
    assert sorted(line for stream in errors for _, line in stream["values"]) == [
        "disk almost full",
        'level=info msg="cache hit" size=2KB duration=15ms',
        "not json {",
    ]
    assert all(stream["stream"]["__error__"] == "JSONParserErr" for stream in errors)
    assert len(loki.lines('{service_name="checkout"} | json | __error__=""')) == 2


def test_logfmt_and_formatting(loki: Loki) -> None:
    assert loki.lines('{service_name="billing"} | logfmt | code="500"') == ['level=error msg="invoice failed" code=500']
    assert loki.lines('{service_name="checkout"} |= "cache" | logfmt | size > 1KB and duration < 20ms') == [
        'level=info msg="cache hit" size=2KB duration=15ms'
    ]
    formatted = loki.lines('{service_name="billing"} | logfmt | line_format "{{.msg}} ({{ .code }})"')
    assert formatted == ["invoice sent (200)", "invoice failed (500)"]
    relabelled = loki.range('{service_name="billing"} | logfmt | label_format status=code | drop msg')["result"]
    assert {s["stream"]["status"] for s in relabelled} == {"200", "500"}
    assert all("msg" not in s["stream"] and "code" not in s["stream"] for s in relabelled)
    pattern = loki.range('{service_name="billing"} | pattern "level=<lvl> msg=<_> code=<code>" | code="200"')
    assert pattern["result"][0]["stream"]["lvl"] == "info"


def test_structured_metadata_merged_or_categorized(loki: Loki) -> None:
    merged = loki.range('{service_name="checkout"} |= "payment"')["result"]
    assert merged[0]["stream"]["trace_id"] == TRACE_ID
    assert merged[0]["stream"]["span_id"] == SPAN_ID
    response = loki.get(
        "query_range",
        headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"},
        query='{service_name="checkout"} |= "payment" | json',
        start=str(loki.t0),
        end=str(loki.t0 + 60 * 10**9),
    )
    data = response.json()["data"]
    assert data["encodingFlags"] == ["categorize-labels"]
    (stream,) = data["result"]
    assert "trace_id" not in stream["stream"] and "msg" not in stream["stream"]
    _ts, _line, categories = stream["values"][0]
    assert categories["structuredMetadata"] == {"trace_id": TRACE_ID, "span_id": SPAN_ID}
    assert categories["parsed"]["msg"] == "payment failed"
    assert len(loki.lines(f'{{service_name="checkout"}} | trace_id="{TRACE_ID}"')) == 1


def test_metric_queries(loki: Loki) -> None:
    by_level = loki.instant('sum by (level) (count_over_time({source="otlp"}[1m]))')
    assert by_level["resultType"] == "vector"
    assert {r["metric"]["level"]: r["value"][1] for r in by_level["result"]} == {"error": "2", "info": "4", "warn": "1"}
    rate = loki.instant('sum(rate({service_name="billing"}[1m]))')["result"]
    assert float(rate[0]["value"][1]) == pytest.approx(2 / 60)
    size = loki.instant('sum(bytes_over_time({service_name="billing"}[1m]))')["result"]
    expected = sum(len(body) for service, _, _, body, _ in RECORDS if service == "billing")
    assert size[0]["value"][1] == str(expected)
    unwrapped = loki.instant('sum(sum_over_time({service_name="checkout"} | json | __error__="" | unwrap status [1m]))')
    assert unwrapped["result"][0]["value"][1] == "702"
    ratio = loki.instant(
        'sum(count_over_time({source="otlp", level="error"}[1m])) / sum(count_over_time({source="otlp"}[1m]))'
    )
    assert float(ratio["result"][0]["value"][1]) == pytest.approx(2 / 7)
    top = loki.instant('topk(1, sum by (service_name) (count_over_time({source="otlp"}[1m])))')["result"]
    assert [r["metric"] for r in top] == [{"service_name": "checkout"}]
    assert loki.instant("vector(1) + vector(1)")["result"][0]["value"][1] == "2"


def test_metric_range_query_steps(loki: Loki) -> None:
    query = 'sum by (service_name) (count_over_time({service_name="checkout"}[2s]))'
    data = loki.range(query, step="1s", end=str(loki.t0 + 6 * 10**9))
    assert data["resultType"] == "matrix"
    (series,) = data["result"]
    assert series["metric"] == {"service_name": "checkout"}
    # Windows are (t − 2s, t]: lines at t0+1 … t0+5, one per second.
    counts = {round(float(t)) - loki.t0 // 10**9: v for t, v in series["values"]}
    assert counts == {1: "1", 2: "2", 3: "2", 4: "2", 5: "2", 6: "1"}


def test_metric_query_with_parser_errors_fails_like_loki(loki: Loki) -> None:
    response = loki.get(
        "query", query='count_over_time({service_name="checkout"} | json [1m])', time=str(loki.t0 + 10 * 10**9)
    )
    assert response.status_code == 400
    assert response.text.startswith("pipeline error: 'JSONParserErr' for series:")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"query": '{service_name="checkout"'}, "parse error at line 1"),
        ({"query": '{service_name=~".*"}'}, "queries require at least one regexp or equality matcher"),
        ({"query": '{service_name="checkout"}', "limit": "5001"}, "max entries limit per query exceeded"),
        ({"query": '{service_name="checkout"}', "start": "yesterday"}, 'cannot parse "yesterday"'),
        ({"query": '{service_name="checkout"} | line_format "{{ if .x }}"'}, "unsupported template"),
    ],
)
def test_bad_queries_get_plain_text_errors(loki: Loki, params: dict[str, str], message: str) -> None:
    response = loki.get("query_range", **params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert message in response.text


def test_grafana_probes(loki: Loki) -> None:
    assert httpx.get(f"{loki.url}/ready", timeout=10).text.strip() == "ready"
    stats = loki.get(
        "index/stats", query='{service_name="checkout"}', start=str(loki.t0), end=str(loki.t0 + 60 * 10**9)
    )
    assert stats.json() == {"streams": 3, "chunks": 3, "bytes": stats.json()["bytes"], "entries": 5}
    assert loki.get("index/volume", query='{source="otlp"}').json()["data"]["result"] == []
    assert loki.get("detected_labels").json() == {"detectedLabels": []}
    assert loki.get("patterns").json() == {"status": "success", "data": []}


def test_tail_streams_new_lines_over_a_websocket(loki: Loki) -> None:
    ws_url = loki.url.replace("http://", "ws://") + "/loki/api/v1/tail"
    query = urlencode({"query": '{service_name="billing"} |= "invoice"', "start": str(loki.t0)})
    with connect(f"{ws_url}?{query}", open_timeout=10) as socket_:
        first = orjson.loads(socket_.recv(timeout=10))
        lines = [line for stream in first["streams"] for _, line in stream["values"]]
        assert lines == ['level=error msg="invoice failed" code=500', 'level=info msg="invoice sent" code=200']
        assert first["dropped_entries"] is None
        late = (int(time.time()) - 1) * 10**9
        record = logs_pb2.LogRecord(time_unix_nano=late, severity_number=9)  # type: ignore[arg-type]
        record.body.string_value = 'level=info msg="invoice late" code=200'
        request = logs_service_pb2.ExportLogsServiceRequest()
        resource_logs = request.resource_logs.add()
        resource_logs.resource.attributes.append(
            common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="billing"))
        )
        resource_logs.scope_logs.add().log_records.append(record)
        sent = httpx.post(
            f"http://127.0.0.1:{loki.otlp_port}/v1/logs",
            content=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=30,
        )
        assert sent.status_code == 200
        second = orjson.loads(socket_.recv(timeout=10))
        assert [line for s in second["streams"] for _, line in s["values"]] == [
            'level=info msg="invoice late" code=200'
        ]


def test_tail_refuses_metric_queries(loki: Loki) -> None:
    ws_url = loki.url.replace("http://", "ws://") + "/loki/api/v1/tail"
    query = urlencode({"query": 'rate({service_name="billing"}[1m])'})
    with pytest.raises(InvalidStatus):
        connect(f"{ws_url}?{query}", open_timeout=10)
