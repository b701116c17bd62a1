"""ECS ``serviceRegistries`` (spec/ecs.md §8.2) on the fake runtime: CreateService's checks with ECS's
texts, tasks registered in Cloud Map while they run and deregistered when they stop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import make_client

HEALTH = {"command": ["CMD", "true"], "interval": 5, "timeout": 2, "retries": 1}


@pytest.fixture
def sd(endpoint: str) -> Any:
    return make_client("servicediscovery", endpoint)


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)


def registry(sd: Any, endpoint: str, records: tuple[str, ...] = ("A", "SRV"), custom: bool = False) -> dict[str, Any]:
    vpc = make_client("ec2", endpoint).describe_vpcs()["Vpcs"][0]["VpcId"]
    op_id = sd.create_private_dns_namespace(Name="otel-demo.local", Vpc=vpc)["OperationId"]
    ns_id = sd.get_operation(OperationId=op_id)["Operation"]["Targets"]["NAMESPACE"]
    kwargs: dict[str, Any] = {"DnsConfig": {"DnsRecords": [{"Type": t, "TTL": 10} for t in records]}}
    if custom:
        kwargs["HealthCheckCustomConfig"] = {"FailureThreshold": 1}
    return dict(sd.create_service(Name="orders", NamespaceId=ns_id, **kwargs)["Service"])


def definition(ecs: Any, mode: str = "awsvpc", health: bool = False, labels: dict[str, str] | None = None) -> str:
    container: dict[str, Any] = {"name": "python-service", "image": "example/orders:1"}
    container["portMappings"] = [{"containerPort": 8000}]
    if health:
        container["healthCheck"] = HEALTH
    if labels:
        container["dockerLabels"] = labels
    kwargs: dict[str, Any] = {"networkMode": mode, "containerDefinitions": [container], "cpu": "256", "memory": "512"}
    if mode == "awsvpc":
        kwargs["requiresCompatibilities"] = ["FARGATE"]
    return str(ecs.register_task_definition(family="orders", **kwargs)["taskDefinition"]["taskDefinitionArn"])


def network(endpoint: str) -> dict[str, Any]:
    subnet = make_client("ec2", endpoint).describe_subnets()["Subnets"][0]["SubnetId"]
    return {"awsvpcConfiguration": {"subnets": [subnet]}}


def create(ecs: Any, endpoint: str, registries: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "serviceName": "orders",
        "taskDefinition": "orders",
        "desiredCount": 1,
        "launchType": "FARGATE",
        "networkConfiguration": network(endpoint),
        "serviceRegistries": registries,
    }
    request.update(params)
    return dict(ecs.create_service(**request)["service"])


def instances(sd: Any, service_id: str) -> list[dict[str, Any]]:
    return list(sd.list_instances(ServiceId=service_id)["Instances"])


def test_running_service_task_is_registered_and_deregistered_on_scale_in(ecs: Any, sd: Any, endpoint: str) -> None:
    srv = registry(sd, endpoint)
    definition(ecs)
    service = create(
        ecs, endpoint, [{"registryArn": srv["Arn"], "containerName": "python-service", "containerPort": 8000}]
    )
    assert service["serviceRegistries"] == [
        {"registryArn": srv["Arn"], "containerName": "python-service", "containerPort": 8000}
    ]
    wait_for(lambda: len(instances(sd, srv["Id"])) == 1)
    task = ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="orders")["taskArns"])["tasks"][0]
    assert task["lastStatus"] == "RUNNING"
    address = task["attachments"][0]["details"][-1]["value"]
    instance = instances(sd, srv["Id"])[0]
    assert instance["Id"] == task["taskArn"].rsplit("/", 1)[-1]
    assert instance["Attributes"] == {
        "AWS_INSTANCE_IPV4": address,
        "AWS_INSTANCE_PORT": "8000",
        "AVAILABILITY_ZONE": task["availabilityZone"],
        "REGION": "us-east-1",
        "ECS_CLUSTER_NAME": "default",
        "ECS_SERVICE_NAME": "orders",
        "ECS_TASK_DEFINITION_FAMILY": "orders",
    }
    found = sd.discover_instances(NamespaceName="otel-demo.local", ServiceName="orders")["Instances"]
    assert [i["InstanceId"] for i in found] == [instance["Id"]]
    operations = sd.list_operations(Filters=[{"Name": "SERVICE_ID", "Values": [srv["Id"]]}])["Operations"]
    assert len(operations) == 1
    ecs.update_service(service="orders", desiredCount=0)
    wait_for(lambda: instances(sd, srv["Id"]) == [])
    sd.delete_service(Id=srv["Id"])


def test_deleted_service_leaves_no_instances(ecs: Any, sd: Any, endpoint: str) -> None:
    srv = registry(sd, endpoint, ("A",))
    definition(ecs)
    create(ecs, endpoint, [{"registryArn": srv["Arn"]}], desiredCount=2)
    wait_for(lambda: len(instances(sd, srv["Id"])) == 2)
    ecs.delete_service(service="orders", force=True)
    wait_for(lambda: instances(sd, srv["Id"]) == [])


def test_task_is_registered_while_running_before_its_checks_pass(ecs: Any, sd: Any, endpoint: str) -> None:
    srv = registry(sd, endpoint, ("A",), custom=True)
    definition(ecs, health=True, labels={"ecslite.fake.healthy-after-seconds": "30"})
    create(ecs, endpoint, [{"registryArn": srv["Arn"]}])
    wait_for(lambda: len(instances(sd, srv["Id"])) == 1)
    task = ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="orders")["taskArns"])["tasks"][0]
    assert (task["lastStatus"], task["healthStatus"]) == ("RUNNING", "UNKNOWN")
    status = sd.get_instances_health_status(ServiceId=srv["Id"])["Status"]
    assert list(status.values()) == ["HEALTHY"]
    attributes = instances(sd, srv["Id"])[0]["Attributes"]
    assert attributes["AWS_INIT_HEALTH_STATUS"] == "HEALTHY"


def test_create_service_registry_errors_use_ecs_texts(ecs: Any, sd: Any, endpoint: str) -> None:
    a_only = registry(sd, endpoint, ("A",))
    definition(ecs)
    code, message = error_of(
        create,
        ecs=ecs,
        endpoint=endpoint,
        registries=[{"registryArn": a_only["Arn"], "containerName": "python-service", "containerPort": 8000}],
    )
    assert code == "InvalidParameterException"
    assert message == (
        "The values specified for serviceRegistries do not require a value for 'containerPort'. Remove the value "
        "and retry."
    )
    code, message = error_of(
        create,
        ecs=ecs,
        endpoint=endpoint,
        registries=[
            {"registryArn": a_only["Arn"], "port": 80, "containerName": "python-service", "containerPort": 8000}
        ],
    )
    assert message == (
        "Specify a value for either 'port' or the 'containerName' and 'containerPort' combination, but not both. "
        "Remove one and retry."
    )
    missing = a_only["Arn"].replace(a_only["Id"], "srv-missing0000000")
    code, message = error_of(create, ecs=ecs, endpoint=endpoint, registries=[{"registryArn": missing}])
    assert message == (
        f"The service registry {missing} does not exist. Create it with servicediscovery CreateService first."
    )
    code, message = error_of(create, ecs=ecs, endpoint=endpoint, registries=[{"registryArn": "arn:aws:nope"}])
    assert message == "The format of the supplied service registry ARN is invalid: arn:aws:nope."
    assert ecs.list_services()["serviceArns"] == []


def test_bridge_mode_needs_container_name_and_port(ecs: Any, sd: Any, endpoint: str) -> None:
    srv = registry(sd, endpoint, ("SRV",))
    definition(ecs, mode="bridge")
    code, message = error_of(
        ecs.create_service,
        serviceName="orders",
        taskDefinition="orders",
        desiredCount=0,
        launchType="EC2",
        serviceRegistries=[{"registryArn": srv["Arn"]}],
    )
    assert code == "InvalidParameterException"
    assert message == (
        "When specifying 'host' or 'bridge' for networkMode, values for 'containerName' and 'containerPort' must "
        f"be specified from the task definition. Registry: {srv['Arn']}"
    )
