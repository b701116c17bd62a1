"""Secrets Manager's errors, one small class each, with its exact messages where they are fixed texts."""

from __future__ import annotations

from ecslite.protocol.errors import AwsError

SECRET_NOT_FOUND = "Secrets Manager can't find the specified secret."
MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."
BOTH_VALUES = "You can't specify both a binary secret value and a string secret value in the same secret."
NO_VALUE = "You must provide either SecretString or SecretBinary."
INVALID_NAME = (
    "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!"
)
SCHEDULED_NAME = "You can't create this secret because a secret with this name is already scheduled for deletion."
BOTH_DELETE_OPTIONS = "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."
RECOVERY_WINDOW = "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
STAGE_NOT_ON_VERSION = "You provided a VersionStage that is not associated to the provided VersionId."
# (unverified) PutSecretValue reusing a version id with a different value, and a secret past 50 tags.
VERSION_EXISTS = "You can't modify an existing version, you can only create a new version."
TOO_MANY_TAGS = "You can't attach more than 50 tags to a secret."


class ResourceNotFoundException(AwsError):
    def __init__(self, message: str = SECRET_NOT_FOUND) -> None:
        super().__init__("ResourceNotFoundException", message)


class InvalidRequestException(AwsError):
    def __init__(self, message: str = MARKED_FOR_DELETION) -> None:
        super().__init__("InvalidRequestException", message)


class InvalidParameterException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterException", message)


class ResourceExistsException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ResourceExistsException", message)


class ValidationException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


class InvalidNextTokenException(AwsError):
    def __init__(self, message: str = "Invalid NextToken.") -> None:
        super().__init__("InvalidNextTokenException", message)


class LimitExceededException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("LimitExceededException", message)


def value_not_found(kind: str, value: str) -> ResourceNotFoundException:
    """No version carries the staging label (``kind`` = "staging label") or has the id ("VersionId")."""
    return ResourceNotFoundException(f"Secrets Manager can't find the specified secret value for {kind}: {value}")
