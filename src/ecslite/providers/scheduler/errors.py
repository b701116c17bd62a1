"""EventBridge Scheduler's errors: the codes and HTTP statuses of the model's error shapes.

Scheduler's exact texts are documented for none of these; every message below is unverified
wording, kept in one place so it can be corrected here.
"""

from __future__ import annotations

from ecslite.protocol.errors import NamedAwsError

# Unverified texts.
SCHEDULE_NOT_FOUND = "Schedule {name} does not exist."
SCHEDULE_EXISTS = "Schedule {name} already exists."
GROUP_NOT_FOUND = "Schedule group {name} does not exist."
GROUP_EXISTS = "Schedule group {name} already exists."
DEFAULT_GROUP = "The default schedule group cannot be deleted."
RESOURCE_NOT_FOUND = "Resource {arn} does not exist."
BAD_EXPRESSION = "Invalid Schedule Expression {expression}."
BAD_TIMEZONE = "Invalid Schedule Expression Timezone {timezone}."
WINDOW_NEEDED = "MaximumWindowInMinutes must be provided when FlexibleTimeWindow Mode is FLEXIBLE."
WINDOW_NOT_ALLOWED = "MaximumWindowInMinutes is only allowed when FlexibleTimeWindow Mode is FLEXIBLE."
END_BEFORE_START = "The EndDate must be after the StartDate."
END_IN_PAST = "The EndDate must be in the future."
ONE_TARGET_TYPE = "A target can have at most one of {members}."
ECS_TARGET_ARN = "Invalid target Arn {arn}: an ECS target (EcsParameters) needs the ARN of an ECS cluster."
ECS_PARAMETERS_NEEDED = "Target {arn} is an ECS cluster: EcsParameters with a TaskDefinitionArn is required."
BAD_NEXT_TOKEN = "Invalid NextToken."
TOO_MANY_TAGS = "Resource {arn} cannot have more than 200 tags."


class ValidationException(NamedAwsError):
    pass


class ConflictException(NamedAwsError):
    http_status = 409


class ResourceNotFoundException(NamedAwsError):
    http_status = 404
