"""Native blue/green deployments through boto3 against a server (spec/ecs.md §4.11, §7): a BLUE_GREEN
service behind two target groups and a production and a test listener rule; an update pauses at a
PAUSE hook after the test traffic shift (DescribeServiceDeployments' lifecycleStage and
lifecycleHookDetails, DescribeRules, DescribeTargetHealth), ContinueServiceDeployment lets it finish,
and the local ALB follows the rewritten production rule; CreateService's refusals. CANARY and LINEAR
rollouts: the production rule's weights during the canary and a linear step, a rollback from the
canary and an update that interrupts a linear step."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.ports import free_port
from tests.integration.test_elb_ecs import PORT, definition, error_of, network, wait_for


def group(elbv2: Any, vpc: str, name: str) -> str:
    arn = elbv2.create_target_group(
        Name=name,
        Protocol="HTTP",
        Port=PORT,
        VpcId=vpc,
        TargetType="ip",
        HealthCheckIntervalSeconds=5,
        HealthCheckTimeoutSeconds=2,
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}]
    )
    return str(arn)


def rule(elbv2: Any, listener: str, priority: int, conditions: list[dict[str, Any]], weights: dict[str, int]) -> str:
    groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()]
    return str(
        elbv2.create_rule(
            ListenerArn=listener,
            Priority=priority,
            Conditions=conditions,
            Actions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}],
        )["Rules"][0]["RuleArn"]
    )


def weights(elbv2: Any, arn: str) -> dict[str, int]:
    found = elbv2.describe_rules(RuleArns=[arn])["Rules"][0]["Actions"][0]["ForwardConfig"]["TargetGroups"]
    return {g["TargetGroupArn"]: g["Weight"] for g in found}


def targets(elbv2: Any, arn: str) -> set[str]:
    found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {h["Target"]["Id"] for h in found if h["TargetHealth"]["State"] != "draining"}


def deployment(ecs: Any, arn: str) -> dict[str, Any]:
    found: dict[str, Any] = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]
    return found


def test_blue_green_update_pauses_shifts_rules_and_swaps_groups(ecs: Any, elbv2: Any, ec2: Any) -> None:
    vpc, subnets = network(ec2)
    blue, green = group(elbv2, vpc, "blue"), group(elbv2, vpc, "green")
    lb = elbv2.create_load_balancer(Name="shop", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    port = free_port()
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]["ListenerArn"]
    production = rule(elbv2, listener, 1, [{"Field": "path-pattern", "Values": ["/*"]}], {blue: 100, green: 0})
    header = {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Test", "Values": ["1"]}}
    test = rule(elbv2, listener, 2, [header], {blue: 100, green: 0})
    definition(ecs)
    advanced = {"alternateTargetGroupArn": green, "productionListenerRule": production, "testListenerRule": test}
    lbs = [{"targetGroupArn": blue, "containerName": "web", "containerPort": PORT, "advancedConfiguration": advanced}]
    lambda_hook = {
        "hookTargetArn": "arn:aws:lambda:us-east-1:000000000000:function:check",
        "lifecycleStages": ["PRE_SCALE_UP"],
    }
    request: dict[str, Any] = {
        "serviceName": "web",
        "taskDefinition": "web",
        "desiredCount": 1,
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": subnets[:1]}},
        "loadBalancers": lbs,
    }
    code, message = error_of(
        ecs.create_service,
        **request,
        deploymentConfiguration={"strategy": "BLUE_GREEN", "lifecycleHooks": [lambda_hook]},
    )
    assert code == "UnsupportedFeatureException" and "AWS_LAMBDA" in message
    canary = {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0.05}}
    assert error_of(ecs.create_service, **request, deploymentConfiguration=canary)[0] == "InvalidParameterException"
    service = ecs.create_service(**request, deploymentConfiguration={"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0})
    first = service["service"]["currentServiceDeployment"]
    wait_for(lambda: deployment(ecs, first)["status"] == "SUCCESSFUL", 60)
    assert len(targets(elbv2, blue)) == 1 and not targets(elbv2, green)

    pause = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}
    ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "web", "image": "example/web:2", "portMappings": [{"containerPort": PORT}]}],
    )
    updated = ecs.update_service(
        service="web", taskDefinition="web", deploymentConfiguration={"lifecycleHooks": [pause]}
    )["service"]
    arn = updated["currentServiceDeployment"]
    hooks = wait_for(lambda: deployment(ecs, arn).get("lifecycleHookDetails"), 60)
    assert hooks[0]["status"] == "AWAITING_ACTION" and hooks[0]["targetType"] == "PAUSE"
    assert deployment(ecs, arn)["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
    assert weights(elbv2, test) == {blue: 0, green: 100}
    assert weights(elbv2, production) == {blue: 100, green: 0}
    assert len(targets(elbv2, green)) == 1 and len(targets(elbv2, blue)) == 1  # both revisions run

    assert error_of(ecs.continue_service_deployment, serviceDeploymentArn=arn, hookId="ecs-pause-nope")[0] == (
        "InvalidParameterException"
    )
    ecs.continue_service_deployment(serviceDeploymentArn=arn, hookId=hooks[0]["hookId"], action="CONTINUE")
    wait_for(lambda: deployment(ecs, arn)["status"] == "SUCCESSFUL", 60)
    assert weights(elbv2, production) == {blue: 0, green: 100}
    wait_for(lambda: not targets(elbv2, blue) and len(targets(elbv2, green)) == 1, 30)
    history = ecs.list_service_deployments(service="web")["serviceDeployments"]
    assert [d["status"] for d in history] == ["SUCCESSFUL", "SUCCESSFUL"]
    # The ALB follows the rewritten rule: the production path now reaches the green group's task
    # (refused on the fake runtime: 502), not the emptied blue group (503).
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 502


def revision(ecs: Any, version: str) -> None:
    container = {"name": "web", "image": f"example/web:{version}", "portMappings": [{"containerPort": PORT}]}
    ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[container],
    )


def test_canary_and_linear_rollouts_weight_the_production_rule(ecs: Any, elbv2: Any, ec2: Any) -> None:
    vpc, subnets = network(ec2)
    blue, green = group(elbv2, vpc, "blue"), group(elbv2, vpc, "green")
    lb = elbv2.create_load_balancer(Name="shop", Subnets=subnets[:2])["LoadBalancers"][0]["LoadBalancerArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=free_port(),
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]["ListenerArn"]
    production = rule(elbv2, listener, 1, [{"Field": "path-pattern", "Values": ["/*"]}], {blue: 100, green: 0})
    definition(ecs)
    advanced = {"alternateTargetGroupArn": green, "productionListenerRule": production}
    # A canary bake of a minute: long enough to read the canary's weights, never waited out here.
    canary = {"canaryPercent": 12.5, "canaryBakeTimeInMinutes": 1}
    service = ecs.create_service(
        serviceName="web",
        taskDefinition="web",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets[:1]}},
        loadBalancers=[
            {"targetGroupArn": blue, "containerName": "web", "containerPort": PORT, "advancedConfiguration": advanced}
        ],
        deploymentConfiguration={"strategy": "CANARY", "bakeTimeInMinutes": 0, "canaryConfiguration": canary},
    )["service"]
    assert service["deploymentConfiguration"]["canaryConfiguration"] == canary
    wait_for(lambda: deployment(ecs, service["currentServiceDeployment"])["status"] == "SUCCESSFUL", 60)
    assert weights(elbv2, production) == {blue: 100, green: 0}

    revision(ecs, "2")
    arn = ecs.update_service(service="web", taskDefinition="web")["service"]["currentServiceDeployment"]
    wait_for(lambda: weights(elbv2, production) == {blue: 875, green: 125}, 60)  # 12.5 %: tenths of a percent
    assert deployment(ecs, arn)["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    assert len(targets(elbv2, green)) == 1 and len(targets(elbv2, blue)) == 1
    ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
    wait_for(lambda: deployment(ecs, arn)["status"] == "ROLLBACK_SUCCESSFUL", 60)
    assert weights(elbv2, production) == {blue: 100, green: 0} and not targets(elbv2, green)

    linear = {"stepPercent": 50.0, "stepBakeTimeInMinutes": 1}
    revision(ecs, "3")
    arn = ecs.update_service(
        service="web",
        taskDefinition="web",
        deploymentConfiguration={"strategy": "LINEAR", "linearConfiguration": linear},
    )["service"]["currentServiceDeployment"]
    wait_for(lambda: weights(elbv2, production) == {blue: 50, green: 50}, 60)
    assert deployment(ecs, arn)["deploymentConfiguration"]["linearConfiguration"] == linear
    # An update mid-step: the blue group (recorded as serving at an even split) takes production back,
    # then the new revision's BLUE_GREEN shift gives it all to the alternate group.
    revision(ecs, "4")
    latest = ecs.update_service(
        service="web", taskDefinition="web", deploymentConfiguration={"strategy": "BLUE_GREEN"}
    )["service"]["currentServiceDeployment"]
    assert deployment(ecs, arn)["status"] == "STOPPED"
    wait_for(lambda: deployment(ecs, latest)["status"] == "SUCCESSFUL", 60)
    assert weights(elbv2, production) == {blue: 0, green: 100}
    wait_for(lambda: not targets(elbv2, blue) and len(targets(elbv2, green)) == 1, 30)
