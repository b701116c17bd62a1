"""Inputs the edge properties once failed on, kept as plain examples so they stay fixed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from ecslite.edge.app import MAX_BODY
from ecslite.protocol.models import operation_model
from tests.property.conftest import ecs_headers
from tests.property.harness import EdgeHarness

FORM = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}


def test_unknown_action_with_control_characters_answers_readable_xml(edge: EdgeHarness) -> None:
    exchange = edge.send(headers=FORM, content=b"Action=%01Get%1f")
    assert exchange.response.status_code == 400
    root = ET.fromstring(exchange.response.content)
    assert root.findtext("Error/Code") == "InvalidAction"
    assert root.findtext("Error/Message") == "Could not find operation \ufffdGet\ufffd for version NO_VERSION_SPECIFIED"


def test_rejected_query_member_with_control_characters_answers_readable_xml(edge: EdgeHarness) -> None:
    body = b"Action=AssumeRole&Version=2011-06-15&RoleArn=%00&RoleSessionName=s"
    exchange = edge.send(headers=FORM, content=body)
    root = edge.check_xml_exchange(exchange)
    assert root.findtext("Error/Code") == "ValidationError"
    assert "Value '\ufffd' at 'roleArn'" in (root.findtext("Error/Message") or "")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (2**31, "a 32-bit integer"),
        (-(2**31) - 1, "a 32-bit integer"),
        (10**20, "a 32-bit integer"),
        (1e20, "a 32-bit integer"),
    ],
)
def test_integer_outside_32_bits_answers_serialization_exception(edge: EdgeHarness, value: float, kind: str) -> None:
    body = {
        "family": "big",
        "containerDefinitions": [{"name": "a", "image": "b", "memory": 128, "startTimeout": value}],
    }
    exchange = edge.send(headers=ecs_headers("RegisterTaskDefinition"), content=json.dumps(body).encode())
    assert exchange.response.status_code == 400
    assert exchange.response.json() == {
        "__type": "SerializationException",
        "message": f"The number at 'containerDefinitions[0].startTimeout' is out of range for {kind}.",
    }
    edge.check_json_exchange(exchange)


def test_long_members_take_64_bit_values() -> None:
    # The only ECS long is a response member; the rule is checked through the parser directly.
    from ecslite.protocol.errors import SerializationError
    from ecslite.protocol.json_rpc import read_value

    shape = operation_model("logs", "GetLogEvents").input_shape.members["startTime"]  # type: ignore[union-attr]
    assert read_value(shape, 2**63 - 1, "startTime") == 2**63 - 1
    with pytest.raises(SerializationError, match="out of range for a 64-bit long"):
        read_value(shape, 2**63, "startTime")


@pytest.mark.parametrize("stamp", ["nan", "inf", "-inf", 1e300, "0001-01-01"])
def test_timestamp_a_datetime_cannot_hold_answers_serialization_exception(edge: EdgeHarness, stamp: object) -> None:
    body = {"pullStartedAt": stamp}  # a timestamp member of an ECS input
    exchange = edge.send(headers=ecs_headers("SubmitTaskStateChange"), content=json.dumps(body).encode())
    assert exchange.response.status_code == 400
    answer = exchange.response.json()
    assert answer["__type"] == "SerializationException"
    assert answer["message"] == f"Timestamp '{stamp}' at 'pullStartedAt' is out of range."


@pytest.mark.parametrize("json_protocol", [True, False])
def test_oversized_body_answers_in_the_protocol_error_shape(edge: EdgeHarness, json_protocol: bool) -> None:
    headers = ecs_headers("ListClusters") if json_protocol else FORM
    exchange = edge.send(headers=headers, content=b" " * (MAX_BODY + 1))
    assert exchange.response.status_code == 413
    if json_protocol:
        assert edge.check_json_exchange(exchange) == {
            "__type": "RequestEntityTooLarge",
            "message": "The request body is larger than 16 MiB.",
        }
    else:
        assert edge.check_xml_exchange(exchange).findtext("Error/Code") == "RequestEntityTooLarge"


def test_get_root_with_a_target_goes_to_the_aws_edge(edge: EdgeHarness) -> None:
    exchange = edge.send("GET", headers=ecs_headers("ListClusters"))
    assert exchange.response.status_code == 200
    assert "clusterArns" in edge.check_json_exchange(exchange)


def test_get_root_without_a_target_redirects_to_health(edge: EdgeHarness) -> None:
    exchange = edge.send("GET")
    assert exchange.response.status_code == 307
    assert exchange.response.headers["location"].endswith("/_ecslite/health")
