"""Tasks through boto3 on the real server with the fake runtime: the lifecycle of spec/ecs.md §3."""

from __future__ import annotations

import time
from typing import Any

from tests.integration.test_tasks_helpers import (
    DEFAULT_SUBNETS,
    FAST_WAITER,
    SUBNET,
    SUBNETS,
    TASK_ARN,
    app,
    assert_timestamps_in_order,
    describe,
    fake,
    fargate_definition,
    run_fargate,
    wait_status,
    wait_until,
)


def test_run_task_returns_a_provisioning_fargate_task(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    result = run_fargate(
        ecs,
        definition,
        networkConfiguration={"awsvpcConfiguration": {"subnets": [SUBNET], "assignPublicIp": "ENABLED"}},
    )
    assert result["failures"] == []
    task = result["tasks"][0]
    assert task["taskArn"].startswith(TASK_ARN + "default/") and len(task["taskArn"].rsplit("/", 1)[1]) == 32
    assert (task["lastStatus"], task["desiredStatus"], task["version"]) == ("PROVISIONING", "RUNNING", 1)
    assert (task["launchType"], task["platformVersion"], task["platformFamily"]) == ("FARGATE", "1.4.0", "Linux")
    assert (task["cpu"], task["memory"], task["group"]) == ("256", "512", "family:web")
    assert task["taskDefinitionArn"] == definition
    assert task["availabilityZone"] in ("us-east-1a", "us-east-1b", "us-east-1c")
    assert task["ephemeralStorage"] == task["fargateEphemeralStorage"] == {"sizeInGiB": 20}
    assert task["attributes"] == [{"name": "ecs.cpu-architecture", "value": "x86_64"}]
    assert task["overrides"] == {"containerOverrides": [{"name": "app"}], "inferenceAcceleratorOverrides": []}
    attachment = task["attachments"][0]
    assert (attachment["type"], attachment["status"]) == ("ElasticNetworkInterface", "PRECREATED")
    assert attachment["details"] == [{"name": "subnetId", "value": SUBNET}]
    container = task["containers"][0]
    assert (container["name"], container["lastStatus"], container["healthStatus"]) == ("app", "PENDING", "UNKNOWN")
    assert container["containerArn"].startswith(
        "arn:aws:ecs:us-east-1:000000000000:container/default/" + task["taskArn"].rsplit("/", 1)[1] + "/"
    )
    assert "containerInstanceArn" not in task and "capacityProviderName" not in task


def test_run_task_reaches_running_and_stop_task_stops_it(ecs: Any) -> None:
    arn = run_fargate(ecs, fargate_definition(ecs))["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(tasks=[arn], WaiterConfig=FAST_WAITER)
    running = describe(ecs, arn)
    assert running["connectivity"] == "CONNECTED"
    details = {d["name"]: d["value"] for d in running["attachments"][0]["details"]}
    assert running["attachments"][0]["status"] == "ATTACHED"
    assert details["networkInterfaceId"].startswith("eni-")
    assert details["privateDnsName"] == "ip-" + details["privateIPv4Address"].replace(".", "-") + ".ec2.internal"
    container = running["containers"][0]
    assert container["networkInterfaces"][0]["privateIpv4Address"] == details["privateIPv4Address"]
    assert container["runtimeId"].startswith(arn.rsplit("/", 1)[1] + "-")

    stopped = ecs.stop_task(task=arn, reason="Deploying a new version")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stoppedReason"] == "Deploying a new version"
    assert stopped["stopCode"] == "UserInitiated"
    ecs.get_waiter("tasks_stopped").wait(tasks=[arn], WaiterConfig=FAST_WAITER)
    task = describe(ecs, arn)
    assert (task["lastStatus"], task["stopCode"]) == ("STOPPED", "UserInitiated")
    assert task["stoppedReason"] == "Deploying a new version"
    assert task["containers"][0]["exitCode"] == 143
    assert task["attachments"][0]["status"] == "DELETED"
    for field in ("createdAt", "pullStartedAt", "pullStoppedAt", "startedAt", "stoppingAt", "executionStoppedAt"):
        assert field in task, field
    assert_timestamps_in_order(task)
    assert task["version"] > running["version"]


def test_stop_task_on_a_stopped_task_returns_it_unchanged(ecs: Any) -> None:
    arn = run_fargate(ecs, fargate_definition(ecs))["tasks"][0]["taskArn"]
    ecs.stop_task(task=arn, reason="first")
    stopped = wait_status(ecs, arn, "STOPPED")
    again = ecs.stop_task(task=arn.rsplit("/", 1)[1], reason="second")["task"]
    assert again["stoppedReason"] == "first"
    assert again["version"] == stopped["version"]


def test_stop_task_without_reason_uses_the_default_reason(ecs: Any) -> None:
    arn = run_fargate(ecs, fargate_definition(ecs))["tasks"][0]["taskArn"]
    task = ecs.stop_task(task=arn)["task"]
    assert task["stoppedReason"] == "Task stopped by user"


def test_essential_container_exit_stops_the_task(ecs: Any) -> None:
    definition = fargate_definition(ecs, app(dockerLabels=fake(run_seconds=0.3, exit_code=3)), app("side"))
    arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    task = wait_status(ecs, arn, "STOPPED")
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    exits = {c["name"]: c.get("exitCode") for c in task["containers"]}
    assert exits == {"app": 3, "side": 143}
    assert_timestamps_in_order(task)


def test_non_essential_container_exit_stops_only_that_container(ecs: Any) -> None:
    definition = fargate_definition(
        ecs, app(), app("init", essential=False, dockerLabels=fake(run_seconds=0.2, exit_code=0))
    )
    arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    task = wait_until(ecs, arn, lambda t: any(c.get("exitCode") == 0 for c in t["containers"]))
    states = {c["name"]: c["lastStatus"] for c in task["containers"]}
    assert states == {"app": "RUNNING", "init": "STOPPED"}
    time.sleep(0.5)
    task = describe(ecs, arn)
    assert (task["lastStatus"], task["desiredStatus"]) == ("RUNNING", "RUNNING")


def test_oom_kill_shows_137_and_the_oom_reason(ecs: Any) -> None:
    definition = fargate_definition(ecs, app(memory=128, dockerLabels=fake(oom_after_seconds=0.3)))
    arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    task = wait_status(ecs, arn, "STOPPED")
    assert task["containers"][0]["exitCode"] == 137
    assert task["containers"][0]["reason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert task["stopCode"] == "EssentialContainerExited"


def test_pull_failure_fails_the_task_to_start(ecs: Any) -> None:
    definition = fargate_definition(ecs, app(dockerLabels=fake(pull_error="repository example/app not found")))
    arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    task = wait_status(ecs, arn, "STOPPED")
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"] == "CannotPullContainerError: repository example/app not found"
    assert task["containers"][0]["reason"] == task["stoppedReason"]
    assert "exitCode" not in task["containers"][0]
    assert "startedAt" not in task
    assert_timestamps_in_order(task)


def test_ignored_sigterm_is_followed_by_sigkill_after_stop_timeout(ecs: Any) -> None:
    definition = fargate_definition(ecs, app(stopTimeout=2, dockerLabels=fake(ignore_sigterm="true")))
    arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    wait_status(ecs, arn, "RUNNING")
    ecs.stop_task(task=arn)
    time.sleep(1)
    assert describe(ecs, arn)["lastStatus"] == "STOPPING"
    task = wait_status(ecs, arn, "STOPPED", timeout=10)
    assert task["containers"][0]["exitCode"] == 137
    assert (task["executionStoppedAt"] - task["stoppingAt"]).total_seconds() >= 2


def test_depends_on_healthy_starts_the_dependent_after_the_target_is_healthy(ecs: Any) -> None:
    check = {"command": ["CMD-SHELL", "pg_isready"], "interval": 5, "retries": 1}
    definition = fargate_definition(
        ecs,
        app("db", healthCheck=check),
        app("api", dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
    )
    arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    observed: list[tuple[str, str, str, str]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        task = describe(ecs, arn)
        c = {x["name"]: x for x in task["containers"]}
        observed.append((task["lastStatus"], c["db"]["lastStatus"], c["db"]["healthStatus"], c["api"]["lastStatus"]))
        if task["lastStatus"] == "RUNNING":
            break
        time.sleep(0.2)
    assert observed[-1] == ("RUNNING", "RUNNING", "HEALTHY", "RUNNING")
    # While the database was running but not yet healthy, the API waited and the task stayed PENDING.
    assert ("PENDING", "RUNNING", "UNKNOWN", "PENDING") in observed
    assert all(api != "RUNNING" for _, _, health, api in observed if health != "HEALTHY")


def test_failing_health_check_makes_the_task_unhealthy_but_it_keeps_running(ecs: Any) -> None:
    check = {"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "interval": 5, "retries": 1}
    definition = fargate_definition(ecs, app(healthCheck=check, dockerLabels=fake(health="UNHEALTHY")))
    arn = run_fargate(ecs, definition)["tasks"][0]["taskArn"]
    task = wait_until(ecs, arn, lambda t: t["healthStatus"] == "UNHEALTHY", timeout=15)
    assert task["containers"][0]["healthStatus"] == "UNHEALTHY"
    assert (task["lastStatus"], task["desiredStatus"]) == ("RUNNING", "RUNNING")


def test_run_task_count_launches_several_tasks(ecs: Any) -> None:
    result = run_fargate(ecs, fargate_definition(ecs), count=3, startedBy="batch-7", group="nightly")
    tasks = result["tasks"]
    assert len({t["taskArn"] for t in tasks}) == 3
    assert {(t["startedBy"], t["group"]) for t in tasks} == {("batch-7", "nightly")}


def test_fargate_spreads_a_group_over_the_zones_of_its_subnets(ecs: Any) -> None:
    config = {"awsvpcConfiguration": {"subnets": list(DEFAULT_SUBNETS)}}
    tasks = run_fargate(ecs, fargate_definition(ecs), count=6, networkConfiguration=config)["tasks"]
    zones = [t["availabilityZone"] for t in tasks]
    assert sorted(zones.count(z) for z in set(zones)) == [2, 2, 2]


def test_overrides_are_echoed_with_every_container(ecs: Any) -> None:
    definition = fargate_definition(ecs, app(), app("side"))
    overrides = {
        "containerOverrides": [
            {"name": "app", "command": ["run", "--once"], "environment": [{"name": "A", "value": "1"}]}
        ],
        "cpu": "512",
        "memory": "1024",
    }
    task = run_fargate(ecs, definition, overrides=overrides)["tasks"][0]
    assert task["overrides"]["containerOverrides"] == [
        {"name": "app", "command": ["run", "--once"], "environment": [{"name": "A", "value": "1"}]},
        {"name": "side"},
    ]
    assert (task["cpu"], task["memory"]) == ("512", "1024")
    assert (task["overrides"]["cpu"], task["overrides"]["memory"]) == ("512", "1024")


def test_tags_propagate_and_show_only_with_include(ecs: Any) -> None:
    definition = fargate_definition(ecs, tags=[{"key": "team", "value": "obs"}])
    arn = run_fargate(
        ecs,
        definition,
        tags=[{"key": "run", "value": "7"}],
        propagateTags="TASK_DEFINITION",
        enableECSManagedTags=True,
    )["tasks"][0]["taskArn"]
    assert describe(ecs, arn)["tags"] == []
    tags = {t["key"]: t["value"] for t in describe(ecs, arn, include=["TAGS"])["tags"]}
    assert tags == {"run": "7", "team": "obs", "aws:ecs:clusterName": "default"}
    listed = {t["key"] for t in ecs.list_tags_for_resource(resourceArn=arn)["tags"]}
    assert listed == {"run", "team", "aws:ecs:clusterName"}


def test_enable_execute_command_shows_the_managed_agent(ecs: Any) -> None:
    arn = run_fargate(ecs, fargate_definition(ecs), enableExecuteCommand=True)["tasks"][0]["taskArn"]
    task = wait_status(ecs, arn, "RUNNING")
    assert task["enableExecuteCommand"] is True
    agent = task["containers"][0]["managedAgents"][0]
    assert (agent["name"], agent["lastStatus"]) == ("ExecuteCommandAgent", "RUNNING")


def test_describe_tasks_reports_unknown_tasks_as_missing(ecs: Any) -> None:
    arn = run_fargate(ecs, fargate_definition(ecs))["tasks"][0]["taskArn"]
    ecs.create_cluster(clusterName="other")
    unknown = "0" * 32
    result = ecs.describe_tasks(tasks=[arn, unknown, arn.rsplit("/", 1)[1]])
    assert [t["taskArn"] for t in result["tasks"]] == [arn, arn]
    assert result["failures"] == [{"arn": TASK_ARN + "default/" + unknown, "reason": "MISSING"}]
    elsewhere = ecs.describe_tasks(cluster="other", tasks=[arn])
    assert elsewhere["tasks"] == [] and elsewhere["failures"] == [{"arn": arn, "reason": "MISSING"}]


def test_client_token_returns_the_first_result_for_the_same_input(ecs: Any) -> None:
    definition = fargate_definition(ecs)
    first = run_fargate(ecs, definition, clientToken="token-1", count=2)["tasks"]
    again = run_fargate(ecs, definition, clientToken="token-1", count=2)["tasks"]
    assert [t["taskArn"] for t in again] == [t["taskArn"] for t in first]
    assert len(ecs.list_tasks()["taskArns"]) == 2


def test_capacity_provider_strategy_runs_on_fargate_providers(ecs: Any) -> None:
    ecs.put_cluster_capacity_providers(
        cluster="default", capacityProviders=["FARGATE", "FARGATE_SPOT"], defaultCapacityProviderStrategy=[]
    )
    strategy = [
        {"capacityProvider": "FARGATE", "base": 2, "weight": 1},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3},
    ]
    tasks = ecs.run_task(
        taskDefinition=fargate_definition(ecs), count=5, capacityProviderStrategy=strategy, networkConfiguration=SUBNETS
    )["tasks"]
    providers = sorted(t["capacityProviderName"] for t in tasks)
    assert providers == ["FARGATE", "FARGATE", "FARGATE_SPOT", "FARGATE_SPOT", "FARGATE_SPOT"]
    assert {t["launchType"] for t in tasks} == {"FARGATE"}


def test_cluster_default_strategy_applies_without_launch_type(ecs: Any) -> None:
    ecs.put_cluster_capacity_providers(
        cluster="default",
        capacityProviders=["FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    )
    task = ecs.run_task(taskDefinition=fargate_definition(ecs), networkConfiguration=SUBNETS)["tasks"][0]
    assert (task["launchType"], task["capacityProviderName"]) == ("FARGATE", "FARGATE_SPOT")
