"""CreateService/UpdateService input rules (spec/ecs.md §4.1, §4.2, §4.9, §4.11) and ECS's texts.

Each check raises the ECS error with ECS's exact message where the spec gives it; texts marked
unverified are ECS-like wording kept here, one constant each, so they can be corrected in one place.
Messages that are unhelpful on their own get one sentence of guidance after AWS's text (§1.3).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ecslite.model import traffic_shift
from ecslite.model.blue_green import BLUE_GREEN_FAMILY
from ecslite.model.deployments import breaker_threshold
from ecslite.model.services import ControllerType, SchedulingStrategy
from ecslite.providers.ecs.common import NAME_PATTERN
from ecslite.providers.ecs.errors import ClientException, InvalidParameterException, UnsupportedFeatureException
from ecslite.providers.ecs.service_blue_green import check_configuration as check_blue_green_configuration

MAX_DESCRIBE = 10
MAX_LOAD_BALANCERS = 5
MAX_REGISTRIES = 1
MAX_PLACEMENT_CONSTRAINTS = 10
MAX_PLACEMENT_STRATEGIES = 5
MAX_CLIENT_TOKEN = 36
MAX_GRACE_SECONDS = 2_147_483_647
CLIENT_TOKEN = re.compile(r"[\x21-\x7e]{1,36}")

# Texts the spec gives as ECS's own (§1.3, §4.1, §4.2).
NOT_IDEMPOTENT = "Creation of service was not idempotent."
DAEMON_DESIRED_COUNT = (
    "The daemon scheduling strategy does not support a desired count for services. "
    "Remove the desired count value and try again"
)
SCALED_ABOVE_ZERO = "The service cannot be stopped while it is scaled above 0."
TASK_DEFINITION_INACTIVE = "TaskDefinition is inactive"
# ECS's text for a load balancer naming a port the container does not map.
LB_PORT_NOT_DEFINED = "The container {container} did not have a container port {port} defined."
# Unverified wording.
SERVICE_NAME_INVALID = (
    "Service name can only contain up to 255 letters (uppercase and lowercase), numbers, underscores, "
    "and hyphens; got '{name}'."
)
DESIRED_COUNT_REQUIRED = "The desired count must be specified for services using the REPLICA scheduling strategy."
DESIRED_COUNT_NEGATIVE = "The desired count must be greater than or equal to 0; got {count}."
TASK_DEFINITION_REQUIRED = (
    "A task definition must be specified for services using the {controller} deployment controller."
)
CLIENT_TOKEN_INVALID = "clientToken can have up to 36 ASCII characters in the range 33-126."
DAEMON_FARGATE = "The daemon scheduling strategy does not support the FARGATE launch type."
DAEMON_CONTROLLER = "The daemon scheduling strategy is only supported with the ECS deployment controller."
DAEMON_MAXIMUM_PERCENT = "The maximumPercent of a service using the DAEMON scheduling strategy must be 100."
DAEMON_PLACEMENT_STRATEGY = "Placement strategies are not supported for services using the DAEMON scheduling strategy."
MINIMUM_PERCENT_RANGE = "minimumHealthyPercent must be between 0 and 100; got {value}."
MAXIMUM_PERCENT_RANGE = "maximumPercent must be at least {low}; got {value}."
MAXIMUM_BELOW_MINIMUM = "maximumPercent ({maximum}) must be greater than or equal to minimumHealthyPercent ({minimum})."
BREAKER_NEEDS_ECS = "The deployment circuit breaker is only supported for services using the ECS deployment controller."
THRESHOLD_VALUE = "The deploymentCircuitBreaker thresholdConfiguration value must be at least 1; got {value}."
GRACE_RANGE = f"healthCheckGracePeriodSeconds must be between 0 and {MAX_GRACE_SECONDS}."
LB_TOO_MANY = f"loadBalancers can have at most {MAX_LOAD_BALANCERS} items."
LB_CONTAINER_REQUIRED = "The container name and the container port must be specified for a load balancer."
LB_TARGET_REQUIRED = "Either a targetGroupArn or a loadBalancerName must be specified for a load balancer."
LB_CONTAINER_UNKNOWN = "The container {container} does not exist in the task definition."
REGISTRIES_TOO_MANY = "Only one service registry is supported per service."
REGISTRY_ARN_REQUIRED = "The registryArn of a service registry must be specified."
CONSTRAINTS_TOO_MANY = f"placementConstraints can have at most {MAX_PLACEMENT_CONSTRAINTS} items."
STRATEGIES_TOO_MANY = f"placementStrategy can have at most {MAX_PLACEMENT_STRATEGIES} items."
CONSTRAINT_EXPRESSION_REQUIRED = "An expression must be specified for a memberOf placement constraint."
CONSTRAINT_EXPRESSION_FORBIDDEN = "An expression cannot be specified for a distinctInstance placement constraint."
STRATEGY_FIELD = "Invalid placement strategy field '{field}' for type {type}."
CODE_DEPLOY_TASK_DEFINITION = (
    "Unable to update task definition on services with a CODE_DEPLOY deployment controller. "
    "Use AWS CodeDeploy to trigger a new deployment."
)
CODE_DEPLOY_UPDATE = (
    "Unable to update {member} on services with a CODE_DEPLOY deployment controller. "
    "Use AWS CodeDeploy to trigger a new deployment."
)
SERVICE_CONNECT_CONTROLLER = "Service Connect is not supported with the {controller} deployment controller."
# ecslite's own refusals (§1.1 "UnsupportedFeatureException naming the feature").
STRATEGY_UNSUPPORTED = (
    "The {strategy} deployment strategy is not supported by ecslite yet; use ROLLING (the default), BLUE_GREEN, "
    "CANARY or LINEAR with the ECS deployment controller."
)
FEATURE_UNSUPPORTED = "{feature} is not supported by ecslite yet."


def check_service_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidParameterException(SERVICE_NAME_INVALID.format(name=name))


def check_client_token(token: str | None) -> None:
    if token is not None and not CLIENT_TOKEN.fullmatch(token):
        raise InvalidParameterException(CLIENT_TOKEN_INVALID)


def check_controller(params: Mapping[str, Any]) -> ControllerType:
    return ControllerType((params.get("deploymentController") or {}).get("type") or ControllerType.ECS)


def check_scheduling(params: Mapping[str, Any], controller: ControllerType) -> tuple[SchedulingStrategy, int]:
    """The scheduling strategy and the desired count (§4.1): required for REPLICA, refused for DAEMON."""
    strategy = SchedulingStrategy(params.get("schedulingStrategy") or SchedulingStrategy.REPLICA)
    desired = params.get("desiredCount")
    if strategy is SchedulingStrategy.DAEMON:
        if desired is not None:
            raise InvalidParameterException(DAEMON_DESIRED_COUNT)
        if controller is not ControllerType.ECS:
            raise InvalidParameterException(DAEMON_CONTROLLER)
        if params.get("placementStrategy"):
            raise InvalidParameterException(DAEMON_PLACEMENT_STRATEGY)
        return strategy, 0
    if desired is None:
        raise InvalidParameterException(DESIRED_COUNT_REQUIRED)
    check_desired(desired)
    return strategy, int(desired)


def check_desired(desired: int) -> None:
    if desired < 0:
        raise InvalidParameterException(DESIRED_COUNT_NEGATIVE.format(count=desired))


def deployment_configuration(
    given: Mapping[str, Any] | None,
    strategy: SchedulingStrategy,
    controller: ControllerType,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The stored configuration: ``current`` (or the defaults, §4.1: REPLICA 200/100, DAEMON 100/0)
    with ``given`` merged over it, the newer members echoed with their defaults."""
    daemon = strategy is SchedulingStrategy.DAEMON
    config: dict[str, Any] = {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 100 if daemon else 200,
        "minimumHealthyPercent": 0 if daemon else 100,
        "alarms": {"alarmNames": [], "rollback": False, "enable": False},
        "strategy": "ROLLING",
    }
    if current:
        config.update({k: v for k, v in current.items()})
    for key, value in (given or {}).items():
        if value is not None:
            config[key] = value
    # CANARY / LINEAR echo their configuration member with the documented defaults filled in.
    for key, fallback in traffic_shift.defaults(str(config.get("strategy") or "ROLLING")).items():
        config[key] = {**fallback, **{k: v for k, v in (config.get(key) or {}).items() if v is not None}}
    _check_deployment_configuration(config, given or {}, daemon, controller)
    return config


def _check_deployment_configuration(
    config: Mapping[str, Any], given: Mapping[str, Any], daemon: bool, controller: ControllerType
) -> None:
    minimum, maximum = int(config["minimumHealthyPercent"]), int(config["maximumPercent"])
    if not 0 <= minimum <= 100:
        raise InvalidParameterException(MINIMUM_PERCENT_RANGE.format(value=minimum))
    if daemon and maximum != 100:
        raise InvalidParameterException(DAEMON_MAXIMUM_PERCENT)
    if maximum < 1:
        raise InvalidParameterException(MAXIMUM_PERCENT_RANGE.format(low=1, value=maximum))
    if maximum < minimum:
        raise InvalidParameterException(MAXIMUM_BELOW_MINIMUM.format(maximum=maximum, minimum=minimum))
    strategy = str(config.get("strategy") or "ROLLING")
    if strategy in BLUE_GREEN_FAMILY:
        check_blue_green_configuration(config, daemon=daemon, ecs_controller=controller is ControllerType.ECS)
    elif strategy != "ROLLING":
        raise UnsupportedFeatureException(STRATEGY_UNSUPPORTED.format(strategy=strategy))
    elif given.get("lifecycleHooks"):
        # Lifecycle hooks belong to the BLUE_GREEN, CANARY and LINEAR strategies.
        raise UnsupportedFeatureException(FEATURE_UNSUPPORTED.format(feature="Deployment lifecycle hooks"))
    if (given.get("earlySuccessCriteria") or {}).get("enable"):
        raise UnsupportedFeatureException(FEATURE_UNSUPPORTED.format(feature="Early success criteria"))
    breaker = config.get("deploymentCircuitBreaker") or {}
    if breaker.get("enable") and controller is not ControllerType.ECS:
        raise InvalidParameterException(BREAKER_NEEDS_ECS)
    threshold = breaker.get("thresholdConfiguration") or {}
    if threshold.get("value") is not None and int(threshold["value"]) < 1:
        raise InvalidParameterException(THRESHOLD_VALUE.format(value=threshold["value"]))
    breaker_threshold(1, threshold)  # any other shape error surfaces here, not in the scheduler


def check_grace(seconds: int | None) -> None:
    if seconds is not None and not 0 <= seconds <= MAX_GRACE_SECONDS:
        raise InvalidParameterException(GRACE_RANGE)


def check_load_balancers(items: Sequence[Mapping[str, Any]], definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """§4.1: at most 5; each names a container of the definition and one of its container ports."""
    if len(items) > MAX_LOAD_BALANCERS:
        raise InvalidParameterException(LB_TOO_MANY)
    containers = {c["name"]: c for c in definition.get("containerDefinitions") or ()}
    out = []
    for item in items:
        if not item.get("targetGroupArn") and not item.get("loadBalancerName"):
            raise InvalidParameterException(LB_TARGET_REQUIRED)
        name, port = item.get("containerName"), item.get("containerPort")
        if not name or port is None:
            raise InvalidParameterException(LB_CONTAINER_REQUIRED)
        container = containers.get(name)
        if container is None:
            raise InvalidParameterException(LB_CONTAINER_UNKNOWN.format(container=name))
        ports = {m.get("containerPort") for m in container.get("portMappings") or ()}
        if port not in ports:
            raise InvalidParameterException(LB_PORT_NOT_DEFINED.format(container=name, port=port))
        out.append(dict(item))
    return out


def check_registries(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if len(items) > MAX_REGISTRIES:
        raise InvalidParameterException(REGISTRIES_TOO_MANY)
    for item in items:
        if not item.get("registryArn"):
            raise InvalidParameterException(REGISTRY_ARN_REQUIRED)
    return [dict(item) for item in items]


def check_service_connect(config: Mapping[str, Any] | None, controller: ControllerType) -> dict[str, Any] | None:
    if not config:
        return None
    if config.get("enabled") and controller is not ControllerType.ECS:
        raise InvalidParameterException(SERVICE_CONNECT_CONTROLLER.format(controller=controller.value))
    return dict(config)


_STRATEGY_FIELDS = {"binpack": ("cpu", "memory", "CPU", "MEMORY")}


def check_placement(
    constraints: Sequence[Mapping[str, Any]], strategies: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shape only (§5.3, §5.4): the placement engine evaluates expressions when it places tasks."""
    if len(constraints) > MAX_PLACEMENT_CONSTRAINTS:
        raise InvalidParameterException(CONSTRAINTS_TOO_MANY)
    if len(strategies) > MAX_PLACEMENT_STRATEGIES:
        raise InvalidParameterException(STRATEGIES_TOO_MANY)
    for constraint in constraints:
        if constraint.get("type") == "memberOf" and not constraint.get("expression"):
            raise InvalidParameterException(CONSTRAINT_EXPRESSION_REQUIRED)
        if constraint.get("type") == "distinctInstance" and constraint.get("expression"):
            raise InvalidParameterException(CONSTRAINT_EXPRESSION_FORBIDDEN)
    for strategy in strategies:
        kind, field = strategy.get("type"), strategy.get("field")
        if kind == "binpack" and field not in _STRATEGY_FIELDS["binpack"]:
            raise InvalidParameterException(STRATEGY_FIELD.format(field=field, type=kind))
        if kind == "spread" and not field:
            raise InvalidParameterException(STRATEGY_FIELD.format(field=field, type=kind))
    return [dict(c) for c in constraints], [dict(s) for s in strategies]


def check_unsupported(params: Mapping[str, Any]) -> None:
    """Members whose runtime behaviour ecslite lacks, refused rather than silently ignored."""
    for member, feature in (
        ("volumeConfigurations", "Amazon EBS volumes for services (volumeConfigurations)"),
        ("vpcLatticeConfigurations", "VPC Lattice (vpcLatticeConfigurations)"),
        ("gatewayConnectors", "Gateway connectors (gatewayConnectors)"),
    ):
        if params.get(member):
            raise UnsupportedFeatureException(FEATURE_UNSUPPORTED.format(feature=feature))


def active_definition(definition: Mapping[str, Any]) -> None:
    if definition.get("status") != "ACTIVE":
        raise ClientException(TASK_DEFINITION_INACTIVE)
