"""Known-good ECS requests, the seeds that the mutation property starts from.

Each keeps to its botocore input shape (a test checks this with botocore's own validator) and aims
at what the edge fixture creates (cluster ``fuzz``, family ``fuzz-family``), so an unmutated seed
gets past validation and lookups into the operation's business rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecslite.store.vpc import default_ids
from tests.property.conftest import ACCOUNT, CLUSTER, CLUSTER_ARN, FAMILY, REGION, TASK_ARN, TASK_ID

REPO = Path(__file__).resolve().parents[2]
INSTANCE_ID = "fedcba9876543210fedcba9876543210"
DEFAULTS = default_ids(ACCOUNT, REGION, "172.31.0.0/16")  # the default VPC the server sets up (store.vpc)
AWSVPC = {"awsvpcConfiguration": {"subnets": [DEFAULTS.subnets[0]], "securityGroups": [DEFAULTS.group]}}


def _otel_demo() -> dict[str, Any]:
    text = (REPO / "examples" / "otel-demo" / "task-definition.json").read_text()
    doc: dict[str, Any] = json.loads(text.replace("<AWS_ACCOUNT_ID>", ACCOUNT))
    doc["family"] = "fuzz-otel"
    return doc


EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "RegisterTaskDefinition": [
        _otel_demo(),
        {
            "family": FAMILY,
            "networkMode": "bridge",
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": "nginx:1.27",
                    "cpu": 128,
                    "memory": 256,
                    "portMappings": [{"containerPort": 80, "hostPort": 8080, "protocol": "tcp"}],
                    "environment": [{"name": "MODE", "value": "fuzz"}],
                    "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 10, "retries": 3},
                },
                {
                    "name": "sidecar",
                    "image": "busybox",
                    "memoryReservation": 64,
                    "essential": False,
                    "dependsOn": [{"containerName": "web", "condition": "START"}],
                },
            ],
            "volumes": [{"name": "data", "host": {"sourcePath": "/tmp/fuzz"}}],
            "tags": [{"key": "team", "value": "fuzz"}],
        },
    ],
    "DescribeTaskDefinition": [{"taskDefinition": f"{FAMILY}:1", "include": ["TAGS"]}],
    "DeregisterTaskDefinition": [{"taskDefinition": f"{FAMILY}:1"}],
    "DeleteTaskDefinitions": [{"taskDefinitions": [f"{FAMILY}:1"]}],
    "ListTaskDefinitions": [{"familyPrefix": "fuzz", "status": "ACTIVE", "sort": "DESC", "maxResults": 2}],
    "ListTaskDefinitionFamilies": [{"familyPrefix": "fuzz", "status": "ALL", "maxResults": 1}],
    "CreateCluster": [
        {
            "clusterName": "fuzz-two",
            "settings": [{"name": "containerInsights", "value": "enabled"}],
            "tags": [{"key": "team", "value": "fuzz"}],
            "capacityProviders": ["FARGATE"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
        }
    ],
    "DescribeClusters": [
        {"clusters": [CLUSTER, CLUSTER_ARN, "missing"], "include": ["SETTINGS", "STATISTICS", "TAGS"]}
    ],
    "ListClusters": [{"maxResults": 1}],
    "UpdateCluster": [{"cluster": CLUSTER, "settings": [{"name": "containerInsights", "value": "disabled"}]}],
    "UpdateClusterSettings": [{"cluster": CLUSTER, "settings": [{"name": "containerInsights", "value": "enhanced"}]}],
    "PutClusterCapacityProviders": [
        {
            "cluster": CLUSTER,
            "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 2, "base": 1}],
        }
    ],
    "DeleteCluster": [{"cluster": "fuzz-two"}],
    "RunTask": [
        {"cluster": CLUSTER, "taskDefinition": FAMILY, "count": 2, "startedBy": "fuzz"},
        {
            "cluster": CLUSTER,
            "taskDefinition": "fuzz-otel",
            "launchType": "FARGATE",
            "networkConfiguration": AWSVPC,
            "overrides": {
                "containerOverrides": [{"name": "python-service", "environment": [{"name": "A", "value": "1"}]}]
            },
            "tags": [{"key": "run", "value": "fuzz"}],
            "enableECSManagedTags": True,
            "propagateTags": "TASK_DEFINITION",
        },
    ],
    "StartTask": [{"cluster": CLUSTER, "taskDefinition": FAMILY, "containerInstances": [INSTANCE_ID]}],
    "DescribeTasks": [{"cluster": CLUSTER, "tasks": [TASK_ID, TASK_ARN], "include": ["TAGS"]}],
    "ListTasks": [{"cluster": CLUSTER, "family": FAMILY, "desiredStatus": "RUNNING", "maxResults": 5}],
    "StopTask": [{"cluster": CLUSTER, "task": TASK_ID, "reason": "fuzz"}],
    "CreateService": [
        {
            "cluster": CLUSTER,
            "serviceName": "web",
            "taskDefinition": FAMILY,
            "desiredCount": 1,
            "deploymentConfiguration": {
                "maximumPercent": 200,
                "minimumHealthyPercent": 50,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
            },
        },
        {
            "cluster": CLUSTER,
            "serviceName": "otel",
            "taskDefinition": "fuzz-otel",
            "desiredCount": 1,
            "launchType": "FARGATE",
            "networkConfiguration": AWSVPC,
        },
    ],
    "UpdateService": [{"cluster": CLUSTER, "service": "web", "desiredCount": 2, "forceNewDeployment": True}],
    "DescribeServices": [{"cluster": CLUSTER, "services": ["web", "otel", "missing"], "include": ["TAGS"]}],
    "ListServices": [{"cluster": CLUSTER, "maxResults": 1}],
    "DeleteService": [{"cluster": CLUSTER, "service": "web", "force": True}],
    "RegisterContainerInstance": [
        {
            "cluster": CLUSTER,
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096},
            ],
            "attributes": [{"name": "stack", "value": "prod"}],
        }
    ],
    "DescribeContainerInstances": [{"cluster": CLUSTER, "containerInstances": [INSTANCE_ID]}],
    "ListContainerInstances": [{"cluster": CLUSTER, "filter": "attribute:stack == prod", "status": "ACTIVE"}],
    "UpdateContainerInstancesState": [{"cluster": CLUSTER, "containerInstances": [INSTANCE_ID], "status": "DRAINING"}],
    "DeregisterContainerInstance": [{"cluster": CLUSTER, "containerInstance": INSTANCE_ID, "force": True}],
    "PutAttributes": [
        {
            "cluster": CLUSTER,
            "attributes": [
                {"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": INSTANCE_ID}
            ],
        }
    ],
    "ListAttributes": [{"cluster": CLUSTER, "targetType": "container-instance", "attributeName": "stack"}],
    "DeleteAttributes": [{"cluster": CLUSTER, "attributes": [{"name": "stack", "targetId": INSTANCE_ID}]}],
    "CreateCapacityProvider": [
        {
            "name": "fuzz-cp",
            "autoScalingGroupProvider": {
                "autoScalingGroupArn": (
                    f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:"
                    "0d3f4e5a-1111-2222-3333-444455556666:autoScalingGroupName/fuzz-asg"
                ),
                "managedScaling": {"status": "ENABLED", "targetCapacity": 90},
                "managedTerminationProtection": "DISABLED",
            },
        }
    ],
    "DescribeCapacityProviders": [{"capacityProviders": ["FARGATE", "fuzz-cp"], "include": ["TAGS"]}],
    "UpdateCapacityProvider": [
        {"name": "fuzz-cp", "autoScalingGroupProvider": {"managedScaling": {"status": "DISABLED"}}}
    ],
    "DeleteCapacityProvider": [{"capacityProvider": "fuzz-cp"}],
    "PutAccountSetting": [{"name": "containerInsights", "value": "enabled"}],
    "PutAccountSettingDefault": [{"name": "awsvpcTrunking", "value": "enabled"}],
    "ListAccountSettings": [{"effectiveSettings": True, "maxResults": 2}],
    "DeleteAccountSetting": [{"name": "containerInsights"}],
    "TagResource": [{"resourceArn": CLUSTER_ARN, "tags": [{"key": "a", "value": "b"}, {"key": "c", "value": ""}]}],
    "UntagResource": [{"resourceArn": CLUSTER_ARN, "tagKeys": ["a"]}],
    "ListTagsForResource": [{"resourceArn": CLUSTER_ARN}],
    "GetTaskProtection": [{"cluster": CLUSTER, "tasks": [TASK_ID]}],
    "UpdateTaskProtection": [
        {"cluster": CLUSTER, "tasks": [TASK_ID], "protectionEnabled": True, "expiresInMinutes": 60}
    ],
    "ExecuteCommand": [
        {"cluster": CLUSTER, "task": TASK_ID, "container": "app", "interactive": True, "command": "/bin/sh"}
    ],
}
