"""UpdateTaskProtection / GetTaskProtection on the real server with the fake runtime (spec/ecs.md §4.11)."""

from __future__ import annotations

import time
from typing import Any

from tests.integration.test_tasks_helpers import SUBNETS, error_of, fargate_definition, run_fargate


def service_task(ecs: Any) -> str:
    fargate_definition(ecs)
    ecs.create_service(
        serviceName="web", taskDefinition="web", desiredCount=1, launchType="FARGATE", networkConfiguration=SUBNETS
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        arns = ecs.list_tasks(serviceName="web")["taskArns"]
        if arns:
            return str(arns[0])
        time.sleep(0.1)
    raise AssertionError("the service launched no task")


def test_update_task_protection_protects_a_service_task_for_120_minutes_by_default(ecs: Any) -> None:
    arn = service_task(ecs)
    before = time.time()
    result = ecs.update_task_protection(cluster="default", tasks=[arn], protectionEnabled=True)
    assert result["failures"] == []
    [protected] = result["protectedTasks"]
    assert (protected["taskArn"], protected["protectionEnabled"]) == (arn, True)
    expires = protected["expirationDate"].timestamp()
    assert before + 7200 - 5 <= expires <= time.time() + 7200 + 1
    got = ecs.get_task_protection(cluster="default", tasks=[arn])["protectedTasks"][0]
    assert got["protectionEnabled"] is True and got["expirationDate"] == protected["expirationDate"]


def test_update_task_protection_resets_the_expiry_and_turns_off(ecs: Any) -> None:
    arn = service_task(ecs)
    short = ecs.update_task_protection(cluster="default", tasks=[arn], protectionEnabled=True, expiresInMinutes=1)
    assert short["protectedTasks"][0]["expirationDate"].timestamp() <= time.time() + 61
    off = ecs.update_task_protection(cluster="default", tasks=[arn], protectionEnabled=False)
    assert off["protectedTasks"] == [{"taskArn": arn, "protectionEnabled": False}]
    assert ecs.get_task_protection(cluster="default", tasks=[arn])["protectedTasks"] == [
        {"taskArn": arn, "protectionEnabled": False}
    ]


def test_task_protection_fails_standalone_and_unknown_tasks(ecs: Any) -> None:
    standalone = run_fargate(ecs, fargate_definition(ecs, family="job"))["tasks"][0]["taskArn"]
    missing = "arn:aws:ecs:us-east-1:000000000000:task/default/" + "0" * 32
    result = ecs.update_task_protection(cluster="default", tasks=[standalone, missing], protectionEnabled=True)
    assert result["protectedTasks"] == []
    reasons = {f["arn"]: f["reason"] for f in result["failures"]}
    assert reasons == {standalone: "TASK_NOT_VALID", missing: "MISSING"}


def test_update_task_protection_refuses_durations_outside_1_to_2880_minutes(ecs: Any) -> None:
    arn = service_task(ecs)
    for minutes in (0, 2881):
        assert error_of(
            ecs.update_task_protection, cluster="default", tasks=[arn], protectionEnabled=True, expiresInMinutes=minutes
        ) == ("InvalidParameterException", "expiresInMinutes must be between 1 and 2880 (48 hours).")
    assert error_of(ecs.get_task_protection, cluster="nope", tasks=[arn]) == (
        "ClusterNotFoundException",
        "Cluster not found.",
    )


def live_tasks(ecs: Any) -> set[str]:
    return set(ecs.list_tasks(serviceName="web", desiredStatus="RUNNING")["taskArns"])


def wait_for_tasks(ecs: Any, count: int, timeout: float = 20) -> set[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arns = live_tasks(ecs)
        if len(arns) == count:
            return arns
        time.sleep(0.1)
    raise AssertionError(f"the service has {len(live_tasks(ecs))} tasks, not {count}")


def test_scale_in_skips_a_protected_task_until_its_protection_is_removed(ecs: Any) -> None:
    service_task(ecs)
    ecs.update_service(service="web", desiredCount=3)
    arns = wait_for_tasks(ecs, 3)
    kept = sorted(arns)[0]
    ecs.update_task_protection(cluster="default", tasks=[kept], protectionEnabled=True)
    ecs.update_service(service="web", desiredCount=0)
    assert wait_for_tasks(ecs, 1) == {kept}
    deployment = ecs.describe_services(services=["web"])["services"][0]["deployments"][0]["id"]
    text = (
        f"(service web) was unable to reach steady state because task set ({deployment}) was unable to scale in. "
        "Reason: The number of protected tasks are more than the desired count of tasks."
    )
    deadline = time.monotonic() + 10
    while text not in [e["message"] for e in ecs.describe_services(services=["web"])["services"][0]["events"]]:
        assert time.monotonic() < deadline, "no event says why the service stays above its desired count"
        time.sleep(0.1)
    time.sleep(1)
    assert live_tasks(ecs) == {kept}, "a protected task was stopped"
    ecs.update_task_protection(cluster="default", tasks=[kept], protectionEnabled=False)
    wait_for_tasks(ecs, 0)
