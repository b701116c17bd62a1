"""EventBridge's errors, one small class each, with AWS's texts where they are known."""

from __future__ import annotations

from ecslite.protocol.errors import NamedAwsError

# Seen in AWS's answers (quoted in public issue threads: terraform-provider-aws, aws-nuke, steampipe).
RULE_NOT_FOUND = "Rule {name} does not exist on EventBus {bus}."
BUS_NOT_FOUND = "Event bus {name} does not exist."
RULE_HAS_TARGETS = "Rule can't be deleted since it has targets."
# Unverified texts.
NO_PATTERN_OR_SCHEDULE = "Parameter(s) EventPattern or ScheduleExpression must be specified."
BAD_SCHEDULE = "Parameter ScheduleExpression is not valid."
SCHEDULE_ON_CUSTOM_BUS = "ScheduleExpression is supported only on the default event bus."
TOO_MANY_TARGETS = "The requested resource exceeds the maximum number allowed."
BAD_EVENT = "Parameter Event is not valid."
BAD_TOKEN = "The nextToken provided is invalid."


class ResourceNotFoundException(NamedAwsError):
    pass


class ValidationException(NamedAwsError):
    pass


class InvalidEventPatternException(NamedAwsError):
    pass


class LimitExceededException(NamedAwsError):
    pass


def rule_not_found(name: str, bus: str = "default") -> ResourceNotFoundException:
    return ResourceNotFoundException(RULE_NOT_FOUND.format(name=name, bus=bus))
