"""The resource plan of an ECS Express Mode service (providers/ecs/express_plan.py): defaults, how an
Update's fields merge over the previous configuration, the requests made to ECS, ELBv2 and
Application Auto Scaling (the service on ECS Express Mode's canary, behind two target groups), and
the request checks."""

from __future__ import annotations

from typing import Any

import pytest

from ecslite.model.traffic_shift import shift_plan, split_weights
from ecslite.providers.cloudwatch.expressions import evaluate
from ecslite.providers.ecs import express_plan as plan
from ecslite.providers.ecs.errors import InvalidParameterException
from ecslite.providers.ecs.service_blue_green import check_configuration

ROLE = "arn:aws:iam::000000000000:role/exec"


def resolved(**params: Any) -> dict[str, Any]:
    return plan.configuration({"primaryContainer": {"image": "web:1"}, "executionRoleArn": ROLE, **params})


def test_configuration_defaults_when_only_the_image_is_given() -> None:
    config = resolved()
    assert (config["cpu"], config["memory"], config["cpuArchitecture"]) == ("1024", "2048", "X86_64")
    assert config["healthCheckPath"] == "/ping" and config["primaryContainer"]["containerPort"] == 80
    assert config["scalingTarget"] == {
        "minTaskCount": 1,
        "maxTaskCount": 20,
        "autoScalingMetric": "AVERAGE_CPU",
        "autoScalingTargetValue": 60,
    }


def test_update_keeps_what_it_does_not_name() -> None:
    first = resolved(cpu="512", scalingTarget={"maxTaskCount": 4})
    first["taskDefinitionArn"] = "arn:td:1"
    second = plan.configuration({"healthCheckPath": "/ready", "scalingTarget": {"minTaskCount": 2}}, first)
    assert second["cpu"] == "512" and second["healthCheckPath"] == "/ready"
    assert (second["scalingTarget"]["minTaskCount"], second["scalingTarget"]["maxTaskCount"]) == (2, 4)
    assert second["taskDefinitionArn"] == "arn:td:1"
    assert first["healthCheckPath"] == "/ping"  # the previous configuration is not changed
    with pytest.raises(InvalidParameterException, match="minTaskCount must be less"):
        plan.configuration({"scalingTarget": {"minTaskCount": 5}}, first)


def test_task_definition_request_runs_main_on_fargate_with_awslogs() -> None:
    config = resolved(taskRoleArn="arn:task", primaryContainer={"image": "web:1", "command": ["serve"]})
    logs = plan.log_settings(config, "default", "shop")
    request = plan.task_definition_request(config, plan.family_name("default", "shop"), "eu-west-1", logs, [])
    assert request["family"] == "default--shop" and request["networkMode"] == "awsvpc"
    assert request["requiresCompatibilities"] == ["FARGATE"] and request["taskRoleArn"] == "arn:task"
    [main] = request["containerDefinitions"]
    assert (main["name"], main["command"], main["portMappings"][0]["containerPort"]) == ("Main", ["serve"], 80)
    assert main["logConfiguration"]["options"] == {
        "awslogs-group": "/aws/ecs/default/shop",
        "awslogs-region": "eu-west-1",
        "awslogs-stream-prefix": "ecs",
    }
    given = resolved(primaryContainer={"image": "w", "awsLogsConfiguration": {"logGroup": "g", "logStreamPrefix": "p"}})
    assert plan.log_settings(given, "default", "shop") == {"logGroup": "g", "logStreamPrefix": "p"}


def test_service_and_load_balancing_requests() -> None:
    config = resolved(scalingTarget={"minTaskCount": 2})
    config["networkConfiguration"] = {"subnets": ["subnet-1", "subnet-2"]}
    balancers = plan.load_balancers("arn:tg", "arn:tg2", "arn:rule", "arn:role", 80)
    service = plan.service_request("default", "shop", "arn:td", config, ["sg-1"], balancers, "shop-alarm")
    assert service["desiredCount"] == 2 and service["launchType"] == "FARGATE"
    assert service["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": ["subnet-1", "subnet-2"],
        "securityGroups": ["sg-1"],
    }
    advanced = {"alternateTargetGroupArn": "arn:tg2", "productionListenerRule": "arn:rule", "roleArn": "arn:role"}
    assert service["loadBalancers"] == [
        {"targetGroupArn": "arn:tg", "containerName": "Main", "containerPort": 80, "advancedConfiguration": advanced}
    ]
    assert service["deploymentController"] == {"type": "ECS"}
    deployment = service["deploymentConfiguration"]
    assert deployment["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert (deployment["strategy"], deployment["bakeTimeInMinutes"]) == ("CANARY", 3)
    assert deployment["canaryConfiguration"] == {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 3}
    assert deployment["alarms"] == {"alarmNames": ["shop-alarm"], "enable": True, "rollback": True}
    group = plan.target_group_request("a-very-long-service-name-indeed", "default", "0", 8080, "vpc-1", "/hc")
    assert len(group["Name"]) <= 32 and group["TargetType"] == "ip" and group["HealthCheckPath"] == "/hc"
    second = plan.target_group_request(
        "a-very-long-service-name-indeed", "default", "0", 8080, "vpc-1", "/hc", alternate=True
    )
    assert len(second["Name"]) <= 32 and second["Name"] != group["Name"]
    assert {k: v for k, v in second.items() if k != "Name"} == {k: v for k, v in group.items() if k != "Name"}
    host = plan.endpoint_host("Shop_Web", "default", "0", "us-east-1")
    assert host.startswith("shop-web-") and host.endswith(".ecs.us-east-1.on.aws")
    assert host == plan.endpoint_host("Shop_Web", "default", "0", "us-east-1")  # stable across calls
    rule = plan.rule_request("arn:listener", 3, host, "arn:tg", "arn:tg2")
    assert rule["Conditions"] == [{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}]
    # The production rule names both groups, all traffic on the first until a canary shifts it.
    assert rule["Actions"] == [
        {
            "Type": "forward",
            "ForwardConfig": {
                "TargetGroups": [
                    {"TargetGroupArn": "arn:tg", "Weight": 100},
                    {"TargetGroupArn": "arn:tg2", "Weight": 0},
                ]
            },
        }
    ]


def test_the_deployment_is_ecs_express_canary_on_ecslites_traffic_shift() -> None:
    config = plan.deployment_configuration("shop-alarm")
    # ecslite's own CreateService/UpdateService checks accept it, and the shift it makes is ECS's:
    # 5 % (weights 5 / 95) for 3 minutes, then all of it.
    check_configuration(config, daemon=False, ecs_controller=True)
    shifts = shift_plan(config)
    assert shifts is not None and shifts.bake_seconds == 180.0
    assert [split_weights(share) for share in shifts.shares] == [(5, 95), (100, 0)]


def test_scaling_requests_for_each_metric() -> None:
    scaling = resolved(scalingTarget={"maxTaskCount": 6})["scalingTarget"]
    target = plan.scalable_target_request("default", "shop", scaling)
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == ("service/default/shop", 1, 6)
    lb = "arn:aws:elasticloadbalancing:us-east-1:0:loadbalancer/app/gw/abc"
    tg = "arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/shop/def"
    policy = plan.scaling_policy_request("default", "shop", scaling, lb, tg)
    spec = policy["TargetTrackingScalingPolicyConfiguration"]
    assert spec == {
        "TargetValue": 60.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
    }
    requests = {**scaling, "autoScalingMetric": "REQUEST_COUNT_PER_TARGET", "autoScalingTargetValue": 100}
    metric = plan.scaling_policy_request("default", "shop", requests, lb, tg)[
        "TargetTrackingScalingPolicyConfiguration"
    ]
    assert metric["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "ALBRequestCountPerTarget",
        "ResourceLabel": "app/gw/abc/targetgroup/shop/def",
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"executionRoleArn": ROLE}, plan.NEED_CONTAINER),
        ({"primaryContainer": {"image": "a"}}, plan.NEED_EXECUTION_ROLE),
        ({"taskDefinitionArn": "arn:td", "cpu": "256"}, plan.BOTH_DEFINITIONS.format(field="cpu")),
        ({"primaryContainer": {"image": "a", "containerPort": 0}, "executionRoleArn": ROLE}, plan.BAD_PORT),
        ({"taskDefinitionArn": "arn:td", "healthCheckPath": "ping"}, plan.BAD_HEALTH_PATH),
        ({"taskDefinitionArn": "arn:td", "scalingTarget": {"autoScalingTargetValue": 0}}, plan.BAD_TARGET_VALUE),
    ],
)
def test_check_request_rejects(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameterException) as caught:
        plan.check_request(params, creating=True)
    assert caught.value.message == message


def test_check_request_allows_a_partial_update() -> None:
    plan.check_request({"cpu": "512"}, creating=False)


LB = "arn:aws:elasticloadbalancing:us-east-1:0:loadbalancer/app/gw/abc"
BLUE = "arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/shop/def"
GREEN = "arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/shop-2/789"


def test_rollback_alarm_is_the_error_percentage_over_both_groups() -> None:
    name = plan.rollback_alarm_name("default", "s" * 255)
    assert len(name) <= 255 and name != plan.rollback_alarm_name("other", "s" * 255)
    request = plan.rollback_alarm_request(name, LB, [BLUE, GREEN])
    assert request["AlarmName"] == name
    # "> 1 for 2 datapoints within 3 minutes" (ECS developer guide), on one-minute sums.
    assert (request["Threshold"], request["ComparisonOperator"]) == (1.0, "GreaterThanThreshold")
    assert (request["EvaluationPeriods"], request["DatapointsToAlarm"]) == (3, 2)
    assert request["TreatMissingData"] == "notBreaching"
    stats = [q for q in request["Metrics"] if "MetricStat" in q]
    assert all(q["MetricStat"]["Period"] == 60 and q["MetricStat"]["Stat"] == "Sum" for q in stats)
    assert all(q["MetricStat"]["Metric"]["Namespace"] == "AWS/ApplicationELB" for q in stats)
    shown = {
        (
            q["MetricStat"]["Metric"]["MetricName"],
            tuple((d["Name"], d["Value"]) for d in q["MetricStat"]["Metric"]["Dimensions"]),
        )
        for q in stats
    }
    assert shown == {
        (metric, (("LoadBalancer", "app/gw/abc"), ("TargetGroup", group)))
        for metric in ("RequestCount", "HTTPCode_Target_4XX_Count", "HTTPCode_Target_5XX_Count")
        for group in ("targetgroup/shop/def", "targetgroup/shop-2/789")
    }
    [returned] = [q for q in request["Metrics"] if q["ReturnData"]]
    assert "MetricStat" not in returned

    # The expression, evaluated by ecslite's metric math on what the publisher writes (nothing for
    # a zero count): minute 0 has 5 errors of 200 requests (2.5 %) though only the canary's group
    # has 5XX and no group has 4XX; minute 60 has requests and no error, so no datapoint.
    by_metric = {
        (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Metric"]["Dimensions"][1]["Value"]): q["Id"]
        for q in stats
    }
    series = {q["Id"]: {} for q in stats}
    series[by_metric[("RequestCount", "targetgroup/shop/def")]] = {0.0: 190.0, 60.0: 100.0}
    series[by_metric[("RequestCount", "targetgroup/shop-2/789")]] = {0.0: 10.0}
    series[by_metric[("HTTPCode_Target_5XX_Count", "targetgroup/shop-2/789")]] = {0.0: 5.0}
    assert evaluate(returned["Expression"], series, []) == {0.0: 2.5}
