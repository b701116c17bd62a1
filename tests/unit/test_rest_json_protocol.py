"""The REST-JSON protocol (EventBridge Scheduler's): routing by method and path, members from the
path, query string and body, and the error shape botocore reads, through the dispatcher."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from botocore.model import OperationModel

from ecslite.edge.aws import AwsDispatcher, EdgeSettings
from ecslite.protocol import rest_json
from ecslite.protocol.errors import AwsError
from ecslite.protocol.models import operation_model

SIGNED = {"authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/eu-west-1/scheduler/aws4_request, x"}


def op(name: str) -> OperationModel:
    found = operation_model("scheduler", name)
    assert found is not None
    return found


def test_routes_by_method_and_path() -> None:
    assert rest_json.route("scheduler", "POST", "/schedules/nightly") == ("CreateSchedule", {"Name": "nightly"})
    assert rest_json.route("scheduler", "PUT", "/schedules/nightly") == ("UpdateSchedule", {"Name": "nightly"})
    assert rest_json.route("scheduler", "GET", "/schedules") == ("ListSchedules", {})
    assert rest_json.route("scheduler", "GET", "/schedule-groups/batch") == ("GetScheduleGroup", {"Name": "batch"})
    # The edge sees decoded paths: an ARN label arrives with its slashes.
    arn = "arn:aws:scheduler:us-east-1:000000000000:schedule-group/batch"
    assert rest_json.route("scheduler", "GET", f"/tags/{arn}") == ("ListTagsForResource", {"ResourceArn": arn})
    assert rest_json.route("scheduler", "PATCH", "/schedules/nightly") is None
    assert rest_json.path_known("scheduler", "/schedules/x") and not rest_json.path_known("scheduler", "/nope")


def test_parses_path_query_and_body_members() -> None:
    body = orjson.dumps({"ScheduleExpression": "rate(1 hour)", "StartDate": 1750000000, "Name": "ignored"})
    params = rest_json.parse_request(op("CreateSchedule"), {"Name": "nightly"}, "", {}, body)
    assert params == {"Name": "nightly", "ScheduleExpression": "rate(1 hour)", "StartDate": 1750000000.0}
    listed = rest_json.parse_request(op("ListSchedules"), {}, "ScheduleGroup=batch&MaxResults=5&State=ENABLED", {}, b"")
    assert listed == {"GroupName": "batch", "MaxResults": 5, "State": "ENABLED"}
    ignored = rest_json.parse_request(op("GetSchedule"), {"Name": "n"}, "groupName=g", {}, b"{not json")
    assert ignored == {"Name": "n", "GroupName": "g"}
    untag = rest_json.parse_request(op("UntagResource"), {"ResourceArn": "a"}, "TagKeys=x&TagKeys=y", {}, b"")
    assert untag == {"ResourceArn": "a", "TagKeys": ["x", "y"]}


class _Provider:
    def get_schedule(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        if params["Name"] == "missing":
            raise AwsError("ResourceNotFoundException", "Schedule missing does not exist.", 404)
        return {"Name": params["Name"], "GroupName": params.get("GroupName", ctx.region), "CreationDate": 1.5}


def test_dispatcher_answers_in_rest_json() -> None:
    dispatcher = AwsDispatcher({"scheduler": _Provider()}, EdgeSettings())
    ok = asyncio.run(dispatcher.handle("GET", SIGNED, "", b"", "/schedules/nightly"))
    assert ok.status == 200 and orjson.loads(ok.body) == {
        "Name": "nightly",
        "GroupName": "eu-west-1",
        "CreationDate": 1.5,
    }
    missing = asyncio.run(dispatcher.handle("GET", SIGNED, "groupName=g", b"", "/schedules/missing"))
    headers = dict(missing.headers)
    assert missing.status == 404 and headers[b"x-amzn-errortype"] == b"ResourceNotFoundException"
    assert orjson.loads(missing.body) == {"Message": "Schedule missing does not exist."}
    invalid = asyncio.run(dispatcher.handle("GET", SIGNED, "", b"", "/schedules/" + "x" * 65))
    assert invalid.status == 400 and dict(invalid.headers)[b"x-amzn-errortype"] == b"ValidationException"
    unknown = asyncio.run(dispatcher.handle("PATCH", SIGNED, "", b"", "/schedules/nightly"))
    assert unknown.status == 404 and dict(unknown.headers)[b"x-amzn-errortype"] == b"UnknownOperationException"
    not_served = asyncio.run(dispatcher.handle("GET", SIGNED, "", b"", "/schedule-groups"))
    assert dict(not_served.headers)[b"x-amzn-errortype"] == b"NotImplemented"
