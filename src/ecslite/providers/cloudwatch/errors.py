"""CloudWatch's errors, one small class each, under their query codes (the model's ``error.code``).

CloudWatch is query-compatible: whichever protocol a client speaks, botocore shows these codes
(``InvalidParameterValue``, not the shape name). Texts not found in public records are marked
unverified and kept here once, as constants.
"""

from __future__ import annotations

from ecslite.protocol.errors import AwsError

NAMESPACE_RESERVED = "The value {namespace} for parameter Namespace is invalid."
NO_STATISTICS = "Must specify either Statistics or ExtendedStatistics"
TOO_MANY_DATAPOINTS = (
    "You have requested up to {count:,} datapoints, which exceeds the limit of 1,440. You may reduce the datapoints "
    "requested by increasing Period, or decreasing the time range."
)
VALUE_AND_STATISTICS = (
    "The parameters MetricData.member.{index}.Value and MetricData.member.{index}.StatisticValues are mutually "
    "exclusive and you have specified both."
)
VALUES_AND_COUNTS = (
    "The parameters MetricData.member.{index}.Values and MetricData.member.{index}.Counts must be of the same size."
)
ALARM_NOT_FOUND = "Alarm {name} does not exist"
# Unverified texts.
VALUE_AND_VALUES = (
    "The parameters MetricData.member.{index}.Value and MetricData.member.{index}.Values are mutually exclusive and "
    "you have specified both."
)
NO_VALUE = "The parameter MetricData.member.{index}.Value is required."
TIMESTAMP_RANGE = (
    "The parameter MetricData.member.{index}.Timestamp must specify a time no more than two weeks in the past and "
    "no more than two hours in the future."
)
START_AFTER_END = "The parameter StartTime must be less than the parameter EndTime."
PERIOD_INVALID = "The parameter Period must be 1, 5, 10, 20, 30, or a multiple of 60."
PERIOD_REQUIRED = "The parameter Period is required."
ALARM_METRIC_OR_METRICS = "Exactly one of MetricName and Metrics must be specified."
ALARM_STATISTIC_XOR = "Exactly one of Statistic and ExtendedStatistic must be specified."
ALARM_DATAPOINTS = "DatapointsToAlarm must be less than or equal to EvaluationPeriods."
ALARM_WINDOW = "The product of EvaluationPeriods and Period must not exceed 86400 seconds (one day)."
ALARM_EXPRESSION_RETURN = "Exactly one element of the Metrics list must return data."
STATE_REASON_DATA = "The StateReasonData is not valid JSON."
QUERY_IDS_UNIQUE = "The value {id} for parameter MetricDataQueries is invalid: Ids must be unique."
QUERY_ONE_OF = "The parameter MetricDataQueries.member.{index} must contain exactly one of MetricStat and Expression."
RESOURCE_NOT_FOUND = "The resource {arn} does not exist."


class InvalidParameterValue(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterValue", message)


class InvalidParameterCombination(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterCombination", message)


class MissingParameter(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("MissingParameter", message)


class ValidationError(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationError", message)


class ResourceNotFound(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ResourceNotFound", message, 404)


class ResourceNotFoundException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ResourceNotFoundException", message, 404)


class InvalidNextToken(AwsError):
    def __init__(self, message: str = "The service cannot process the NextToken.") -> None:
        super().__init__("InvalidNextToken", message)


class InvalidFormat(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidFormat", message)


class LimitExceeded(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("LimitExceeded", message)
