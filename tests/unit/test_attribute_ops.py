"""Attribute operations against an in-memory store with container instances written directly."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.config import Settings
from ecslite.model.arns import container_instance_arn
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.ecs import attributes as attr_ops
from ecslite.providers.ecs.provider import EcsProvider
from ecslite.store import attributes as attribute_store
from ecslite.store.db import Database, dumps

ACCOUNT, REGION = "000000000000", "us-east-1"
CTX = RequestContext(ACCOUNT, REGION, "req", "ecs", "PutAttributes")


@pytest.fixture
def ecs() -> EcsProvider:
    provider = EcsProvider(Database(), FakeClock(), Settings(ephemeral=True))
    provider.prepare(CTX)
    return provider


def add_instance(ecs: EcsProvider, cluster: str = "default", status: str = "ACTIVE", **built_in: str) -> str:
    """A registered instance row, with the built-in attributes registration would write."""
    instance_id = uuid.uuid4().hex
    arn = container_instance_arn(REGION, ACCOUNT, cluster, instance_id)
    with ecs.db.transaction():
        ecs.db.execute(
            """INSERT INTO container_instances (account, region, cluster, id, arn, status, doc)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (
                ACCOUNT,
                REGION,
                cluster,
                instance_id,
                arn,
                status,
                dumps({"containerInstanceArn": arn, "status": status}),
            ),
        )
        for name, value in built_in.items():
            attribute_store.put(
                ecs.db, ACCOUNT, REGION, cluster, "container-instance", arn, "ecs." + name.replace("_", "-"), value
            )
    return arn


def error_of(call: Any, params: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(AwsError) as caught:
        call(CTX, params)
    return caught.value.code, caught.value.message


def listed(ecs: EcsProvider, **params: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = ecs.list_attributes(CTX, {"targetType": "container-instance", **params})[
        "attributes"
    ]
    return result


def test_put_attributes_by_arn_and_by_id_then_list(ecs: EcsProvider) -> None:
    arn = add_instance(ecs, os_type="linux")
    by_id = {"name": "zone", "value": "blue", "targetType": "container-instance", "targetId": arn.rsplit("/", 1)[1]}
    items = [{"name": "stack", "value": "prod", "targetId": arn}, by_id, {"name": "flag", "targetId": arn}]
    assert ecs.put_attributes(CTX, {"attributes": items}) == {"attributes": items}
    assert listed(ecs) == [
        {"name": "ecs.os-type", "targetId": arn, "value": "linux"},
        {"name": "stack", "targetId": arn, "value": "prod"},
        {"name": "zone", "targetId": arn, "value": "blue"},
        {"name": "flag", "targetId": arn},
    ]


def test_put_attributes_overwrites_a_value(ecs: EcsProvider) -> None:
    arn = add_instance(ecs)
    ecs.put_attributes(CTX, {"attributes": [{"name": "stack", "value": "dev", "targetId": arn}]})
    ecs.put_attributes(CTX, {"attributes": [{"name": "stack", "value": "prod", "targetId": arn}]})
    assert listed(ecs) == [{"name": "stack", "targetId": arn, "value": "prod"}]


def test_list_attributes_filters_by_name_and_value(ecs: EcsProvider) -> None:
    first, second = add_instance(ecs), add_instance(ecs)
    ecs.put_attributes(
        CTX,
        {
            "attributes": [
                {"name": "stack", "value": "prod", "targetId": first},
                {"name": "stack", "value": "dev", "targetId": second},
                {"name": "team", "value": "prod", "targetId": second},
            ]
        },
    )
    assert [a["targetId"] for a in listed(ecs, attributeName="stack")] == [first, second]
    assert listed(ecs, attributeName="stack", attributeValue="prod") == [
        {"name": "stack", "targetId": first, "value": "prod"}
    ]


def test_list_attributes_paginates_in_creation_order(ecs: EcsProvider) -> None:
    arn = add_instance(ecs)
    ecs.put_attributes(CTX, {"attributes": [{"name": f"a{i}", "value": "v", "targetId": arn} for i in range(7)]})
    names, token = [], None
    while True:
        page = ecs.list_attributes(
            CTX, {"targetType": "container-instance", "maxResults": 3, **({"nextToken": token} if token else {})}
        )
        names += [a["name"] for a in page["attributes"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert names == [f"a{i}" for i in range(7)]


def test_list_attributes_shows_only_registered_instances_of_the_cluster(ecs: EcsProvider) -> None:
    ecs.create_cluster(CTX, {"clusterName": "other"})
    here, gone, elsewhere = add_instance(ecs), add_instance(ecs, status="INACTIVE"), add_instance(ecs, "other")
    for arn in (here, gone, elsewhere):
        with ecs.db.transaction():
            cluster = arn.split("/")[1]
            attribute_store.put(ecs.db, ACCOUNT, REGION, cluster, "container-instance", arn, "stack", "prod")
    assert [a["targetId"] for a in listed(ecs)] == [here]
    assert [a["targetId"] for a in listed(ecs, cluster="other")] == [elsewhere]


def test_delete_attributes_returns_the_removed_values(ecs: EcsProvider) -> None:
    arn = add_instance(ecs, os_type="linux")
    ecs.put_attributes(CTX, {"attributes": [{"name": "stack", "value": "prod", "targetId": arn}]})
    result = ecs.delete_attributes(
        CTX, {"attributes": [{"name": "stack", "targetId": arn}, {"name": "x", "targetId": arn}]}
    )
    assert result == {
        "attributes": [{"name": "stack", "targetId": arn, "value": "prod"}, {"name": "x", "targetId": arn}]
    }
    assert listed(ecs) == [{"name": "ecs.os-type", "targetId": arn, "value": "linux"}]


def test_ten_custom_attributes_per_instance_built_ins_not_counted(ecs: EcsProvider) -> None:
    arn = add_instance(ecs, os_type="linux", availability_zone="us-east-1a")
    ecs.put_attributes(CTX, {"attributes": [{"name": f"c{i}", "targetId": arn} for i in range(10)]})
    ecs.put_attributes(CTX, {"attributes": [{"name": "c0", "value": "again", "targetId": arn}]})  # overwrite: fine
    code, message = error_of(ecs.put_attributes, {"attributes": [{"name": "c10", "targetId": arn}]})
    assert (code, message) == ("AttributeLimitExceededException", attr_ops.LIMIT_EXCEEDED)
    assert len(listed(ecs)) == 12


def test_a_rejected_put_changes_nothing(ecs: EcsProvider) -> None:
    arn = add_instance(ecs)
    code, _ = error_of(
        ecs.put_attributes,
        {"attributes": [{"name": "good", "targetId": arn}, {"name": "bad", "targetId": arn + "0"}]},
    )
    assert code == "TargetNotFoundException"
    assert listed(ecs) == []


def test_an_inactive_instance_is_no_target(ecs: EcsProvider) -> None:
    arn = add_instance(ecs, status="INACTIVE")
    code, message = error_of(ecs.put_attributes, {"attributes": [{"name": "a", "targetId": arn}]})
    assert (code, message) == (
        "TargetNotFoundException",
        f"{attr_ops.TARGET_NOT_FOUND} No container instance {arn} is registered in default.",
    )


def test_old_format_instance_arn_resolves_in_the_given_cluster(ecs: EcsProvider) -> None:
    arn = add_instance(ecs)
    short = f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/{arn.rsplit('/', 1)[1]}"
    ecs.put_attributes(CTX, {"attributes": [{"name": "a", "value": "b", "targetId": short}]})
    assert listed(ecs) == [{"name": "a", "targetId": arn, "value": "b"}]
