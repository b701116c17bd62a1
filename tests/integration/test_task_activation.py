"""ACTIVATING and DEACTIVATING through the API (spec/ecs.md §3.1, §8.2) on the fake runtime: a service
task with a Cloud Map registry announces ACTIVATING before RUNNING and DEACTIVATING before STOPPING
in its task state-change events, and is registered from RUNNING on; a RunTask task of the same
definition announces neither."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import make_client

PATTERN = json.dumps({"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]})


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)
    return found


def task_events(endpoint: str, task_arn: str) -> list[dict[str, Any]]:
    """The task's state-change event details, in the order they were announced."""
    answer = httpx.get(f"{endpoint}/_ecslite/events", params={"after": 0, "pattern": PATTERN}, timeout=10)
    answer.raise_for_status()
    return [e["detail"] for e in answer.json()["events"] if e["detail"]["taskArn"] == task_arn]


def statuses(events: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for event in events:
        if not out or out[-1] != event["lastStatus"]:
            out.append(event["lastStatus"])
    return out


def setup(ecs: Any, endpoint: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    sd = make_client("servicediscovery", endpoint)
    ec2 = make_client("ec2", endpoint)
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    op_id = sd.create_private_dns_namespace(Name="shop.local", Vpc=vpc)["OperationId"]
    ns_id = sd.get_operation(OperationId=op_id)["Operation"]["Targets"]["NAMESPACE"]
    registry = sd.create_service(Name="web", NamespaceId=ns_id, DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]})
    ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "web", "image": "example/web:1", "portMappings": [{"containerPort": 8080}]}],
    )
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    network = {"awsvpcConfiguration": {"subnets": [subnet]}}
    return sd, registry["Service"], network


def test_service_task_with_a_registry_passes_through_activating_and_deactivating(ecs: Any, endpoint: str) -> None:
    sd, registry, network = setup(ecs, endpoint)
    ecs.create_service(
        serviceName="web",
        taskDefinition="web",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network,
        serviceRegistries=[{"registryArn": registry["Arn"]}],
    )
    arn = wait_for(lambda: ecs.list_tasks(serviceName="web")["taskArns"])[0]
    wait_for(lambda: ecs.describe_services(services=["web"])["services"][0]["runningCount"] == 1)
    task = ecs.describe_tasks(tasks=[arn])["tasks"][0]
    assert task["lastStatus"] == "RUNNING"
    instances = sd.list_instances(ServiceId=registry["Id"])["Instances"]
    assert [i["Id"] for i in instances] == [arn.rsplit("/", 1)[1]]
    started = task_events(endpoint, arn)
    assert statuses(started) == ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"]
    activating = next(e for e in started if e["lastStatus"] == "ACTIVATING")
    assert "startedAt" not in activating and activating["desiredStatus"] == "RUNNING"
    assert [c["lastStatus"] for c in activating["containers"]] == ["RUNNING"]
    assert [e["version"] for e in started] == sorted({e["version"] for e in started})

    ecs.update_service(service="web", desiredCount=0)
    wait_for(lambda: ecs.describe_tasks(tasks=[arn])["tasks"][0]["lastStatus"] == "STOPPED")
    everything = task_events(endpoint, arn)
    assert statuses(everything)[3:] == ["RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]
    deactivating = next(e for e in everything if e["lastStatus"] == "DEACTIVATING")
    assert deactivating["desiredStatus"] == "STOPPED" and deactivating["stopCode"] == "ServiceSchedulerInitiated"
    assert [c["lastStatus"] for c in deactivating["containers"]] == ["RUNNING"]
    assert sd.list_instances(ServiceId=registry["Id"])["Instances"] == []
    stopped = ecs.describe_tasks(tasks=[arn])["tasks"][0]
    assert stopped["startedAt"] <= stopped["stoppingAt"] <= stopped["executionStoppedAt"] <= stopped["stoppedAt"]


def test_run_task_of_the_same_definition_skips_both_states(ecs: Any, endpoint: str) -> None:
    _, _, network = setup(ecs, endpoint)
    arn = ecs.run_task(taskDefinition="web", launchType="FARGATE", networkConfiguration=network)["tasks"][0]["taskArn"]
    wait_for(lambda: ecs.describe_tasks(tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING")
    ecs.stop_task(task=arn)
    wait_for(lambda: ecs.describe_tasks(tasks=[arn])["tasks"][0]["lastStatus"] == "STOPPED")
    assert statuses(task_events(endpoint, arn)) == [
        "PROVISIONING",
        "PENDING",
        "RUNNING",
        "STOPPING",
        "DEPROVISIONING",
        "STOPPED",
    ]
