"""ECR's errors, with its messages where they are fixed texts."""

from __future__ import annotations

from ecslite.protocol.errors import NamedAwsError

# The pattern ECR names in its message is older than (and looser than) the model's.
NAME_PATTERN_TEXT = "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
INVALID_NAME = (
    f"Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression "
    f"'{NAME_PATTERN_TEXT}''"
)


class InvalidParameterException(NamedAwsError):
    pass


class InvalidTagParameterException(NamedAwsError):
    pass


class TooManyTagsException(NamedAwsError):
    pass


class RepositoryAlreadyExistsException(NamedAwsError):
    pass


class RepositoryNotFoundException(NamedAwsError):
    pass


class RepositoryNotEmptyException(NamedAwsError):
    pass


class RepositoryPolicyNotFoundException(NamedAwsError):
    pass


class LifecyclePolicyNotFoundException(NamedAwsError):
    pass


class ImageNotFoundException(NamedAwsError):
    pass


class ImageAlreadyExistsException(NamedAwsError):
    pass


class ImageTagAlreadyExistsException(NamedAwsError):
    pass


class ImageDigestDoesNotMatchException(NamedAwsError):
    pass


class LayersNotFoundException(NamedAwsError):
    pass


class ReferencedImagesNotFoundException(NamedAwsError):
    pass


def repository_not_found(name: str, registry: str) -> RepositoryNotFoundException:
    return RepositoryNotFoundException(
        f"The repository with name '{name}' does not exist in the registry with id '{registry}'"
    )


def repository_exists(name: str, registry: str) -> RepositoryAlreadyExistsException:
    return RepositoryAlreadyExistsException(
        f"The repository with name '{name}' already exists in the registry with id '{registry}'"
    )


def repository_not_empty(name: str, registry: str) -> RepositoryNotEmptyException:
    return RepositoryNotEmptyException(
        f"The repository with name '{name}' in registry with id '{registry}' cannot be deleted because it still "
        "contains images"
    )


def policy_not_found(name: str, registry: str) -> RepositoryPolicyNotFoundException:
    return RepositoryPolicyNotFoundException(
        f"Repository policy does not exist for the repository with name '{name}' in the registry with id '{registry}'"
    )


def lifecycle_not_found(name: str, registry: str) -> LifecyclePolicyNotFoundException:
    return LifecyclePolicyNotFoundException(
        f"Lifecycle policy does not exist for the repository with name '{name}' in the registry with id '{registry}'"
    )


def image_not_found(digest: str | None, tag: str | None, name: str, registry: str) -> ImageNotFoundException:
    return ImageNotFoundException(
        f"The image with imageId {{imageDigest:'{digest or 'null'}', imageTag:'{tag or 'null'}'}} does not exist "
        f"within the repository with name '{name}' in the registry with id '{registry}'"
    )


def invalid_parameter(member: str, constraint: str) -> InvalidParameterException:
    return InvalidParameterException(f"Invalid parameter at '{member}' failed to satisfy constraint: '{constraint}'")


class UploadNotFoundException(NamedAwsError):
    pass


class InvalidLayerException(NamedAwsError):
    pass


class LayerAlreadyExistsException(NamedAwsError):
    pass


class EmptyUploadException(NamedAwsError):
    pass


class InvalidLayerPartException(NamedAwsError):
    def __init__(self, message: str, fields: dict[str, object]) -> None:
        super().__init__(message)
        self.fields = fields


def upload_not_found(upload_id: str, name: str, registry: str) -> UploadNotFoundException:
    return UploadNotFoundException(
        f"Upload with id '{upload_id}' does not exist in the repository with name '{name}' in the registry with id "
        f"'{registry}'"
    )
