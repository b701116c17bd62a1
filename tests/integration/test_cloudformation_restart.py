"""A stack being created when the server stops does not stay CREATE_IN_PROGRESS: at the next start
(same data directory) the create is failed with the reason that says why and rolled back, taking
down what it had made (the ECS service whose wait was cut short included)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from ecslite.providers.cloudformation.engine import RESTARTED
from tests.conftest import make_client, start_server, stop_server

TEMPLATE = {
    "Parameters": {"Subnets": {"Type": "List<AWS::EC2::Subnet::Id>"}},
    "Resources": {
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "restart"}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/cfn/restart"}},
        "TaskDef": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "Family": "restart",
                "NetworkMode": "awsvpc",
                "RequiresCompatibilities": ["FARGATE"],
                "Cpu": "256",
                "Memory": "512",
                "ContainerDefinitions": [{"Name": "app", "Image": "example/web:1"}],
            },
        },
        "Service": {
            "Type": "AWS::ECS::Service",
            "DependsOn": "Logs",
            "Properties": {
                "Cluster": {"Ref": "Cluster"},
                "ServiceName": "web",
                "TaskDefinition": {"Ref": "TaskDef"},
                "DesiredCount": 1,
                "LaunchType": "FARGATE",
                "NetworkConfiguration": {"AwsvpcConfiguration": {"Subnets": {"Ref": "Subnets"}}},
            },
        },
    },
}


def wait_stack(cfn: Any, name: str, done: set[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if stack["StackStatus"] in done:
            return stack
        assert time.monotonic() < deadline, f"stack still {stack['StackStatus']}"
        time.sleep(0.5)


def resource_status(cfn: Any, name: str, logical_id: str) -> str | None:
    for resource in cfn.describe_stack_resources(StackName=name)["StackResources"]:
        if resource["LogicalResourceId"] == logical_id:
            return str(resource["ResourceStatus"])
    return None


def create_stack(endpoint: str, name: str, template: dict[str, Any]) -> str:
    """Starts the stack's create on two of the default subnets; its id."""
    subnets = [s["SubnetId"] for s in make_client("ec2", endpoint).describe_subnets()["Subnets"][:2]]
    return str(
        make_client("cloudformation", endpoint).create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": "Subnets", "ParameterValue": ",".join(subnets)}],
        )["StackId"]
    )


def test_create_in_progress_at_a_restart_is_rolled_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, ephemeral=False)
    try:
        cfn = make_client("cloudformation", server.endpoint)
        stack_id = create_stack(server.endpoint, "restart", TEMPLATE)
        deadline = time.monotonic() + 60
        while resource_status(cfn, stack_id, "Service") != "CREATE_IN_PROGRESS":
            assert time.monotonic() < deadline, "the service's creation did not start"
            time.sleep(0.2)
    finally:
        stop_server(server)

    server = start_server(data, ephemeral=False)
    try:
        cfn = make_client("cloudformation", server.endpoint)
        stack = wait_stack(cfn, stack_id, {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"})
        events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        shown = [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason")) for e in events]
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE", shown
        assert ("Service", "CREATE_FAILED", RESTARTED) in shown
        assert (
            "restart",
            "ROLLBACK_IN_PROGRESS",
            f"The following resource(s) failed to create: [Service]. {RESTARTED}. Rollback requested by user.",
        ) in shown
        ecs = make_client("ecs", server.endpoint)
        assert [c["status"] for c in ecs.describe_clusters(clusters=["restart"])["clusters"]] in ([], ["INACTIVE"])
        logs = make_client("logs", server.endpoint)
        assert logs.describe_log_groups(logGroupNamePrefix="/cfn/restart")["logGroups"] == []
        definition = ecs.describe_task_definition(taskDefinition="restart:1")["taskDefinition"]
        assert definition["status"] == "INACTIVE"
    finally:
        stop_server(server)


def test_service_being_made_when_the_server_is_killed_is_rolled_back(tmp_path: Path) -> None:
    """SIGKILL while the ECS service waits to be stable: nothing runs on the way out, so only the
    physical id recorded as soon as the service existed lets the rollback find it."""
    # The cluster is made outside the stack, so that the service can still be described afterwards.
    template = json.loads(json.dumps(TEMPLATE))
    del template["Resources"]["Cluster"]
    template["Resources"]["Service"]["Properties"]["Cluster"] = "killed"
    data = tmp_path / "data"
    server = start_server(data, ephemeral=False)
    try:
        cfn = make_client("cloudformation", server.endpoint)
        ecs = make_client("ecs", server.endpoint)
        ecs.create_cluster(clusterName="killed")
        stack_id = create_stack(server.endpoint, "killed", template)
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "the service was not made"
            services = ecs.describe_services(cluster="killed", services=["web"])["services"]
            if services and services[0]["status"] == "ACTIVE":
                break
            time.sleep(0.1)
        time.sleep(0.3)  # past the handler's next step, well before the service is stable
        assert resource_status(cfn, stack_id, "Service") == "CREATE_IN_PROGRESS"
    finally:
        stop_server(server, signal.SIGKILL)

    server = start_server(data, ephemeral=False)
    try:
        cfn = make_client("cloudformation", server.endpoint)
        stack = wait_stack(cfn, stack_id, {"ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"}, timeout=180)
        events = cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
        shown = [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason")) for e in events]
        assert stack["StackStatus"] == "ROLLBACK_COMPLETE", shown
        assert ("Service", "CREATE_FAILED", RESTARTED) in shown
        assert ("Service", "DELETE_COMPLETE", None) in shown
        ecs = make_client("ecs", server.endpoint)
        [service] = ecs.describe_services(cluster="killed", services=["web"])["services"]
        assert service["status"] == "INACTIVE"
        assert ecs.list_tasks(cluster="killed", serviceName="web")["taskArns"] == []
    finally:
        stop_server(server)
