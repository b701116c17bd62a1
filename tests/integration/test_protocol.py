"""The edge speaks the AWS protocols: routing, error shapes, validation, query/XML, credential scope."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import httpx
import pytest

from tests.conftest import make_client

ECS_TARGET = "AmazonEC2ContainerServiceV20141113"
JSON_HEADERS = {"content-type": "application/x-amz-json-1.1"}


def post_json(endpoint: str, operation: str, body: bytes | str, prefix: str = ECS_TARGET) -> httpx.Response:
    headers = {**JSON_HEADERS, "x-amz-target": f"{prefix}.{operation}"}
    return httpx.post(endpoint, content=body, headers=headers, timeout=10)


def test_health_reports_version_runtime_and_services(endpoint: str) -> None:
    health = httpx.get(f"{endpoint}/_ecslite/health", timeout=5).json()
    assert health["status"] == "ok"
    assert health["runtime"] == "fake"
    assert health["services"]["ecs"] == "running"
    assert health["services"]["sts"] == "running"
    assert health["uptimeSeconds"] >= 0


def test_unknown_operation_answers_unknown_operation_exception(endpoint: str) -> None:
    response = post_json(endpoint, "NoSuchOperation", "{}")
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"
    assert response.headers["x-amzn-requestid"]


def test_unknown_target_prefix_answers_unknown_operation_exception(endpoint: str) -> None:
    response = post_json(endpoint, "ListClusters", "{}", prefix="NoSuchService_20200101")
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b"\xff\xfe", b'"text"', b"null"])
def test_malformed_body_answers_serialization_exception(endpoint: str, body: bytes) -> None:
    response = post_json(endpoint, "ListClusters", body)
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"


def test_wrong_member_type_answers_serialization_exception(endpoint: str) -> None:
    response = post_json(endpoint, "ListClusters", '{"maxResults": "ten"}')
    assert response.status_code == 400
    body = response.json()
    assert body["__type"] == "SerializationException"
    assert "maxResults" in body["message"]


def test_missing_required_member_answers_validation_error(endpoint: str) -> None:
    response = post_json(endpoint, "DeleteCluster", "{}")
    assert response.status_code == 400
    body = response.json()
    assert body["__type"] == "InvalidParameterException"
    assert body["message"] == (
        "1 validation error detected: Value null at 'cluster' failed to satisfy constraint: Member must not be null"
    )


def test_enum_violation_names_the_allowed_values(endpoint: str) -> None:
    response = post_json(endpoint, "DescribeClusters", '{"include": ["EVERYTHING"]}')
    body = response.json()
    assert body["__type"] == "InvalidParameterException"
    assert "Value 'EVERYTHING' at 'include.1.member' failed to satisfy constraint" in body["message"]
    assert "[ATTACHMENTS, CONFIGURATIONS, SETTINGS, STATISTICS, TAGS]" in body["message"]


def test_unimplemented_ecs_operation_names_itself(ecs: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecs.update_container_agent(containerInstance="abc")
    assert caught.value.response["Error"]["Code"] == "UnsupportedFeatureException"
    assert "UpdateContainerAgent" in caught.value.response["Error"]["Message"]


def test_response_leaves_out_unset_members(endpoint: str) -> None:
    response = post_json(endpoint, "ListClusters", "{}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.json() == {"clusterArns": ["arn:aws:ecs:us-east-1:000000000000:cluster/default"]}


def test_sts_get_caller_identity_over_query_protocol(sts: Any) -> None:
    identity = sts.get_caller_identity()
    assert identity["Account"] == "000000000000"
    assert identity["Arn"] == "arn:aws:iam::000000000000:root"


def test_sts_through_the_aws_cli(aws: Any) -> None:
    assert aws("sts", "get-caller-identity")["Account"] == "000000000000"


def test_unsigned_query_request_is_routed_by_action(endpoint: str) -> None:
    response = httpx.post(
        endpoint,
        content="Action=GetCallerIdentity&Version=2011-06-15",
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml"
    assert '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">' in response.text
    assert "<Account>000000000000</Account>" in response.text
    assert "<RequestId>" in response.text


def test_unknown_query_action_answers_invalid_action_in_xml(endpoint: str) -> None:
    response = httpx.post(
        endpoint,
        content="Action=Frobnicate&Version=2011-06-15",
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sts/aws4_request, "
            "SignedHeaders=host, Signature=x",
        },
        timeout=5,
    )
    assert response.status_code == 400
    assert "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>" in response.text
    assert "Could not find operation Frobnicate for version 2011-06-15" in response.text


def test_region_and_account_come_from_the_credential_scope(endpoint: str) -> None:
    tokyo = make_client("ecs", endpoint, region="ap-northeast-1", access_key="123456789012")
    arn = tokyo.create_cluster(clusterName="scoped")["cluster"]["clusterArn"]
    assert arn == "arn:aws:ecs:ap-northeast-1:123456789012:cluster/scoped"
    elsewhere = make_client("ecs", endpoint, region="eu-west-1", access_key="123456789012")
    other_account = make_client("ecs", endpoint, region="ap-northeast-1")
    assert "scoped" not in str(elsewhere.list_clusters()["clusterArns"])
    assert "scoped" not in str(other_account.list_clusters()["clusterArns"])
    assert make_client("sts", endpoint, access_key="123456789012").get_caller_identity()["Account"] == "123456789012"


def test_reset_drops_every_partition(server: Any, endpoint: str) -> None:
    make_client("ecs", endpoint, region="eu-west-1").create_cluster(clusterName="gone")
    server.reset()
    names = make_client("ecs", endpoint, region="eu-west-1").list_clusters()["clusterArns"]
    assert names == ["arn:aws:ecs:eu-west-1:000000000000:cluster/default"]
