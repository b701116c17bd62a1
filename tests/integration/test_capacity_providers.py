"""Capacity providers and cluster strategies through boto3 and the AWS CLI (spec/ecs.md §5.6)."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from ecslite.providers.ecs import capacity_providers as cp
from tests.conftest import CLIENT_CONFIG, REGION
from tests.integration.test_tasks_helpers import SUBNET

PREFIX = "arn:aws:ecs:us-east-1:000000000000:"
ASG = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:1111:autoScalingGroupName/"


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def create(ecs: Any, name: str, **group: Any) -> dict[str, Any]:
    provider = {"autoScalingGroupArn": ASG + name, **group}
    result: dict[str, Any] = ecs.create_capacity_provider(name=name, autoScalingGroupProvider=provider)
    return result["capacityProvider"]


# -- built-in providers and CreateCapacityProvider ----------------------------------------------


def test_fargate_providers_exist_in_a_new_partition(ecs: Any) -> None:
    providers = ecs.describe_capacity_providers()["capacityProviders"]
    assert providers == [
        {"capacityProviderArn": PREFIX + "capacity-provider/FARGATE", "name": "FARGATE", "status": "ACTIVE",
         "type": "FARGATE", "tags": []},
        {"capacityProviderArn": PREFIX + "capacity-provider/FARGATE_SPOT", "name": "FARGATE_SPOT",
         "status": "ACTIVE", "type": "FARGATE_SPOT", "tags": []},
    ]  # fmt: skip


def test_create_capacity_provider_applies_ecs_defaults(ecs: Any) -> None:
    provider = create(ecs, "web-asg")
    assert provider == {
        "capacityProviderArn": PREFIX + "capacity-provider/web-asg",
        "name": "web-asg",
        "status": "ACTIVE",
        "type": "EC2_AUTOSCALING",
        "autoScalingGroupProvider": {
            "autoScalingGroupArn": ASG + "web-asg",
            "managedScaling": {
                "status": "DISABLED",
                "targetCapacity": 100,
                "minimumScalingStepSize": 1,
                "maximumScalingStepSize": 10000,
                "instanceWarmupPeriod": 300,
            },
            "managedTerminationProtection": "DISABLED",
            "managedDraining": "ENABLED",
        },
        "tags": [],
    }


def test_create_capacity_provider_keeps_given_settings_and_tags(ecs: Any) -> None:
    provider = ecs.create_capacity_provider(
        name="batch",
        autoScalingGroupProvider={
            "autoScalingGroupArn": ASG + "batch",
            "managedScaling": {"status": "ENABLED", "targetCapacity": 80, "maximumScalingStepSize": 5},
            "managedTerminationProtection": "ENABLED",
        },
        tags=[{"key": "team", "value": "data"}],
    )["capacityProvider"]
    group = provider["autoScalingGroupProvider"]
    assert group["managedScaling"] == {
        "status": "ENABLED",
        "targetCapacity": 80,
        "minimumScalingStepSize": 1,
        "maximumScalingStepSize": 5,
        "instanceWarmupPeriod": 300,
    }
    assert group["managedTerminationProtection"] == "ENABLED"
    assert provider["tags"] == [{"key": "team", "value": "data"}]


@pytest.mark.parametrize("name", ["aws-pool", "ECS_pool", "fargatepool", "Fargate", "bad name", "x" * 256])
def test_create_capacity_provider_rejects_invalid_names(ecs: Any, name: str) -> None:
    code, message = error_of(
        ecs.create_capacity_provider, name=name, autoScalingGroupProvider={"autoScalingGroupArn": ASG + "x"}
    )
    assert (code, message) == ("ClientException", cp.INVALID_NAME)


def test_create_capacity_provider_rejects_a_live_name_and_a_used_group(ecs: Any) -> None:
    create(ecs, "pool")
    code, message = error_of(
        ecs.create_capacity_provider, name="pool", autoScalingGroupProvider={"autoScalingGroupArn": ASG + "other"}
    )
    assert (code, message) == ("ClientException", cp.ALREADY_EXISTS)
    code, message = error_of(
        ecs.create_capacity_provider, name="pool2", autoScalingGroupProvider={"autoScalingGroupArn": ASG + "pool"}
    )
    assert (code, message) == ("ClientException", cp.GROUP_IN_USE)


def test_managed_termination_protection_needs_managed_scaling(ecs: Any) -> None:
    code, message = error_of(
        ecs.create_capacity_provider,
        name="protected",
        autoScalingGroupProvider={"autoScalingGroupArn": ASG + "p", "managedTerminationProtection": "ENABLED"},
    )
    assert (code, message) == ("ClientException", cp.NEEDS_MANAGED_SCALING)


def test_create_capacity_provider_checks_model_ranges(endpoint: str) -> None:
    # botocore checks ranges itself; a client without that check shows what the server answers.
    unchecked = boto3.client(
        "ecs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=CLIENT_CONFIG.merge(Config(parameter_validation=False)),
    )
    code, message = error_of(
        unchecked.create_capacity_provider,
        name="p",
        autoScalingGroupProvider={"autoScalingGroupArn": ASG + "p", "managedScaling": {"targetCapacity": 0}},
    )
    assert code == "InvalidParameterException"
    assert message == (
        "1 validation error detected: Value 0 at 'autoScalingGroupProvider.managedScaling.targetCapacity' "
        "failed to satisfy constraint: Member must have value greater than or equal to 1"
    )


def test_create_capacity_provider_refuses_managed_instances_and_cluster(ecs: Any) -> None:
    code, message = error_of(
        ecs.create_capacity_provider,
        name="mi",
        managedInstancesProvider={
            "infrastructureRoleArn": "arn:aws:iam::000000000000:role/infra",
            "instanceLaunchTemplate": {
                "ec2InstanceProfileArn": "arn:aws:iam::000000000000:instance-profile/p",
                "networkConfiguration": {"subnets": ["subnet-1"]},
            },
        },
    )
    assert (code, message) == ("UnsupportedFeatureException", cp.MANAGED_INSTANCES_UNSUPPORTED)
    code, message = error_of(
        ecs.create_capacity_provider, name="c", cluster="default", autoScalingGroupProvider={"autoScalingGroupArn": "g"}
    )
    assert (code, message) == ("InvalidParameterException", cp.CLUSTER_ONLY_FOR_MANAGED_INSTANCES)
    assert error_of(ecs.create_capacity_provider, name="none") == ("InvalidParameterException", cp.NO_GROUP_PROVIDER)


def test_create_capacity_provider_stops_at_the_region_limit(ecs: Any) -> None:
    for i in range(cp.MAX_PER_REGION):
        create(ecs, f"p{i:02d}")
    code, message = error_of(
        ecs.create_capacity_provider, name="one-more", autoScalingGroupProvider={"autoScalingGroupArn": ASG + "x"}
    )
    assert (code, message) == ("LimitExceededException", cp.REGION_LIMIT)


# -- DescribeCapacityProviders ----------------------------------------------------------------


def test_describe_by_name_and_arn_with_tags_only_when_included(ecs: Any) -> None:
    ecs.create_capacity_provider(
        name="tagged", autoScalingGroupProvider={"autoScalingGroupArn": ASG + "t"}, tags=[{"key": "k", "value": "v"}]
    )
    plain = ecs.describe_capacity_providers(capacityProviders=["tagged", PREFIX + "capacity-provider/FARGATE"])
    assert [p["name"] for p in plain["capacityProviders"]] == ["tagged", "FARGATE"]
    assert plain["capacityProviders"][0]["tags"] == [] and plain["failures"] == []
    full = ecs.describe_capacity_providers(capacityProviders=[PREFIX + "capacity-provider/tagged"], include=["TAGS"])
    assert full["capacityProviders"][0]["tags"] == [{"key": "k", "value": "v"}]


def test_describe_unknown_provider_is_a_missing_failure(ecs: Any) -> None:
    other_region = "arn:aws:ecs:eu-west-1:000000000000:capacity-provider/FARGATE"
    result = ecs.describe_capacity_providers(capacityProviders=["nope", "FARGATE_SPOT", other_region])
    assert [p["name"] for p in result["capacityProviders"]] == ["FARGATE_SPOT"]
    assert result["failures"] == [
        {"arn": PREFIX + "capacity-provider/nope", "reason": "MISSING"},
        {"arn": other_region, "reason": "MISSING"},
    ]


def test_describe_paginates_ten_by_default_and_by_max_results(ecs: Any) -> None:
    names = [f"pool{i:02d}" for i in range(12)]
    for name in names:
        create(ecs, name)
    everything = [*names, "FARGATE", "FARGATE_SPOT"]
    first = ecs.describe_capacity_providers()
    assert [p["name"] for p in first["capacityProviders"]] == everything[:10]
    second = ecs.describe_capacity_providers(nextToken=first["nextToken"])
    assert [p["name"] for p in second["capacityProviders"]] == everything[10:]
    assert "nextToken" not in second
    seen, token = [], None
    while True:
        page = ecs.describe_capacity_providers(maxResults=3, **({"nextToken": token} if token else {}))
        seen += [p["name"] for p in page["capacityProviders"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert seen == everything
    named = ecs.describe_capacity_providers(capacityProviders=["pool03", "missing", "FARGATE"], maxResults=2)
    assert [p["name"] for p in named["capacityProviders"]] == ["pool03"]
    assert [f["reason"] for f in named["failures"]] == ["MISSING"]
    rest = ecs.describe_capacity_providers(
        capacityProviders=["pool03", "missing", "FARGATE"], maxResults=2, nextToken=named["nextToken"]
    )
    assert [p["name"] for p in rest["capacityProviders"]] == ["FARGATE"] and "nextToken" not in rest


def test_describe_rejects_bad_page_arguments(ecs: Any) -> None:
    assert error_of(ecs.describe_capacity_providers, maxResults=11) == (
        "InvalidParameterException",
        "maxResults must be between 1 and 10.",
    )
    assert error_of(ecs.describe_capacity_providers, nextToken="garbage!") == (
        "InvalidParameterException",
        "Invalid nextToken.",
    )
    code, message = error_of(ecs.describe_capacity_providers, capacityProviders=[f"p{i}" for i in range(101)])
    assert (code, message) == ("InvalidParameterException", "capacityProviders can have at most 100 items.")


def test_describe_capacity_providers_through_the_aws_cli(aws: Any) -> None:
    aws(
        "ecs",
        "create-capacity-provider",
        "--name",
        "cli-pool",
        "--auto-scaling-group-provider",
        f"autoScalingGroupArn={ASG}cli,managedScaling={{status=ENABLED,targetCapacity=90}}",
    )
    described = aws("ecs", "describe-capacity-providers")
    assert [p["name"] for p in described["capacityProviders"]] == ["cli-pool", "FARGATE", "FARGATE_SPOT"]
    assert described["capacityProviders"][0]["autoScalingGroupProvider"]["managedScaling"]["targetCapacity"] == 90


# -- UpdateCapacityProvider / DeleteCapacityProvider --------------------------------------------


def test_update_merges_settings_and_completes(ecs: Any) -> None:
    create(ecs, "pool", managedScaling={"status": "ENABLED", "targetCapacity": 70})
    updated = ecs.update_capacity_provider(
        name=PREFIX + "capacity-provider/pool",
        autoScalingGroupProvider={"managedScaling": {"instanceWarmupPeriod": 60}, "managedDraining": "DISABLED"},
    )["capacityProvider"]
    assert updated["updateStatus"] == "UPDATE_IN_PROGRESS"
    scaling = updated["autoScalingGroupProvider"]["managedScaling"]
    assert (scaling["status"], scaling["targetCapacity"], scaling["instanceWarmupPeriod"]) == ("ENABLED", 70, 60)
    described = ecs.describe_capacity_providers(capacityProviders=["pool"])["capacityProviders"][0]
    assert described["updateStatus"] == "UPDATE_COMPLETE"
    assert described["autoScalingGroupProvider"]["managedDraining"] == "DISABLED"


def test_update_rejects_unknown_reserved_and_inconsistent_providers(ecs: Any) -> None:
    assert error_of(
        ecs.update_capacity_provider, name="nope", autoScalingGroupProvider={"managedDraining": "ENABLED"}
    ) == ("ClientException", cp.DOES_NOT_EXIST)
    assert error_of(
        ecs.update_capacity_provider, name="FARGATE", autoScalingGroupProvider={"managedDraining": "ENABLED"}
    ) == ("ClientException", cp.RESERVED.format(name="FARGATE", action="updated"))
    create(ecs, "pool")
    assert error_of(
        ecs.update_capacity_provider, name="pool", autoScalingGroupProvider={"managedTerminationProtection": "ENABLED"}
    ) == ("ClientException", cp.NEEDS_MANAGED_SCALING)
    assert error_of(ecs.update_capacity_provider, name="pool") == ("InvalidParameterException", cp.NO_GROUP_PROVIDER)


def test_delete_makes_the_provider_inactive_and_its_name_reusable(ecs: Any) -> None:
    ecs.create_capacity_provider(
        name="old", autoScalingGroupProvider={"autoScalingGroupArn": ASG + "old"}, tags=[{"key": "a", "value": "1"}]
    )
    deleted = ecs.delete_capacity_provider(capacityProvider="old")["capacityProvider"]
    assert (deleted["status"], deleted["updateStatus"], deleted["tags"]) == ("ACTIVE", "DELETE_IN_PROGRESS", [])
    described = ecs.describe_capacity_providers(capacityProviders=["old"], include=["TAGS"])["capacityProviders"]
    assert [(p["status"], p["updateStatus"], p["tags"]) for p in described] == [("INACTIVE", "DELETE_COMPLETE", [])]
    assert "old" not in [p["name"] for p in ecs.describe_capacity_providers()["capacityProviders"]]
    assert error_of(ecs.delete_capacity_provider, capacityProvider="old") == ("ClientException", cp.DOES_NOT_EXIST)
    again = create(ecs, "old")
    assert again["status"] == "ACTIVE" and "updateStatus" not in again
    assert (
        ecs.describe_capacity_providers(capacityProviders=["old"], include=["TAGS"])["capacityProviders"][0]["tags"]
        == []
    )


def test_delete_refuses_reserved_and_unknown_providers(ecs: Any) -> None:
    assert error_of(ecs.delete_capacity_provider, capacityProvider="FARGATE_SPOT") == (
        "ClientException",
        cp.RESERVED.format(name="FARGATE_SPOT", action="deleted"),
    )
    assert error_of(ecs.delete_capacity_provider, capacityProvider="ghost") == ("ClientException", cp.DOES_NOT_EXIST)
    assert error_of(ecs.delete_capacity_provider, capacityProvider="ghost", cluster="nope") == (
        "ClusterNotFoundException",
        "Cluster not found.",
    )


def test_delete_of_an_associated_provider_fails_with_the_reason(ecs: Any) -> None:
    create(ecs, "pool")
    ecs.create_cluster(clusterName="web", capacityProviders=["pool"])
    result = ecs.delete_capacity_provider(capacityProvider="pool")["capacityProvider"]
    reason = cp.ASSOCIATED_WITH_CLUSTER.format(cluster="web")
    assert (result["status"], result["updateStatus"], result["updateStatusReason"]) == (
        "ACTIVE",
        "DELETE_FAILED",
        reason,
    )
    described = ecs.describe_capacity_providers(capacityProviders=["pool"])["capacityProviders"][0]
    assert (described["status"], described["updateStatus"]) == ("ACTIVE", "DELETE_FAILED")
    ecs.put_cluster_capacity_providers(cluster="web", capacityProviders=[], defaultCapacityProviderStrategy=[])
    assert ecs.delete_capacity_provider(capacityProvider="pool")["capacityProvider"]["updateStatus"] == (
        "DELETE_IN_PROGRESS"
    )


# -- PutClusterCapacityProviders and CreateCluster --------------------------------------------


def test_put_cluster_capacity_providers_replaces_list_and_strategy(ecs: Any) -> None:
    ecs.create_cluster(clusterName="c")
    cluster = ecs.put_cluster_capacity_providers(
        cluster="c",
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "base": 2, "weight": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 3},
        ],
    )["cluster"]
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert cluster["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 2},
        {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0},
    ]
    ecs.put_cluster_capacity_providers(
        cluster=PREFIX + "cluster/c",
        capacityProviders=["FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT"}],
    )
    described = ecs.describe_clusters(clusters=["c"])["clusters"][0]
    assert described["capacityProviders"] == ["FARGATE_SPOT"]
    assert described["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE_SPOT", "weight": 0, "base": 0}
    ]


STRATEGY_ERRORS = [
    (["FARGATE"], [{"capacityProvider": "FARGATE_SPOT", "weight": 1}], cp.NOT_ASSOCIATED),
    (["FARGATE", "pool"], [{"capacityProvider": "FARGATE", "weight": 1}, {"capacityProvider": "pool", "weight": 1}],
     cp.MIXED),
    (["FARGATE", "FARGATE_SPOT"],
     [{"capacityProvider": "FARGATE", "base": 1, "weight": 1}, {"capacityProvider": "FARGATE_SPOT", "base": 1}],
     cp.MULTIPLE_BASES),
    (["FARGATE"], [{"capacityProvider": "FARGATE", "weight": 1}] * 2, cp.DUPLICATE_ITEM.format(name="FARGATE")),
    (["FARGATE"], [{"capacityProvider": "FARGATE", "weight": 1}] * 21, cp.TOO_MANY_ITEMS),
    (["FARGATE", "ghost"], [], cp.NOT_ACTIVE.format(name="ghost")
     + " No capacity provider named ghost exists; create it with CreateCapacityProvider."),
]  # fmt: skip


@pytest.mark.parametrize(("providers", "strategy", "message"), STRATEGY_ERRORS)
def test_put_cluster_capacity_providers_enforces_strategy_rules(
    ecs: Any, providers: list[str], strategy: list[dict[str, Any]], message: str
) -> None:
    create(ecs, "pool")
    before = ecs.describe_clusters()["clusters"][0]
    code, text = error_of(
        ecs.put_cluster_capacity_providers,
        cluster="default",
        capacityProviders=providers,
        defaultCapacityProviderStrategy=strategy,
    )
    assert (code, text) == ("InvalidParameterException", message)
    assert ecs.describe_clusters()["clusters"][0] == before


def test_create_cluster_applies_the_same_strategy_rules(ecs: Any) -> None:
    code, message = error_of(
        ecs.create_cluster,
        clusterName="c",
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    )
    assert (code, message) == ("InvalidParameterException", cp.NOT_ASSOCIATED)
    assert PREFIX + "cluster/c" not in ecs.list_clusters()["clusterArns"]


def test_put_cluster_capacity_providers_limits_providers_per_cluster(ecs: Any) -> None:
    names = [f"pool{i:02d}" for i in range(cp.MAX_PER_CLUSTER - 1)]
    for name in names:
        create(ecs, name)
    ecs.put_cluster_capacity_providers(
        cluster="default", capacityProviders=[*names, "FARGATE"], defaultCapacityProviderStrategy=[]
    )
    code, message = error_of(
        ecs.put_cluster_capacity_providers,
        cluster="default",
        capacityProviders=[*names, "FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[],
    )
    assert (code, message) == ("InvalidParameterException", cp.TOO_MANY_FOR_CLUSTER)


def test_put_cluster_capacity_providers_needs_an_active_cluster(ecs: Any) -> None:
    assert error_of(
        ecs.put_cluster_capacity_providers, cluster="nope", capacityProviders=[], defaultCapacityProviderStrategy=[]
    ) == ("ClusterNotFoundException", "Cluster not found.")


def test_inactive_provider_cannot_be_associated(ecs: Any) -> None:
    create(ecs, "gone")
    ecs.delete_capacity_provider(capacityProvider="gone")
    code, message = error_of(
        ecs.put_cluster_capacity_providers,
        cluster="default",
        capacityProviders=["gone"],
        defaultCapacityProviderStrategy=[],
    )
    assert (code, message) == ("InvalidParameterException", cp.NOT_ACTIVE.format(name="gone"))


def test_put_cluster_capacity_providers_through_the_aws_cli(aws: Any) -> None:
    result = aws(
        "ecs",
        "put-cluster-capacity-providers",
        "--cluster",
        "default",
        "--capacity-providers",
        "FARGATE",
        "FARGATE_SPOT",
        "--default-capacity-provider-strategy",
        "capacityProvider=FARGATE,weight=1,base=1",
        "capacityProvider=FARGATE_SPOT,weight=4",
    )
    assert result["cluster"]["defaultCapacityProviderStrategy"][1] == {
        "capacityProvider": "FARGATE_SPOT",
        "weight": 4,
        "base": 0,
    }


def test_removing_a_provider_a_running_task_uses_is_refused(ecs: Any) -> None:
    ecs.put_cluster_capacity_providers(
        cluster="default", capacityProviders=["FARGATE", "FARGATE_SPOT"], defaultCapacityProviderStrategy=[]
    )
    ecs.register_task_definition(
        family="web",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx"}],
    )
    task = ecs.run_task(
        taskDefinition="web",
        capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        networkConfiguration={"awsvpcConfiguration": {"subnets": [SUBNET]}},
    )["tasks"][0]
    assert task["capacityProviderName"] == "FARGATE_SPOT"
    code, message = error_of(
        ecs.put_cluster_capacity_providers,
        cluster="default",
        capacityProviders=["FARGATE"],
        defaultCapacityProviderStrategy=[],
    )
    task_id = task["taskArn"].rsplit("/", 1)[1]
    assert (code, message) == ("ResourceInUseException", f"{cp.IN_USE} It is still used by task {task_id}.")
