"""Smithy RPC v2 CBOR (protocol.cbor) against botocore's own serializer and parser, and through the
dispatcher: requests botocore builds read back to what it was given, responses and errors parse as
botocore parses them (CloudWatch's query-compatible codes included)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import cbor2
import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from ecslite.edge.aws import AwsDispatcher, EdgeSettings
from ecslite.protocol import cbor
from ecslite.protocol.errors import AwsError, SerializationError
from ecslite.protocol.models import BY_NAME, SERVICES, operation_model, service_model


def request(operation: str, params: dict[str, Any], service: str = "cloudwatch") -> dict[str, Any]:
    model = operation_model(service, operation)
    assert model is not None
    built: dict[str, Any] = create_serializer("smithy-rpc-v2-cbor").serialize_to_request(params, model)
    return built


def parse(operation: str, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> dict[str, Any]:
    model = operation_model("cloudwatch", operation)
    assert model is not None
    response = {"status_code": status, "headers": headers or {}, "body": body}
    parsed: dict[str, Any] = create_parser("smithy-rpc-v2-cbor").parse(response, model.output_shape)
    return parsed


def test_requests_read_back_what_botocore_sent() -> None:
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=dt.UTC)
    params = {
        "Namespace": "MyApp",
        "MetricData": [
            {
                "MetricName": "Latency",
                "Dimensions": [{"Name": "Service", "Value": "web"}],
                "Timestamp": stamp,
                "Value": 12.5,
                "Unit": "Milliseconds",
                "StorageResolution": 1,
            },
            {"MetricName": "Requests", "StatisticValues": {"SampleCount": 3, "Sum": 7, "Minimum": 1, "Maximum": 4}},
        ],
    }
    built = request("PutMetricData", params)
    assert built["url_path"] == "/service/GraniteServiceVersion20100801/operation/PutMetricData"
    assert built["headers"]["smithy-protocol"] == "rpc-v2-cbor"
    model = operation_model("cloudwatch", "PutMetricData")
    assert model is not None
    parsed = cbor.parse_request(model, built["body"])
    first = parsed["MetricData"][0]
    assert first["Timestamp"] == pytest.approx(stamp.timestamp())
    assert first["Value"] == 12.5 and first["StorageResolution"] == 1
    statistics = parsed["MetricData"][1]["StatisticValues"]
    assert statistics == {"SampleCount": 3.0, "Sum": 7.0, "Minimum": 1.0, "Maximum": 4.0}


def test_routes_name_service_and_operation() -> None:
    assert cbor.route("/service/GraniteServiceVersion20100801/operation/ListMetrics") == (
        "GraniteServiceVersion20100801",
        "ListMetrics",
    )
    assert cbor.route("/service/x/ops/ListMetrics") is None
    assert cbor.route("/") is None


def test_wrong_types_are_serialization_errors_with_a_path() -> None:
    model = operation_model("cloudwatch", "PutMetricData")
    assert model is not None
    body = cbor2.dumps({"Namespace": "x", "MetricData": [{"MetricName": "m", "Value": "high"}]})
    with pytest.raises(SerializationError) as caught:
        cbor.parse_request(model, body)
    assert caught.value.message == "Expected a number at 'MetricData[0].Value' but found a text string."
    with pytest.raises(SerializationError):
        cbor.parse_request(model, b"\xff\x00")


def test_responses_parse_as_botocore_parses_them() -> None:
    model = operation_model("cloudwatch", "GetMetricStatistics")
    assert model is not None
    data = {
        "Label": "CPUUtilization",
        "Datapoints": [{"Timestamp": 1_750_000_020.0, "Average": 42.5, "SampleCount": 6.0, "Unit": "Percent"}],
        "Unmodelled": "never sent",
    }
    body = cbor.serialize_response(model, data)
    assert "Unmodelled" not in cbor2.loads(body)
    parsed = parse("GetMetricStatistics", body)
    point = parsed["Datapoints"][0]
    assert parsed["Label"] == "CPUUtilization"
    assert point["Timestamp"] == dt.datetime.fromtimestamp(1_750_000_020, dt.UTC).astimezone(point["Timestamp"].tzinfo)
    assert point["Average"] == 42.5 and point["Unit"] == "Percent"


def test_errors_carry_the_query_code_for_botocore() -> None:
    error = AwsError("InvalidParameterValue", "The value AWS/ECS for parameter Namespace is invalid.")
    body = cbor.serialize_error(error, "InvalidParameterValueException")
    headers = {"x-amzn-query-error": cbor.query_error_header(error)}
    parsed = parse("PutMetricData", body, 400, headers)
    assert parsed["Error"]["Code"] == "InvalidParameterValue"
    assert parsed["Error"]["Message"] == error.message
    assert parsed["Error"]["Type"] == "Sender"


def test_cloudwatch_speaks_json_query_and_cbor() -> None:
    spec = BY_NAME["cloudwatch"]
    protocols = service_model("cloudwatch").metadata["protocols"]
    assert spec.speaks("json") and spec.speaks("query") and spec.speaks("smithy-rpc-v2-cbor")
    for service in SERVICES:
        assert all(p in service_model(service.name).metadata.get("protocols", []) for p in service.also)
    assert set(protocols) == {"json", "query", "smithy-rpc-v2-cbor"}


class _Echo:
    """A provider with one operation, to see the dispatcher's CBOR path end to end."""

    def list_metrics(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("Namespace") == "bad":
            raise AwsError("InvalidParameterValue", "bad namespace")
        return {"Metrics": [{"Namespace": params.get("Namespace", ""), "MetricName": ctx.region}]}


def test_dispatcher_answers_cbor_requests_and_errors() -> None:
    dispatcher = AwsDispatcher({"cloudwatch": _Echo()}, EdgeSettings())
    built = request("ListMetrics", {"Namespace": "App"})
    headers = {k.lower(): v for k, v in built["headers"].items()}

    async def call(body: bytes) -> Any:
        return await dispatcher.handle("POST", headers, "", body, built["url_path"])

    response = asyncio.run(call(built["body"]))
    assert response.status == 200
    assert (b"smithy-protocol", b"rpc-v2-cbor") in response.headers
    assert parse("ListMetrics", response.body)["Metrics"] == [{"Namespace": "App", "MetricName": "us-east-1"}]

    failed = asyncio.run(call(request("ListMetrics", {"Namespace": "bad"})["body"]))
    parsed = parse("ListMetrics", failed.body, failed.status, {k.decode(): v.decode() for k, v in failed.headers})
    assert failed.status == 400
    assert parsed["Error"]["Code"] == "InvalidParameterValue" and parsed["Error"]["Message"] == "bad namespace"
