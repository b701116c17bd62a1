"""ECS Express Mode services through boto3 and the AWS CLI against the server (fake runtime): Create
makes the task definition, service, shared ALB with its HTTPS listener and host-header rule, target
group, scaling target and policy, the 4xx/5xx rollback alarm the service names, and the endpoint
answers through the local ALB over TLS with ecslite's CA; Update deploys a new configuration as a
canary on the second target group (the host's rule weighted 95/5); Delete takes it all down (the
alarm at once); errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer, make_client
from tests.integration.test_blue_green import deployment, targets, weights
from tests.integration.test_elb_ecs import error_of, wait_for
from tests.integration.test_elb_https import fetch
from tests.integration.test_elbv2_lb_attributes import EchoBackend

EXECUTION_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
INFRASTRUCTURE_ROLE = "arn:aws:iam::000000000000:role/ecsInfrastructureRoleForExpressServices"


@pytest.fixture
def backend() -> Iterator[EchoBackend]:
    running = EchoBackend()
    yield running
    running.close()


@pytest.fixture
def clients(endpoint: str) -> dict[str, Any]:
    names = ("ecs", "elbv2", "application-autoscaling", "logs", "ec2", "acm", "cloudwatch")
    return {name: make_client(name, endpoint) for name in names}


def create(ecs: Any, name: str = "shop", **extra: Any) -> dict[str, Any]:
    return dict(
        ecs.create_express_gateway_service(
            serviceName=name,
            executionRoleArn=EXECUTION_ROLE,
            infrastructureRoleArn=INFRASTRUCTURE_ROLE,
            primaryContainer={"image": "example/shop:1", "containerPort": 8080},
            healthCheckPath="/health",
            scalingTarget={"minTaskCount": 1, "maxTaskCount": 3},
            **extra,
        )["service"]
    )


def rollback_alarms(cloudwatch: Any) -> list[dict[str, Any]]:
    found = cloudwatch.describe_alarms(AlarmNamePrefix="ecs-express-", AlarmTypes=["MetricAlarm"])["MetricAlarms"]
    return [a for a in found if a["AlarmName"].endswith("-4xx-5xx-rollback")]


def ca_pem(server: RunningServer) -> str:
    return Path(server.health()["localCa"]).read_text()


def test_create_makes_the_resources_and_the_endpoint_answers_over_https(
    server: RunningServer, endpoint: str, clients: dict[str, Any], backend: EchoBackend
) -> None:
    ecs, elbv2, scaling = clients["ecs"], clients["elbv2"], clients["application-autoscaling"]
    made = create(ecs)
    assert made["status"] == {"statusCode": "ACTIVE"} and made["serviceName"] == "shop"
    [config] = made["activeConfigurations"]
    assert (config["cpu"], config["memory"], config["healthCheckPath"]) == ("1024", "2048", "/health")
    host = config["ingressPaths"][0]["endpoint"].removeprefix("https://")
    assert host.startswith("shop-") and host.endswith(".ecs.us-east-1.on.aws")

    service = ecs.describe_services(cluster="default", services=["shop"])["services"][0]
    assert service["status"] == "ACTIVE" and service["serviceArn"] == made["serviceArn"]
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    main = definition["containerDefinitions"][0]
    assert (main["name"], main["image"], main["portMappings"][0]["containerPort"]) == ("Main", "example/shop:1", 8080)
    assert main["logConfiguration"]["options"]["awslogs-group"] == "/aws/ecs/default/shop"
    group_arn = service["loadBalancers"][0]["targetGroupArn"]
    group = elbv2.describe_target_groups(TargetGroupArns=[group_arn])["TargetGroups"][0]
    assert (group["HealthCheckPath"], group["Port"], group["TargetType"]) == ("/health", 8080, "ip")
    [lb_arn] = group["LoadBalancerArns"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTPS", 443)
    rules = [r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
    assert [r["Conditions"][0]["HostHeaderConfig"]["Values"] for r in rules] == [[host]]
    [target] = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == ("service/default/shop", 1, 3)
    [policy] = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 60.0
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
    assert clients["logs"].describe_log_groups(logGroupNamePrefix="/aws/ecs/default/shop")["logGroups"]
    # The 4xx/5xx rollback alarm (ECS: "> 1 for 2 datapoints within 3 minutes") over both groups,
    # named in the service's deployment alarms with rollback.
    alternate = service["loadBalancers"][0]["advancedConfiguration"]["alternateTargetGroupArn"]
    [alarm] = rollback_alarms(clients["cloudwatch"])
    assert service["deploymentConfiguration"]["alarms"] == {
        "alarmNames": [alarm["AlarmName"]],
        "enable": True,
        "rollback": True,
    }
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1.0, "GreaterThanThreshold")
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["TreatMissingData"]) == (3, 2, "notBreaching")
    lb_dimension = lb_arn.split(":", 5)[5].removeprefix("loadbalancer/")
    watched = {
        (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Metric"]["Dimensions"][1]["Value"])
        for q in alarm["Metrics"]
        if "MetricStat" in q
        and q["MetricStat"]["Metric"]["Namespace"] == "AWS/ApplicationELB"
        and q["MetricStat"]["Metric"]["Dimensions"][0] == {"Name": "LoadBalancer", "Value": lb_dimension}
        and (q["MetricStat"]["Period"], q["MetricStat"]["Stat"]) == (60, "Sum")
    }
    assert watched == {
        (metric, arn.split(":", 5)[5])
        for metric in ("RequestCount", "HTTPCode_Target_4XX_Count", "HTTPCode_Target_5XX_Count")
        for arn in (group_arn, alternate)
    }
    [expression] = [q for q in alarm["Metrics"] if q.get("ReturnData", True)]
    assert expression["Expression"].startswith("100 * SUM([")

    # A second service of the same network shares the load balancer, with a rule of its own.
    other = create(ecs, "cart")["activeConfigurations"][0]["ingressPaths"][0]["endpoint"].removeprefix("https://")
    assert len(elbv2.describe_load_balancers()["LoadBalancers"]) == 1
    assert len(elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]) == 3

    # A server on loopback in shop's group answers for shop's name, over TLS from ecslite's CA.
    elbv2.register_targets(
        TargetGroupArn=group_arn, Targets=[{"Id": "127.0.0.1", "Port": backend.port, "AvailabilityZone": "all"}]
    )
    # ecslite's own API says where the service's name answers on this host.
    listed = lambda: httpx.get(f"{endpoint}/_ecslite/express").json()  # noqa: E731
    [served] = wait_for(lambda: [e for e in listed() if e["host"] == host and e["local"]])
    assert served["listenerArn"] == listener["ListenerArn"] and served["endpoint"] == f"https://{host}"
    port = int(served["local"].rsplit(":", 1)[1])
    cadata = ca_pem(server)
    # The service's own (fake) task is a target too and answers 502: ask until the loopback server does.
    answer = wait_for(lambda: (a := fetch(port, host, cadata)) is not None and a[1] == 200 and a)
    cn, _, seen, _ = answer
    assert cn == "*.ecs.us-east-1.on.aws" and seen["host"] == host and seen["x-forwarded-proto"] == "https"
    # cart's name reaches cart's group (no loopback target there): never the echo server.
    assert all((a := fetch(port, other, cadata)) is not None and a[1] != 200 for _ in range(3))


def revision_of(ecs: Any, service: dict[str, Any]) -> dict[str, Any]:
    """The service revision the service's current deployment targets."""
    deployments = ecs.describe_service_deployments(serviceDeploymentArns=[service["currentServiceDeployment"]])
    target = deployments["serviceDeployments"][0]["targetServiceRevision"]["arn"]
    return dict(ecs.describe_service_revisions(serviceRevisionArns=[target])["serviceRevisions"][0])


def test_ecs_apis_show_the_service_as_ecs_managed_with_its_resources(clients: dict[str, Any]) -> None:
    ecs, elbv2, scaling = clients["ecs"], clients["elbv2"], clients["application-autoscaling"]
    made = create(ecs)
    service = ecs.describe_services(cluster="default", services=["shop"])["services"][0]
    # An ordinary service beside it, on the Express service's own task definition, is the customer's.
    ecs.create_service(
        cluster="default",
        serviceName="plain",
        taskDefinition=service["taskDefinition"],
        desiredCount=0,
        networkConfiguration=service["networkConfiguration"],
    )
    plain = ecs.describe_services(cluster="default", services=["plain"])["services"][0]
    assert (service["resourceManagementType"], plain["resourceManagementType"]) == ("ECS", "CUSTOMER")
    assert ecs.list_services(cluster="default", resourceManagementType="ECS")["serviceArns"] == [made["serviceArn"]]
    assert ecs.list_services(cluster="default", resourceManagementType="CUSTOMER")["serviceArns"] == [
        plain["serviceArn"]
    ]
    assert len(ecs.list_services(cluster="default")["serviceArns"]) == 2
    assert "ecsManagedResources" not in revision_of(ecs, plain)

    managed = revision_of(ecs, service)["ecsManagedResources"]
    # Every resource listed is the one that exists, as the other services' APIs show it.
    balancer = service["loadBalancers"][0]
    groups = {balancer["targetGroupArn"], balancer["advancedConfiguration"]["alternateTargetGroupArn"]}
    [path] = managed["ingressPaths"]
    assert path["accessType"] == "PUBLIC"
    assert path["endpoint"] == made["activeConfigurations"][0]["ingressPaths"][0]["endpoint"]
    assert path["rule"]["arn"] == balancer["advancedConfiguration"]["productionListenerRule"]
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    assert (path["loadBalancer"]["arn"], path["loadBalancer"]["scheme"]) == (lb["LoadBalancerArn"], lb["Scheme"])
    assert [g["arn"].rsplit("/", 1)[1] for g in path["loadBalancerSecurityGroups"]] == lb["SecurityGroups"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert path["listener"]["arn"] == listener["ListenerArn"]
    assert path["certificate"]["arn"] == listener["Certificates"][0]["CertificateArn"]
    rule_arns = [r["RuleArn"] for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]]
    assert path["rule"]["arn"] in rule_arns
    assert {g["arn"] for g in path["targetGroups"]} == groups
    assert {(g["healthCheckPath"], g["port"], g["healthCheckPort"]) for g in path["targetGroups"]} == {
        ("/health", 8080, 8080)
    }
    [target] = scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
    shown_target = managed["autoScaling"]["scalableTarget"]
    assert (shown_target["arn"], shown_target["minCapacity"], shown_target["maxCapacity"]) == (
        target["ScalableTargetARN"],
        1,
        3,
    )
    [policy] = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    [shown_policy] = managed["autoScaling"]["applicationAutoScalingPolicies"]
    assert (shown_policy["arn"], shown_policy["policyType"], shown_policy["targetValue"], shown_policy["metric"]) == (
        policy["PolicyARN"],
        "TargetTrackingScaling",
        60.0,
        "ECSServiceAverageCPUUtilization",
    )
    [alarm] = rollback_alarms(clients["cloudwatch"])
    assert [a["arn"] for a in managed["metricAlarms"]] == [alarm["AlarmArn"]]
    [task_group] = service["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"]
    assert [g["arn"] for g in managed["serviceSecurityGroups"]] == [
        f"arn:aws:ec2:us-east-1:000000000000:security-group/{task_group}"
    ]
    [log_group] = clients["logs"].describe_log_groups(logGroupNamePrefix="/aws/ecs/default/shop")["logGroups"]
    assert [(g["arn"], g["logGroupName"]) for g in managed["logGroups"]] == [
        (log_group["logGroupArn"], log_group["logGroupName"])
    ]
    listed = [path["loadBalancer"], path["listener"], path["rule"], *path["targetGroups"], shown_target, shown_policy]
    listed += [*managed["metricAlarms"], *managed["serviceSecurityGroups"], *managed["logGroups"]]
    assert {r["status"] for r in listed} == {"ACTIVE"}

    # ECS carries out UpdateService called directly on an Express-managed service (the developer
    # guide's "Updating Resources Outside of Express Mode"); the service stays ECS-managed.
    updated = ecs.update_service(cluster="default", service="shop", desiredCount=2)["service"]
    assert (updated["desiredCount"], updated["resourceManagementType"]) == (2, "ECS")

    # Once deleted through Express Mode, its revisions show the resources being taken down.
    ecs.delete_express_gateway_service(serviceArn=made["serviceArn"])
    after = revision_of(ecs, service)["ecsManagedResources"]
    assert after["metricAlarms"] == []  # the alarm goes at once
    assert [g["status"] for g in after["serviceSecurityGroups"]] in (["DEPROVISIONING"], ["DELETED"])
    assert [g["status"] for g in after["logGroups"]] == ["ACTIVE"]  # log groups outlive the service
    gone = ecs.describe_services(cluster="default", services=["shop"])["services"][0]
    assert gone["resourceManagementType"] == "ECS"


def test_update_deploys_a_new_configuration(clients: dict[str, Any]) -> None:
    ecs, elbv2 = clients["ecs"], clients["elbv2"]
    arn = create(ecs)["serviceArn"]
    before = ecs.describe_services(cluster="default", services=["shop"])["services"][0]
    updated = ecs.update_express_gateway_service(
        serviceArn=arn,
        primaryContainer={
            "image": "example/shop:2",
            "containerPort": 8080,
            "environment": [{"name": "A", "value": "1"}],
        },
        healthCheckPath="/ready",
        scalingTarget={"maxTaskCount": 5, "autoScalingMetric": "AVERAGE_MEMORY", "autoScalingTargetValue": 70},
    )["service"]
    assert updated["targetConfiguration"]["primaryContainer"]["image"] == "example/shop:2"
    after = ecs.describe_services(cluster="default", services=["shop"])["services"][0]
    assert after["taskDefinition"] != before["taskDefinition"] and after["taskDefinition"].endswith(":2")
    assert after["deployments"][0]["status"] == "PRIMARY"
    assert after["currentServiceDeployment"] != before["currentServiceDeployment"]
    main = ecs.describe_task_definition(taskDefinition=after["taskDefinition"])["taskDefinition"][
        "containerDefinitions"
    ][0]
    assert main["image"] == "example/shop:2" and main["environment"] == [{"name": "A", "value": "1"}]
    group = elbv2.describe_target_groups(TargetGroupArns=[after["loadBalancers"][0]["targetGroupArn"]])
    assert group["TargetGroups"][0]["HealthCheckPath"] == "/ready"
    scaling = clients["application-autoscaling"]
    assert scaling.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"][0]["MaxCapacity"] == 5
    [policy] = scaling.describe_scaling_policies(ServiceNamespace="ecs")["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ECSServiceAverageMemoryUtilization"
    shown = ecs.describe_express_gateway_service(serviceArn=arn, include=["TAGS"])["service"]
    images = [c["primaryContainer"]["image"] for c in shown["activeConfigurations"]]
    assert "example/shop:2" in images and shown["currentDeployment"] == after["currentServiceDeployment"]
    assert shown["activeConfigurations"][-1]["serviceRevisionArn"].startswith("arn:aws:ecs:")


def images(ecs: Any, arn: str) -> list[str]:
    shown = ecs.describe_express_gateway_service(serviceArn=arn)["service"]["activeConfigurations"]
    return sorted(c["primaryContainer"]["image"] for c in shown)


def test_update_deploys_as_a_canary_on_the_second_target_group(clients: dict[str, Any]) -> None:
    ecs, elbv2 = clients["ecs"], clients["elbv2"]
    arn = create(ecs)["serviceArn"]
    service = ecs.describe_services(cluster="default", services=["shop"])["services"][0]
    assert service["deploymentController"] == {"type": "ECS"}
    shown = service["deploymentConfiguration"]
    assert (shown["strategy"], shown["bakeTimeInMinutes"]) == ("CANARY", 3)
    assert shown["canaryConfiguration"] == {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 3}
    [balancer] = service["loadBalancers"]
    primary, advanced = balancer["targetGroupArn"], balancer["advancedConfiguration"]
    alternate, production = advanced["alternateTargetGroupArn"], advanced["productionListenerRule"]
    assert advanced["roleArn"] == INFRASTRUCTURE_ROLE and alternate != primary
    second = elbv2.describe_target_groups(TargetGroupArns=[alternate])["TargetGroups"][0]
    assert (second["HealthCheckPath"], second["Port"], second["TargetType"]) == ("/health", 8080, "ip")
    conditions = elbv2.describe_rules(RuleArns=[production])["Rules"][0]["Conditions"]
    assert conditions[0]["Field"] == "host-header"
    assert weights(elbv2, production) == {primary: 100, alternate: 0}
    # Stopped tasks drain for a second rather than the groups' 300 s, so the delete below can finish.
    for group in (primary, alternate):
        elbv2.modify_target_group_attributes(
            TargetGroupArn=group, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "1"}]
        )
    wait_for(lambda: len(targets(elbv2, primary)) == 1, 30)

    ecs.update_express_gateway_service(
        serviceArn=arn, primaryContainer={"image": "example/shop:2", "containerPort": 8080}
    )
    current = ecs.describe_services(cluster="default", services=["shop"])["services"][0]["currentServiceDeployment"]
    # The canary: 5 % of the host's traffic on the new tasks in the second group, both revisions serving.
    wait_for(lambda: weights(elbv2, production) == {primary: 95, alternate: 5}, 60)
    assert deployment(ecs, current)["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    assert len(targets(elbv2, primary)) == 1 and len(targets(elbv2, alternate)) == 1
    assert images(ecs, arn) == ["example/shop:1", "example/shop:2"]

    # The 3-minute canary bake is not waited out: a later update takes over, the heavier (first)
    # group takes the traffic back and the newest configuration is the canary in its place.
    ecs.update_express_gateway_service(
        serviceArn=arn, primaryContainer={"image": "example/shop:3", "containerPort": 8080}
    )
    assert deployment(ecs, current)["status"] == "STOPPED"
    wait_for(lambda: images(ecs, arn) == ["example/shop:1", "example/shop:3"], 60)
    wait_for(lambda: weights(elbv2, production) == {primary: 95, alternate: 5}, 60)

    # Deleting it mid-canary takes both groups down.
    ecs.delete_express_gateway_service(serviceArn=arn)
    wait_for(lambda: elbv2.describe_target_groups()["TargetGroups"] == [], 30)


def test_delete_takes_down_what_it_made(clients: dict[str, Any]) -> None:
    ecs, elbv2, ec2 = clients["ecs"], clients["elbv2"], clients["ec2"]
    groups_before = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    arn = create(ecs)["serviceArn"]
    assert len(rollback_alarms(clients["cloudwatch"])) == 1
    deleted = ecs.delete_express_gateway_service(serviceArn=arn)["service"]
    assert deleted["status"]["statusCode"] in ("DRAINING", "INACTIVE")
    assert rollback_alarms(clients["cloudwatch"]) == []  # deleted with the service
    # No further Express call: the delete's follow-up takes the rest down once the tasks are gone.
    wait_for(lambda: elbv2.describe_load_balancers()["LoadBalancers"] == [], 30)
    status = lambda: ecs.describe_express_gateway_service(serviceArn=arn)["service"]["status"]["statusCode"]  # noqa: E731
    assert status() == "INACTIVE"
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    assert clients["application-autoscaling"].describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    assert {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]} == groups_before
    assert clients["acm"].list_certificates()["CertificateSummaryList"] == []
    assert ecs.describe_services(cluster="default", services=["shop"])["services"][0]["status"] == "INACTIVE"
    assert error_of(ecs.delete_express_gateway_service, serviceArn=arn) == (
        "ServiceNotActiveException",
        "Service was not ACTIVE.",
    )
    # The name is free again.
    assert create(ecs)["status"]["statusCode"] == "ACTIVE"


def test_errors(clients: dict[str, Any]) -> None:
    ecs = clients["ecs"]
    missing = "arn:aws:ecs:us-east-1:000000000000:service/default/nothing"
    assert error_of(ecs.describe_express_gateway_service, serviceArn=missing)[0] == "ResourceNotFoundException"
    assert error_of(ecs.update_express_gateway_service, serviceArn=missing, cpu="512") == (
        "ServiceNotFoundException",
        "Service not found.",
    )
    common = {"executionRoleArn": EXECUTION_ROLE, "infrastructureRoleArn": INFRASTRUCTURE_ROLE}
    assert error_of(ecs.create_express_gateway_service, serviceName="x", **common)[0] == "InvalidParameterException"
    code, message = error_of(
        ecs.create_express_gateway_service,
        serviceName="x",
        primaryContainer={"image": "a"},
        healthCheckPath="health",
        **common,
    )
    assert (code, message) == ("InvalidParameterException", "healthCheckPath must start with '/'.")
    assert error_of(
        ecs.create_express_gateway_service,
        serviceName="x",
        cluster="nowhere",
        primaryContainer={"image": "a"},
        **common,
    ) == ("ClusterNotFoundException", "Cluster not found.")
    create(ecs)
    assert error_of(
        ecs.create_express_gateway_service, serviceName="shop", primaryContainer={"image": "a"}, **common
    ) == (
        "InvalidParameterException",
        "Creation of service was not idempotent.",
    )
    # A rejected create leaves nothing behind: only shop's two groups are there.
    assert len(clients["elbv2"].describe_target_groups()["TargetGroups"]) == 2


def test_aws_cli_creates_an_express_service(aws: Any) -> None:
    made = aws(
        "ecs",
        "create-express-gateway-service",
        "--service-name",
        "cli",
        "--execution-role-arn",
        EXECUTION_ROLE,
        "--infrastructure-role-arn",
        INFRASTRUCTURE_ROLE,
        "--primary-container",
        json.dumps({"image": "example/web:1"}),
    )["service"]
    assert made["activeConfigurations"][0]["primaryContainer"]["containerPort"] == 80
    shown = aws("ecs", "describe-express-gateway-service", "--service-arn", made["serviceArn"])["service"]
    assert shown["status"]["statusCode"] == "ACTIVE" and shown["activeConfigurations"][0]["healthCheckPath"] == "/ping"
