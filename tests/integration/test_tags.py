"""TagResource, UntagResource and ListTagsForResource through boto3 and the AWS CLI (spec/ecs.md §1.6)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from ecslite.providers.ecs import tags as tag_ops
from ecslite.providers.ecs.capacity_providers import RESERVED

PREFIX = "arn:aws:ecs:us-east-1:000000000000:"
CLUSTER = PREFIX + "cluster/default"
NOT_FOUND = "The specified resource could not be found."


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def tags_of(ecs: Any, arn: str) -> list[dict[str, str]]:
    result: list[dict[str, str]] = ecs.list_tags_for_resource(resourceArn=arn)["tags"]
    return result


def test_tag_resource_adds_overwrites_and_keeps_keys_case_sensitive(ecs: Any) -> None:
    ecs.tag_resource(resourceArn=CLUSTER, tags=[{"key": "env", "value": "dev"}, {"key": "Env", "value": "x"}])
    ecs.tag_resource(resourceArn=CLUSTER, tags=[{"key": "env", "value": "prod"}, {"key": "team", "value": ""}])
    assert tags_of(ecs, CLUSTER) == [
        {"key": "env", "value": "prod"},
        {"key": "Env", "value": "x"},
        {"key": "team", "value": ""},
    ]
    described = ecs.describe_clusters(include=["TAGS"])["clusters"][0]
    assert described["tags"] == tags_of(ecs, CLUSTER)


def test_untag_resource_removes_only_the_named_keys(ecs: Any) -> None:
    ecs.tag_resource(resourceArn=CLUSTER, tags=[{"key": k, "value": "1"} for k in ("a", "b", "c")])
    ecs.untag_resource(resourceArn=CLUSTER, tagKeys=["a", "c", "never-set", "B"])
    assert tags_of(ecs, CLUSTER) == [{"key": "b", "value": "1"}]


def test_task_definition_revisions_are_tagged_separately(ecs: Any) -> None:
    definition = {"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx", "memory": 128}]}
    first = ecs.register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]
    second = ecs.register_task_definition(**definition)["taskDefinition"]["taskDefinitionArn"]
    ecs.tag_resource(resourceArn=second, tags=[{"key": "release", "value": "2"}])
    assert tags_of(ecs, first) == []
    assert ecs.describe_task_definition(taskDefinition="web:2", include=["TAGS"])["tags"] == [
        {"key": "release", "value": "2"}
    ]
    code, message = error_of(ecs.list_tags_for_resource, resourceArn=PREFIX + "task-definition/web:3")
    assert (code, message) == (
        "ResourceNotFoundException",
        f"{NOT_FOUND} No task-definition {PREFIX}task-definition/web:3 exists.",
    )


def test_capacity_providers_are_taggable_but_fargate_ones_are_reserved(ecs: Any) -> None:
    ecs.create_capacity_provider(name="pool", autoScalingGroupProvider={"autoScalingGroupArn": "asg-pool"})
    arn = PREFIX + "capacity-provider/pool"
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}])
    described = ecs.describe_capacity_providers(capacityProviders=["pool"], include=["TAGS"])
    assert described["capacityProviders"][0]["tags"] == [{"key": "k", "value": "v"}]
    fargate = PREFIX + "capacity-provider/FARGATE"
    assert tags_of(ecs, fargate) == []
    assert error_of(ecs.tag_resource, resourceArn=fargate, tags=[{"key": "k", "value": "v"}]) == (
        "InvalidParameterException",
        RESERVED.format(name="FARGATE", action="tagged"),
    )


@pytest.mark.parametrize(
    "arn",
    [
        "not-an-arn",
        "arn:aws:ecr:us-east-1:000000000000:repository/web",
        PREFIX + "container/default/0123/abcd",
        PREFIX + "cluster/a/b",
        PREFIX + "task-definition/",
        "arn:aws-cn:ecs:us-east-1:000000000000:cluster/default",
    ],
)
def test_an_arn_that_names_no_taggable_resource_is_invalid(ecs: Any, arn: str) -> None:
    expected = ("InvalidParameterException", tag_ops.INVALID_ARN)
    assert error_of(ecs.list_tags_for_resource, resourceArn=arn) == expected
    assert error_of(ecs.tag_resource, resourceArn=arn, tags=[{"key": "k", "value": "v"}]) == expected
    assert error_of(ecs.untag_resource, resourceArn=arn, tagKeys=["k"]) == expected


@pytest.mark.parametrize("kind", ["service", "task", "container-instance"])
def test_short_format_arns_are_refused_for_tagging(ecs: Any, kind: str) -> None:
    code, message = error_of(
        ecs.tag_resource, resourceArn=f"{PREFIX}{kind}/0123456789abcdef", tags=[{"key": "k", "value": "v"}]
    )
    assert (code, message) == ("InvalidParameterException", tag_ops.LONG_ARN_REQUIRED)


@pytest.mark.parametrize(
    "arn",
    [
        PREFIX + "cluster/nope",
        PREFIX + "service/nope/web",
        PREFIX + "task/nope/0123456789abcdef0123456789abcdef",
        PREFIX + "container-instance/nope/0123456789abcdef0123456789abcdef",
        PREFIX + "task-set/nope/web/ecs-svc/1234567890123456789",
        "arn:aws:ecs:eu-west-1:000000000000:cluster/default",
    ],
)
def test_resources_of_a_missing_cluster_answer_cluster_not_found(ecs: Any, arn: str) -> None:
    expected = ("ClusterNotFoundException", "Cluster not found.")
    assert error_of(ecs.list_tags_for_resource, resourceArn=arn) == expected
    assert error_of(ecs.tag_resource, resourceArn=arn, tags=[{"key": "k", "value": "v"}]) == expected


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("service", "default/web"),
        ("task", "default/0123456789abcdef0123456789abcdef"),
        ("container-instance", "default/0123456789abcdef0123456789abcdef"),
        ("task-set", "default/web/ecs-svc/1234567890123456789"),
        ("capacity-provider", "pool"),
        ("task-definition", "web:1"),
    ],
)
def test_missing_resources_answer_resource_not_found(ecs: Any, kind: str, path: str) -> None:
    arn = f"{PREFIX}{kind}/{path}"
    expected = ("ResourceNotFoundException", f"{NOT_FOUND} No {kind} {arn} exists.")
    assert error_of(ecs.list_tags_for_resource, resourceArn=arn) == expected
    assert error_of(ecs.tag_resource, resourceArn=arn, tags=[{"key": "k", "value": "v"}]) == expected
    assert error_of(ecs.untag_resource, resourceArn=arn, tagKeys=["k"]) == expected


def test_a_deleted_cluster_cannot_be_tagged(ecs: Any) -> None:
    ecs.create_cluster(clusterName="gone")
    ecs.delete_cluster(cluster="gone")
    assert error_of(ecs.tag_resource, resourceArn=PREFIX + "cluster/gone", tags=[{"key": "k", "value": "v"}]) == (
        "ClusterNotFoundException",
        "Cluster not found.",
    )


def test_a_resource_holds_at_most_fifty_tags(ecs: Any) -> None:
    ecs.tag_resource(resourceArn=CLUSTER, tags=[{"key": f"k{i}", "value": "v"} for i in range(50)])
    ecs.tag_resource(resourceArn=CLUSTER, tags=[{"key": "k0", "value": "changed"}])  # overwriting adds none
    code, message = error_of(ecs.tag_resource, resourceArn=CLUSTER, tags=[{"key": "k50", "value": "v"}])
    assert (code, message) == (
        "InvalidParameterException",
        "A resource can have at most 50 tags; this request leaves 51.",
    )
    assert len(tags_of(ecs, CLUSTER)) == 50


def test_aws_prefixed_tags_cannot_be_added_or_removed(ecs: Any) -> None:
    expected = ("InvalidParameterException", tag_ops.RESERVED_KEY)
    assert error_of(ecs.tag_resource, resourceArn=CLUSTER, tags=[{"key": "AWS:owner", "value": "me"}]) == expected
    assert error_of(ecs.tag_resource, resourceArn=CLUSTER, tags=[{"key": "owner", "value": "aws:me"}]) == expected
    assert error_of(ecs.untag_resource, resourceArn=CLUSTER, tagKeys=["aws:ecs:clusterName"]) == expected
    assert tags_of(ecs, CLUSTER) == []


def test_tags_through_the_aws_cli(aws: Any) -> None:
    assert aws("ecs", "tag-resource", "--resource-arn", CLUSTER, "--tags", "key=k1,value=v1", "key=k2,value=v2") is None
    assert aws("ecs", "list-tags-for-resource", "--resource-arn", CLUSTER)["tags"] == [
        {"key": "k1", "value": "v1"},
        {"key": "k2", "value": "v2"},
    ]
    aws("ecs", "untag-resource", "--resource-arn", CLUSTER, "--tag-keys", "k1")
    assert aws("ecs", "list-tags-for-resource", "--resource-arn", CLUSTER)["tags"] == [{"key": "k2", "value": "v2"}]


def test_a_tag_without_a_key_is_rejected(ecs: Any) -> None:
    code, message = error_of(ecs.tag_resource, resourceArn=CLUSTER, tags=[{"key": "ok", "value": "1"}, {"value": "x"}])
    assert (code, message) == (
        "InvalidParameterException",
        "1 validation error detected: Value null at 'tags.2.member.key' failed to satisfy constraint: "
        "Member must not be null",
    )
    assert tags_of(ecs, CLUSTER) == []


def test_container_instances_are_taggable_until_deregistered(ecs: Any) -> None:
    arn = ecs.register_container_instance(cluster="default")["containerInstance"]["containerInstanceArn"]
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "rack", "value": "r1"}])
    assert tags_of(ecs, arn) == [{"key": "rack", "value": "r1"}]
    ecs.deregister_container_instance(containerInstance=arn)
    code, _ = error_of(ecs.list_tags_for_resource, resourceArn=arn)
    assert code == "ResourceNotFoundException"
