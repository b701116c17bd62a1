"""Query protocol: nested form parameters in, XML out, errors in ErrorResponse form."""

from __future__ import annotations

from xml.etree import ElementTree

from ecslite.protocol import query
from ecslite.protocol.errors import AwsError
from ecslite.protocol.models import operation_model

NS = "{http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/}"


def test_lists_structures_and_maps_are_read_from_the_form() -> None:
    op = operation_model("elbv2", "CreateTargetGroup")
    form = {
        "Action": "CreateTargetGroup",
        "Name": "tg",
        "Port": "80",
        "HealthCheckEnabled": "true",
        "Matcher.HttpCode": "200-299",
        "Tags.member.1.Key": "a",
        "Tags.member.1.Value": "1",
        "Tags.member.2.Key": "b",
    }
    params = query.parse_request(op, form)
    assert params["Name"] == "tg"
    assert params["Port"] == 80
    assert params["HealthCheckEnabled"] is True
    assert params["Matcher"] == {"HttpCode": "200-299"}
    assert params["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b"}]


def test_an_empty_list_is_sent_as_a_bare_name() -> None:
    op = operation_model("elbv2", "DescribeTags")
    assert query.parse_request(op, {"ResourceArns": ""})["ResourceArns"] == []


def test_bad_numbers_are_serialization_errors() -> None:
    op = operation_model("elbv2", "CreateTargetGroup")
    try:
        query.parse_request(op, {"Name": "tg", "Port": "eighty"})
    except AwsError as error:
        assert error.code == "SerializationException"
    else:
        raise AssertionError("expected an error")


def test_responses_are_wrapped_with_result_and_request_id() -> None:
    op = operation_model("elbv2", "DescribeTargetHealth")
    data = {
        "TargetHealthDescriptions": [
            {"Target": {"Id": "10.0.0.5", "Port": 80}, "TargetHealth": {"State": "healthy"}},
        ]
    }
    xml = query.serialize_response(op, data, "req-1").decode()
    root = ElementTree.fromstring(xml)
    assert root.tag == f"{NS}DescribeTargetHealthResponse"
    member = root.find(f"{NS}DescribeTargetHealthResult/{NS}TargetHealthDescriptions/{NS}member")
    assert member is not None
    assert member.findtext(f"{NS}Target/{NS}Id") == "10.0.0.5"
    assert member.findtext(f"{NS}Target/{NS}Port") == "80"
    assert root.findtext(f"{NS}ResponseMetadata/{NS}RequestId") == "req-1"


def test_timestamps_and_booleans_are_written_as_xml_text() -> None:
    op = operation_model("elbv2", "DescribeLoadBalancers")
    data = {"LoadBalancers": [{"LoadBalancerName": "lb", "CreatedTime": 1_700_000_000.5}]}
    xml = query.serialize_response(op, data, "r").decode()
    assert "<CreatedTime>2023-11-14T22:13:20.500Z</CreatedTime>" in xml


def test_errors_carry_code_message_and_fault_side() -> None:
    xml = query.serialize_error(AwsError("TargetGroupNotFound", "One or more target groups not found"), "r").decode()
    assert xml.endswith(
        "<ErrorResponse><Error><Type>Sender</Type><Code>TargetGroupNotFound</Code>"
        "<Message>One or more target groups not found</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
    assert "<Type>Receiver</Type>" in query.serialize_error(AwsError("X", "y", 500, sender_fault=False), "r").decode()


def test_special_characters_are_escaped() -> None:
    xml = query.serialize_error(AwsError("Bad", "a < b & c"), "r").decode()
    assert "a &lt; b &amp; c" in xml
