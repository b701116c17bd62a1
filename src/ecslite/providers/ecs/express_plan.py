"""What an ECS Express Mode service is made of (pure): the configuration a Create or Update request
resolves to, with Express Mode's defaults, and the requests ecslite's own ECS, ELBv2, EC2,
Application Auto Scaling and Logs operations receive to make it.

Defaults (ECS developer guide, "Resources created by Amazon ECS Express Mode services", and the API
reference): cluster ``default``, container port 80, health check path ``/ping``, 1 vCPU and 2 GB
(the developer guide; the API reference's parameter text says 256 and 512), ``X86_64``, awsvpc on
Fargate, a target-tracking policy on average CPU at 60. The minimum and maximum task counts (1 and
20) and the names of what is made are ecslite's choices (unverified against ECS).

Deployments (developer guide, "Updating an Amazon ECS Express Mode service"): canaries, 5 % of
production traffic for a 3-minute canary bake, then the rest, then a 3-minute bake before the old
tasks stop; so the service has the ECS deployment controller, strategy ``CANARY`` and, on its load
balancer, an ``advancedConfiguration`` with a second (alternate) target group and the host-header
rule as its production rule, which forwards to both groups (weight 0 to the idle one).

The same page has ECS roll a deployment back "if sum of 4xx and 5xx errors percentage is > 1 for 2
datapoints within 3 minutes": :func:`rollback_alarm_request` is that alarm, named in the service's
``deploymentConfiguration.alarms`` with rollback. ECS documents neither its name nor its metrics, so
these are ecslite's reading (unverified): a metric-math alarm on the local ALB's ``AWS/ApplicationELB``
metrics, 100 × (``HTTPCode_Target_4XX_Count`` + ``HTTPCode_Target_5XX_Count``) / ``RequestCount``
summed over both of the service's target groups (``LoadBalancer`` + ``TargetGroup``: the load
balancer is shared by every Express service of the network, and the canary's 5 % weighs in with the
rest of the traffic), one-minute periods, above 1 for 2 of 3 datapoints, a minute without errors
(no datapoint, as ALB writes none for zero) not breaching. ``HTTPCode_ELB_*`` has no target group
dimension, so a response the load balancer makes itself does not count.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from ecslite.providers.ecs.errors import InvalidParameterException

Doc = dict[str, Any]

DEFAULT_PORT = 80
DEFAULT_HEALTH_PATH = "/ping"
DEFAULT_CPU = "1024"
DEFAULT_MEMORY = "2048"
DEFAULT_ARCHITECTURE = "X86_64"
DEFAULT_MIN_TASKS = 1
DEFAULT_MAX_TASKS = 20
DEFAULT_METRIC = "AVERAGE_CPU"
DEFAULT_TARGET_VALUE = 60
CONTAINER_NAME = "Main"  # the name ECS requires of a given task definition's primary container
HTTPS_PORT = 443
# The canary ECS runs for every Express deployment (developer guide, "Updating an Amazon ECS Express
# Mode service"): 5 % of traffic, a 3-minute canary bake, then a 3-minute bake with all traffic on
# the new tasks before the old ones stop.
CANARY_PERCENT = 5.0
CANARY_BAKE_MINUTES = 3
# The rollback alarm ("4xx and 5xx errors percentage is > 1 for 2 datapoints within 3 minutes").
ROLLBACK_THRESHOLD = 1.0
ROLLBACK_PERIOD = 60
ROLLBACK_EVALUATION_PERIODS = 3
ROLLBACK_DATAPOINTS = 2
ELB_NAMESPACE = "AWS/ApplicationELB"
BAKE_MINUTES = 3

# autoScalingMetric → Application Auto Scaling's predefined metric.
PREDEFINED_METRICS = {
    "AVERAGE_CPU": "ECSServiceAverageCPUUtilization",
    "AVERAGE_MEMORY": "ECSServiceAverageMemoryUtilization",
    "REQUEST_COUNT_PER_TARGET": "ALBRequestCountPerTarget",
}

# Error texts (unverified: ECS's exact wording for these was not found).
NEED_CONTAINER = "Either primaryContainer or taskDefinitionArn must be specified."
BOTH_DEFINITIONS = "taskDefinitionArn cannot be specified together with {field}."
NEED_EXECUTION_ROLE = "executionRoleArn must be specified when primaryContainer is specified."
BAD_HEALTH_PATH = "healthCheckPath must start with '/'."
BAD_PORT = "containerPort must be between 1 and 65535."
BAD_COUNTS = "minTaskCount must be less than or equal to maxTaskCount."
BAD_COUNT = "{field} must be greater than or equal to 0."
BAD_TARGET_VALUE = "autoScalingTargetValue must be greater than 0."
# Fields that ECS takes from a given task definition instead (the API reference, taskDefinitionArn).
_FROM_DEFINITION = ("primaryContainer", "executionRoleArn", "taskRoleArn", "cpu", "memory", "cpuArchitecture")


def check_request(params: Doc, *, creating: bool) -> None:
    """The request's own consistency, before anything is looked up or made."""
    if params.get("taskDefinitionArn"):
        for field in _FROM_DEFINITION:
            if params.get(field):
                raise InvalidParameterException(BOTH_DEFINITIONS.format(field=field))
    elif creating:
        if not params.get("primaryContainer"):
            raise InvalidParameterException(NEED_CONTAINER)
        if not params.get("executionRoleArn"):
            raise InvalidParameterException(NEED_EXECUTION_ROLE)
    path = params.get("healthCheckPath")
    if path is not None and not path.startswith("/"):
        raise InvalidParameterException(BAD_HEALTH_PATH)
    port = (params.get("primaryContainer") or {}).get("containerPort")
    if port is not None and not 1 <= port <= 65535:
        raise InvalidParameterException(BAD_PORT)
    scaling = params.get("scalingTarget") or {}
    for field in ("minTaskCount", "maxTaskCount"):
        if (scaling.get(field) or 0) < 0:
            raise InvalidParameterException(BAD_COUNT.format(field=field))
    if scaling.get("autoScalingTargetValue") is not None and scaling["autoScalingTargetValue"] <= 0:
        raise InvalidParameterException(BAD_TARGET_VALUE)


def configuration(params: Doc, previous: Doc | None = None) -> Doc:
    """The configuration a request resolves to: its fields over ``previous`` (an Update keeps what
    it does not name), then the defaults."""
    config: Doc = copy.deepcopy(previous) if previous else {}
    if params.get("taskDefinitionArn"):
        for field in _FROM_DEFINITION:
            config.pop(field, None)
        config["taskDefinitionArn"] = params["taskDefinitionArn"]
    elif params.get("primaryContainer"):
        config.pop("taskDefinitionArn", None)
    for field in ("executionRoleArn", "taskRoleArn", "cpu", "memory", "cpuArchitecture", "healthCheckPath"):
        if params.get(field):
            config[field] = params[field]
    if params.get("primaryContainer"):
        config["primaryContainer"] = copy.deepcopy(params["primaryContainer"])
    if params.get("networkConfiguration"):
        config["networkConfiguration"] = {**config.get("networkConfiguration", {}), **params["networkConfiguration"]}
    scaling = {**config.get("scalingTarget", {}), **(params.get("scalingTarget") or {})}
    config["scalingTarget"] = {
        "minTaskCount": scaling.get("minTaskCount", DEFAULT_MIN_TASKS),
        "maxTaskCount": scaling.get("maxTaskCount", DEFAULT_MAX_TASKS),
        "autoScalingMetric": scaling.get("autoScalingMetric", DEFAULT_METRIC),
        "autoScalingTargetValue": scaling.get("autoScalingTargetValue", DEFAULT_TARGET_VALUE),
    }
    if config["scalingTarget"]["minTaskCount"] > config["scalingTarget"]["maxTaskCount"]:
        raise InvalidParameterException(BAD_COUNTS)
    config.setdefault("healthCheckPath", DEFAULT_HEALTH_PATH)
    if "taskDefinitionArn" not in config:
        config.setdefault("cpu", DEFAULT_CPU)
        config.setdefault("memory", DEFAULT_MEMORY)
        config.setdefault("cpuArchitecture", DEFAULT_ARCHITECTURE)
        config["primaryContainer"].setdefault("containerPort", DEFAULT_PORT)
    return config


def short_hash(*parts: str, size: int = 8) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:size]


def endpoint_host(service: str, cluster: str, account: str, region: str) -> str:
    """The service's public name: ``<service>-<hash>.ecs.<region>.on.aws`` (the ``.ecs.<region>.on.aws``
    domain is ECS's; the hash ECS adds is unverified and is ecslite's)."""
    label = service.lower().replace("_", "-")[:40].strip("-") or "svc"
    return f"{label}-{short_hash(account, cluster, service)}.ecs.{region}.on.aws"


def network_key(vpc: str, subnets: list[str]) -> str:
    return f"{vpc}:{','.join(sorted(subnets))}"


def log_group_name(cluster: str, service: str) -> str:
    return f"/aws/ecs/{cluster}/{service}"


def log_settings(config: Doc, cluster: str, service: str) -> Doc:
    """The container's awslogs group and stream prefix: the request's, or the service's own group."""
    given = config["primaryContainer"].get("awsLogsConfiguration")
    return dict(given) if given else {"logGroup": log_group_name(cluster, service), "logStreamPrefix": "ecs"}


def task_definition_request(config: Doc, family: str, region: str, logs: Doc, tags: list[Doc]) -> Doc:
    """RegisterTaskDefinition's request for a configuration with a primary container."""
    main = config["primaryContainer"]
    port = main["containerPort"]
    container: Doc = {
        "name": CONTAINER_NAME,
        "image": main["image"],
        "essential": True,
        "portMappings": [{"containerPort": port, "protocol": "tcp", "name": f"port-{port}"}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": logs["logGroup"],
                "awslogs-region": region,
                "awslogs-stream-prefix": logs["logStreamPrefix"],
            },
        },
    }
    for field in ("command", "environment", "secrets", "repositoryCredentials"):
        if main.get(field):
            container[field] = copy.deepcopy(main[field])
    request: Doc = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": config["cpu"],
        "memory": config["memory"],
        "runtimePlatform": {"cpuArchitecture": config["cpuArchitecture"], "operatingSystemFamily": "LINUX"},
        "executionRoleArn": config["executionRoleArn"],
        "containerDefinitions": [container],
    }
    if config.get("taskRoleArn"):
        request["taskRoleArn"] = config["taskRoleArn"]
    if tags:
        request["tags"] = tags
    return request


def family_name(cluster: str, service: str) -> str:
    """The task definition family: cluster and service, so one name in two clusters never collides."""
    return f"{cluster}--{service}"


def target_group_request(
    service: str, cluster: str, account: str, port: int, vpc: str, health_path: str, *, alternate: bool = False
) -> Doc:
    """The service's target group, or (``alternate``) the second one its canaries deploy to in turn."""
    salt = ("alternate",) if alternate else ()
    name = f"ecs-gw-{service[:16].strip('-_')}-{short_hash(account, cluster, service, *salt, size=6)}".replace("_", "-")
    return {
        "Name": name[:32],
        "Protocol": "HTTP",
        "Port": port,
        "VpcId": vpc,
        "TargetType": "ip",
        "HealthCheckPath": health_path,
        "HealthCheckIntervalSeconds": 5,
        "HealthCheckTimeoutSeconds": 2,
        "HealthyThresholdCount": 2,
    }


def load_balancer_name(network: str) -> str:
    return f"ecs-express-gateway-{short_hash(network)}"


def rule_request(listener: str, priority: int, host: str, target_group: str, alternate: str) -> Doc:
    """The host-header rule: all to ``target_group``, none yet to ``alternate`` (a canary's production
    rule must name both groups)."""
    groups = [{"TargetGroupArn": target_group, "Weight": 100}, {"TargetGroupArn": alternate, "Weight": 0}]
    return {
        "ListenerArn": listener,
        "Priority": priority,
        "Conditions": [{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}}],
        "Actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}],
    }


def deployment_configuration(alarm: str) -> Doc:
    """Express Mode's canary, with the circuit breaker rolling back a deployment that cannot start
    and ``alarm`` (the 4xx/5xx rollback alarm) rolling back one that errs."""
    return {
        "strategy": "CANARY",
        "canaryConfiguration": {"canaryPercent": CANARY_PERCENT, "canaryBakeTimeInMinutes": CANARY_BAKE_MINUTES},
        "bakeTimeInMinutes": BAKE_MINUTES,
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "alarms": {"alarmNames": [alarm], "enable": True, "rollback": True},
    }


def rollback_alarm_name(cluster: str, service: str) -> str:
    """The rollback alarm's name (ecslite's choice: ECS's is undocumented), unique per cluster and
    service and within CloudWatch's 255 characters."""
    return f"ecs-express-{service[:200]}-{short_hash(cluster, service)}-4xx-5xx-rollback"


def elb_dimension(arn: str) -> str:
    """A load balancer's or target group's ``AWS/ApplicationELB`` dimension value: ``app/<name>/<id>``
    or ``targetgroup/<name>/<id>``."""
    return arn.split(":", 5)[5].removeprefix("loadbalancer/")


def rollback_alarm_request(name: str, load_balancer: str, target_groups: list[str]) -> Doc:
    """PutMetricAlarm's request for the rollback alarm over ``target_groups`` behind ``load_balancer``."""
    lb = elb_dimension(load_balancer)

    def query(query_id: str, metric: str, group: str) -> Doc:
        dims = [{"Name": "LoadBalancer", "Value": lb}, {"Name": "TargetGroup", "Value": elb_dimension(group)}]
        stat = {"Metric": {"Namespace": ELB_NAMESPACE, "MetricName": metric, "Dimensions": dims}}
        return {"Id": query_id, "MetricStat": {**stat, "Period": ROLLBACK_PERIOD, "Stat": "Sum"}, "ReturnData": False}

    requests = [query(f"requests{i}", "RequestCount", g) for i, g in enumerate(target_groups)]
    errors = [
        query(f"target{code.lower()}{i}", f"HTTPCode_Target_{code}_Count", g)
        for i, g in enumerate(target_groups)
        for code in ("4XX", "5XX")
    ]
    # SUM over a list keeps the minutes any member has, so a group or a class without errors (no
    # datapoint) does not hide the others' errors.
    expression = f"100 * SUM([{', '.join(q['Id'] for q in errors)}]) / SUM([{', '.join(q['Id'] for q in requests)}])"
    percent = {"Id": "errorpercent", "Expression": expression, "Label": "4xx and 5xx errors (%)", "ReturnData": True}
    return {
        "AlarmName": name,
        "AlarmDescription": "ECS Express Mode: rolls a deployment back when 4xx and 5xx responses exceed 1 %.",
        "Metrics": [*requests, *errors, percent],
        "EvaluationPeriods": ROLLBACK_EVALUATION_PERIODS,
        "DatapointsToAlarm": ROLLBACK_DATAPOINTS,
        "Threshold": ROLLBACK_THRESHOLD,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }


def load_balancers(target_group: str, alternate: str, rule: str, role: str, port: int) -> list[Doc]:
    """The service's load balancer: the two target groups and the host-header rule as the production
    rule, changed on the service's behalf with the Express service's infrastructure role."""
    advanced = {"alternateTargetGroupArn": alternate, "productionListenerRule": rule, "roleArn": role}
    return [
        {
            "targetGroupArn": target_group,
            "containerName": CONTAINER_NAME,
            "containerPort": port,
            "advancedConfiguration": advanced,
        }
    ]


def service_request(
    cluster: str,
    service: str,
    task_definition: str,
    config: Doc,
    groups: list[str],
    balancers: list[Doc],
    alarm: str,
) -> Doc:
    """CreateService's request: Fargate, awsvpc, behind ``balancers``, deployed as Express Mode's canary."""
    subnets = config["networkConfiguration"]["subnets"]
    return {
        "cluster": cluster,
        "serviceName": service,
        "taskDefinition": task_definition,
        "desiredCount": config["scalingTarget"]["minTaskCount"],
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": groups}},
        "loadBalancers": balancers,
        "healthCheckGracePeriodSeconds": 30,
        "deploymentController": {"type": "ECS"},
        "deploymentConfiguration": deployment_configuration(alarm),
    }


def resource_id(cluster: str, service: str) -> str:
    return f"service/{cluster}/{service}"


def scalable_target_request(cluster: str, service: str, scaling: Doc) -> Doc:
    return {
        "ServiceNamespace": "ecs",
        "ResourceId": resource_id(cluster, service),
        "ScalableDimension": "ecs:service:DesiredCount",
        "MinCapacity": scaling["minTaskCount"],
        "MaxCapacity": scaling["maxTaskCount"],
    }


def scaling_policy_request(cluster: str, service: str, scaling: Doc, load_balancer: str, target_group: str) -> Doc:
    metric: Doc = {"PredefinedMetricType": PREDEFINED_METRICS[scaling["autoScalingMetric"]]}
    if scaling["autoScalingMetric"] == "REQUEST_COUNT_PER_TARGET":
        # ALB's label: app/<lb name>/<lb id>/targetgroup/<group name>/<group id>.
        lb_part = load_balancer.split(":loadbalancer/", 1)[1]
        group_part = target_group.split(":", 5)[5]
        metric["ResourceLabel"] = f"{lb_part}/{group_part}"
    return {
        "PolicyName": f"{service}-target-tracking",
        "ServiceNamespace": "ecs",
        "ResourceId": resource_id(cluster, service),
        "ScalableDimension": "ecs:service:DesiredCount",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(scaling["autoScalingTargetValue"]),
            "PredefinedMetricSpecification": metric,
        },
    }
