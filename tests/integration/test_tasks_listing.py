"""ListTasks filters and pagination, the AWS CLI flow, and tasks across a server restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.conftest import make_client, start_server, stop_server
from tests.integration.test_tasks_helpers import (
    SUBNET,
    app,
    describe,
    ec2_definition,
    fargate_definition,
    register_instance,
    run_fargate,
    wait_status,
)


def arns(result: dict[str, Any]) -> list[str]:
    return [t["taskArn"] for t in result["tasks"]]


def test_list_tasks_defaults_to_desired_running_in_creation_order(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    running = arns(run_fargate(ecs, definition, count=3))
    stopped = running.pop(1)
    ecs.stop_task(task=stopped)
    assert ecs.list_tasks()["taskArns"] == running
    assert ecs.list_tasks(desiredStatus="RUNNING")["taskArns"] == running
    assert ecs.list_tasks(desiredStatus="STOPPED")["taskArns"] == [stopped]
    assert ecs.list_tasks(desiredStatus="PENDING")["taskArns"] == []
    wait_status(ecs, stopped, "STOPPED")
    assert ecs.list_tasks(desiredStatus="STOPPED")["taskArns"] == [stopped]  # stopped tasks stay visible


def test_list_tasks_filters_by_family_started_by_and_launch_type(ecs: Any) -> None:
    web = arns(run_fargate(ecs, fargate_definition(ecs, family="web")))
    worker = arns(run_fargate(ecs, fargate_definition(ecs, family="worker"), startedBy="scheduler/nightly"))
    register_instance(ecs)
    batch = arns(ecs.run_task(taskDefinition=ec2_definition(ecs, app(memory=64)), launchType="EC2"))
    assert ecs.list_tasks(family="web")["taskArns"] == web
    assert ecs.list_tasks(family="worker")["taskArns"] == worker
    assert ecs.list_tasks(startedBy="scheduler/nightly")["taskArns"] == worker
    assert ecs.list_tasks(launchType="EC2")["taskArns"] == batch
    assert ecs.list_tasks(launchType="FARGATE")["taskArns"] == web + worker
    assert ecs.list_tasks(family="web", launchType="EC2")["taskArns"] == []
    assert ecs.list_tasks(serviceName="none")["taskArns"] == []


def test_list_tasks_is_per_cluster(ecs: Any) -> None:
    ecs.create_cluster(clusterName="blue")
    definition = fargate_definition(ecs)
    blue = arns(run_fargate(ecs, definition, cluster="blue"))
    assert ecs.list_tasks(cluster="blue")["taskArns"] == blue
    assert ecs.list_tasks()["taskArns"] == []


def test_list_tasks_paginates_with_max_results_and_the_paginator(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    all_arns = arns(run_fargate(ecs, definition, count=10)) + arns(run_fargate(ecs, definition, count=3))
    page = ecs.list_tasks(maxResults=4)
    assert page["taskArns"] == all_arns[:4]
    seen = list(page["taskArns"])
    while "nextToken" in page:
        page = ecs.list_tasks(maxResults=4, nextToken=page["nextToken"])
        seen += page["taskArns"]
    assert seen == all_arns
    paginated = [
        a for p in ecs.get_paginator("list_tasks").paginate(PaginationConfig={"PageSize": 5}) for a in p["taskArns"]
    ]
    assert paginated == all_arns
    assert "nextToken" not in ecs.list_tasks()


def test_aws_cli_runs_and_describes_a_fargate_task(aws: Any, tmp_path: Path) -> None:
    aws(
        "ecs",
        "register-task-definition",
        "--family",
        "cli-web",
        "--network-mode",
        "awsvpc",
        "--requires-compatibilities",
        "FARGATE",
        "--cpu",
        "256",
        "--memory",
        "512",
        "--container-definitions",
        '[{"name": "app", "image": "nginx:1.27", "essential": true}]',
    )
    run = aws(
        "ecs",
        "run-task",
        "--task-definition",
        "cli-web",
        "--launch-type",
        "FARGATE",
        "--network-configuration",
        f"awsvpcConfiguration={{subnets=[{SUBNET}],assignPublicIp=ENABLED}}",
    )
    arn = run["tasks"][0]["taskArn"]
    assert run["failures"] == []
    deadline = time.monotonic() + 20
    while True:
        task = aws("ecs", "describe-tasks", "--tasks", arn)["tasks"][0]
        if task["lastStatus"] == "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert task["lastStatus"] == "RUNNING"
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert details["subnetId"] == SUBNET
    assert details["networkInterfaceId"].startswith("eni-")
    assert isinstance(task["createdAt"], float | int)  # CLI v1 prints epoch numbers (§1.6)
    listed = aws("ecs", "list-tasks", "--family", "cli-web")
    assert listed["taskArns"] == [arn]


def test_tasks_lost_in_a_restart_stop_with_a_reason_and_tokens_still_work(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", ephemeral=False)
    try:
        ecs = make_client("ecs", server.endpoint)
        definition = fargate_definition(ecs)
        tasks = arns(run_fargate(ecs, definition, count=3))
        for arn in tasks:
            wait_status(ecs, arn, "RUNNING")
        token = ecs.list_tasks(maxResults=1)["nextToken"]
    finally:
        stop_server(server)
    server = start_server(tmp_path / "data", ephemeral=False)
    try:
        ecs = make_client("ecs", server.endpoint)
        for arn in tasks:
            task = wait_status(ecs, arn, "STOPPED")
            assert task["stopCode"] == "InfrastructureHealth"
            assert "no longer exists in the fake runtime" in task["stoppedReason"]
        # A token from before the restart still points after the first task.
        assert ecs.list_tasks(desiredStatus="STOPPED", maxResults=1, nextToken=token)["taskArns"] == [tasks[1]]
        assert describe(ecs, tasks[0])["containers"][0]["lastStatus"] == "STOPPED"
    finally:
        stop_server(server)
