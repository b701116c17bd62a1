"""EC2's query dialect (protocol.ec2) against botocore's own EC2 serializer and parser."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qsl, urlencode

from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from ecslite.protocol import ec2
from ecslite.protocol.errors import AwsError
from ecslite.protocol.models import operation_model

NS = "{http://ec2.amazonaws.com/doc/2016-11-15/}"


def wire(operation: str, params: dict[str, Any]) -> dict[str, str]:
    """The form botocore's EC2 serializer sends for ``params``."""
    model = operation_model("ec2", operation)
    assert model is not None
    body = create_serializer("ec2").serialize_to_request(params, model)["body"]
    # botocore hands the form over as a dict; send it through URL encoding as the wire does.
    return dict(parse_qsl(urlencode(body), keep_blank_values=True))


def roundtrip(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    model = operation_model("ec2", operation)
    assert model is not None
    return ec2.parse_request(model, wire(operation, params))


def test_requests_read_back_what_botocore_sent() -> None:
    params = {
        "Filters": [{"Name": "vpc-id", "Values": ["vpc-1", "vpc-2"]}, {"Name": "tag:Name", "Values": ["web"]}],
        "NetworkInterfaceIds": ["eni-1"],
        "MaxResults": 5,
        "DryRun": False,
    }
    form = wire("DescribeNetworkInterfaces", params)
    assert form["Filter.1.Value.2"] == "vpc-2" and form["NetworkInterfaceId.1"] == "eni-1"
    assert roundtrip("DescribeNetworkInterfaces", params) == params


def test_nested_lists_use_capitalised_location_names() -> None:
    params = {
        "GroupId": "sg-1",
        "IpPermissions": [
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "web"}],
                "UserIdGroupPairs": [{"GroupId": "sg-2"}],
            }
        ],
    }
    form = wire("AuthorizeSecurityGroupIngress", params)
    assert form["IpPermissions.1.IpRanges.1.CidrIp"] == "0.0.0.0/0"
    assert form["IpPermissions.1.Groups.1.GroupId"] == "sg-2"
    assert roundtrip("AuthorizeSecurityGroupIngress", params) == params


def test_tag_specifications_round_trip() -> None:
    params = {
        "CidrBlock": "10.0.0.0/16",
        "TagSpecifications": [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "x"}]}],
    }
    assert wire("CreateVpc", params)["TagSpecification.1.Tag.1.Key"] == "Name"
    assert roundtrip("CreateVpc", params) == params


def test_responses_have_request_id_first_and_item_lists_that_botocore_parses() -> None:
    model = operation_model("ec2", "DescribeSubnets")
    assert model is not None
    data = {
        "Subnets": [
            {
                "SubnetId": "subnet-1",
                "AvailableIpAddressCount": 251,
                "DefaultForAz": True,
                "Tags": [{"Key": "a", "Value": "b"}],
            },
            {"SubnetId": "subnet-2", "DefaultForAz": False},
        ],
        "NextToken": "t",
        "NotModelled": "dropped",
    }
    body = ec2.serialize_response(model, data, "req-1")
    root = ET.fromstring(body)
    assert root.tag == f"{NS}DescribeSubnetsResponse"
    assert root[0].tag == f"{NS}requestId" and root[0].text == "req-1"
    assert [item.findtext(f"{NS}subnetId") for item in root.find(f"{NS}subnetSet") or []] == ["subnet-1", "subnet-2"]
    parsed = create_parser("ec2").parse({"body": body, "headers": {}, "status_code": 200}, model.output_shape)
    assert parsed["Subnets"] == data["Subnets"]
    assert parsed["NextToken"] == "t" and parsed["ResponseMetadata"]["RequestId"] == "req-1"


def test_errors_have_ec2s_shape() -> None:
    model = operation_model("ec2", "DescribeVpcs")
    assert model is not None
    body = ec2.serialize_error(AwsError("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist <&>"), "req-2")
    root = ET.fromstring(body)
    assert root.tag == "Response" and root.findtext("RequestID") == "req-2"
    assert root.findtext("Errors/Error/Code") == "InvalidVpcID.NotFound"
    parsed = create_parser("ec2").parse({"body": body, "headers": {}, "status_code": 400}, model.output_shape)
    assert parsed["Error"] == {"Code": "InvalidVpcID.NotFound", "Message": "The vpc ID 'vpc-1' does not exist <&>"}
