"""Cloud Map's errors (spec/ecs.md §8.1): short codes, the HTTP statuses the model gives them, and
the members their shapes carry beyond the message.

Cloud Map's exact texts are not documented; each message below is ECS-style wording, one constant
each (unverified), naming the id the caller gave so it can be corrected in one place.
"""

from __future__ import annotations

from ecslite.protocol.errors import AwsError

# Unverified texts.
NAMESPACE_NOT_FOUND = "No namespace exists with the specified ID: {id}"
NAMESPACE_NAME_NOT_FOUND = "No namespace exists with the specified name: {name}"
SERVICE_NOT_FOUND = "No service exists with the specified ID: {id}"
SERVICE_NAME_NOT_FOUND = "No service named {name} exists in the namespace {namespace}"
INSTANCE_NOT_FOUND = "No instance exists with the specified ID: {id}"
OPERATION_NOT_FOUND = "No operation exists with the specified ID: {id}"
RESOURCE_NOT_FOUND = "The resource {arn} was not found."
NAMESPACE_EXISTS = "Namespace with name {name} already exists"
SERVICE_EXISTS = "Service with name {name} already exists"
NAMESPACE_HAS_SERVICES = "Namespace {id} has associated services; delete them before deleting the namespace."
SERVICE_HAS_INSTANCES = "Service {id} has registered instances; deregister them before deleting the service."
DUPLICATE_REQUEST = "Another {type} request with CreatorRequestId {token} and different parameters was already made."
CUSTOM_HEALTH_NOT_FOUND = "Service {id} has no custom health check (HealthCheckCustomConfig)."
TOO_MANY_TAGS = "The resource {arn} cannot have more than 50 tags."


class InvalidInput(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidInput", message)


class NamespaceNotFound(AwsError):
    def __init__(self, ref: str, message: str | None = None) -> None:
        super().__init__("NamespaceNotFound", message or NAMESPACE_NOT_FOUND.format(id=ref), 404)


class ServiceNotFound(AwsError):
    def __init__(self, ref: str, message: str | None = None) -> None:
        super().__init__("ServiceNotFound", message or SERVICE_NOT_FOUND.format(id=ref), 404)


class InstanceNotFound(AwsError):
    def __init__(self, instance_id: str) -> None:
        super().__init__("InstanceNotFound", INSTANCE_NOT_FOUND.format(id=instance_id), 404)


class OperationNotFound(AwsError):
    def __init__(self, operation_id: str) -> None:
        super().__init__("OperationNotFound", OPERATION_NOT_FOUND.format(id=operation_id), 404)


class ResourceNotFoundException(AwsError):
    def __init__(self, arn: str) -> None:
        super().__init__("ResourceNotFoundException", RESOURCE_NOT_FOUND.format(arn=arn), 404)


class CustomHealthNotFound(AwsError):
    def __init__(self, service_id: str) -> None:
        super().__init__("CustomHealthNotFound", CUSTOM_HEALTH_NOT_FOUND.format(id=service_id), 404)


class ResourceInUse(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ResourceInUse", message, 409)


class NamespaceAlreadyExists(AwsError):
    def __init__(self, name: str, namespace_id: str, creator_request_id: str | None) -> None:
        super().__init__("NamespaceAlreadyExists", NAMESPACE_EXISTS.format(name=name))
        self.fields = {"NamespaceId": namespace_id}
        if creator_request_id:
            self.fields["CreatorRequestId"] = creator_request_id


class ServiceAlreadyExists(AwsError):
    def __init__(self, name: str, service_id: str, service_arn: str, creator_request_id: str | None) -> None:
        super().__init__("ServiceAlreadyExists", SERVICE_EXISTS.format(name=name))
        self.fields = {"ServiceId": service_id, "ServiceArn": service_arn}
        if creator_request_id:
            self.fields["CreatorRequestId"] = creator_request_id


class DuplicateRequest(AwsError):
    def __init__(self, kind: str, token: str, operation_id: str) -> None:
        super().__init__("DuplicateRequest", DUPLICATE_REQUEST.format(type=kind, token=token), 409)
        self.fields = {"DuplicateOperationId": operation_id}


class TooManyTagsException(AwsError):
    def __init__(self, arn: str) -> None:
        super().__init__("TooManyTagsException", TOO_MANY_TAGS.format(arn=arn))
        self.fields = {"ResourceName": arn}
