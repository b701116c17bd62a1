"""Cloud Map through boto3 (Smithy RPC v2 CBOR) and the AWS CLI (JSON 1.1): namespaces, services,
operations, tags and their errors (spec/ecs.md §8.1)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import AwsCliError, make_client


@pytest.fixture
def sd(endpoint: str) -> Any:
    return make_client("servicediscovery", endpoint)


@pytest.fixture
def vpc_id(endpoint: str) -> str:
    ec2 = make_client("ec2", endpoint)
    return str(ec2.describe_vpcs()["Vpcs"][0]["VpcId"])


def error_of(call: Any, **kwargs: Any) -> tuple[str, str, dict[str, Any]]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response


def namespace_of(sd: Any, operation_id: str) -> str:
    operation = sd.get_operation(OperationId=operation_id)["Operation"]
    assert operation["Status"] == "SUCCESS"
    return str(operation["Targets"]["NAMESPACE"])


def http_namespace(sd: Any, name: str = "apps", **kwargs: Any) -> str:
    return namespace_of(sd, sd.create_http_namespace(Name=name, **kwargs)["OperationId"])


def test_create_http_namespace_reports_an_operation_and_the_namespace(sd: Any) -> None:
    op_id = sd.create_http_namespace(Name="apps", Description="demo", CreatorRequestId="r1")["OperationId"]
    operation = sd.get_operation(OperationId=op_id)["Operation"]
    assert operation["Type"] == "CREATE_NAMESPACE"
    assert operation["Status"] == "SUCCESS"
    assert operation["CreateDate"] <= operation["UpdateDate"]
    ns_id = operation["Targets"]["NAMESPACE"]
    namespace = sd.get_namespace(Id=ns_id)["Namespace"]
    assert ns_id.startswith("ns-")
    assert namespace["Arn"] == f"arn:aws:servicediscovery:us-east-1:000000000000:namespace/{ns_id}"
    assert namespace["Type"] == "HTTP"
    assert namespace["Description"] == "demo"
    assert namespace["ServiceCount"] == 0
    assert namespace["Properties"]["HttpProperties"] == {"HttpName": "apps"}
    assert namespace["CreatorRequestId"] == "r1"
    assert sd.get_namespace(Id=namespace["Arn"])["Namespace"]["Id"] == ns_id


def test_create_private_dns_namespace_in_an_existing_vpc(sd: Any, vpc_id: str) -> None:
    op_id = sd.create_private_dns_namespace(Name="otel-demo.local", Vpc=vpc_id)["OperationId"]
    namespace = sd.get_namespace(Id=namespace_of(sd, op_id))["Namespace"]
    assert namespace["Type"] == "DNS_PRIVATE"
    assert namespace["Properties"]["DnsProperties"]["SOA"] == {"TTL": 15}
    assert namespace["Properties"]["DnsProperties"]["HostedZoneId"].startswith("Z")


def test_create_private_dns_namespace_with_unknown_vpc_is_invalid_input(sd: Any) -> None:
    code, message, _ = error_of(sd.create_private_dns_namespace, Name="x.local", Vpc="vpc-0123456789abcdef0")
    assert code == "InvalidInput"
    assert message == "The VPC vpc-0123456789abcdef0 does not exist in us-east-1. Name a VPC that DescribeVpcs lists."


def test_create_namespace_twice_is_namespace_already_exists_with_its_id(sd: Any) -> None:
    ns_id = http_namespace(sd)
    code, message, response = error_of(sd.create_http_namespace, Name="apps")
    assert code == "NamespaceAlreadyExists"
    assert message == "Namespace with name apps already exists"
    assert response["NamespaceId"] == ns_id


def test_create_namespace_repeated_request_id_returns_the_first_operation(sd: Any) -> None:
    first = sd.create_http_namespace(Name="apps", CreatorRequestId="same")["OperationId"]
    again = sd.create_http_namespace(Name="apps", CreatorRequestId="same")["OperationId"]
    assert again == first
    code, _, response = error_of(sd.create_http_namespace, Name="other", CreatorRequestId="same")
    assert code == "DuplicateRequest"
    assert response["DuplicateOperationId"] == first
    assert len(sd.list_namespaces()["Namespaces"]) == 1


def test_get_unknown_namespace_is_namespace_not_found(sd: Any) -> None:
    code, message, response = error_of(sd.get_namespace, Id="ns-doesnotexist000")
    assert code == "NamespaceNotFound"
    assert message == "No namespace exists with the specified ID: ns-doesnotexist000"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_namespaces_filters_by_type_and_name_and_pages(sd: Any, vpc_id: str) -> None:
    http_namespace(sd, "alpha")
    http_namespace(sd, "beta")
    sd.create_private_dns_namespace(Name="alpha.local", Vpc=vpc_id)
    private = sd.list_namespaces(Filters=[{"Name": "TYPE", "Values": ["DNS_PRIVATE"]}])["Namespaces"]
    assert [n["Name"] for n in private] == ["alpha.local"]
    begins = sd.list_namespaces(Filters=[{"Name": "NAME", "Values": ["alpha"], "Condition": "BEGINS_WITH"}])
    assert [n["Name"] for n in begins["Namespaces"]] == ["alpha", "alpha.local"]
    first = sd.list_namespaces(MaxResults=2)
    assert len(first["Namespaces"]) == 2
    rest = sd.list_namespaces(MaxResults=2, NextToken=first["NextToken"])
    assert [n["Name"] for n in rest["Namespaces"]] == ["alpha.local"]
    assert "NextToken" not in rest


def test_delete_namespace_with_services_is_resource_in_use(sd: Any) -> None:
    ns_id = http_namespace(sd)
    srv = sd.create_service(Name="orders", NamespaceId=ns_id)["Service"]
    code, message, _ = error_of(sd.delete_namespace, Id=ns_id)
    assert code == "ResourceInUse"
    assert message == f"Namespace {ns_id} has associated services; delete them before deleting the namespace."
    sd.delete_service(Id=srv["Id"])
    op_id = sd.delete_namespace(Id=ns_id)["OperationId"]
    assert sd.get_operation(OperationId=op_id)["Operation"]["Type"] == "DELETE_NAMESPACE"
    assert error_of(sd.get_namespace, Id=ns_id)[0] == "NamespaceNotFound"


def test_update_http_namespace_changes_the_description(sd: Any) -> None:
    ns_id = http_namespace(sd)
    op_id = sd.update_http_namespace(Id=ns_id, Namespace={"Description": "new"})["OperationId"]
    assert sd.get_operation(OperationId=op_id)["Operation"]["Type"] == "UPDATE_NAMESPACE"
    assert sd.get_namespace(Id=ns_id)["Namespace"]["Description"] == "new"


def test_create_dns_service_shows_its_config_and_counts(sd: Any, vpc_id: str) -> None:
    ns_id = namespace_of(sd, sd.create_private_dns_namespace(Name="demo.local", Vpc=vpc_id)["OperationId"])
    service = sd.create_service(
        Name="orders",
        NamespaceId=ns_id,
        DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}, {"Type": "SRV", "TTL": 10}]},
        HealthCheckCustomConfig={"FailureThreshold": 1},
    )["Service"]
    assert service["Id"].startswith("srv-")
    assert service["Arn"].endswith(f":service/{service['Id']}")
    assert service["Type"] == "DNS_HTTP"
    assert service["DnsConfig"]["RoutingPolicy"] == "MULTIVALUE"
    assert service["InstanceCount"] == 0
    assert sd.get_namespace(Id=ns_id)["Namespace"]["ServiceCount"] == 1
    listed = sd.list_services(Filters=[{"Name": "NAMESPACE_ID", "Values": [ns_id]}])["Services"]
    assert [s["Name"] for s in listed] == ["orders"]


def test_create_service_errors_follow_cloud_map(sd: Any, vpc_id: str) -> None:
    http_id = http_namespace(sd)
    code, message, _ = error_of(
        sd.create_service, Name="a", NamespaceId=http_id, DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 5}]}
    )
    assert (code, message) == (
        "InvalidInput",
        f"Namespace {http_id} is an HTTP namespace: its services cannot have a DnsConfig.",
    )
    dns_id = namespace_of(sd, sd.create_private_dns_namespace(Name="d.local", Vpc=vpc_id)["OperationId"])
    code, message, _ = error_of(sd.create_service, Name="b", NamespaceId=dns_id)
    assert (code, message) == (
        "InvalidInput",
        f"A service in the DNS namespace {dns_id} needs a DnsConfig, unless its Type is HTTP.",
    )
    code, _, _ = error_of(
        sd.create_service,
        Name="c",
        NamespaceId=dns_id,
        DnsConfig={"DnsRecords": [{"Type": "CNAME", "TTL": 5}, {"Type": "A", "TTL": 5}]},
    )
    assert code == "InvalidInput"
    code, message, _ = error_of(sd.create_service, Name="d", NamespaceId="ns-missing0000000")
    assert (code, message) == ("NamespaceNotFound", "No namespace exists with the specified ID: ns-missing0000000")


def test_create_service_twice_is_service_already_exists_unless_the_request_repeats(sd: Any) -> None:
    ns_id = http_namespace(sd)
    first = sd.create_service(Name="orders", NamespaceId=ns_id, CreatorRequestId="t1")["Service"]
    assert sd.create_service(Name="orders", NamespaceId=ns_id, CreatorRequestId="t1")["Service"]["Id"] == first["Id"]
    code, message, response = error_of(sd.create_service, Name="orders", NamespaceId=ns_id)
    assert (code, message) == ("ServiceAlreadyExists", "Service with name orders already exists")
    assert response["ServiceId"] == first["Id"]


def test_update_service_changes_records_through_an_operation(sd: Any, vpc_id: str) -> None:
    ns_id = namespace_of(sd, sd.create_private_dns_namespace(Name="u.local", Vpc=vpc_id)["OperationId"])
    srv = sd.create_service(Name="web", NamespaceId=ns_id, DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 60}]})
    srv_id = srv["Service"]["Id"]
    op_id = sd.update_service(Id=srv_id, Service={"DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 5}]}})
    operation = sd.get_operation(OperationId=op_id["OperationId"])["Operation"]
    assert operation["Type"] == "UPDATE_SERVICE"
    assert operation["Targets"] == {"SERVICE": srv_id}
    assert sd.get_service(Id=srv_id)["Service"]["DnsConfig"]["DnsRecords"] == [{"Type": "A", "TTL": 5}]


def test_get_unknown_service_and_operation_are_not_found(sd: Any) -> None:
    code, message, _ = error_of(sd.get_service, Id="srv-missing000000")
    assert (code, message) == ("ServiceNotFound", "No service exists with the specified ID: srv-missing000000")
    code, message, _ = error_of(sd.get_operation, OperationId="nope")
    assert (code, message) == ("OperationNotFound", "No operation exists with the specified ID: nope")


def test_list_operations_filters_by_namespace_and_type(sd: Any) -> None:
    ns_a = http_namespace(sd, "a")
    http_namespace(sd, "b")
    sd.update_http_namespace(Id=ns_a, Namespace={"Description": "x"})
    mine = sd.list_operations(Filters=[{"Name": "NAMESPACE_ID", "Values": [ns_a]}])["Operations"]
    assert len(mine) == 2
    assert all(o["Status"] == "SUCCESS" for o in mine)
    updates = sd.list_operations(Filters=[{"Name": "TYPE", "Values": ["UPDATE_NAMESPACE"]}])["Operations"]
    assert len(updates) == 1


def test_tags_on_namespaces_and_services(sd: Any) -> None:
    ns_id = http_namespace(sd, Tags=[{"Key": "team", "Value": "a"}])
    arn = sd.get_namespace(Id=ns_id)["Namespace"]["Arn"]
    sd.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "dev"}])
    sd.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert sd.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    missing = arn.replace(ns_id, "ns-missing0000000")
    code, message, _ = error_of(sd.list_tags_for_resource, ResourceARN=missing)
    assert (code, message) == ("ResourceNotFoundException", f"The resource {missing} was not found.")


def test_service_attributes_round_trip(sd: Any) -> None:
    srv_id = sd.create_service(Name="s", NamespaceId=http_namespace(sd))["Service"]["Id"]
    sd.update_service_attributes(ServiceId=srv_id, Attributes={"team": "a", "tier": "1"})
    sd.delete_service_attributes(ServiceId=srv_id, Attributes=["tier"])
    assert sd.get_service_attributes(ServiceId=srv_id)["ServiceAttributes"]["Attributes"] == {"team": "a"}


def test_aws_cli_creates_and_lists_namespaces_in_json(aws: Any) -> None:
    op_id = aws("servicediscovery", "create-http-namespace", "--name", "cli-apps")["OperationId"]
    operation = aws("servicediscovery", "get-operation", "--operation-id", op_id)["Operation"]
    assert operation["Status"] == "SUCCESS"
    listed = aws("servicediscovery", "list-namespaces")["Namespaces"]
    assert [n["Name"] for n in listed] == ["cli-apps"]
    with pytest.raises(AwsCliError) as caught:
        aws("servicediscovery", "get-namespace", "--id", "ns-missing0000000")
    assert "(NamespaceNotFound)" in caught.value.stderr
    assert "No namespace exists with the specified ID: ns-missing0000000" in caught.value.stderr
