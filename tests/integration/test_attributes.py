"""PutAttributes, DeleteAttributes and ListAttributes through boto3 and the AWS CLI (spec/ecs.md §5.1)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest

from ecslite.providers.ecs import attributes as attr_ops

PREFIX = "arn:aws:ecs:us-east-1:000000000000:"
INSTANCE_ID = "0123456789abcdef0123456789abcdef"
INSTANCE_ARN = f"{PREFIX}container-instance/default/{INSTANCE_ID}"


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def not_found(ref: str, cluster: str = "default") -> tuple[str, str]:
    return (
        "TargetNotFoundException",
        f"{attr_ops.TARGET_NOT_FOUND} No container instance {ref} is registered in {cluster}.",
    )


def test_put_attributes_on_an_unknown_instance_is_target_not_found(ecs: Any) -> None:
    assert error_of(ecs.put_attributes, attributes=[{"name": "stack", "value": "prod", "targetId": INSTANCE_ARN}]) == (
        not_found(INSTANCE_ARN)
    )
    by_id = {"name": "stack", "targetType": "container-instance", "targetId": INSTANCE_ID}
    assert error_of(ecs.put_attributes, attributes=[by_id]) == not_found(INSTANCE_ID)
    assert error_of(ecs.delete_attributes, attributes=[by_id]) == not_found(INSTANCE_ID)


def test_put_attributes_on_an_instance_of_another_cluster_or_region_is_target_not_found(ecs: Any) -> None:
    ecs.create_cluster(clusterName="other")
    other_region = f"arn:aws:ecs:eu-west-1:000000000000:container-instance/default/{INSTANCE_ID}"
    for ref, cluster in ((INSTANCE_ARN, "other"), (other_region, "default")):
        code, message = error_of(
            ecs.put_attributes, cluster=cluster, attributes=[{"name": "a", "value": "b", "targetId": ref}]
        )
        assert (code, message) == not_found(ref, cluster)


def test_attributes_need_a_known_cluster(ecs: Any) -> None:
    expected = ("ClusterNotFoundException", "Cluster not found.")
    item = {"name": "stack", "targetId": INSTANCE_ARN}
    assert error_of(ecs.put_attributes, cluster="nope", attributes=[item]) == expected
    assert error_of(ecs.delete_attributes, cluster="nope", attributes=[item]) == expected
    assert error_of(ecs.list_attributes, cluster="nope", targetType="container-instance") == expected


def test_an_attribute_names_its_target(ecs: Any) -> None:
    assert error_of(ecs.put_attributes, attributes=[{"name": "stack", "value": "prod"}]) == (
        "InvalidParameterException",
        attr_ops.NO_TARGET.format(name="stack"),
    )
    assert error_of(ecs.put_attributes, attributes=[{"name": "stack", "targetId": INSTANCE_ID}]) == (
        "InvalidParameterException",
        attr_ops.NEEDS_TARGET_TYPE.format(name="stack"),
    )


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ({"name": "has space"}, attr_ops.BAD_NAME.format(name="has space")),
        ({"name": "n" * 129}, attr_ops.BAD_NAME.format(name="n" * 129)),
        ({"name": "ok", "value": " padded"}, attr_ops.BAD_VALUE.format(name="ok", value=" padded")),
        ({"name": "ok", "value": "semi;colon"}, attr_ops.BAD_VALUE.format(name="ok", value="semi;colon")),
        ({"name": "ecs.os-type", "value": "windows"}, attr_ops.RESERVED_NAME.format(name="ecs.os-type")),
        ({"name": "com.amazonaws.ecs.x"}, attr_ops.RESERVED_NAME.format(name="com.amazonaws.ecs.x")),
    ],
)  # fmt: skip
def test_attribute_names_and_values_follow_ecs_rules(ecs: Any, attribute: dict[str, str], message: str) -> None:
    code, text = error_of(ecs.put_attributes, attributes=[{**attribute, "targetId": INSTANCE_ARN}])
    assert (code, text) == ("InvalidParameterException", message)


def test_at_most_ten_attributes_per_call(ecs: Any) -> None:
    items = [{"name": f"a{i}", "value": "v", "targetId": INSTANCE_ARN} for i in range(11)]
    expected = ("InvalidParameterException", attr_ops.TOO_MANY_IN_CALL.format(count=11))
    assert error_of(ecs.put_attributes, attributes=items) == expected
    assert error_of(ecs.delete_attributes, attributes=items) == expected


def test_list_attributes_of_a_cluster_without_instances_is_empty(ecs: Any) -> None:
    assert ecs.list_attributes(targetType="container-instance")["attributes"] == []
    assert (
        ecs.list_attributes(cluster="default", targetType="container-instance", attributeName="stack")["attributes"]
        == []
    )


def test_list_attributes_checks_its_arguments(ecs: Any) -> None:
    assert error_of(ecs.list_attributes, targetType="container-instance", attributeValue="prod") == (
        "InvalidParameterException",
        attr_ops.VALUE_NEEDS_NAME,
    )
    assert error_of(ecs.list_attributes, targetType="container-instance", maxResults=101) == (
        "InvalidParameterException",
        "maxResults must be between 1 and 100.",
    )
    assert error_of(ecs.list_attributes, targetType="container-instance", nextToken="bogus!") == (
        "InvalidParameterException",
        "Invalid nextToken.",
    )


def test_list_attributes_through_the_aws_cli(aws: Any) -> None:
    result = aws("ecs", "list-attributes", "--target-type", "container-instance", "--cluster", "default")
    assert result == {"attributes": []}


# -- with instances registered over the API ------------------------------------------------------


def register(ecs: Any, cluster: str = "default") -> str:
    arn: str = ecs.register_container_instance(cluster=cluster)["containerInstance"]["containerInstanceArn"]
    return arn


def custom(ecs: Any, **params: Any) -> list[dict[str, Any]]:
    result = ecs.get_paginator("list_attributes").paginate(targetType="container-instance", **params)
    return [a for a in result.build_full_result()["attributes"] if not a["name"].startswith(attr_ops.BUILT_IN_PREFIXES)]


def test_put_list_and_delete_attributes_of_a_registered_instance(ecs: Any) -> None:
    arn = register(ecs)
    by_id = {"name": "zone", "value": "blue", "targetType": "container-instance", "targetId": arn.rsplit("/", 1)[1]}
    put = ecs.put_attributes(attributes=[{"name": "stack", "value": "prod", "targetId": arn}, by_id])
    assert put["attributes"] == [{"name": "stack", "value": "prod", "targetId": arn}, by_id]
    assert custom(ecs) == [
        {"name": "stack", "value": "prod", "targetId": arn},
        {"name": "zone", "value": "blue", "targetId": arn},
    ]
    assert ecs.list_attributes(targetType="container-instance", attributeName="stack", attributeValue="prod")[
        "attributes"
    ] == [{"name": "stack", "value": "prod", "targetId": arn}]
    deleted = ecs.delete_attributes(attributes=[{"name": "zone", "targetId": arn}])
    assert deleted["attributes"] == [{"name": "zone", "value": "blue", "targetId": arn}]
    assert [a["name"] for a in custom(ecs)] == ["stack"]


def test_built_in_instance_attributes_are_listed(ecs: Any) -> None:
    arn = register(ecs)
    listed = ecs.list_attributes(targetType="container-instance", attributeName="ecs.os-type")["attributes"]
    assert listed == [{"name": "ecs.os-type", "value": "linux", "targetId": arn}]


def test_attributes_show_in_describe_container_instances(ecs: Any) -> None:
    arn = register(ecs)
    ecs.put_attributes(attributes=[{"name": "stack", "value": "prod", "targetId": arn}])
    described = ecs.describe_container_instances(containerInstances=[arn])["containerInstances"][0]
    assert {"name": "stack", "value": "prod"} in described["attributes"]


def test_an_instance_takes_at_most_ten_custom_attributes(ecs: Any) -> None:
    arn = register(ecs)
    ecs.put_attributes(attributes=[{"name": f"c{i}", "targetId": arn} for i in range(10)])
    code, message = error_of(ecs.put_attributes, attributes=[{"name": "c10", "targetId": arn}])
    assert (code, message) == ("AttributeLimitExceededException", attr_ops.LIMIT_EXCEEDED)
    assert len(custom(ecs)) == 10


def test_a_deregistered_instance_is_no_target(ecs: Any) -> None:
    arn = register(ecs)
    ecs.put_attributes(attributes=[{"name": "stack", "value": "prod", "targetId": arn}])
    ecs.deregister_container_instance(containerInstance=arn)
    assert custom(ecs) == []
    assert error_of(ecs.put_attributes, attributes=[{"name": "a", "targetId": arn}]) == not_found(arn)


def test_put_attributes_through_the_aws_cli(aws: Any, ecs: Any) -> None:
    arn = register(ecs)
    put = aws("ecs", "put-attributes", "--attributes", f"name=stack,value=production,targetId={arn}")
    assert put == {"attributes": [{"name": "stack", "value": "production", "targetId": arn}]}
    listed = aws(
        "ecs", "list-attributes", "--target-type", "container-instance", "--attribute-name", "stack",
        "--attribute-value", "production", "--cluster", "default",
    )  # fmt: skip
    assert listed["attributes"] == [{"name": "stack", "value": "production", "targetId": arn}]
