"""Application Auto Scaling over HTTP (spec/ecs.md §6): the seed's commands through the AWS CLI, the
operations through boto3, and bad input answered with AWS's error types and messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import AwsCliError, make_client

DIMENSION = "ecs:service:DesiredCount"
SEED_POLICY = {
    "TargetValue": 70.0,
    "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
    "ScaleInCooldown": 300,
    "ScaleOutCooldown": 60,
}


@pytest.fixture
def aas(endpoint: str) -> Any:
    return make_client("application-autoscaling", endpoint)


@pytest.fixture
def service(ecs: Any) -> str:
    ecs.create_cluster(clusterName="otel-demo-cluster")
    ecs.register_task_definition(
        family="otel-demo-app", containerDefinitions=[{"name": "app", "image": "app", "memory": 128}]
    )
    ecs.create_service(
        cluster="otel-demo-cluster", serviceName="otel-demo-service", taskDefinition="otel-demo-app", desiredCount=1
    )
    return "service/otel-demo-cluster/otel-demo-service"


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def test_seed_autoscaling_commands_through_the_cli(aws: Callable[..., Any], service: str, tmp_path: Path) -> None:
    registered = aws(
        "application-autoscaling",
        "register-scalable-target",
        "--service-namespace",
        "ecs",
        "--scalable-dimension",
        DIMENSION,
        "--resource-id",
        service,
        "--min-capacity",
        "1",
        "--max-capacity",
        "10",
    )
    assert registered["ScalableTargetARN"].startswith(
        "arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/"
    )
    (tmp_path / "scaling-policy.json").write_text(json.dumps(SEED_POLICY))
    put = aws(
        "application-autoscaling",
        "put-scaling-policy",
        "--service-namespace",
        "ecs",
        "--scalable-dimension",
        DIMENSION,
        "--resource-id",
        service,
        "--policy-name",
        "cpu-scaling-policy",
        "--policy-type",
        "TargetTrackingScaling",
        "--target-tracking-scaling-policy-configuration",
        "file://scaling-policy.json",
    )
    assert put["PolicyARN"].startswith("arn:aws:autoscaling:us-east-1:000000000000:scalingPolicy:")
    assert put["PolicyARN"].endswith(f":resource/ecs/{service}:policyName/cpu-scaling-policy")
    names = [a["AlarmName"] for a in put["Alarms"]]
    assert names[0].startswith(f"TargetTracking-{service}-AlarmHigh-")
    assert names[1].startswith(f"TargetTracking-{service}-AlarmLow-")
    assert put["Alarms"][0]["AlarmARN"] == f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{names[0]}"

    policies = aws("application-autoscaling", "describe-scaling-policies", "--service-namespace", "ecs")
    (policy,) = policies["ScalingPolicies"]
    assert policy["PolicyName"] == "cpu-scaling-policy" and policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"] == SEED_POLICY
    assert policy["Alarms"] == put["Alarms"] and policy["ResourceId"] == service
    assert isinstance(policy["CreationTime"], float)

    activities = aws(
        "application-autoscaling", "describe-scaling-activities", "--service-namespace", "ecs", "--resource-id", service
    )
    assert activities == {"ScalingActivities": []}
    targets = aws("application-autoscaling", "describe-scalable-targets", "--service-namespace", "ecs")
    (target,) = targets["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 10)
    assert target["RoleARN"] == (
        "arn:aws:iam::000000000000:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_ECSService"
    )
    assert target["SuspendedState"] == {
        "DynamicScalingInSuspended": False,
        "DynamicScalingOutSuspended": False,
        "ScheduledScalingSuspended": False,
    }


def test_cli_reports_an_unknown_service_as_aws_does(aws: Callable[..., Any], service: str) -> None:
    with pytest.raises(AwsCliError) as caught:
        aws(
            "application-autoscaling",
            "register-scalable-target",
            "--service-namespace",
            "ecs",
            "--scalable-dimension",
            DIMENSION,
            "--resource-id",
            "service/otel-demo-cluster/nope",
            "--min-capacity",
            "1",
            "--max-capacity",
            "10",
        )
    assert "(ValidationException)" in caught.value.stderr
    assert "ECS service doesn't exist: service/otel-demo-cluster/nope" in caught.value.stderr


def test_bad_input_gets_aws_errors(aas: Any, service: str) -> None:
    base = {"ServiceNamespace": "ecs", "ScalableDimension": DIMENSION, "ResourceId": service}
    assert error_of(aas.register_scalable_target, **base, MinCapacity=5, MaxCapacity=2) == (
        "ValidationException",
        "Minimum capacity cannot be greater than maximum capacity",
    )
    code, _ = error_of(aas.register_scalable_target, **base)
    assert code == "ValidationException"
    assert (
        error_of(
            aas.register_scalable_target,
            **{**base, "ScalableDimension": "ecs:service:Desired"},
            MinCapacity=1,
            MaxCapacity=2,
        )[0]
        == "ValidationException"
    )
    wrong = {**base, "ScalableDimension": "dynamodb:table:ReadCapacityUnits"}
    assert error_of(aas.register_scalable_target, **wrong, MinCapacity=1, MaxCapacity=2) == (
        "ValidationException",
        "Unsupported service namespace, resource type or scalable dimension",
    )
    assert error_of(
        aas.put_scaling_policy,
        **base,
        PolicyName="p",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=SEED_POLICY,
    ) == (
        "ObjectNotFoundException",
        f"No scalable target registered for service namespace: ecs, resource ID: {service}, "
        f"scalable dimension: {DIMENSION}",
    )
    aas.register_scalable_target(**base, MinCapacity=1, MaxCapacity=3)
    code, message = error_of(
        aas.put_scheduled_action,
        **base,
        ScheduledActionName="bad",
        Schedule="cron(0 8 * * *)",
        ScalableTargetAction={"MinCapacity": 2},
    )
    assert code == "ValidationException" and message.startswith("Invalid schedule expression: cron(0 8 * * *).")
    assert error_of(
        aas.put_scheduled_action,
        **base,
        ScheduledActionName="none",
        Schedule="rate(5 minutes)",
        ScalableTargetAction={},
    ) == ("ValidationException", "At least one of minimum capacity and maximum capacity should be provided")
    assert error_of(aas.delete_scaling_policy, **base, PolicyName="nope")[0] == "ObjectNotFoundException"
    assert (
        error_of(
            aas.put_scaling_policy,
            **base,
            PolicyName="mem",
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 50.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget"},
            },
        )[0]
        == "ValidationException"
    )


def test_register_updates_only_what_is_given_and_deregister_removes_policies_actions_and_alarms(
    aas: Any, service: str, endpoint: str
) -> None:
    cloudwatch = make_client("cloudwatch", endpoint)
    base = {"ServiceNamespace": "ecs", "ScalableDimension": DIMENSION, "ResourceId": service}
    arn = aas.register_scalable_target(**base, MinCapacity=1, MaxCapacity=4, Tags={"env": "dev"})["ScalableTargetARN"]
    aas.register_scalable_target(**base, SuspendedState={"DynamicScalingInSuspended": True})
    (target,) = aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 4)
    assert target["SuspendedState"]["DynamicScalingInSuspended"] is True
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"env": "dev"}
    aas.put_scaling_policy(
        **base,
        PolicyName="cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=SEED_POLICY,
    )
    aas.put_scheduled_action(
        **base,
        ScheduledActionName="night",
        Schedule="cron(0 22 * * ? *)",
        Timezone="Asia/Tokyo",
        ScalableTargetAction={"MinCapacity": 0, "MaxCapacity": 1},
    )
    (action,) = aas.describe_scheduled_actions(ServiceNamespace="ecs")["ScheduledActions"]
    assert action["Timezone"] == "Asia/Tokyo" and action["ScheduledActionARN"].endswith(
        f":resource/ecs/{service}:scheduledActionName/night"
    )
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 2
    aas.deregister_scalable_target(**base)
    assert aas.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"] == []
    assert aas.describe_scheduled_actions(ServiceNamespace="ecs")["ScheduledActions"] == []
    assert cloudwatch.describe_alarms()["MetricAlarms"] == []
    assert error_of(aas.deregister_scalable_target, **base)[0] == "ObjectNotFoundException"


def test_predictive_forecast_answers_for_a_non_predictive_policy(aas: Any, service: str) -> None:
    base = {"ServiceNamespace": "ecs", "ScalableDimension": DIMENSION, "ResourceId": service}
    aas.register_scalable_target(**base, MinCapacity=1, MaxCapacity=4)
    aas.put_scaling_policy(
        **base,
        PolicyName="cpu",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration=SEED_POLICY,
    )
    code, message = error_of(
        aas.get_predictive_scaling_forecast, **base, PolicyName="cpu", StartTime=1_750_000_000, EndTime=1_750_086_400
    )
    assert (code, message) == ("ValidationException", "The policy cpu is not a PredictiveScaling policy.")
