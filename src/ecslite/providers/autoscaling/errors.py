"""Application Auto Scaling's errors, one small class each, with the service's texts.

Texts seen in public records are marked verified below; the others are unverified and kept here,
once, as constants (spec/ecs.md §6.1).
"""

from __future__ import annotations

from ecslite.protocol.errors import AwsError

# Verified in public records.
NO_TARGET = (
    "No scalable target registered for service namespace: {namespace}, resource ID: {resource_id}, "
    "scalable dimension: {dimension}"
)
SERVICE_MISSING = "ECS service doesn't exist: {resource_id}"
UNSUPPORTED = "Unsupported service namespace, resource type or scalable dimension"
NO_CAPACITY_IN_ACTION = "At least one of minimum capacity and maximum capacity should be provided"
# Unverified texts.
TARGET_NOT_FOUND = (
    "No scalable target found for service namespace: {namespace}, resource ID: {resource_id}, "
    "scalable dimension: {dimension}"
)
POLICY_NOT_FOUND = (
    "No scaling policy found for service namespace: {namespace}, resource ID: {resource_id}, "
    "scalable dimension: {dimension}, policy name: {name}"
)
ACTION_NOT_FOUND = (
    "No scheduled action found for service namespace: {namespace}, resource ID: {resource_id}, "
    "scalable dimension: {dimension}, scheduled action name: {name}"
)
MIN_MAX_REQUIRED = "MinCapacity and MaxCapacity are required for registering a new scalable target"
MIN_ABOVE_MAX = "Minimum capacity cannot be greater than maximum capacity"
INVALID_SCHEDULE = "Invalid schedule expression: {schedule}."
INVALID_TIMEZONE = "Invalid timezone: {timezone}."
START_AFTER_END = "The start time must be before the end time."
POLICY_TYPE_MISMATCH = "A {given} policy cannot be changed to a {existing} policy. Delete the policy first."
TRACKING_CONFIGURATION = "TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy."
STEP_CONFIGURATION = "StepScalingPolicyConfiguration is required for a StepScaling policy."
METRIC_ONE_OF = "Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification must be specified."
PREDEFINED_FOR_NAMESPACE = "The predefined metric type {metric} is not valid for service namespace ecs."
RESOURCE_LABEL_REQUIRED = "ResourceLabel is required for predefined metric type ALBRequestCountPerTarget."
RESOURCE_LABEL_NOT_ALLOWED = "ResourceLabel can be specified only for predefined metric type ALBRequestCountPerTarget."
RESOURCE_LABEL_FORMAT = (
    "Invalid ResourceLabel {label}: it must be app/<load-balancer-name>/<load-balancer-id>/targetgroup/"
    "<target-group-name>/<target-group-id>."
)
STEP_ADJUSTMENTS_REQUIRED = "StepAdjustments and AdjustmentType are required for a new StepScaling policy."
STEP_BOUNDS = "Each step adjustment must have a lower bound or an upper bound, and the upper bound above the lower."
STEP_OVERLAP = "Step adjustments must not overlap and must not leave gaps between them."
MIN_MAGNITUDE_TYPE = "MinAdjustmentMagnitude is valid only with AdjustmentType PercentChangeInCapacity."
CUSTOM_METRIC_FIELDS = "A CustomizedMetricSpecification needs MetricName, Namespace and Statistic, or Metrics."
NOT_PREDICTIVE = "The policy {name} is not a PredictiveScaling policy."
FORECAST_RANGE = "The end time must be after the start time, at most 30 days later."
TAG_TARGET_NOT_FOUND = "Scalable target with ARN {arn} not found."
TOO_MANY_TAGS = "A scalable target can have at most 50 tags."
TAG_RESERVED = "Tag keys beginning with 'aws:' are reserved for AWS use."
INVALID_NEXT_TOKEN = "Invalid NextToken."
# Beyond ECS: ecslite serves ECS services only; the other namespaces name resources it does not have.
OTHER_NAMESPACE = (
    "Unsupported service namespace, resource type or scalable dimension: ecslite scales ECS services "
    "(ServiceNamespace ecs, ScalableDimension ecs:service:DesiredCount) only."
)
PREDICTIVE_UNSUPPORTED = (
    "ecslite does not forecast load: PredictiveScaling policies are not supported; use TargetTrackingScaling or "
    "StepScaling."
)


class ValidationException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


class ObjectNotFoundException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ObjectNotFoundException", message)


class ConcurrentUpdateException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ConcurrentUpdateException", message)


class LimitExceededException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("LimitExceededException", message)


class FailedResourceAccessException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("FailedResourceAccessException", message)


class InvalidNextTokenException(AwsError):
    def __init__(self, message: str = INVALID_NEXT_TOKEN) -> None:
        super().__init__("InvalidNextTokenException", message)


class ResourceNotFoundException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ResourceNotFoundException", message)


class TooManyTagsException(AwsError):
    def __init__(self, message: str = TOO_MANY_TAGS) -> None:
        super().__init__("TooManyTagsException", message)
