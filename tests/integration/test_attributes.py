"""PutAttributes, DeleteAttributes and ListAttributes through boto3 and the AWS CLI (spec/ecs.md §5.1).

Happy paths need registered container instances; those are covered against the store in
``tests/unit/test_attribute_ops.py`` and, once instances register over the API, here.
"""

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
