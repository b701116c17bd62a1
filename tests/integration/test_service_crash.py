"""``kill -9`` of the server in the middle of a rolling deployment (persistent data directory).

The fake runtime keeps nothing across a restart, so every task that was live at the kill is lost:
the task controller stops it with a reason saying so and the scheduler replaces it. After the
restart the deployment must complete with:

- nothing lost: every task the API had shown before the kill is still there (STOPPED or running);
- nothing duplicated: the deployment that was in progress is the one that completes, and exactly
  ``desiredCount`` tasks are launched after the restart (one per live PRIMARY task the crash took);
- nothing orphaned: the cluster's only live tasks are the service's ``desiredCount`` PRIMARY tasks.

Two kill points: right after UpdateService was acknowledged, and in the middle of the rollout
(new tasks healthy, old ones still running).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningServer, make_client, start_server, stop_server
from tests.integration.test_services import register, wait_for

DESIRED = 4
pytestmark = pytest.mark.slow


def service_tasks(ecs: Any) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(serviceName="web", desiredStatus="RUNNING")["taskArns"]
    arns += ecs.list_tasks(serviceName="web", desiredStatus="STOPPED")["taskArns"]
    arns = list(dict.fromkeys(arns))
    tasks: list[dict[str, Any]] = []
    for start in range(0, len(arns), 100):
        tasks += ecs.describe_tasks(tasks=arns[start : start + 100])["tasks"]
    return tasks


def describe(ecs: Any) -> dict[str, Any]:
    service: dict[str, Any] = ecs.describe_services(services=["web"])["services"][0]
    return service


def completed(ecs: Any) -> bool:
    service = describe(ecs)
    deployments = service["deployments"]
    return (
        len(deployments) == 1
        and deployments[0]["rolloutState"] == "COMPLETED"
        and service["runningCount"] == service["desiredCount"]
    )


def mid_rollout(ecs: Any, new: str) -> bool:
    tasks = [t for t in service_tasks(ecs) if t["desiredStatus"] == "RUNNING"]
    healthy_new = [t for t in tasks if t["startedBy"] == new and t.get("healthStatus") == "HEALTHY"]
    old_running = [t for t in tasks if t["startedBy"] != new and t["lastStatus"] == "RUNNING"]
    return bool(healthy_new) and bool(old_running)


def crash_and_restart(server: RunningServer, data_dir: Path) -> tuple[RunningServer, float]:
    """The server killed and started again, and the time it was dead by: a task created before that
    was created by the killed server."""
    stop_server(server, signal.SIGKILL)
    killed = time.time()
    return start_server(data_dir, ephemeral=False), killed


@pytest.mark.parametrize("kill_point", ["after-update", "mid-rollout"])
def test_kill_during_a_rolling_deployment_loses_duplicates_and_orphans_nothing(tmp_path: Path, kill_point: str) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, ephemeral=False)
    try:
        ecs = make_client("ecs", server.endpoint)
        register(ecs)
        subnets = [s["SubnetId"] for s in make_client("ec2", server.endpoint).describe_subnets()["Subnets"]]
        ecs.create_service(
            serviceName="web",
            taskDefinition="web",
            desiredCount=DESIRED,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {"subnets": subnets[:2]}},
            # Two waves of two tasks: between them, new tasks are healthy and old ones still run.
            deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 150},
        )
        wait_for(lambda: completed(ecs))
        register(ecs, image="example/web:2")
        new = ecs.update_service(service="web", taskDefinition="web")["service"]["deployments"][0]["id"]
        if kill_point == "mid-rollout":
            wait_for(lambda: mid_rollout(ecs, new), interval=0.05)
        before = {t["taskArn"]: t for t in service_tasks(ecs)}
        live_primary = sum(1 for t in before.values() if t["startedBy"] == new and t["desiredStatus"] == "RUNNING")

        server, killed = crash_and_restart(server, data_dir)
        ecs = make_client("ecs", server.endpoint)
        wait_for(lambda: completed(ecs), timeout=90)

        service = describe(ecs)
        assert service["deployments"][0]["id"] == new  # the same deployment completed, none was started anew
        after = {t["taskArn"]: t for t in service_tasks(ecs)}
        assert set(before) <= set(after), "tasks known before the crash disappeared"
        # The rollout went on between the snapshot and the kill: what the killed server launched meanwhile
        # is neither in the snapshot nor launched after the crash.
        launched_after = [t for t in after.values() if t["createdAt"].timestamp() >= killed]
        running = [t for t in after.values() if t["desiredStatus"] == "RUNNING"]
        # Tasks the killed server had created but not yet started (no sandbox yet) are carried on.
        carried_on = [t for t in running if t["createdAt"].timestamp() < killed]
        # The crash took every live task (the fake runtime keeps none): the PRIMARY's live tasks are
        # replaced once each, and it gets the ones it still lacked: exactly DESIRED in all, no duplicate.
        assert live_primary <= DESIRED
        assert len(launched_after) + len(carried_on) == DESIRED, [
            (t["startedBy"], t["lastStatus"], t.get("stoppedReason"), t["createdAt"].timestamp() - killed)
            for t in launched_after
        ]
        assert len(running) == DESIRED and {t["startedBy"] for t in running} == {new}
        assert {t["lastStatus"] for t in running} == {"RUNNING"}
        lost = [after[arn] for arn, t in before.items() if t["desiredStatus"] == "RUNNING"]
        assert lost and {t["lastStatus"] for t in lost} == {"STOPPED"}
        assert {t["stopCode"] for t in lost} <= {"InfrastructureHealth", "ServiceSchedulerInitiated"}
        assert any(t["stoppedReason"].startswith("Task stopped because its") for t in lost)
        cluster = ecs.describe_clusters()["clusters"][0]
        assert (cluster["runningTasksCount"], cluster["pendingTasksCount"]) == (DESIRED, 0)
        records = ecs.list_service_deployments(service="web")["serviceDeployments"]
        assert [r["status"] for r in records] == ["SUCCESSFUL", "SUCCESSFUL"]
    finally:
        stop_server(server)
