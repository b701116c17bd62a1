"""CloudWatch Logs' errors, one small class each, with the service's texts.

Texts marked unverified in spec/ecs.md §10.2 or found nowhere public are kept here, once, as
constants, so correcting one is a one-line change.
"""

from __future__ import annotations

from ecslite.protocol.errors import AwsError

GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."
GROUP_EXISTS = "The specified log group already exists"
STREAM_EXISTS = "The specified log stream already exists"
NOT_CHRONOLOGICAL = "Log events in a single PutLogEvents request must be in chronological order."
SPAN_TOO_LONG = "The batch of log events in a single PutLogEvents request cannot span more than 24 hours."
ORDER_BY_WITH_PREFIX = "Cannot order by LastEventTime with a logStreamNamePrefix."
INVALID_NEXT_TOKEN = "The specified nextToken is invalid."
# Unverified texts (no public record of AWS's exact wording).
PREFIX_AND_PATTERN = (
    "logGroupNamePattern and logGroupNamePrefix are mutually exclusive. Only one of these parameters can be passed."
)
IDENTIFIERS_WITH_FILTERS = (
    "When logGroupIdentifiers is specified, the only other filter that you can choose to specify is "
    "includeLinkedAccounts."
)
NAME_OR_IDENTIFIER = "You must include either logGroupIdentifier or logGroupName, but not both."
STREAM_NAMES_AND_PREFIX = "logStreamNames and logStreamNamePrefix are mutually exclusive. Specify only one of them."
GROUP_OR_RESOURCE = (
    "You must specify either the resourceIdentifier parameter or the logGroupName parameter, but not both."
)
QUERY_GROUPS = (
    "A StartQuery operation must include exactly one of the following parameters: logGroupName, logGroupNames, "
    "or logGroupIdentifiers."
)
QUERY_END_BEFORE_START = "End time should not be before the start time."
QUERY_NOT_FOUND = "Query does not exist."
DELETION_PROTECTED = "Log group deletion protection is enabled. Disable deletion protection to delete the log group."
DESCENDING_BEFORE_2024 = "startFromHead false is supported only when startTime is on or after Jan 1, 2024 00:00:00 UTC."


def upload_too_large(size: int, limit: int) -> str:
    return f"Upload too large: {size} bytes exceeds limit of {limit}"


def event_too_large(size: int, limit: int) -> str:
    return f"Log event too large: {size} bytes exceeds limit of {limit}"


def query_group_not_found(name: str, account: str) -> str:
    return f"Log group '{name}' does not exist for account ID '{account}'"


def query_not_running(query_id: str) -> str:
    return f"Query {query_id} is not running"


class InvalidParameterException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterException", message)


class ResourceNotFoundException(AwsError):
    def __init__(self, message: str = GROUP_NOT_FOUND) -> None:
        super().__init__("ResourceNotFoundException", message)


class ResourceAlreadyExistsException(AwsError):
    def __init__(self, message: str = GROUP_EXISTS) -> None:
        super().__init__("ResourceAlreadyExistsException", message)


class MalformedQueryException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("MalformedQueryException", message)


class LimitExceededException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("LimitExceededException", message)


class TooManyTagsException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("TooManyTagsException", message)


class ValidationException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)
