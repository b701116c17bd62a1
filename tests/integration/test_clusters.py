"""Cluster operations through boto3 and the AWS CLI (spec/ecs.md §2.1)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

ARN = "arn:aws:ecs:us-east-1:000000000000:cluster/"


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def test_default_cluster_exists_in_a_new_partition(ecs: Any) -> None:
    assert ecs.list_clusters()["clusterArns"] == [ARN + "default"]
    described = ecs.describe_clusters()["clusters"]
    assert [c["clusterName"] for c in described] == ["default"]


def test_create_cluster_returns_the_cluster_with_defaults(ecs: Any) -> None:
    cluster = ecs.create_cluster(clusterName="otel-demo-cluster")["cluster"]
    assert cluster["clusterArn"] == ARN + "otel-demo-cluster"
    assert cluster["status"] == "ACTIVE"
    assert cluster["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    for counter in (
        "registeredContainerInstancesCount",
        "runningTasksCount",
        "pendingTasksCount",
        "activeServicesCount",
    ):
        assert cluster[counter] == 0


def test_create_cluster_without_name_is_default(ecs: Any) -> None:
    assert ecs.create_cluster()["cluster"]["clusterName"] == "default"


def test_create_cluster_is_idempotent_for_an_active_name(ecs: Any) -> None:
    first = ecs.create_cluster(clusterName="same", tags=[{"key": "a", "value": "1"}])["cluster"]
    second = ecs.create_cluster(clusterName="same")["cluster"]
    assert first["clusterArn"] == second["clusterArn"]
    assert len(ecs.list_clusters()["clusterArns"]) == 2


def test_invalid_cluster_name_is_rejected(ecs: Any) -> None:
    code, message = error_of(ecs.create_cluster, clusterName="bad name!")
    assert code == "InvalidParameterException"
    assert "bad name!" in message


def test_describe_unknown_cluster_is_a_missing_failure(ecs: Any) -> None:
    result = ecs.describe_clusters(clusters=["nope", ARN + "default"])
    assert [c["clusterName"] for c in result["clusters"]] == ["default"]
    assert result["failures"] == [{"arn": ARN + "nope", "reason": "MISSING"}]


def test_describe_cluster_in_another_region_by_arn_is_missing(ecs: Any) -> None:
    result = ecs.describe_clusters(clusters=["arn:aws:ecs:eu-west-1:000000000000:cluster/default"])
    assert result["clusters"] == []
    assert result["failures"][0]["reason"] == "MISSING"


def test_describe_includes_tags_settings_statistics_only_when_asked(ecs: Any) -> None:
    ecs.create_cluster(clusterName="c", tags=[{"key": "team", "value": "obs"}])
    plain = ecs.describe_clusters(clusters=["c"])["clusters"][0]
    assert plain["tags"] == [] and plain["statistics"] == [] and "settings" not in plain
    full = ecs.describe_clusters(clusters=["c"], include=["TAGS", "SETTINGS", "STATISTICS"])["clusters"][0]
    assert full["tags"] == [{"key": "team", "value": "obs"}]
    assert full["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert {s["name"]: s["value"] for s in full["statistics"]}["runningFargateTasksCount"] == "0"


def test_list_clusters_paginates_in_creation_order(ecs: Any) -> None:
    names = [f"c{i:02d}" for i in range(7)]
    for name in names:
        ecs.create_cluster(clusterName=name)
    page = ecs.list_clusters(maxResults=3)
    assert page["clusterArns"] == [ARN + n for n in ["default", *names[:2]]]
    seen = list(page["clusterArns"])
    while "nextToken" in page:
        page = ecs.list_clusters(maxResults=3, nextToken=page["nextToken"])
        seen += page["clusterArns"]
    assert seen == [ARN + n for n in ["default", *names]]
    paginated = [
        a
        for p in ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 2})
        for a in p["clusterArns"]
    ]
    assert paginated == seen


def test_list_clusters_rejects_a_token_it_never_issued(ecs: Any) -> None:
    code, _ = error_of(ecs.list_clusters, nextToken="garbage!")
    assert code == "InvalidParameterException"


def test_delete_cluster_makes_it_inactive_and_unlisted(ecs: Any) -> None:
    ecs.create_cluster(clusterName="doomed")
    deleted = ecs.delete_cluster(cluster="doomed")["cluster"]
    assert deleted["status"] == "INACTIVE"
    assert ARN + "doomed" not in ecs.list_clusters()["clusterArns"]
    assert ecs.describe_clusters(clusters=["doomed"])["clusters"][0]["status"] == "INACTIVE"
    code, message = error_of(ecs.delete_cluster, cluster="doomed")
    assert (code, message) == ("ClusterNotFoundException", "Cluster not found.")


def test_inactive_cluster_name_can_be_reused(ecs: Any) -> None:
    ecs.create_cluster(clusterName="again", tags=[{"key": "old", "value": "1"}])
    ecs.delete_cluster(cluster="again")
    cluster = ecs.create_cluster(clusterName="again")["cluster"]
    assert cluster["status"] == "ACTIVE"
    assert ecs.describe_clusters(clusters=["again"], include=["TAGS"])["clusters"][0]["tags"] == []


def test_deleted_default_cluster_is_not_recreated(ecs: Any) -> None:
    ecs.delete_cluster(cluster="default")
    assert ecs.list_clusters()["clusterArns"] == []


def test_update_cluster_settings_changes_container_insights(ecs: Any) -> None:
    ecs.create_cluster(clusterName="ci")
    updated = ecs.update_cluster_settings(cluster="ci", settings=[{"name": "containerInsights", "value": "enhanced"}])
    assert updated["cluster"]["settings"] == [{"name": "containerInsights", "value": "enhanced"}]
    code, _ = error_of(
        ecs.update_cluster_settings,
        cluster="nope",
        settings=[{"name": "containerInsights", "value": "enabled"}],
    )
    assert code == "ClusterNotFoundException"


def test_update_cluster_execute_command_configuration(ecs: Any) -> None:
    ecs.create_cluster(clusterName="exec")
    config = {
        "executeCommandConfiguration": {
            "logging": "OVERRIDE",
            "logConfiguration": {"cloudWatchLogGroupName": "/exec"},
        }
    }
    cluster = ecs.update_cluster(cluster="exec", configuration=config)["cluster"]
    assert cluster["configuration"] == config
    code, _ = error_of(
        ecs.update_cluster,
        cluster="exec",
        configuration={"executeCommandConfiguration": {"logging": "OVERRIDE"}},
    )
    assert code == "InvalidParameterException"


def test_cluster_lifecycle_through_the_aws_cli(aws: Any) -> None:
    created = aws("ecs", "create-cluster", "--cluster-name", "cli-cluster")
    assert created["cluster"]["status"] == "ACTIVE"
    listed = aws("ecs", "list-clusters")
    assert ARN + "cli-cluster" in listed["clusterArns"]
    deleted = aws("ecs", "delete-cluster", "--cluster", "cli-cluster")
    assert deleted["cluster"]["status"] == "INACTIVE"
