"""Services on the process runtime, end to end (issue 6; spec/ecs.md §4): a service of real processes
is deployed, updated to a new revision under the rolling bounds, reaches steady state, survives a
``kill -9`` of the server in the middle of a rollout, and is deleted.

The containers run ``serve.py`` from ``tests/runtime/programs`` with a container health check
(``check_port.py``), so "healthy" is the real check passing inside each task's namespace.
"""

from __future__ import annotations

import sys
from typing import Any

from tests.conftest import make_client
from tests.runtime.conftest import PROGRAMS, Restartable, wait_for
from tests.runtime.test_tasks_e2e import details, info, program, register

PORT = 8080
CHECK = {"command": ["CMD", sys.executable, str(PROGRAMS / "check_port.py"), str(PORT)], "interval": 5, "timeout": 2}


def register_version(ecs: Any, version: str) -> str:
    return register(
        ecs,
        "svc-e2e",
        program("web", "serve.py", str(PORT), healthCheck=CHECK, environment=[{"name": "VERSION", "value": version}]),
    )


def create(ecs: Any, endpoint: str, desired: int, **params: Any) -> dict[str, Any]:
    subnets = sorted(make_client("ec2", endpoint).describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    service: dict[str, Any] = ecs.create_service(
        serviceName="web",
        taskDefinition="svc-e2e",
        desiredCount=desired,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [s["SubnetId"] for s in subnets[:2]]}},
        **params,
    )["service"]
    return service


def describe(ecs: Any) -> dict[str, Any]:
    service: dict[str, Any] = ecs.describe_services(services=["web"])["services"][0]
    return service


def completed(ecs: Any) -> dict[str, Any] | None:
    service = describe(ecs)
    deployments = service["deployments"]
    done = (
        len(deployments) == 1
        and deployments[0]["rolloutState"] == "COMPLETED"
        and service["runningCount"] == service["desiredCount"]
    )
    return service if done else None


def running_tasks(ecs: Any) -> list[dict[str, Any]]:
    arns = ecs.list_tasks(serviceName="web")["taskArns"]
    tasks: list[dict[str, Any]] = ecs.describe_tasks(tasks=arns)["tasks"] if arns else []
    return tasks


def all_tasks(ecs: Any) -> list[dict[str, Any]]:
    arns = (
        ecs.list_tasks(serviceName="web")["taskArns"]
        + ecs.list_tasks(serviceName="web", desiredStatus="STOPPED")["taskArns"]
    )
    arns = list(dict.fromkeys(arns))
    tasks: list[dict[str, Any]] = ecs.describe_tasks(tasks=arns)["tasks"] if arns else []
    return tasks


def versions(ecs: Any) -> list[str]:
    """What each running task's process says its VERSION is, asked over the task's own address."""
    return sorted(
        info(details(task)["privateIPv4Address"], PORT)["environment"]["VERSION"] for task in running_tasks(ecs)
    )


def test_a_service_deploys_updates_to_a_new_revision_and_reaches_steady_state(
    process_ecs: Any, process_endpoint: str
) -> None:
    ecs = process_ecs
    register_version(ecs, "1")
    create(ecs, process_endpoint, 2)
    first = wait_for(lambda: completed(ecs), timeout=60)
    assert versions(ecs) == ["1", "1"]
    assert first["events"][0]["message"] == "(service web) has reached a steady state."
    old = {t["taskArn"] for t in running_tasks(ecs)}

    register_version(ecs, "2")
    update = ecs.update_service(service="web", taskDefinition="svc-e2e")["service"]
    new_id = update["deployments"][0]["id"]
    service = wait_for(lambda: completed(ecs), timeout=90)
    assert service["deployments"][0]["id"] == new_id
    assert service["taskDefinition"].endswith("svc-e2e:2")
    assert versions(ecs) == ["2", "2"]
    wait_for(lambda: all(t["lastStatus"] == "STOPPED" for t in ecs.describe_tasks(tasks=sorted(old))["tasks"]))
    stopped = ecs.describe_tasks(tasks=sorted(old))["tasks"]
    assert {t["stoppedReason"] for t in stopped} == {f"Scaling activity initiated by (deployment {new_id})"}
    assert {t["containers"][0]["exitCode"] for t in stopped} == {0}  # serve.py ends on SIGTERM
    messages = [e["message"] for e in service["events"]]
    assert messages[:2] == [
        "(service web) has reached a steady state.",
        f"(service web) (deployment {new_id}) deployment completed.",
    ]

    ecs.delete_service(service="web", force=True)
    wait_for(lambda: describe(ecs)["status"] == "INACTIVE", timeout=60)
    assert running_tasks(ecs) == []


def test_kill_9_in_the_middle_of_a_rollout_completes_it_with_the_surviving_tasks(
    restartable_server: Restartable,
) -> None:
    server = restartable_server.start()
    ecs = server.ecs()
    register_version(ecs, "1")
    # One task at a time (ceiling 3 for 2 desired): between the waves one new task is healthy and
    # one old one still serves.
    create(ecs, server.endpoint, 2, deploymentConfiguration={"minimumHealthyPercent": 100, "maximumPercent": 150})
    wait_for(lambda: completed(ecs), timeout=60)
    register_version(ecs, "2")
    new_id = ecs.update_service(service="web", taskDefinition="svc-e2e")["service"]["deployments"][0]["id"]

    def between_waves() -> bool:
        tasks = running_tasks(ecs)
        new_healthy = [t for t in tasks if t["startedBy"] == new_id and t.get("healthStatus") == "HEALTHY"]
        old = [t for t in tasks if t["startedBy"] != new_id]
        return len(new_healthy) == 1 and len(old) == 1

    wait_for(between_waves, timeout=60)
    before = {t["taskArn"]: t for t in all_tasks(ecs)}
    restartable_server.kill()
    server = restartable_server.start()
    ecs = server.ecs()
    wait_for(lambda: completed(ecs), timeout=90)

    after = {t["taskArn"]: t for t in all_tasks(ecs)}
    assert set(before) <= set(after)
    survivors = [arn for arn, t in before.items() if t["startedBy"] == new_id and t["desiredStatus"] == "RUNNING"]
    running = running_tasks(ecs)
    assert {t["startedBy"] for t in running} == {new_id} and len(running) == 2
    # The new task that was running kept running through the restart; only the missing one was launched.
    assert set(survivors) <= {t["taskArn"] for t in running}
    assert len(after) == 4  # two old, two new: nothing launched twice
    assert versions(ecs) == ["2", "2"]
    ecs.delete_service(service="web", force=True)
    wait_for(lambda: describe(ecs)["status"] == "INACTIVE", timeout=60)
