"""IAM's errors, one small class each, under the query protocol's short codes and IAM's HTTP statuses."""

from __future__ import annotations

from ecslite.protocol.errors import AwsError


class NoSuchEntity(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("NoSuchEntity", message, 404)


class EntityAlreadyExists(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("EntityAlreadyExists", message, 409)


class DeleteConflict(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("DeleteConflict", message, 409)


class LimitExceeded(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("LimitExceeded", message, 409)


class MalformedPolicyDocument(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("MalformedPolicyDocument", message)


class InvalidInput(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidInput", message)


class ValidationError(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationError", message)


def role_not_found(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The role with name {name} cannot be found.")


def pattern_error(value: str, field: str, pattern: str) -> ValidationError:
    """IAM's report of a value its front end refuses by pattern (IAM anchors the model's patterns)."""
    return ValidationError(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {pattern}"
    )
