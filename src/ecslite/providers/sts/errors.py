"""STS's errors, one small class each (query protocol codes; STS answers AccessDenied with 403)."""

from __future__ import annotations

from ecslite.protocol.errors import AwsError


class AccessDenied(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("AccessDenied", message, 403)


class ValidationError(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationError", message)


class MalformedPolicyDocument(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("MalformedPolicyDocument", message)


class ExpiredToken(AwsError):
    """A request signed with credentials ecslite issued that have since expired."""

    def __init__(self, message: str = "The security token included in the request is expired") -> None:
        super().__init__("ExpiredToken", message, 403)
