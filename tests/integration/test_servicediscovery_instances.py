"""Cloud Map instances through boto3: registration rules, health, discovery and its revision, and
DiscoverInstances on botocore's ``data-`` host prefix (spec/ecs.md §1.2, §8.1)."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.exceptions
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from tests.conftest import REGION, make_client


@pytest.fixture
def sd(endpoint: str) -> Any:
    return make_client("servicediscovery", endpoint)


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def make_service(sd: Any, records: list[str] | None = None, custom_health: bool = False) -> dict[str, Any]:
    """A service in the HTTP namespace ``apps`` (no records) or the private DNS namespace ``apps.local``."""
    if records is None:
        op_id = sd.create_http_namespace(Name="apps")["OperationId"]
    else:
        vpc = make_client("ec2", sd.meta.endpoint_url).describe_vpcs()["Vpcs"][0]["VpcId"]
        op_id = sd.create_private_dns_namespace(Name="apps.local", Vpc=vpc)["OperationId"]
    ns_id = sd.get_operation(OperationId=op_id)["Operation"]["Targets"]["NAMESPACE"]
    kwargs: dict[str, Any] = {"Name": "orders", "NamespaceId": ns_id}
    if records is not None:
        kwargs["DnsConfig"] = {"DnsRecords": [{"Type": t, "TTL": 10} for t in records]}
    if custom_health:
        kwargs["HealthCheckCustomConfig"] = {"FailureThreshold": 1}
    return dict(sd.create_service(**kwargs)["Service"])


def test_register_instance_shows_in_get_list_and_counts(sd: Any) -> None:
    srv = make_service(sd, ["A"])
    op_id = sd.register_instance(
        ServiceId=srv["Id"], InstanceId="i-1", Attributes={"AWS_INSTANCE_IPV4": "10.0.0.5", "color": "blue"}
    )["OperationId"]
    operation = sd.get_operation(OperationId=op_id)["Operation"]
    assert operation["Type"] == "REGISTER_INSTANCE"
    assert operation["Targets"] == {"SERVICE": srv["Id"], "INSTANCE": "i-1"}
    instance = sd.get_instance(ServiceId=srv["Id"], InstanceId="i-1")["Instance"]
    assert instance["Attributes"] == {"AWS_INSTANCE_IPV4": "10.0.0.5", "color": "blue"}
    listed = sd.list_instances(ServiceId=srv["Id"])
    assert [i["Id"] for i in listed["Instances"]] == ["i-1"]
    assert listed["ResourceOwner"] == "000000000000"
    assert sd.get_service(Id=srv["Id"])["Service"]["InstanceCount"] == 1


def test_register_instance_checks_attributes_against_records(sd: Any) -> None:
    srv = make_service(sd, ["A", "SRV"])
    code, message = error_of(sd.register_instance, ServiceId=srv["Id"], InstanceId="i", Attributes={"x": "1"})
    assert code == "InvalidInput"
    assert message == f"The service {srv['Id']} has A records, so the instance needs the AWS_INSTANCE_IPV4 attribute."
    code, message = error_of(
        sd.register_instance, ServiceId=srv["Id"], InstanceId="i", Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1"}
    )
    assert message == f"The service {srv['Id']} has SRV records, so the instance needs the AWS_INSTANCE_PORT attribute."
    code, message = error_of(
        sd.register_instance,
        ServiceId=srv["Id"],
        InstanceId="i",
        Attributes={"AWS_INSTANCE_IPV4": "10.0.0.300", "AWS_INSTANCE_PORT": "80"},
    )
    assert (code, message) == ("InvalidInput", "AWS_INSTANCE_IPV4 must be an IPv4 address; got 10.0.0.300.")
    code, message = error_of(
        sd.register_instance,
        ServiceId=srv["Id"],
        InstanceId="i",
        Attributes={"AWS_INSTANCE_IPV4": "10.0.0.3", "AWS_INSTANCE_PORT": "80", "AWS_INIT_HEALTH_STATUS": "HEALTHY"},
    )
    assert message == "AWS_INIT_HEALTH_STATUS can be specified only for services with a custom health check."
    assert sd.list_instances(ServiceId=srv["Id"])["Instances"] == []


def test_deregister_and_delete_service_with_instances(sd: Any) -> None:
    srv = make_service(sd)
    sd.register_instance(ServiceId=srv["Id"], InstanceId="i-1", Attributes={"k": "v"})
    code, message = error_of(sd.delete_service, Id=srv["Id"])
    assert (code, message) == (
        "ResourceInUse",
        f"Service {srv['Id']} has registered instances; deregister them before deleting the service.",
    )
    op_id = sd.deregister_instance(ServiceId=srv["Id"], InstanceId="i-1")["OperationId"]
    assert sd.get_operation(OperationId=op_id)["Operation"]["Type"] == "DEREGISTER_INSTANCE"
    code, message = error_of(sd.deregister_instance, ServiceId=srv["Id"], InstanceId="i-1")
    assert (code, message) == ("InstanceNotFound", "No instance exists with the specified ID: i-1")
    sd.delete_service(Id=srv["Id"])
    assert error_of(sd.get_service, Id=srv["Id"])[0] == "ServiceNotFound"


def test_register_instance_repeated_request_returns_the_first_operation(sd: Any) -> None:
    srv = make_service(sd)
    first = sd.register_instance(ServiceId=srv["Id"], InstanceId="i", CreatorRequestId="c", Attributes={"a": "1"})
    again = sd.register_instance(ServiceId=srv["Id"], InstanceId="i", CreatorRequestId="c", Attributes={"a": "1"})
    assert again["OperationId"] == first["OperationId"]
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sd.register_instance(ServiceId=srv["Id"], InstanceId="i", CreatorRequestId="c", Attributes={"a": "2"})
    assert caught.value.response["Error"]["Code"] == "DuplicateRequest"
    assert caught.value.response["DuplicateOperationId"] == first["OperationId"]


def test_custom_health_filters_discovery_and_fails_open(sd: Any) -> None:
    srv = make_service(sd, custom_health=True)
    sd.register_instance(ServiceId=srv["Id"], InstanceId="a", Attributes={"n": "a"})
    sd.register_instance(ServiceId=srv["Id"], InstanceId="b", Attributes={"AWS_INIT_HEALTH_STATUS": "UNHEALTHY"})
    status = sd.get_instances_health_status(ServiceId=srv["Id"])["Status"]
    assert status == {"a": "HEALTHY", "b": "UNHEALTHY"}
    healthy = sd.discover_instances(NamespaceName="apps", ServiceName="orders")["Instances"]
    assert [(i["InstanceId"], i["HealthStatus"]) for i in healthy] == [("a", "HEALTHY")]
    sd.update_instance_custom_health_status(ServiceId=srv["Id"], InstanceId="a", Status="UNHEALTHY")
    assert sd.discover_instances(NamespaceName="apps", ServiceName="orders")["Instances"] == []
    open_ = sd.discover_instances(NamespaceName="apps", ServiceName="orders", HealthStatus="HEALTHY_OR_ELSE_ALL")
    assert sorted(i["InstanceId"] for i in open_["Instances"]) == ["a", "b"]


def test_custom_health_on_a_service_without_it_is_custom_health_not_found(sd: Any) -> None:
    srv = make_service(sd)
    sd.register_instance(ServiceId=srv["Id"], InstanceId="a", Attributes={"n": "a"})
    code, message = error_of(
        sd.update_instance_custom_health_status, ServiceId=srv["Id"], InstanceId="a", Status="HEALTHY"
    )
    assert (code, message) == (
        "CustomHealthNotFound",
        f"Service {srv['Id']} has no custom health check (HealthCheckCustomConfig).",
    )
    # Without health checking every instance is returned, whatever HealthStatus asks (the model's rule).
    found = sd.discover_instances(NamespaceName="apps", ServiceName="orders", HealthStatus="UNHEALTHY")["Instances"]
    assert [(i["InstanceId"], i["HealthStatus"]) for i in found] == [("a", "UNKNOWN")]


def test_discover_instances_query_and_optional_parameters(sd: Any) -> None:
    srv = make_service(sd)
    for name, color, zone in (("a", "blue", "1a"), ("b", "blue", "1b"), ("c", "green", "1a")):
        sd.register_instance(ServiceId=srv["Id"], InstanceId=name, Attributes={"color": color, "zone": zone})
    found = sd.discover_instances(NamespaceName="apps", ServiceName="orders", QueryParameters={"color": "blue"})
    assert sorted(i["InstanceId"] for i in found["Instances"]) == ["a", "b"]
    narrowed = sd.discover_instances(
        NamespaceName="apps", ServiceName="orders", QueryParameters={"color": "blue"}, OptionalParameters={"zone": "1b"}
    )
    assert [i["InstanceId"] for i in narrowed["Instances"]] == ["b"]
    ignored = sd.discover_instances(
        NamespaceName="apps", ServiceName="orders", QueryParameters={"color": "green"}, OptionalParameters={"zone": "9"}
    )
    assert [i["InstanceId"] for i in ignored["Instances"]] == ["c"]
    assert found["Instances"][0]["NamespaceName"] == "apps"
    assert found["Instances"][0]["ServiceName"] == "orders"


def test_discover_instances_revision_moves_with_every_instance_change(sd: Any) -> None:
    srv = make_service(sd)
    before = sd.discover_instances_revision(NamespaceName="apps", ServiceName="orders")["InstancesRevision"]
    sd.register_instance(ServiceId=srv["Id"], InstanceId="a", Attributes={"v": "1"})
    registered = sd.discover_instances_revision(NamespaceName="apps", ServiceName="orders")["InstancesRevision"]
    sd.deregister_instance(ServiceId=srv["Id"], InstanceId="a")
    removed = sd.discover_instances(NamespaceName="apps", ServiceName="orders")["InstancesRevision"]
    assert before < registered < removed


def test_discover_unknown_names_are_not_found(sd: Any) -> None:
    make_service(sd)
    code, message = error_of(sd.discover_instances, NamespaceName="nope", ServiceName="orders")
    assert (code, message) == ("NamespaceNotFound", "No namespace exists with the specified name: nope")
    code, message = error_of(sd.discover_instances, NamespaceName="apps", ServiceName="nope")
    assert (code, message) == ("ServiceNotFound", "No service named nope exists in the namespace apps")


def test_discover_instances_answers_on_the_data_host_prefix(sd: Any, endpoint: str) -> None:
    """botocore sends DiscoverInstances to ``data-<host>`` (§1.2). ``data-127.0.0.1`` resolves nowhere,
    so the request botocore built for that host is delivered to the server's address with its Host
    header unchanged: the server must answer it like any other."""
    srv = make_service(sd)
    sd.register_instance(ServiceId=srv["Id"], InstanceId="a", Attributes={"v": "1"})
    address = urlsplit(endpoint)
    seen: list[str] = []

    def deliver(request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        seen.append(url.netloc)
        conn = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=10)
        headers = {k: v for k, v in request.headers.items()}
        headers["Host"] = url.netloc
        conn.request(request.method, url.path or "/", body=request.body, headers=headers)
        try:
            raw = conn.getresponse()
            body = raw.read()
        finally:
            conn.close()
        return AWSResponse(request.url, raw.status, dict(raw.getheaders()), _Raw(body))

    client = boto3.client(
        "servicediscovery",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 1}),
    )
    client.meta.events.register("before-send.servicediscovery.DiscoverInstances", deliver)
    found = client.discover_instances(NamespaceName="apps", ServiceName="orders")["Instances"]
    assert [i["InstanceId"] for i in found] == ["a"]
    assert seen == [f"data-{address.hostname}:{address.port}"]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body
