"""X-Ray segments as spans (spec/telemetry.md §3.3, §3.5) and the daemon's sampling proxy answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from ecslite.builtin.http import Request
from ecslite.builtin.tap import Tap
from ecslite.builtin.xray.daemon import Daemon
from ecslite.builtin.xray.segments import BadSegment, parse_datagram, to_request

SEGMENT: dict[str, Any] = {
    "name": "orders",
    "id": "70de5b6f19ff9a0a",
    "trace_id": "1-581cf771-a006649127e371903a2de979",
    "parent_id": "53995c3f42cd8ad8",
    "start_time": 1732430000.25,
    "end_time": 1732430000.5,
    "http": {"request": {"method": "POST", "url": "http://orders/orders"}, "response": {"status": 502}},
    "fault": True,
    "cause": {"exceptions": [{"type": "ConnectionError", "message": "pricing unreachable"}]},
    "annotations": {"order_id": 7},
    "subsegments": [
        {
            "name": "pricing",
            "id": "70de5b6f19ff9a0b",
            "namespace": "remote",
            "start_time": 1732430000.3,
            "end_time": 1732430000.4,
            "error": True,
        },
        {"name": "compute", "id": "70de5b6f19ff9a0c", "start_time": 1732430000.41, "end_time": 1732430000.42},
        {"name": "later", "id": "70de5b6f19ff9a0d", "start_time": 1732430000.43, "in_progress": True},
    ],
}


def datagram(document: dict[str, Any]) -> bytes:
    return b'{"format": "json", "version": 1}\n' + json.dumps(document).encode()


def attrs(span: trace_pb2.Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        out[kv.key] = getattr(kv.value, kv.value.WhichOneof("value"))
    return out


def test_segment_tree_becomes_server_client_and_internal_spans() -> None:
    request, bad = to_request([parse_datagram(datagram(SEGMENT))])
    assert bad == 0
    [resource_spans] = request.resource_spans
    assert resource_spans.resource.attributes[0].value.string_value == "orders"
    spans = {s.name: s for s in resource_spans.scope_spans[0].spans}
    assert set(spans) == {"orders", "pricing", "compute"}  # in-progress subsegments wait for their end
    root = spans["orders"]
    assert root.trace_id.hex() == "581cf771a006649127e371903a2de979"
    assert (root.span_id.hex(), root.parent_span_id.hex()) == ("70de5b6f19ff9a0a", "53995c3f42cd8ad8")
    assert root.kind == trace_pb2.Span.SPAN_KIND_SERVER
    assert (root.start_time_unix_nano, root.end_time_unix_nano) == (1732430000250000000, 1732430000500000000)
    assert root.status.code == trace_pb2.Status.STATUS_CODE_ERROR
    assert root.status.message == "pricing unreachable"
    assert [e.name for e in root.events] == ["exception"]
    assert attrs(root)["http.request.method"] == "POST"
    assert attrs(root)["http.response.status_code"] == 502
    assert attrs(root)["aws.xray.annotations.order_id"] == 7
    pricing = spans["pricing"]
    assert pricing.kind == trace_pb2.Span.SPAN_KIND_CLIENT
    assert pricing.parent_span_id == root.span_id
    assert pricing.status.code == trace_pb2.Status.STATUS_CODE_UNSET  # error (4xx) is an attribute only
    assert attrs(pricing)["aws.xray.error"] is True
    assert spans["compute"].kind == trace_pb2.Span.SPAN_KIND_INTERNAL


def test_detached_subsegment_keeps_its_parent() -> None:
    detached = {
        "type": "subsegment",
        "name": "s3",
        "id": "1111111111111111",
        "parent_id": "2222222222222222",
        "trace_id": "1-581cf771-a006649127e371903a2de979",
        "namespace": "aws",
        "start_time": 1.0,
        "end_time": 2.0,
    }
    request, _ = to_request([detached])
    [span] = request.resource_spans[0].scope_spans[0].spans
    assert (span.kind, span.parent_span_id.hex()) == (trace_pb2.Span.SPAN_KIND_CLIENT, "2222222222222222")


@pytest.mark.parametrize(
    "document",
    [{**SEGMENT, "trace_id": "5759e988bd862e3fe1be46a994272793"}, {**SEGMENT, "id": "short"}, {"name": "x"}],
)
def test_unusable_segments_are_counted(document: dict[str, Any]) -> None:
    _, bad = to_request([document])
    assert bad == 1


def test_datagram_without_json_is_refused() -> None:
    with pytest.raises(BadSegment):
        parse_datagram(b'{"format": "json", "version": 1}\nnot json')


def test_sampling_proxy_answers_the_default_rule_and_targets() -> None:
    daemon = Daemon(Tap("off"), "ap-northeast-1", "000000000000")

    def post(path: str, body: dict[str, Any]) -> Any:
        request = Request("POST", path, {}, {}, orjson.dumps(body), None)
        return orjson.loads(asyncio.run(daemon.handle(request)).body)

    [record] = post("/GetSamplingRules", {})["SamplingRuleRecords"]
    rule = record["SamplingRule"]
    assert (rule["RuleName"], rule["FixedRate"], rule["ReservoirSize"]) == ("Default", 0.05, 1)
    assert rule["RuleARN"] == "arn:aws:xray:ap-northeast-1:000000000000:sampling-rule/Default"
    targets = post("/SamplingTargets", {"SamplingStatisticsDocuments": [{"RuleName": "Default"}]})
    assert [t["RuleName"] for t in targets["SamplingTargetDocuments"]] == ["Default"]
