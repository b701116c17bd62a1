"""ECS's errors, one small class each, with ECS's exact messages where they are fixed texts."""

from __future__ import annotations

from ecslite.protocol.errors import AwsError


class ClientException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ClientException", message)


class InvalidParameterException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidParameterException", message)


class ClusterNotFoundException(AwsError):
    def __init__(self, message: str = "Cluster not found.") -> None:
        super().__init__("ClusterNotFoundException", message)


class ServiceNotFoundException(AwsError):
    def __init__(self, message: str = "Service not found.") -> None:
        super().__init__("ServiceNotFoundException", message)


class ServiceNotActiveException(AwsError):
    def __init__(self, message: str = "Service was not ACTIVE.") -> None:
        super().__init__("ServiceNotActiveException", message)


class ResourceNotFoundException(AwsError):
    def __init__(self, message: str = "The specified resource could not be found.") -> None:
        super().__init__("ResourceNotFoundException", message)


class ResourceInUseException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ResourceInUseException", message)


class ClusterContainsServicesException(AwsError):
    def __init__(self, message: str = "The Cluster cannot be deleted while Services are active.") -> None:
        super().__init__("ClusterContainsServicesException", message)


class ClusterContainsTasksException(AwsError):
    def __init__(self, message: str = "The Cluster cannot be deleted while Tasks are active.") -> None:
        super().__init__("ClusterContainsTasksException", message)


class ClusterContainsContainerInstancesException(AwsError):
    def __init__(
        self, message: str = "The Cluster cannot be deleted while Container Instances are active or draining."
    ) -> None:
        super().__init__("ClusterContainsContainerInstancesException", message)


class ClusterContainsCapacityProviderException(AwsError):
    def __init__(self, message: str = "The cluster cannot be deleted while capacity providers are associated.") -> None:
        super().__init__("ClusterContainsCapacityProviderException", message)


class LimitExceededException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("LimitExceededException", message)


class UnsupportedFeatureException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("UnsupportedFeatureException", message)


class TargetNotFoundException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("TargetNotFoundException", message)


class AttributeLimitExceededException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("AttributeLimitExceededException", message)


class PlatformUnknownException(AwsError):
    def __init__(self, message: str = "The specified platform version does not exist.") -> None:
        super().__init__("PlatformUnknownException", message)


class ConflictException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("ConflictException", message)


class UpdateInProgressException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("UpdateInProgressException", message)


class TargetNotConnectedException(AwsError):
    def __init__(self, message: str) -> None:
        super().__init__("TargetNotConnectedException", message)


class TaskSetNotFoundException(AwsError):
    def __init__(self, message: str = "The specified task set does not exist.") -> None:  # unverified text
        super().__init__("TaskSetNotFoundException", message)


class ServiceDeploymentNotFoundException(AwsError):
    def __init__(self, message: str = "The service deployment does not exist.") -> None:  # unverified text
        super().__init__("ServiceDeploymentNotFoundException", message)
