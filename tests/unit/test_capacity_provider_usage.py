"""Rules that depend on services and tasks (written directly to an in-memory store): deleting or
disassociating a capacity provider in use, tagging tasks, instances, services and task sets."""

from __future__ import annotations

from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.config import Settings
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.ecs import capacity_providers as cp
from ecslite.providers.ecs.provider import EcsProvider
from ecslite.store import tags as tag_store
from ecslite.store.db import Database, dumps

ACCOUNT, REGION = "000000000000", "us-east-1"
CTX = RequestContext(ACCOUNT, REGION, "req", "ecs", "Test")
PREFIX = f"arn:aws:ecs:{REGION}:{ACCOUNT}:"
TASK_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ecs(clock: FakeClock) -> EcsProvider:
    provider = EcsProvider(Database(), clock, Settings(ephemeral=True))
    provider.prepare(CTX)
    return provider


def add_service(ecs: EcsProvider, name: str, strategy: list[dict[str, Any]], status: str = "ACTIVE") -> str:
    arn = f"{PREFIX}service/default/{name}"
    doc = {
        "serviceArn": arn,
        "status": status,
        "capacityProviderStrategy": strategy,
        "taskSets": [{"id": "ecs-svc/1234567890123456789", "taskSetArn": arn.replace(":service/", ":task-set/")
                      + "/ecs-svc/1234567890123456789"}],
    }  # fmt: skip
    with ecs.db.transaction():
        ecs.db.execute(
            """INSERT INTO services (account, region, cluster, name, arn, status, doc)
               VALUES (?, ?, 'default', ?, ?, ?, ?)""",
            (ACCOUNT, REGION, name, arn, status, dumps(doc)),
        )
    return arn


def add_task(ecs: EcsProvider, provider: str | None, last_status: str = "RUNNING") -> str:
    arn = f"{PREFIX}task/default/{TASK_ID}"
    doc = {"taskArn": arn, "lastStatus": last_status, **({"capacityProviderName": provider} if provider else {})}
    with ecs.db.transaction():
        ecs.db.execute(
            """INSERT INTO tasks (account, region, cluster, id, arn, desired_status, last_status, family, doc)
               VALUES (?, ?, 'default', ?, ?, 'RUNNING', ?, 'web', ?)""",
            (ACCOUNT, REGION, TASK_ID, arn, last_status, dumps(doc)),
        )
    return arn


def error_of(call: Any, params: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(AwsError) as caught:
        call(CTX, params)
    return caught.value.code, caught.value.message


def associate(ecs: EcsProvider, *providers: str) -> None:
    ecs.put_cluster_capacity_providers(
        CTX, {"cluster": "default", "capacityProviders": list(providers), "defaultCapacityProviderStrategy": []}
    )


def test_removing_a_provider_a_service_uses_is_refused(ecs: EcsProvider) -> None:
    associate(ecs, "FARGATE", "FARGATE_SPOT")
    add_service(ecs, "web", [{"capacityProvider": "FARGATE_SPOT", "weight": 1}])
    code, message = error_of(
        ecs.put_cluster_capacity_providers,
        {"cluster": "default", "capacityProviders": ["FARGATE"], "defaultCapacityProviderStrategy": []},
    )
    assert (code, message) == ("ResourceInUseException", f"{cp.IN_USE} It is still used by service web.")
    assert ecs.describe_clusters(CTX, {})["clusters"][0]["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]


def test_removing_a_provider_an_unstopped_task_runs_on_is_refused(ecs: EcsProvider) -> None:
    associate(ecs, "FARGATE", "FARGATE_SPOT")
    add_task(ecs, "FARGATE")
    code, message = error_of(
        ecs.put_cluster_capacity_providers,
        {"cluster": "default", "capacityProviders": ["FARGATE_SPOT"], "defaultCapacityProviderStrategy": []},
    )
    assert (code, message) == ("ResourceInUseException", f"{cp.IN_USE} It is still used by task {TASK_ID}.")


def test_stopped_tasks_and_inactive_services_do_not_hold_a_provider(ecs: EcsProvider) -> None:
    associate(ecs, "FARGATE", "FARGATE_SPOT")
    add_task(ecs, "FARGATE", last_status="STOPPED")
    add_service(ecs, "old", [{"capacityProvider": "FARGATE", "weight": 1}], status="INACTIVE")
    associate(ecs, "FARGATE_SPOT")
    assert ecs.describe_clusters(CTX, {})["clusters"][0]["capacityProviders"] == ["FARGATE_SPOT"]


def test_deleting_a_provider_a_service_uses_fails_with_the_reason(ecs: EcsProvider) -> None:
    ecs.create_capacity_provider(CTX, {"name": "pool", "autoScalingGroupProvider": {"autoScalingGroupArn": "g"}})
    add_service(ecs, "web", [{"capacityProvider": "pool", "weight": 1}])
    result = ecs.delete_capacity_provider(CTX, {"capacityProvider": "pool"})["capacityProvider"]
    assert result["updateStatus"] == "DELETE_FAILED"
    assert result["updateStatusReason"] == cp.USED_BY_SERVICE.format(service="default/web")


def test_a_deleted_provider_is_describable_for_an_hour(ecs: EcsProvider, clock: FakeClock) -> None:
    ecs.create_capacity_provider(CTX, {"name": "pool", "autoScalingGroupProvider": {"autoScalingGroupArn": "g"}})
    ecs.delete_capacity_provider(CTX, {"capacityProvider": "pool"})
    clock.advance(cp.INACTIVE_VISIBLE_SECONDS - 1)
    found = ecs.describe_capacity_providers(CTX, {"capacityProviders": ["pool"]})
    assert [p["status"] for p in found["capacityProviders"]] == ["INACTIVE"]
    clock.advance(2)
    gone = ecs.describe_capacity_providers(CTX, {"capacityProviders": ["pool"]})
    assert gone["capacityProviders"] == []
    assert gone["failures"] == [{"arn": PREFIX + "capacity-provider/pool", "reason": "MISSING"}]


def test_check_weighted_refuses_strategies_without_weight() -> None:
    items = cp.check_strategy(CTX, ["FARGATE"], [{"capacityProvider": "FARGATE", "base": 1}])
    with pytest.raises(AwsError) as caught:
        cp.check_weighted(items, cluster_default=True)
    assert (caught.value.code, caught.value.message) == ("InvalidParameterException", cp.NO_WEIGHT_IN_DEFAULT)
    with pytest.raises(AwsError) as caught:
        cp.check_weighted(items, cluster_default=False)
    assert caught.value.message == cp.NO_WEIGHT_IN_STRATEGY
    cp.check_weighted(
        cp.check_strategy(CTX, ["FARGATE"], [{"capacityProvider": "FARGATE", "weight": 1}]), cluster_default=False
    )


def test_strategy_items_given_by_arn_resolve_to_names() -> None:
    items = cp.check_strategy(
        CTX, ["FARGATE"], [{"capacityProvider": PREFIX + "capacity-provider/FARGATE", "weight": 2}]
    )
    assert [item.to_api() for item in items] == [{"capacityProvider": "FARGATE", "weight": 2, "base": 0}]


# -- tags on resources other modules create ----------------------------------------------------


def test_tasks_services_and_task_sets_are_taggable_once_they_exist(ecs: EcsProvider) -> None:
    service = add_service(ecs, "web", [])
    task = add_task(ecs, None)
    task_set = service.replace(":service/", ":task-set/") + "/ecs-svc/1234567890123456789"
    for arn in (service, task, task_set):
        ecs.tag_resource(CTX, {"resourceArn": arn, "tags": [{"key": "owner", "value": arn[-4:]}]})
        assert ecs.list_tags_for_resource(CTX, {"resourceArn": arn}) == {"tags": [{"key": "owner", "value": arn[-4:]}]}
    code, _ = error_of(ecs.list_tags_for_resource, {"resourceArn": task_set[:-1] + "0"})
    assert code == "ResourceNotFoundException"


def test_an_inactive_service_is_no_longer_taggable(ecs: EcsProvider) -> None:
    arn = add_service(ecs, "old", [], status="INACTIVE")
    code, _ = error_of(ecs.tag_resource, {"resourceArn": arn, "tags": [{"key": "k", "value": "v"}]})
    assert code == "ResourceNotFoundException"


def test_container_instances_are_taggable_until_deregistered(ecs: EcsProvider) -> None:
    arn = f"{PREFIX}container-instance/default/{TASK_ID}"
    with ecs.db.transaction():
        ecs.db.execute(
            """INSERT INTO container_instances (account, region, cluster, id, arn, status, doc)
               VALUES (?, ?, 'default', ?, ?, 'ACTIVE', '{}')""",
            (ACCOUNT, REGION, TASK_ID, arn),
        )
    ecs.tag_resource(CTX, {"resourceArn": arn, "tags": [{"key": "k", "value": "v"}]})
    assert ecs.list_tags_for_resource(CTX, {"resourceArn": arn})["tags"] == [{"key": "k", "value": "v"}]
    with ecs.db.transaction():
        ecs.db.execute("UPDATE container_instances SET status='INACTIVE' WHERE arn=?", (arn,))
    code, _ = error_of(ecs.list_tags_for_resource, {"resourceArn": arn})
    assert code == "ResourceNotFoundException"


def test_managed_aws_tags_do_not_count_towards_the_fifty(ecs: EcsProvider) -> None:
    task = add_task(ecs, None)
    with ecs.db.transaction():
        tag_store.put(ecs.db, task, [("aws:ecs:clusterName", "default"), ("aws:ecs:serviceName", "web")])
    ecs.tag_resource(CTX, {"resourceArn": task, "tags": [{"key": f"k{i}", "value": "v"} for i in range(50)]})
    assert len(ecs.list_tags_for_resource(CTX, {"resourceArn": task})["tags"]) == 52
    code, message = error_of(ecs.tag_resource, {"resourceArn": task, "tags": [{"key": "k50", "value": "v"}]})
    assert (code, message) == (
        "InvalidParameterException",
        "A resource can have at most 50 tags; this request leaves 51.",
    )
