"""Whatever arrives for a REST-JSON service (EventBridge Scheduler), the answer is a REST-JSON
error: JSON body with ``Message``, the code in ``x-amzn-errortype``, never a 5xx, and a rejected
request never changes the store."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tests.property.conftest import SCOPES, authorization, property_settings
from tests.property.harness import EdgeHarness, Exchange

PROPERTY = property_settings(200)

_NAMES = st.text(st.characters(codec="ascii", categories=("L", "N", "P")), min_size=1, max_size=70)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_MEMBERS = st.sampled_from(
    [
        "ScheduleExpression",
        "ScheduleExpressionTimezone",
        "StartDate",
        "EndDate",
        "State",
        "Target",
        "FlexibleTimeWindow",
        "GroupName",
        "ActionAfterCompletion",
        "Tags",
    ]
)
_TARGET = {"Arn": "arn:aws:ecs:us-east-1:000000000000:cluster/c", "RoleArn": "arn:aws:iam::000000000000:role/r"}
bodies = st.one_of(
    st.binary(max_size=120),
    st.dictionaries(_MEMBERS, _JSON, max_size=5).map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda expression, window, extra: json.dumps(
            {"ScheduleExpression": expression, "FlexibleTimeWindow": window, "Target": {**_TARGET, **extra}}
        ).encode(),
        st.sampled_from(["rate(1 hour)", "cron(0 9 * * ? *)", "at(2030-01-01T00:00:00)", "rate(0 hours)", "x"]),
        st.sampled_from([{"Mode": "OFF"}, {"Mode": "FLEXIBLE"}, {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 5}]),
        st.dictionaries(st.sampled_from(["EcsParameters", "Input", "RetryPolicy", "SqsParameters"]), _JSON, max_size=2),
    ),
)
paths = st.one_of(
    st.builds("/schedules/{}".format, _NAMES.map(lambda n: quote(n, safe=""))),
    st.builds("/schedule-groups/{}".format, _NAMES.map(lambda n: quote(n, safe=""))),
    st.builds("/tags/{}".format, _NAMES.map(lambda n: quote(n, safe=""))),
    st.sampled_from(["/schedules", "/schedule-groups", "/tags/", "/schedules/a/b"]),
)
queries = st.lists(
    st.tuples(
        st.sampled_from(["groupName", "ScheduleGroup", "NamePrefix", "State", "MaxResults", "NextToken", "TagKeys"]),
        st.text(max_size=12) | st.sampled_from(["0", "-1", "1e400", "ENABLED", "x" * 300]),
    ),
    max_size=4,
).map(lambda pairs: "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in pairs))


def check(edge: EdgeHarness, exchange: Exchange) -> dict[str, Any]:
    response = exchange.response
    assert response.headers["content-type"] == "application/json", response.headers
    assert response.headers.get("x-amzn-requestid")
    body = orjson.loads(response.content)
    assert isinstance(body, dict)
    if response.status_code >= 400:
        code = response.headers.get("x-amzn-errortype")
        assert code and isinstance(body.get("Message"), str), (response.headers, body)
        assert response.status_code < 500 or (response.status_code == 501 and code == "NotImplemented"), body
    edge.check_store(exchange)
    return body


@PROPERTY
@given(
    method=st.sampled_from(["POST", "PUT", "GET", "DELETE", "PATCH"]),
    path=paths,
    params=queries,
    body=bodies,
    scope=st.sampled_from(SCOPES),
)
def test_rest_json_requests_get_rest_json_answers_without_server_fault(
    edge: EdgeHarness, method: str, path: str, params: str, body: bytes, scope: tuple[str, str]
) -> None:
    headers = {"authorization": authorization(*scope, service="scheduler"), "content-type": "application/json"}
    exchange = edge.send(method, path, headers=headers, content=body, params=params)
    check(edge, exchange)
