"""CloudWatch metrics and alarms over HTTP in its three protocols: JSON 1.0 (boto3 and the AWS CLI),
query (form POST, XML) and Smithy RPC v2 CBOR (botocore's own serializer and parser)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import botocore.exceptions
import httpx
import pytest
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from ecslite.protocol.models import operation_model
from tests.conftest import make_client

UTC = dt.UTC


@pytest.fixture
def cw(endpoint: str) -> Any:
    return make_client("cloudwatch", endpoint)


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def put(cw: Any, value: float, **extra: Any) -> None:
    datum = {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "web"}], "Value": value, **extra}
    cw.put_metric_data(Namespace="MyApp", MetricData=[datum])


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def test_put_metric_data_then_statistics_and_metric_data(cw: Any) -> None:
    for value in (10.0, 20.0, 30.0):
        put(cw, value, Unit="Milliseconds")
    cw.put_metric_data(
        Namespace="MyApp",
        MetricData=[
            {
                "MetricName": "Latency",
                "Dimensions": [{"Name": "Service", "Value": "web"}],
                "StatisticValues": {"SampleCount": 2, "Sum": 100, "Minimum": 40, "Maximum": 60},
                "Unit": "Milliseconds",
            }
        ],
    )
    stats = cw.get_metric_statistics(
        Namespace="MyApp",
        MetricName="Latency",
        Dimensions=[{"Name": "Service", "Value": "web"}],
        StartTime=now() - dt.timedelta(minutes=10),
        EndTime=now() + dt.timedelta(minutes=1),
        Period=3600,
        Statistics=["Average", "Sum", "SampleCount", "Minimum", "Maximum"],
    )
    (point,) = stats["Datapoints"]
    assert stats["Label"] == "Latency"
    assert point["SampleCount"] == 5 and point["Sum"] == 160 and point["Minimum"] == 10 and point["Maximum"] == 60
    assert point["Average"] == 32 and point["Unit"] == "Milliseconds"
    # Another dimension set is another metric.
    empty = cw.get_metric_statistics(
        Namespace="MyApp",
        MetricName="Latency",
        StartTime=now() - dt.timedelta(minutes=10),
        EndTime=now() + dt.timedelta(minutes=1),
        Period=60,
        Statistics=["Average"],
    )
    assert empty["Datapoints"] == []
    data = cw.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "MyApp",
                        "MetricName": "Latency",
                        "Dimensions": [{"Name": "Service", "Value": "web"}],
                    },
                    "Period": 3600,
                    "Stat": "Sum",
                },
            },
            {"Id": "e1", "Expression": "m1 / 2", "Label": "half"},
        ],
        StartTime=now() - dt.timedelta(minutes=10),
        EndTime=now() + dt.timedelta(minutes=1),
    )
    results = {r["Id"]: r for r in data["MetricDataResults"]}
    assert results["m1"]["Values"] == [160.0] and results["e1"]["Values"] == [80.0]
    assert results["e1"]["Label"] == "half" and results["m1"]["StatusCode"] == "Complete"
    listed = cw.list_metrics(Namespace="MyApp")["Metrics"]
    assert listed == [
        {"Namespace": "MyApp", "MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": "web"}]}
    ]


def test_bad_metric_input_gets_cloudwatch_errors(cw: Any) -> None:
    assert error_of(cw.put_metric_data, Namespace="AWS/ECS", MetricData=[{"MetricName": "x", "Value": 1}]) == (
        "InvalidParameterValue",
        "The value AWS/ECS for parameter Namespace is invalid.",
    )
    code, message = error_of(
        cw.put_metric_data,
        Namespace="MyApp",
        MetricData=[
            {"MetricName": "x", "Value": 1, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}
        ],
    )
    assert code == "InvalidParameterCombination" and "mutually exclusive" in message
    assert error_of(
        cw.get_metric_statistics,
        Namespace="MyApp",
        MetricName="x",
        StartTime=now() - dt.timedelta(hours=1),
        EndTime=now(),
        Period=60,
    ) == ("InvalidParameterCombination", "Must specify either Statistics or ExtendedStatistics")
    code, message = error_of(
        cw.get_metric_statistics,
        Namespace="MyApp",
        MetricName="x",
        StartTime=dt.datetime(2026, 1, 1, tzinfo=UTC),
        EndTime=dt.datetime(2026, 1, 3, tzinfo=UTC),
        Period=60,
        Statistics=["Average"],
    )
    assert code == "InvalidParameterCombination" and message.startswith("You have requested up to 2,880 datapoints")


def test_alarm_lifecycle_state_and_history(cw: Any) -> None:
    cw.put_metric_alarm(
        AlarmName="latency-high",
        Namespace="MyApp",
        MetricName="Latency",
        Dimensions=[{"Name": "Service", "Value": "web"}],
        Statistic="Average",
        Period=60,
        EvaluationPeriods=2,
        Threshold=100.0,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=["arn:aws:sns:us-east-1:000000000000:x"],
    )
    (alarm,) = cw.describe_alarms(AlarmNames=["latency-high"])["MetricAlarms"]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA" and alarm["TreatMissingData"] == "missing"
    assert alarm["AlarmArn"] == "arn:aws:cloudwatch:us-east-1:000000000000:alarm:latency-high"
    cw.set_alarm_state(AlarmName="latency-high", StateValue="ALARM", StateReason="testing")
    assert cw.describe_alarms(StateValue="ALARM")["MetricAlarms"][0]["StateReason"] == "testing"
    for_metric = cw.describe_alarms_for_metric(
        Namespace="MyApp", MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "web"}]
    )
    assert [a["AlarmName"] for a in for_metric["MetricAlarms"]] == ["latency-high"]
    cw.disable_alarm_actions(AlarmNames=["latency-high"])
    assert cw.describe_alarms()["MetricAlarms"][0]["ActionsEnabled"] is False
    history = cw.describe_alarm_history(AlarmName="latency-high")["AlarmHistoryItems"]
    summaries = [h["HistorySummary"] for h in history]
    assert "Alarm updated from INSUFFICIENT_DATA to ALARM" in summaries
    assert 'Alarm "latency-high" created' in summaries
    assert error_of(cw.set_alarm_state, AlarmName="nope", StateValue="OK", StateReason="x")[0] == "ResourceNotFound"
    cw.delete_alarms(AlarmNames=["latency-high"])
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_seed_get_metric_statistics_through_the_cli(aws: Callable[..., Any]) -> None:
    end = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 3600))
    result = aws(
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/ECS",
        "--metric-name",
        "MemoryUtilization",
        "--dimensions",
        "Name=ServiceName,Value=otel-demo-service",
        "Name=ClusterName,Value=otel-demo-cluster",
        "--start-time",
        start,
        "--end-time",
        end,
        "--period",
        "300",
        "--statistics",
        "Average",
    )
    assert result == {"Label": "MemoryUtilization", "Datapoints": []}


def test_query_protocol_answers_in_xml(endpoint: str, cw: Any) -> None:
    put(cw, 5.0)
    body = {
        "Action": "ListMetrics",
        "Version": "2010-08-01",
        "Namespace": "MyApp",
    }
    auth = (
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=x"
    )
    response = httpx.post(endpoint, data=body, headers={"Authorization": auth})
    assert response.status_code == 200
    root = ElementTree.fromstring(response.text)
    ns = "{http://monitoring.amazonaws.com/doc/2010-08-01/}"
    assert root.find(f"{ns}ListMetricsResult/{ns}Metrics/{ns}member/{ns}MetricName").text == "Latency"  # type: ignore[union-attr]
    bad = httpx.post(
        endpoint,
        data={
            **body,
            "Action": "PutMetricData",
            "Namespace": "AWS/X",
            "MetricData.member.1.MetricName": "a",
            "MetricData.member.1.Value": "1",
        },
        headers={"Authorization": auth},
    )
    assert bad.status_code == 400 and "<Code>InvalidParameterValue</Code>" in bad.text


def test_cbor_protocol_as_botocore_speaks_it(endpoint: str, cw: Any) -> None:
    put(cw, 7.0)

    def call(operation: str, params: dict[str, Any]) -> dict[str, Any]:
        model = operation_model("cloudwatch", operation)
        assert model is not None
        request = create_serializer("smithy-rpc-v2-cbor").serialize_to_request(params, model)
        response = httpx.post(endpoint + request["url_path"], content=request["body"], headers=request["headers"])
        parsed: dict[str, Any] = create_parser("smithy-rpc-v2-cbor").parse(
            {"status_code": response.status_code, "headers": dict(response.headers), "body": response.content},
            model.output_shape,
        )
        return parsed

    stats = call(
        "GetMetricStatistics",
        {
            "Namespace": "MyApp",
            "MetricName": "Latency",
            "Dimensions": [{"Name": "Service", "Value": "web"}],
            "StartTime": now() - dt.timedelta(minutes=5),
            "EndTime": now() + dt.timedelta(minutes=1),
            "Period": 3600,
            "Statistics": ["Maximum"],
        },
    )
    assert [p["Maximum"] for p in stats["Datapoints"]] == [7.0]
    assert isinstance(stats["Datapoints"][0]["Timestamp"], dt.datetime)
    failed = call("PutMetricData", {"Namespace": "AWS/ECS", "MetricData": [{"MetricName": "x", "Value": 1.0}]})
    assert failed["Error"]["Code"] == "InvalidParameterValue"
    assert failed["Error"]["Message"] == "The value AWS/ECS for parameter Namespace is invalid."
