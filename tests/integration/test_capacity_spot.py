"""Capacity provider strategies on a service and Fargate Spot interruptions (spec/ecs.md §5.6, §13.1)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.integration.test_services import network, register, wait_for

pytestmark = pytest.mark.integration

SEED_STRATEGY = [
    {"capacityProvider": "FARGATE", "base": 2, "weight": 1},
    {"capacityProvider": "FARGATE_SPOT", "weight": 3},
]


def spot_cluster(ecs: Any) -> None:
    ecs.create_cluster(clusterName="spot", capacityProviders=["FARGATE", "FARGATE_SPOT"])


def providers(ecs: Any, service: str = "web") -> Counter[str]:
    arns = ecs.list_tasks(cluster="spot", serviceName=service)["taskArns"]
    tasks = ecs.describe_tasks(cluster="spot", tasks=arns)["tasks"] if arns else []
    return Counter(t["capacityProviderName"] for t in tasks)


def start_service(ecs: Any, endpoint: str, desired: int) -> None:
    spot_cluster(ecs)
    register(ecs, "web")
    ecs.create_service(
        cluster="spot",
        serviceName="web",
        taskDefinition="web",
        desiredCount=desired,
        capacityProviderStrategy=SEED_STRATEGY,
        networkConfiguration=network(endpoint),
    )


def test_seed_strategy_splits_a_service_by_base_and_weight(ecs: Any, endpoint: str) -> None:
    start_service(ecs, endpoint, 5)
    wait_for(lambda: providers(ecs) == {"FARGATE": 2, "FARGATE_SPOT": 3})
    ecs.update_service(cluster="spot", service="web", desiredCount=10)
    wait_for(lambda: providers(ecs) == {"FARGATE": 4, "FARGATE_SPOT": 6})


def interrupt(endpoint: str, **body: Any) -> list[dict[str, Any]]:
    response = httpx.post(f"{endpoint}/_ecslite/spot/interrupt", json={"cluster": "spot", **body}, timeout=10)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["interruptions"]
    return result


def test_spot_interruption_stops_spot_tasks_and_the_service_replaces_them(ecs: Any, endpoint: str) -> None:
    start_service(ecs, endpoint, 5)
    wait_for(lambda: providers(ecs) == {"FARGATE": 2, "FARGATE_SPOT": 3})
    before = set(ecs.list_tasks(cluster="spot", serviceName="web")["taskArns"])
    started = time.monotonic()
    warned = interrupt(endpoint, service="web", warningSeconds=1.5)
    assert len(warned) == 3
    assert all(round(w["interruptAt"] - w["warnedAt"], 3) == 1.5 for w in warned)
    spot_arns = {w["taskArn"] for w in warned}
    # the warning first: nothing is stopped yet
    described = ecs.describe_tasks(cluster="spot", tasks=sorted(spot_arns))["tasks"]
    assert {t["desiredStatus"] for t in described} == {"RUNNING"}

    def interrupted() -> bool:
        tasks = ecs.describe_tasks(cluster="spot", tasks=sorted(spot_arns))["tasks"]
        return all(t["lastStatus"] == "STOPPED" for t in tasks)

    wait_for(interrupted)
    assert time.monotonic() - started >= 1.5
    for task in ecs.describe_tasks(cluster="spot", tasks=sorted(spot_arns))["tasks"]:
        assert task["stopCode"] == "SpotInterruption"
        assert task["stoppedReason"] == "Your Spot Task was interrupted."
        assert task["capacityProviderName"] == "FARGATE_SPOT"
    wait_for(lambda: providers(ecs) == {"FARGATE": 2, "FARGATE_SPOT": 3})
    after = set(ecs.list_tasks(cluster="spot", serviceName="web")["taskArns"])
    assert len(after - before) == 3 and not (after & spot_arns)


def test_spot_interrupt_command_and_its_errors(ecs: Any, endpoint: str) -> None:
    start_service(ecs, endpoint, 3)
    wait_for(lambda: sum(providers(ecs).values()) == 3)
    tasks = ecs.describe_tasks(cluster="spot", tasks=ecs.list_tasks(cluster="spot")["taskArns"])["tasks"]
    on_demand = next(t for t in tasks if t["capacityProviderName"] == "FARGATE")
    spot = next(t for t in tasks if t["capacityProviderName"] == "FARGATE_SPOT")
    response = httpx.post(
        f"{endpoint}/_ecslite/spot/interrupt", json={"cluster": "spot", "task": on_demand["taskArn"]}, timeout=10
    )
    assert response.status_code == 400
    assert response.json()["__type"] == "InvalidParameterException"
    assert response.json()["message"].endswith("does not run on FARGATE_SPOT capacity, so it cannot be interrupted.")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ecslite",
            "spot",
            "interrupt",
            "--cluster",
            "spot",
            "--task",
            spot["taskArn"],
            "--warning",
            "0",
            "--endpoint",
            endpoint,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert spot["taskArn"].rsplit("/", 1)[-1] in result.stdout
    wait_for(lambda: ecs.describe_tasks(cluster="spot", tasks=[spot["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED")
