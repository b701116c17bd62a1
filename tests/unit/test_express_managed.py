"""What the ordinary ECS APIs show of an Express service (``providers.ecs.express_managed``), from
records put straight into the stores: which services are ECS-managed, and the managed resources of a
service being taken down or whose resources are already gone."""

from __future__ import annotations

from typing import Any

from ecslite.providers.ecs.express_managed import managed_resources, management_type
from ecslite.store import express_services as express_store
from ecslite.store.db import Database

ARN = "arn:aws:ecs:us-east-1:000000000000:service/default/shop"


def express(status: str, **resources: Any) -> dict[str, Any]:
    return {
        "serviceArn": ARN,
        "cluster": "default",
        "serviceName": "shop",
        "network": "vpc-1",
        "status": status,
        "createdAt": 1.0,
        "updatedAt": 2.0,
        "configurations": [{}],
        "resources": {"shared": {}, "endpoint": "shop-abc.ecs.us-east-1.on.aws", **resources},
    }


def put(db: Database, doc: dict[str, Any]) -> None:
    with db.transaction():
        express_store.put(db, "000000000000", "us-east-1", doc)


def test_only_a_service_an_express_service_holds_is_ecs_managed() -> None:
    db = Database()
    assert management_type(db, {"serviceArn": ARN, "status": "ACTIVE"}) == "CUSTOMER"
    put(db, express("ACTIVE"))
    assert management_type(db, {"serviceArn": ARN, "status": "ACTIVE"}) == "ECS"
    assert management_type(db, {"serviceArn": ARN.replace("shop", "cart"), "status": "ACTIVE"}) == "CUSTOMER"
    put(db, express("INACTIVE"))
    # The deleted Express service's own ECS service stays ECS-managed; a later ordinary one of that name is not.
    assert management_type(db, {"serviceArn": ARN, "status": "INACTIVE"}) == "ECS"
    assert management_type(db, {"serviceArn": ARN, "status": "ACTIVE"}) == "CUSTOMER"


def test_resources_follow_the_express_status_and_gone_ones_are_left_out() -> None:
    db = Database()
    doc = express("DRAINING", securityGroup="sg-1", logGroup="/aws/ecs/default/shop", targetGroupArn="arn:tg")
    shown = managed_resources(db, doc)
    [path] = shown["ingressPaths"]
    # Nothing of the load balancer, groups, scaling or alarm is stored any more.
    assert path == {"accessType": "PUBLIC", "endpoint": "https://shop-abc.ecs.us-east-1.on.aws", "targetGroups": []}
    assert "autoScaling" not in shown and shown["metricAlarms"] == []
    assert shown["serviceSecurityGroups"] == [
        {"arn": "arn:aws:ec2:us-east-1:000000000000:security-group/sg-1", "status": "DEPROVISIONING", "updatedAt": 2.0}
    ]
    [logs] = shown["logGroups"]
    assert (logs["status"], logs["logGroupName"]) == ("ACTIVE", "/aws/ecs/default/shop")
    assert logs["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/aws/ecs/default/shop"
    done = managed_resources(db, {**doc, "status": "INACTIVE"})
    assert [g["status"] for g in done["serviceSecurityGroups"]] == ["DELETED"]
    # A request that named its own security groups has none made for it.
    assert managed_resources(db, express("ACTIVE"))["serviceSecurityGroups"] == []
