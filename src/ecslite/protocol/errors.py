"""The one exception type that crosses the edge: an AWS error with its wire code and status."""

from __future__ import annotations

from typing import Any, ClassVar


class AwsError(Exception):
    """An error the client sees in the service's own error shape.

    ``code`` is what botocore puts in ``Error.Code`` (the ``__type`` of JSON protocols, the ``Code``
    element of query protocols). ``sender_fault`` picks ``Sender``/``Receiver`` in XML errors.
    ``fields`` are further members the error shape models (Cloud Map's ``NamespaceId`` on
    ``NamespaceAlreadyExists``); the JSON and CBOR protocols send them beside the message.
    """

    fields: dict[str, Any] = {}

    def __init__(self, code: str, message: str, status: int = 400, *, sender_fault: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault

    def __repr__(self) -> str:
        return f"AwsError({self.code!r}, {self.message!r}, {self.status})"


class NamedAwsError(AwsError):
    """An AWS error whose code is its class name, so a provider's ``errors.py`` declares one in two
    lines; ``http_status`` is the status the service's model gives the error shape."""

    http_status: ClassVar[int] = 400

    def __init__(self, message: str = "") -> None:
        super().__init__(type(self).__name__, message, self.http_status)


class SerializationError(AwsError):
    """The body could not be read as the protocol's format or a value has the wrong JSON type."""

    def __init__(self, message: str) -> None:
        super().__init__("SerializationException", message)


class UnknownOperationError(AwsError):
    def __init__(self, message: str = "") -> None:
        super().__init__("UnknownOperationException", message)


class NotImplementedOperation(AwsError):
    """An operation the model defines but ecslite does not serve yet."""

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(
            "NotImplemented",
            f"The {operation} operation of {service} is not implemented in ecslite yet.",
            501,
            sender_fault=False,
        )


def internal_error(request_id: str) -> AwsError:
    return AwsError(
        "InternalFailure",
        f"The request processing has failed because of an unknown error (request {request_id}).",
        500,
        sender_fault=False,
    )
