"""The AWS CLI against ecslite's CloudWatch Logs: the commands a seed 000 user types (spec §15)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import AwsCliError


def test_aws_cli_create_put_get_and_filter(aws: Callable[..., Any]) -> None:
    aws("logs", "create-log-group", "--log-group-name", "/ecs/otel-demo-app")
    aws("logs", "create-log-stream", "--log-group-name", "/ecs/otel-demo-app", "--log-stream-name", "ecs/app/1")
    now = int(time.time() * 1000)
    events = [
        {"timestamp": now - 2, "message": "GET /health 200"},
        {"timestamp": now - 1, "message": json.dumps({"level": "error", "msg": "boom"})},
        {"timestamp": now, "message": "GET /api 500"},
    ]
    put = aws(
        "logs",
        "put-log-events",
        "--log-group-name",
        "/ecs/otel-demo-app",
        "--log-stream-name",
        "ecs/app/1",
        "--log-events",
        json.dumps(events),
    )
    assert len(put["nextSequenceToken"]) == 56
    got = aws(
        "logs", "get-log-events", "--log-group-name", "/ecs/otel-demo-app", "--log-stream-name", "ecs/app/1",
        "--start-from-head",
    )  # fmt: skip
    assert [e["message"] for e in got["events"]] == [e["message"] for e in events]
    assert got["nextForwardToken"].startswith("f/")
    filtered = aws(
        "logs", "filter-log-events", "--log-group-name", "/ecs/otel-demo-app", "--filter-pattern", "?500 ?boom"
    )
    assert [e["message"] for e in filtered["events"]] == [events[1]["message"], "GET /api 500"]
    as_json = aws(
        "logs", "filter-log-events", "--log-group-name", "/ecs/otel-demo-app", "--filter-pattern",
        '{ $.level = "error" }',
    )  # fmt: skip
    assert [json.loads(e["message"])["msg"] for e in as_json["events"]] == ["boom"]


def test_aws_cli_reports_aws_errors(aws: Callable[..., Any]) -> None:
    aws("logs", "create-log-group", "--log-group-name", "g")
    with pytest.raises(AwsCliError) as caught:
        aws("logs", "create-log-group", "--log-group-name", "g")
    assert (
        "An error occurred (ResourceAlreadyExistsException) when calling the CreateLogGroup operation: "
        "The specified log group already exists" in caught.value.stderr
    )
