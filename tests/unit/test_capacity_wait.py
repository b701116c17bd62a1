"""Tasks waiting in PROVISIONING for managed-scaling capacity, on an in-memory store and the fake
clock (spec/ecs.md §5.6): the reservation counts them, they are placed oldest first with their own
placement, and they stop once they have waited too long."""

from __future__ import annotations

from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.config import Settings
from ecslite.control.capacity_scaling import ManagedScaling
from ecslite.control.capacity_wait import EMPTY_CAPACITY_REASON, PassResult, WaitingPlacer
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.ecs.internal_routes import ScalingCallbacks
from ecslite.providers.ecs.provider import EcsProvider
from ecslite.store import capacity_wait
from ecslite.store import tasks as task_store
from ecslite.store.db import Database

ACCOUNT, REGION = "000000000000", "us-east-1"
CTX = RequestContext(ACCOUNT, REGION, "req", "ecs", "Test")
GROUP = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1:autoScalingGroupName/workers"
SCALING = {"status": "ENABLED", "targetCapacity": 100, "instanceWarmupPeriod": 0}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ecs(clock: FakeClock) -> EcsProvider:
    provider = EcsProvider(Database(), clock, Settings(ephemeral=True))
    provider.prepare(CTX)
    provider.create_capacity_provider(
        CTX, {"name": "workers", "autoScalingGroupProvider": {"autoScalingGroupArn": GROUP, "managedScaling": SCALING}}
    )
    provider.put_cluster_capacity_providers(
        CTX,
        {
            "cluster": "default",
            "capacityProviders": ["workers"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "workers", "weight": 1}],
        },
    )
    return provider


def register(ecs: EcsProvider, family: str, memory: int) -> None:
    container = {"name": "app", "image": "example/app:1", "memory": memory, "cpu": 64}
    ecs.register_task_definition(CTX, {"family": family, "networkMode": "bridge", "containerDefinitions": [container]})


def run(ecs: EcsProvider, family: str, **params: Any) -> str:
    answer = ecs.run_task(CTX, {"taskDefinition": family, **params})
    assert answer["failures"] == []
    return str(answer["tasks"][0]["taskArn"])


def add_instances(ecs: EcsProvider, count: int, type_name: str = "t3.small") -> list[str]:
    before = set(ecs.list_container_instances(CTX, {})["containerInstanceArns"])
    ScalingCallbacks(ecs).add(ACCOUNT, REGION, "default", type_name, count, "workers")
    return [a for a in ecs.list_container_instances(CTX, {})["containerInstanceArns"] if a not in before]


def stored(ecs: EcsProvider, arn: str) -> dict[str, Any]:
    doc = task_store.get(ecs.db, arn)
    assert doc is not None
    return doc


def test_waiting_tasks_count_in_the_reservation(ecs: EcsProvider, clock: FakeClock) -> None:
    register(ecs, "big", memory=1500)
    add_instances(ecs, 1)
    run(ecs, "big")  # fits the one t3.small (1856 MiB)
    waiting = [run(ecs, "big"), run(ecs, "big")]
    assert all(capacity_wait.is_waiting(stored(ecs, arn)) for arn in waiting)
    added: list[int] = []
    scaling = ManagedScaling(ecs.db, clock, lambda *a: added.append(a[4]), lambda *a: None)
    [decision] = scaling.step()
    # One busy instance plus one new t3.small for each waiting task: M = 3, N = 1.
    assert (decision.needed, decision.current, decision.add) == (3, 1, 2)
    assert added == [2]


def test_a_stopped_waiting_task_no_longer_counts(ecs: EcsProvider, clock: FakeClock) -> None:
    register(ecs, "big", memory=1500)
    arn = run(ecs, "big")
    ecs.stop_task(CTX, {"task": arn})
    scaling = ManagedScaling(ecs.db, clock, lambda *a: None, lambda *a: None)
    assert scaling.decide(ACCOUNT, REGION, "default", "workers", SCALING).needed == 0


def test_waiting_tasks_are_placed_oldest_first_when_room_appears(ecs: EcsProvider, clock: FakeClock) -> None:
    register(ecs, "big", memory=1500)
    first = run(ecs, "big")
    clock.advance(5)
    second = run(ecs, "big")
    [instance] = add_instances(ecs, 1)
    result = WaitingPlacer(ecs.db, clock).step()
    assert result.placed == (first,)
    placed = stored(ecs, first)
    assert placed["containerInstanceArn"] == instance
    assert placed["lastStatus"] == "PENDING"  # bridge tasks go on to PENDING once placed (§3.1)
    assert placed["availabilityZone"].startswith(REGION)
    assert not capacity_wait.is_waiting(placed)
    assert capacity_wait.is_waiting(stored(ecs, second))
    assert stored(ecs, second)["lastStatus"] == "PROVISIONING"


def test_a_waiting_task_keeps_its_placement_constraints(ecs: EcsProvider, clock: FakeClock) -> None:
    register(ecs, "small", memory=128)
    constraint = [{"type": "memberOf", "expression": "attribute:ecs.instance-type == t3.medium"}]
    arn = run(ecs, "small", placementConstraints=constraint)
    add_instances(ecs, 1, "t3.small")
    assert WaitingPlacer(ecs.db, clock).step().placed == ()
    [medium] = add_instances(ecs, 1, "t3.medium")
    assert WaitingPlacer(ecs.db, clock).step().placed == (arn,)
    assert stored(ecs, arn)["containerInstanceArn"] == medium


def test_a_task_that_waits_too_long_stops_with_ecs_reason(ecs: EcsProvider, clock: FakeClock) -> None:
    register(ecs, "big", memory=1500)
    arn = run(ecs, "big")
    placer = WaitingPlacer(ecs.db, clock, timeout=600)
    clock.advance(599)
    assert placer.step().timed_out == ()
    clock.advance(1)
    assert placer.step().timed_out == (arn,)
    doc = stored(ecs, arn)
    assert doc["desiredStatus"] == "STOPPED"
    assert doc["stopCode"] == "TaskFailedToStart"
    assert doc["stoppedReason"].startswith(EMPTY_CAPACITY_REASON + " ")
    assert "capacity provider workers" in doc["stoppedReason"]
    add_instances(ecs, 1)
    assert placer.step() == PassResult()  # nothing left waiting


def test_the_cluster_holds_at_most_500_waiting_tasks(ecs: EcsProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    assert capacity_wait.WAIT_LIMIT == 500
    monkeypatch.setattr(capacity_wait, "WAIT_LIMIT", 3)
    register(ecs, "big", memory=1500)
    answer = ecs.run_task(CTX, {"taskDefinition": "big", "count": 2})
    assert len(answer["tasks"]) == 2
    with pytest.raises(AwsError) as raised:
        ecs.run_task(CTX, {"taskDefinition": "big", "count": 2})  # the second would be the fourth
    assert (raised.value.code, raised.value.message) == (
        "InvalidParameterException",
        "No Container Instances were found in your cluster.",
    )
    assert capacity_wait.waiting_count(ecs.db, ACCOUNT, REGION, "default") == 2
