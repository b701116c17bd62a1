"""Deployments observed through the API on the fake runtime (spec/ecs.md §4.4–§4.10): the rolling
update's bounds sampled while it runs, the circuit breaker and its rollback, throttling, waiters."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.integration.test_services import FAST_WAITER, create, describe, register, stable, wait_for
from tests.integration.test_tasks_helpers import register_instance

FAKE_EXIT_AT_ONCE = {"ecslite.fake.exit-code": "1", "ecslite.fake.run-seconds": "0"}


@dataclass
class Sample:
    """One look at the service's tasks: every task desired RUNNING, and the old ones asked to stop."""

    live: int
    healthy: int
    healthy_new: int
    stopped_old: int


@dataclass
class Sampler:
    """Samples ListTasks/DescribeTasks in a thread while a deployment runs."""

    ecs: Any
    old_deployment: str
    samples: list[Sample] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def run(self) -> None:
        try:
            while not self.done.is_set():
                self.samples.append(self.sample())
        except BaseException as error:  # reported by the test
            self.errors.append(error)

    def sample(self) -> Sample:
        running = self.ecs.list_tasks(serviceName="web", desiredStatus="RUNNING")["taskArns"]
        stopped = self.ecs.list_tasks(serviceName="web", desiredStatus="STOPPED")["taskArns"]
        # A task asked to stop between the two lists is in both; DescribeTasks then shows it once
        # per mention, so ask for each task once (one DescribeTasks call is one consistent view).
        arns = list(dict.fromkeys(running + stopped))
        tasks = self.ecs.describe_tasks(tasks=arns)["tasks"] if arns else []
        live = [t for t in tasks if t["desiredStatus"] == "RUNNING"]
        healthy = [t for t in live if t["lastStatus"] == "RUNNING" and t["healthStatus"] == "HEALTHY"]
        healthy_new = [t for t in healthy if t["startedBy"] != self.old_deployment]
        stopped_old = [t for t in tasks if t["desiredStatus"] == "STOPPED" and t["startedBy"] == self.old_deployment]
        return Sample(len(live), len(healthy), len(healthy_new), len(stopped_old))


def test_rolling_update_keeps_healthy_tasks_above_the_floor_and_the_total_below_the_ceiling(
    ecs: Any, endpoint: str
) -> None:
    register(ecs)
    create(ecs, endpoint, desiredCount=4, deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 200})
    wait_for(lambda: stable(ecs))  # completed: every task healthy
    old = describe(ecs)["deployments"][0]["id"]
    sampler = Sampler(ecs, old)
    thread = threading.Thread(target=sampler.run)
    thread.start()
    try:
        register(ecs, image="example/web:2")
        ecs.update_service(service="web", taskDefinition="web")
        ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST_WAITER)
    finally:
        sampler.done.set()
        thread.join(30)
    assert not sampler.errors
    samples = sampler.samples
    assert len(samples) > 20
    assert max(s.live for s in samples) <= 8  # floor(4 × 200 / 100)
    assert max(s.live for s in samples) == 8  # the surge was used: all new tasks started at once
    assert min(s.healthy for s in samples) >= 2  # ceil(4 × 50 / 100)
    # Old tasks are stopped only as new ones are healthy: never more old stopped than new healthy.
    assert all(s.stopped_old <= s.healthy_new for s in samples), [s for s in samples if s.stopped_old > s.healthy_new]
    assert samples[-1].stopped_old == 4 and samples[-1].healthy_new == 4
    service = describe(ecs)
    assert len(service["deployments"]) == 1 and service["runningCount"] == 4


def test_circuit_breaker_trips_and_rolls_back_to_the_last_completed_deployment(ecs: Any, endpoint: str) -> None:
    register(ecs)
    create(
        ecs,
        endpoint,
        desiredCount=4,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    wait_for(lambda: stable(ecs))  # a rollback returns to the last COMPLETED deployment
    good = describe(ecs)["deployments"][0]
    register(ecs, image="example/web:broken", dockerLabels=FAKE_EXIT_AT_ONCE)
    failing = ecs.update_service(service="web", taskDefinition="web")["service"]["deployments"][0]["id"]
    seen_failed: list[dict[str, Any]] = []

    def rolled_back() -> bool:
        deployments = describe(ecs)["deployments"]
        seen_failed.extend(d for d in deployments if d["id"] == failing and d["rolloutState"] == "FAILED")
        return deployments[0]["id"] != failing

    wait_for(rolled_back, timeout=30, interval=0.05)
    service = describe(ecs)
    rollback = service["deployments"][0]
    assert (
        rollback["rolloutStateReason"] == f"ECS deployment circuit breaker: rolling back to deploymentId {good['id']}."
    )
    assert rollback["taskDefinition"] == good["taskDefinition"] == service["taskDefinition"]
    assert seen_failed, "the failed deployment is listed while the rollback runs"
    failed = seen_failed[-1]
    assert failed["status"] == "ACTIVE"
    assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert failed["failedTasks"] >= 3
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST_WAITER)
    final = describe(ecs)
    assert final["deployments"][0]["id"] == rollback["id"]
    assert final["deployments"][0]["rolloutState"] == "COMPLETED"
    messages = [e["message"] for e in final["events"]]
    assert f"(service web) (deployment {failing}) deployment failed: tasks failed to start." in messages
    assert messages[0] == "(service web) has reached a steady state."
    assert messages[1] == f"(service web) (deployment {rollback['id']}) deployment completed."
    history = ecs.list_service_deployments(service="web")["serviceDeployments"]
    assert [d["status"] for d in history] == ["ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]
    (record,) = ecs.describe_service_deployments(serviceDeploymentArns=[history[0]["serviceDeploymentArn"]])[
        "serviceDeployments"
    ]
    breaker = record["deploymentCircuitBreaker"]
    assert breaker["status"] == "TRIGGERED" and breaker["threshold"] == 3 and breaker["failureCount"] >= 3
    assert record["rollback"]["reason"] == rollback["rolloutStateReason"]
    assert record["rollback"]["serviceRevisionArn"] == history[1]["targetServiceRevisionArn"]
    failed_tasks = ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="web", desiredStatus="STOPPED")["taskArns"])
    broken = [t for t in failed_tasks["tasks"] if t["startedBy"] == failing]
    assert broken and {t["stoppedReason"] for t in broken} == {"Essential container in task exited"}


def test_failing_launches_are_throttled_with_one_event(ecs: Any, endpoint: str) -> None:
    register(ecs, dockerLabels=FAKE_EXIT_AT_ONCE)
    create(ecs, endpoint, desiredCount=1)
    throttled = (
        "(service web) is unable to consistently start tasks successfully. For more information, see the "
        "Troubleshooting section of the Amazon ECS Developer Guide."
    )
    wait_for(lambda: any(e["message"] == throttled for e in describe(ecs)["events"]), timeout=20)
    time.sleep(3)
    # The next launch waits ten seconds instead of following the failure at once.
    tasks = ecs.list_tasks(serviceName="web", desiredStatus="STOPPED")["taskArns"]
    tasks += ecs.list_tasks(serviceName="web")["taskArns"]
    assert len(tasks) == 1
    messages = [e["message"] for e in describe(ecs)["events"]]
    assert messages.count(throttled) == 1


def test_services_stable_waiter_returns_once_drained_deployments_are_gone(ecs: Any, endpoint: str) -> None:
    register(ecs)
    create(ecs, endpoint, desiredCount=2)
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST_WAITER)
    assert describe(ecs)["runningCount"] == 2
    register(ecs, image="example/web:2")
    ecs.update_service(service="web", taskDefinition="web")
    assert len(describe(ecs)["deployments"]) == 2
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST_WAITER)
    service = describe(ecs)
    assert len(service["deployments"]) == 1 and stable(ecs)
    assert service["deployments"][0]["taskDefinition"].endswith(":2")


def test_ec2_service_reports_placement_failures_and_places_once_capacity_exists(ecs: Any) -> None:
    ecs.register_task_definition(
        family="batch", containerDefinitions=[{"name": "app", "image": "x", "memory": 512, "cpu": 256}]
    )
    ecs.create_service(serviceName="web", taskDefinition="batch", desiredCount=2, launchType="EC2")
    no_instances = (
        "(service web) was unable to place a task because no container instance met all of its requirements. "
        "Reason: No Container Instances were found in your cluster. For more information, see the "
        "Troubleshooting section of the Amazon ECS Developer Guide."
    )
    wait_for(lambda: any(e["message"] == no_instances for e in describe(ecs)["events"]), timeout=10)
    instance = register_instance(ecs, cpu=1024, memory=768)  # room for one task of the two
    wait_for(lambda: describe(ecs)["runningCount"] == 1, timeout=30)
    closest = (
        f"(service web) was unable to place a task because no container instance met all of its requirements. "
        f"The closest matching (container-instance {instance.rsplit('/', 1)[1]}) has insufficient memory available. "
        "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."
    )
    wait_for(lambda: any(e["message"].startswith(closest) for e in describe(ecs)["events"]), timeout=30)
    messages = [e["message"] for e in describe(ecs)["events"]]
    assert messages.count(no_instances) == 1  # a repeated failure is not written again
    (task,) = ecs.describe_tasks(tasks=ecs.list_tasks(serviceName="web")["taskArns"])["tasks"]
    assert task["containerInstanceArn"] == instance and task["launchType"] == "EC2"
