"""What ECS shows of an Express Mode service on the ordinary ECS APIs (``providers.ecs.express_services``):
DescribeServices' ``resourceManagementType`` is ``ECS`` for its ECS service (``CUSTOMER`` for every
other), and DescribeServiceRevisions lists under ``ecsManagedResources`` what Express Mode made for it
(the model's ``ECSManagedResources``): the ingress path (the shared load balancer, its security group,
certificate and HTTPS listener, the host-header rule and both target groups), the Application Auto
Scaling target and its target-tracking policy, the 4xx/5xx rollback alarm, the task security group
Express Mode made (none when the request named its own) and the log group.

Everything is read from the stores at the moment of the call, so a resource deleted meanwhile is left
out. Every revision of the service shows the service's current resources (unverified: ECS may keep
each revision's own). Status follows the Express service: ``ACTIVE``, ``DEPROVISIONING`` while
DeleteExpressGatewayService takes it down, ``DELETED`` once it is ``INACTIVE``; the log group, which
outlives the service, stays ``ACTIVE``.

ECS does not refuse UpdateService or DeleteService called directly on such a service (developer guide,
"Updating Resources Outside of Express Mode": both sets of APIs execute what is requested), so neither
does ecslite.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecslite.providers.ecs import express_plan as plan
from ecslite.store import autoscaling as scaling_store
from ecslite.store import cloudwatch as cw_store
from ecslite.store import elbv2 as elb_store
from ecslite.store import express_services as express_store
from ecslite.store.db import Database

Doc = dict[str, Any]

_STATUS = {"ACTIVE": "ACTIVE", "DRAINING": "DEPROVISIONING", "INACTIVE": "DELETED"}


def express_of(db: Database, service: Mapping[str, Any]) -> Doc | None:
    """The Express record managing this ECS service, if any. A name re-used by an ordinary service
    after its Express service was deleted is the customer's again."""
    parts = str(service["serviceArn"]).split(":", 5)
    found = express_store.get(db, parts[4], parts[3], str(service["serviceArn"]))
    if found is None:
        return None
    if found["status"] == "INACTIVE" and service.get("status", "INACTIVE") != "INACTIVE":
        return None
    return found


def management_type(db: Database, service: Mapping[str, Any]) -> str:
    return "ECS" if express_of(db, service) is not None else "CUSTOMER"


def managed_resources(db: Database, express: Mapping[str, Any]) -> Doc:
    """The ``ecsManagedResources`` of an Express service's revisions."""
    parts = str(express["serviceArn"]).split(":", 5)
    account, region = parts[4], parts[3]
    resources = express["resources"]
    shared = resources.get("shared") or {}
    status = _STATUS.get(str(express["status"]), "ACTIVE")
    stamp = {"status": status, "updatedAt": express["updatedAt"]}
    shown: Doc = {"ingressPaths": [_ingress(db, account, region, resources, shared, stamp)]}
    scaling = _scaling(db, account, region, express, stamp)
    if scaling:
        shown["autoScaling"] = scaling
    alarm = (
        cw_store.get_alarm(db, account, region, resources["rollbackAlarm"]) if "rollbackAlarm" in resources else None
    )
    shown["metricAlarms"] = [{"arn": alarm["AlarmArn"], **stamp}] if alarm else []
    group = resources.get("securityGroup")
    shown["serviceSecurityGroups"] = [{"arn": _sg_arn(account, region, group), **stamp}] if group else []
    shown["logGroups"] = (
        [
            {
                "arn": f"arn:aws:logs:{region}:{account}:log-group:{resources['logGroup']}",
                "status": "ACTIVE",
                "updatedAt": express["updatedAt"],
                "logGroupName": resources["logGroup"],
            }
        ]
        if resources.get("logGroup")
        else []
    )
    return shown


def _ingress(db: Database, account: str, region: str, resources: Mapping[str, Any], shared: Doc, stamp: Doc) -> Doc:
    path: Doc = {"accessType": "PUBLIC", "endpoint": f"https://{resources['endpoint']}"}
    lb = elb_store.get_load_balancer(db, shared.get("loadBalancerArn", ""))
    if lb is not None:
        path["loadBalancer"] = {
            "arn": lb["LoadBalancerArn"],
            **stamp,
            "scheme": lb.get("Scheme", "internet-facing"),
            "subnetIds": [z["SubnetId"] for z in lb.get("AvailabilityZones") or () if z.get("SubnetId")],
            "securityGroupIds": list(lb.get("SecurityGroups") or ()),
        }
    if shared.get("loadBalancerSecurityGroup"):
        path["loadBalancerSecurityGroups"] = [
            {"arn": _sg_arn(account, region, shared["loadBalancerSecurityGroup"]), **stamp}
        ]
    if shared.get("certificateArn"):
        path["certificate"] = {"arn": shared["certificateArn"], **stamp, "domainName": resources["endpoint"]}
    if shared.get("listenerArn"):
        path["listener"] = {"arn": shared["listenerArn"], **stamp}
    if resources.get("ruleArn"):
        path["rule"] = {"arn": resources["ruleArn"], **stamp}
    groups = []
    for arn in (resources.get("targetGroupArn"), resources.get("alternateTargetGroupArn")):
        group = elb_store.get_target_group(db, arn) if arn else None
        if group is not None:
            port = int(group.get("Port") or 0)
            checked = group.get("HealthCheckPort", "traffic-port")
            groups.append(
                {
                    "arn": arn,
                    **stamp,
                    "healthCheckPath": group.get("HealthCheckPath", "/"),
                    "healthCheckPort": int(port if checked == "traffic-port" else checked),
                    "port": port,
                }
            )
    path["targetGroups"] = groups
    return path


def _scaling(db: Database, account: str, region: str, express: Mapping[str, Any], stamp: Doc) -> Doc:
    cluster, name = express["cluster"], express["serviceName"]
    key = scaling_store.TargetKey(account, region, "ecs", plan.resource_id(cluster, name), "ecs:service:DesiredCount")
    target = scaling_store.get_target(db, key)
    if target is None:
        return {}
    shown: Doc = {
        "scalableTarget": {
            "arn": target["ScalableTargetARN"],
            **stamp,
            "minCapacity": target["MinCapacity"],
            "maxCapacity": target["MaxCapacity"],
        },
        "applicationAutoScalingPolicies": [],
    }
    wanted = express["resources"].get("scalingPolicyArn")
    for policy in scaling_store.policies_of(db, key):
        if policy.get("PolicyARN") != wanted:
            continue
        tracking = policy.get("TargetTrackingScalingPolicyConfiguration") or {}
        # The model's metric names are Application Auto Scaling's predefined metric types.
        metric = (tracking.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType", "")
        shown["applicationAutoScalingPolicies"].append(
            {
                "arn": policy["PolicyARN"],
                **stamp,
                "policyType": policy.get("PolicyType", "TargetTrackingScaling"),
                "targetValue": tracking.get("TargetValue"),
                "metric": metric,
            }
        )
    return shown


def _sg_arn(account: str, region: str, group: str) -> str:
    return f"arn:aws:ec2:{region}:{account}:security-group/{group}"
