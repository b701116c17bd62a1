"""Service operations through boto3 and the AWS CLI (spec/ecs.md §4.1–§4.3, §4.11): every happy path
and every error with ECS's type and exact message."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import make_client

ARN = "arn:aws:ecs:us-east-1:000000000000:"
HEALTH = {"command": ["CMD", "true"], "interval": 5, "timeout": 2, "retries": 1}
FAST_WAITER = {"Delay": 1, "MaxAttempts": 60}


def error_of(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def register(ecs: Any, family: str = "web", *, image: str = "example/web:1", **container: Any) -> str:
    """A Fargate definition whose container turns HEALTHY at its first check (5 s after it starts)."""
    definition = {"name": "app", "image": image, "healthCheck": HEALTH, "portMappings": [{"containerPort": 80}]}
    definition.update(container)
    answer = ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[definition],
    )
    return str(answer["taskDefinition"]["taskDefinitionArn"])


def subnets(endpoint: str) -> list[str]:
    return [s["SubnetId"] for s in make_client("ec2", endpoint).describe_subnets()["Subnets"]]


def network(endpoint: str, count: int = 2) -> dict[str, Any]:
    return {"awsvpcConfiguration": {"subnets": subnets(endpoint)[:count]}}


def create(ecs: Any, endpoint: str, name: str = "web", **params: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "serviceName": name,
        "taskDefinition": "web",
        "desiredCount": 1,
        "launchType": "FARGATE",
        "networkConfiguration": network(endpoint),
    }
    request.update(params)
    service: dict[str, Any] = ecs.create_service(**{k: v for k, v in request.items() if v is not None})["service"]
    return service


def describe(ecs: Any, name: str = "web", **params: Any) -> dict[str, Any]:
    service: dict[str, Any] = ecs.describe_services(services=[name], **params)["services"][0]
    return service


def wait_for(check: Callable[[], bool], timeout: float = 60.0, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def stable(ecs: Any, name: str = "web") -> bool:
    service = describe(ecs, name)
    deployments = service["deployments"]
    return (
        len(deployments) == 1
        and deployments[0]["rolloutState"] == "COMPLETED"
        and service["runningCount"] == service["desiredCount"]
    )


# -- CreateService ---------------------------------------------------------------------------------


def test_create_service_returns_the_service_with_ecs_defaults(ecs: Any, endpoint: str) -> None:
    task_definition = register(ecs)
    service = create(ecs, endpoint, desiredCount=2, tags=[{"key": "team", "value": "obs"}])
    assert service["serviceArn"] == ARN + "service/default/web"
    assert service["clusterArn"] == ARN + "cluster/default"
    assert (service["status"], service["desiredCount"], service["runningCount"], service["pendingCount"]) == (
        "ACTIVE",
        2,
        0,
        0,
    )
    assert service["taskDefinition"] == task_definition
    assert service["launchType"] == "FARGATE" and service["platformVersion"] == "LATEST"
    assert service["schedulingStrategy"] == "REPLICA"
    assert service["deploymentController"] == {"type": "ECS"}
    config = service["deploymentConfiguration"]
    assert (config["maximumPercent"], config["minimumHealthyPercent"]) == (200, 100)
    assert config["deploymentCircuitBreaker"] == {"enable": False, "rollback": False}
    assert service["events"] == [] and service["loadBalancers"] == [] and service["serviceRegistries"] == []
    assert (service["propagateTags"], service["enableECSManagedTags"], service["enableExecuteCommand"]) == (
        "NONE",
        False,
        False,
    )
    assert service["healthCheckGracePeriodSeconds"] == 0
    assert service["createdBy"] == "arn:aws:iam::000000000000:root"
    assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    (deployment,) = service["deployments"]
    assert deployment["status"] == "PRIMARY" and deployment["id"].startswith("ecs-svc/")
    assert len(deployment["id"]) == len("ecs-svc/") + 19
    assert deployment["rolloutState"] == "IN_PROGRESS"
    assert deployment["rolloutStateReason"] == f"ECS deployment {deployment['id']} in progress."
    assert deployment["platformVersion"] == "1.4.0" and deployment["desiredCount"] == 2
    assert service["currentServiceDeployment"].startswith(ARN + "service-deployment/default/web/")


def test_a_service_runs_its_desired_tasks_and_reports_them(ecs: Any, endpoint: str) -> None:
    register(ecs)
    create(ecs, endpoint, desiredCount=2)
    wait_for(lambda: stable(ecs))
    service = describe(ecs)
    assert (service["runningCount"], service["pendingCount"]) == (2, 0)
    deployment = service["deployments"][0]
    assert deployment["rolloutStateReason"] == f"ECS deployment {deployment['id']} completed."
    messages = [e["message"] for e in service["events"]]
    assert messages[0] == "(service web) has reached a steady state."
    assert messages[1] == f"(service web) (deployment {deployment['id']}) deployment completed."
    assert messages[-1].startswith("(service web) has started 2 tasks: (task ")
    assert all(e["id"] and e["createdAt"] for e in service["events"])
    arns = ecs.list_tasks(serviceName="web")["taskArns"]
    tasks = ecs.describe_tasks(tasks=arns)["tasks"]
    assert {t["startedBy"] for t in tasks} == {deployment["id"]}
    assert {t["group"] for t in tasks} == {"service:web"}
    assert len({t["availabilityZone"] for t in tasks}) == 2  # spread over the subnets' zones
    cluster = ecs.describe_clusters(include=["STATISTICS"])["clusters"][0]
    assert cluster["activeServicesCount"] == 1
    stats = {s["name"]: s["value"] for s in cluster["statistics"]}
    assert stats["activeFargateServiceCount"] == "1" and stats["runningFargateTasksCount"] == "2"


def test_create_service_with_an_active_name_is_not_idempotent(ecs: Any, endpoint: str) -> None:
    register(ecs)
    create(ecs, endpoint)
    assert error_of(ecs.create_service, serviceName="web", taskDefinition="web", desiredCount=1) == (
        "InvalidParameterException",
        "Creation of service was not idempotent.",
    )


def test_create_service_with_the_same_client_token_returns_the_first_service(ecs: Any, endpoint: str) -> None:
    register(ecs)
    first = create(ecs, endpoint, clientToken="token-1")
    again = create(ecs, endpoint, clientToken="token-1")
    assert again["serviceArn"] == first["serviceArn"]
    assert again["deployments"][0]["id"] == first["deployments"][0]["id"]
    code, message = error_of(
        ecs.create_service, serviceName="web", taskDefinition="web", desiredCount=2, clientToken="token-1"
    )
    assert (code, message) == ("InvalidParameterException", "Creation of service was not idempotent.")


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            {"schedulingStrategy": "DAEMON", "launchType": "EC2", "networkConfiguration": None},
            "InvalidParameterException",
            "The daemon scheduling strategy does not support a desired count for services. "
            "Remove the desired count value and try again",
        ),
        (
            {"capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]},
            "InvalidParameterException",
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        ),
        (
            {"networkConfiguration": None},
            "InvalidParameterException",
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ),
        ({"taskDefinition": "nope"}, "ClientException", "Unable to describe task definition."),
        ({"cluster": "nope"}, "ClusterNotFoundException", "Cluster not found."),
        ({"platformVersion": "9.9.9"}, "PlatformUnknownException", None),
        (
            {"launchType": "EC2", "platformVersion": "LATEST"},
            "InvalidParameterException",
            "The platform version must be null when specifying an EC2 launch type.",
        ),
        (
            {"loadBalancers": [{"targetGroupArn": "arn:tg", "containerName": "app", "containerPort": 8080}]},
            "InvalidParameterException",
            "The container app did not have a container port 8080 defined.",
        ),
        (
            {"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-0000000000000000a"]}}},
            "InvalidParameterException",
            "Error retrieving subnet information for [subnet-0000000000000000a]: The subnet ID "
            "'subnet-0000000000000000a' does not exist (ErrorCode: InvalidSubnetID.NotFound)",
        ),
        ({"serviceName": "bad name"}, "InvalidParameterException", None),
    ],
)
def test_create_service_refuses_bad_requests_with_ecs_errors(
    ecs: Any, endpoint: str, change: dict[str, Any], code: str, message: str | None
) -> None:
    register(ecs)
    request: dict[str, Any] = {
        "serviceName": "web",
        "taskDefinition": "web",
        "desiredCount": 1,
        "launchType": "FARGATE",
        "networkConfiguration": network(endpoint),
    }
    request.update(change)
    request = {k: v for k, v in request.items() if v is not None}
    got_code, got_message = error_of(ecs.create_service, **request)
    assert got_code == code
    if message is not None:
        assert got_message == message
    assert ecs.list_services()["serviceArns"] == []


def test_create_service_needs_a_desired_count_for_replica_services(ecs: Any, endpoint: str) -> None:
    register(ecs)
    code, message = error_of(
        ecs.create_service,
        serviceName="web",
        taskDefinition="web",
        launchType="FARGATE",
        networkConfiguration=network(endpoint),
    )
    assert code == "InvalidParameterException"
    assert message == "The desired count must be specified for services using the REPLICA scheduling strategy."


def test_create_service_refuses_a_launch_type_the_definition_does_not_support(ecs: Any) -> None:
    ecs.register_task_definition(family="bridge", containerDefinitions=[{"name": "a", "image": "x", "memory": 64}])
    assert error_of(
        ecs.create_service, serviceName="web", taskDefinition="bridge", desiredCount=1, launchType="FARGATE"
    ) == ("InvalidParameterException", "Task definition does not support launch_type FARGATE.")


def test_create_service_refuses_an_inactive_task_definition(ecs: Any, endpoint: str) -> None:
    arn = register(ecs)
    ecs.deregister_task_definition(taskDefinition=arn)
    code, message = error_of(
        ecs.create_service,
        serviceName="web",
        taskDefinition=arn,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network(endpoint),
    )
    assert (code, message) == ("ClientException", "TaskDefinition is inactive")


def test_create_service_refuses_a_network_configuration_for_bridge_tasks(ecs: Any, endpoint: str) -> None:
    ecs.register_task_definition(family="bridge", containerDefinitions=[{"name": "a", "image": "x", "memory": 64}])
    code, message = error_of(
        ecs.create_service,
        serviceName="web",
        taskDefinition="bridge",
        desiredCount=0,
        networkConfiguration=network(endpoint),
    )
    assert (code, message) == (
        "InvalidParameterException",
        "Network Configuration is not valid for the given networkMode of this task definition.",
    )


def test_create_service_uses_the_cluster_default_capacity_provider_strategy(ecs: Any, endpoint: str) -> None:
    register(ecs)
    ecs.create_cluster(
        clusterName="spot",
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 3},
        ],
    )
    service = create(ecs, endpoint, cluster="spot", launchType=None, desiredCount=5)
    assert "launchType" not in service
    assert [i["capacityProvider"] for i in service["capacityProviderStrategy"]] == ["FARGATE", "FARGATE_SPOT"]
    wait_for(lambda: describe(ecs, cluster="spot")["runningCount"] == 5)
    arns = ecs.list_tasks(cluster="spot", serviceName="web")["taskArns"]
    providers = sorted(t["capacityProviderName"] for t in ecs.describe_tasks(cluster="spot", tasks=arns)["tasks"])
    assert providers == ["FARGATE", "FARGATE", "FARGATE_SPOT", "FARGATE_SPOT", "FARGATE_SPOT"]


def test_daemon_services_are_accepted_with_daemon_defaults(ecs: Any) -> None:
    ecs.register_task_definition(family="agent", containerDefinitions=[{"name": "a", "image": "x", "memory": 64}])
    service = ecs.create_service(serviceName="agent", taskDefinition="agent", schedulingStrategy="DAEMON")["service"]
    config = service["deploymentConfiguration"]
    assert (service["schedulingStrategy"], config["maximumPercent"], config["minimumHealthyPercent"]) == (
        "DAEMON",
        100,
        0,
    )
    wait_for(lambda: bool(describe(ecs, "agent")["events"]))
    assert describe(ecs, "agent")["events"][0]["message"] == "(service agent) has reached a steady state."
    code, message = error_of(ecs.update_service, service="agent", desiredCount=2)
    assert code == "InvalidParameterException" and message.startswith("The daemon scheduling strategy does not support")


# -- UpdateService ---------------------------------------------------------------------------------


def test_update_service_desired_count_alone_starts_no_deployment(ecs: Any, endpoint: str) -> None:
    register(ecs)
    first = create(ecs, endpoint)["deployments"][0]["id"]
    service = ecs.update_service(service="web", desiredCount=3)["service"]
    assert service["desiredCount"] == 3
    assert [d["id"] for d in service["deployments"]] == [first]
    service = ecs.update_service(
        service="web", deploymentConfiguration={"minimumHealthyPercent": 50}, healthCheckGracePeriodSeconds=30
    )["service"]
    assert [d["id"] for d in service["deployments"]] == [first]
    assert service["deploymentConfiguration"]["minimumHealthyPercent"] == 50
    assert service["deploymentConfiguration"]["maximumPercent"] == 200
    assert service["healthCheckGracePeriodSeconds"] == 30


def test_update_service_with_a_new_revision_starts_a_deployment(ecs: Any, endpoint: str) -> None:
    register(ecs)
    first = create(ecs, endpoint)["deployments"][0]
    second_arn = register(ecs, image="example/web:2")
    service = ecs.update_service(service="web", taskDefinition="web")["service"]
    assert service["taskDefinition"] == second_arn
    primary, active = service["deployments"]
    assert (primary["status"], primary["taskDefinition"]) == ("PRIMARY", second_arn)
    assert (active["id"], active["status"]) == (first["id"], "ACTIVE")
    again = ecs.update_service(service="web", forceNewDeployment=True)["service"]
    assert again["deployments"][0]["id"] not in (first["id"], primary["id"])
    assert again["deployments"][0]["taskDefinition"] == second_arn
    assert [d["status"] for d in again["deployments"]][1:] == ["ACTIVE"] * (len(again["deployments"]) - 1)


def test_update_service_errors(ecs: Any, endpoint: str) -> None:
    arn = register(ecs)
    assert error_of(ecs.update_service, service="nope", desiredCount=1) == (
        "ServiceNotFoundException",
        "Service not found.",
    )
    create(ecs, endpoint)
    second = register(ecs, image="example/web:2")
    ecs.deregister_task_definition(taskDefinition=second)
    assert error_of(ecs.update_service, service="web", taskDefinition=second) == (
        "ClientException",
        "TaskDefinition is inactive",
    )
    assert error_of(ecs.update_service, service="web", desiredCount=-1)[0] == "InvalidParameterException"
    ecs.delete_service(service="web", force=True)
    assert error_of(ecs.update_service, service="web", taskDefinition=arn) == (
        "ServiceNotActiveException",
        "Service was not ACTIVE.",
    )


def test_code_deploy_services_run_their_task_set_and_refuse_new_revisions(ecs: Any, endpoint: str) -> None:
    register(ecs)
    create(ecs, endpoint, deploymentController={"type": "CODE_DEPLOY"})
    wait_for(lambda: stable(ecs))
    register(ecs, image="example/web:2")
    assert error_of(ecs.update_service, service="web", taskDefinition="web") == (
        "InvalidParameterException",
        "Unable to update task definition on services with a CODE_DEPLOY deployment controller. "
        "Use AWS CodeDeploy to trigger a new deployment.",
    )
    assert ecs.update_service(service="web", desiredCount=2)["service"]["desiredCount"] == 2


# -- DeleteService ---------------------------------------------------------------------------------


def test_delete_service_scaled_above_zero_needs_force(ecs: Any, endpoint: str) -> None:
    register(ecs)
    create(ecs, endpoint)
    assert error_of(ecs.delete_service, service="web") == (
        "InvalidParameterException",
        "The service cannot be stopped while it is scaled above 0.",
    )
    ecs.update_service(service="web", desiredCount=0)
    assert ecs.delete_service(service="web")["service"]["status"] == "DRAINING"


def test_delete_service_drains_to_inactive_and_frees_the_name(ecs: Any, endpoint: str) -> None:
    register(ecs)
    create(ecs, endpoint, desiredCount=2)
    wait_for(lambda: stable(ecs))
    deleted = ecs.delete_service(service="web", force=True)["service"]
    assert (deleted["status"], deleted["desiredCount"]) == ("DRAINING", 0)
    assert ecs.list_services()["serviceArns"] == []
    assert error_of(ecs.delete_service, service="web", force=True) == (
        "ServiceNotActiveException",
        "Service was not ACTIVE.",
    )
    ecs.get_waiter("services_inactive").wait(services=["web"], WaiterConfig=FAST_WAITER)
    assert describe(ecs)["status"] == "INACTIVE"
    stopped = ecs.list_tasks(serviceName="web", desiredStatus="STOPPED")["taskArns"]
    tasks = ecs.describe_tasks(tasks=stopped)["tasks"]
    assert len(tasks) == 2 and {t["lastStatus"] for t in tasks} == {"STOPPED"}
    assert {t["stopCode"] for t in tasks} == {"ServiceSchedulerInitiated"}
    ecs.delete_cluster(cluster="default")  # nothing is left to block it
    ecs.create_cluster()
    register(ecs)
    reborn = create(ecs, endpoint)
    assert reborn["status"] == "ACTIVE" and reborn["events"] == []


# -- DescribeServices / ListServices ---------------------------------------------------------------


def test_describe_services_reports_missing_ones_and_tags_only_when_asked(ecs: Any, endpoint: str) -> None:
    register(ecs)
    create(ecs, endpoint, tags=[{"key": "team", "value": "obs"}])
    result = ecs.describe_services(services=["web", "nope", ARN + "service/default/web"])
    assert [s["serviceName"] for s in result["services"]] == ["web", "web"]
    assert result["failures"] == [{"arn": ARN + "service/default/nope", "reason": "MISSING"}]
    assert result["services"][0]["tags"] == []
    tagged = describe(ecs, include=["TAGS"])
    assert tagged["tags"] == [{"key": "team", "value": "obs"}]
    other = ecs.describe_services(services=["arn:aws:ecs:eu-west-1:000000000000:service/default/web"])
    assert other["services"] == [] and other["failures"][0]["reason"] == "MISSING"
    assert error_of(ecs.describe_services, services=[f"s{i}" for i in range(11)]) == (
        "InvalidParameterException",
        "services can have at most 10 items.",
    )


def test_list_services_pages_by_ten_and_filters(ecs: Any, endpoint: str) -> None:
    register(ecs)
    ecs.register_task_definition(family="bridge", containerDefinitions=[{"name": "a", "image": "x", "memory": 64}])
    for i in range(11):
        create(ecs, endpoint, f"s{i:02d}", desiredCount=0)
    ecs.create_service(serviceName="ec2", taskDefinition="bridge", desiredCount=0, launchType="EC2")
    first = ecs.list_services()
    assert len(first["serviceArns"]) == 10 and "nextToken" in first
    rest = ecs.list_services(nextToken=first["nextToken"])
    assert len(rest["serviceArns"]) == 2 and "nextToken" not in rest
    assert ecs.list_services(launchType="EC2")["serviceArns"] == [ARN + "service/default/ec2"]
    assert ecs.list_services(schedulingStrategy="DAEMON")["serviceArns"] == []
    paginated = [a for page in ecs.get_paginator("list_services").paginate() for a in page["serviceArns"]]
    assert len(paginated) == 12
    assert error_of(ecs.list_services, maxResults=101)[0] == "InvalidParameterException"
    ecs.delete_service(service="ec2")
    assert ARN + "service/default/ec2" not in ecs.list_services(maxResults=100)["serviceArns"]


def test_list_services_by_namespace_finds_service_connect_services(ecs: Any, endpoint: str) -> None:
    register(ecs)
    create(ecs, endpoint, "connected", serviceConnectConfiguration={"enabled": True, "namespace": "shop"})
    create(ecs, endpoint, "plain")
    assert ecs.list_services_by_namespace(namespace="shop")["serviceArns"] == [ARN + "service/default/connected"]
    assert ecs.list_services_by_namespace(namespace="other")["serviceArns"] == []
    # Service Connect is stored, not served yet; the service's events say so.
    wait_for(lambda: any("Service Connect" in e["message"] for e in describe(ecs, "connected")["events"]))


# -- history -------------------------------------------------------------------------------------------


def test_service_deployment_history_through_the_api(ecs: Any, endpoint: str) -> None:
    register(ecs)
    create(ecs, endpoint)
    wait_for(lambda: stable(ecs))
    register(ecs, image="example/web:2")
    ecs.update_service(service="web", taskDefinition="web")
    wait_for(lambda: stable(ecs))
    listed = ecs.list_service_deployments(service="web")["serviceDeployments"]
    assert [d["status"] for d in listed] == ["SUCCESSFUL", "SUCCESSFUL"]
    assert all(d["serviceArn"] == ARN + "service/default/web" for d in listed)
    assert ecs.list_service_deployments(service="web", status=["IN_PROGRESS"])["serviceDeployments"] == []
    page = ecs.list_service_deployments(service="web", maxResults=1)
    assert len(page["serviceDeployments"]) == 1 and "nextToken" in page
    arns = [d["serviceDeploymentArn"] for d in listed]
    described = ecs.describe_service_deployments(serviceDeploymentArns=[*arns, arns[0] + "x"])
    assert described["failures"] == [{"arn": arns[0] + "x", "reason": "MISSING"}]
    newest = described["serviceDeployments"][0]
    assert newest["deploymentCircuitBreaker"] == {"status": "DISABLED", "failureCount": 0, "threshold": 0}
    assert newest["alarms"] == {"status": "DISABLED"}
    assert newest["targetServiceRevision"]["runningTaskCount"] == 1
    revision = ecs.describe_service_revisions(serviceRevisionArns=[listed[0]["targetServiceRevisionArn"]])
    (shown,) = revision["serviceRevisions"]
    assert shown["taskDefinition"].endswith("task-definition/web:2")
    assert shown["launchType"] == "FARGATE" and shown["platformVersion"] == "1.4.0"
    assert shown["containerImages"][0]["containerName"] == "app"
    assert error_of(ecs.list_service_deployments, service="nope") == ("ServiceNotFoundException", "Service not found.")
    assert error_of(ecs.describe_service_revisions, serviceRevisionArns=[f"a{i}" for i in range(21)]) == (
        "InvalidParameterException",
        "serviceRevisionArns can have at most 20 items.",
    )


# -- the AWS CLI -----------------------------------------------------------------------------------------


def test_services_through_the_aws_cli(aws: Callable[..., Any], ecs: Any, endpoint: str) -> None:
    register(ecs)
    subnet = subnets(endpoint)[0]
    created = aws(
        "ecs",
        "create-service",
        "--service-name",
        "web",
        "--task-definition",
        "web",
        "--desired-count",
        "1",
        "--launch-type",
        "FARGATE",
        "--network-configuration",
        f"awsvpcConfiguration={{subnets=[{subnet}],assignPublicIp=ENABLED}}",
    )["service"]
    assert created["status"] == "ACTIVE"
    wait_for(lambda: stable(ecs))
    aws("ecs", "wait", "services-stable", "--services", "web")
    listed = aws("ecs", "list-services")["serviceArns"]
    assert listed == [ARN + "service/default/web"]
    shown = aws("ecs", "describe-services", "--services", "web")["services"][0]
    assert shown["runningCount"] == 1 and shown["events"][0]["message"] == "(service web) has reached a steady state."
    aws("ecs", "update-service", "--service", "web", "--desired-count", "0")
    assert aws("ecs", "delete-service", "--service", "web")["service"]["status"] == "DRAINING"
    wait_for(lambda: describe(ecs)["status"] == "INACTIVE")  # the CLI waiter polls every 15 s
    aws("ecs", "wait", "services-inactive", "--services", "web")
