"""Parameter Store's errors, one small class each, with its exact messages where they are fixed texts."""

from __future__ import annotations

from ecslite.protocol.errors import NamedAwsError

INVALID_NAME = (
    'Parameter name: can\'t be prefixed with "ssm" (case-insensitive). If formed as a path, it can consist of '
    "sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following "
    "3 symbols .-_"
)
RESERVED_PREFIX = 'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).'
NOT_FULLY_QUALIFIED = "Parameter name must be a fully qualified name."
# Parameter Store writes \"aws\" and \"ssm\" with their backslashes in this one.
INVALID_PATH = (
    "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward "
    'slash "/". It can\'t be prefixed with \\"aws\\" or \\"ssm\\" (case-insensitive). It must use only letters, '
    "numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not "
    'allowed. All sub-paths, if specified, must use the forward slash symbol "/". Valid example: '
    "/get/parameters2-/by1./path0_."
)
ALREADY_EXISTS = (
    "The parameter already exists. To overwrite this value, set the overwrite option in the request to true."
)
TAGS_WITH_OVERWRITE = (
    "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove "
    "overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or "
    "RemoveTagsFromResource."
)
TYPE_REQUIRED = "A parameter type is required when you create a parameter."
EMPTY_VALUE = (
    "1 validation error detected: Value '' at 'value' failed to satisfy constraint: "
    "Member must have length greater than or equal to 1."
)
NO_DOWNGRADE = (
    "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter "
    "tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a "
    "standard parameter."
)
BOTH_FILTER_KINDS = "You can use either Filters or ParameterFilters in a single request."
LABEL_LIMIT = "A parameter version can have maximum 10 labels."
# (unverified) Parameter Store's texts for these.
HIERARCHY_TOO_DEEP = "Parameter name exceeds maximum hierarchy depth of 15 levels."
TOO_MANY_TAGS = "You can't add more than 50 tags to a parameter."


class SsmError(NamedAwsError):
    """An SSM error (its code is its class name)."""


class ValidationException(SsmError):
    pass


class AccessDeniedException(SsmError):
    pass


class ParameterNotFound(SsmError):
    pass


class ParameterVersionNotFound(SsmError):
    pass


class ParameterAlreadyExists(SsmError):
    def __init__(self, message: str = ALREADY_EXISTS) -> None:
        super().__init__(message)


class ParameterMaxVersionLimitExceeded(SsmError):
    pass


class ParameterPatternMismatchException(SsmError):
    pass


class InvalidAllowedPatternException(SsmError):
    pass


class HierarchyLevelLimitExceededException(SsmError):
    pass


class ParameterVersionLabelLimitExceeded(SsmError):
    def __init__(self, message: str = LABEL_LIMIT) -> None:
        super().__init__(message)


class InvalidFilterKey(SsmError):
    pass


class InvalidFilterOption(SsmError):
    pass


class InvalidFilterValue(SsmError):
    pass


class InvalidNextToken(SsmError):
    def __init__(self, message: str = "The specified token isn't valid.") -> None:
        super().__init__(message)


class InvalidResourceType(SsmError):
    pass


class InvalidResourceId(SsmError):
    pass


class TooManyTagsError(SsmError):
    pass


class InvalidPolicyTypeException(SsmError):
    pass


def parameter_not_found(name: str) -> ParameterNotFound:
    """Parameter Store answers with an empty message; ecslite names the parameter (spec §1.3)."""
    return ParameterNotFound(f"Parameter {name} not found.")


def version_not_found(selector: str, name: str) -> ParameterVersionNotFound:
    return ParameterVersionNotFound(
        f"Systems Manager could not find version {selector} of {name}. Verify the version and try again."
    )
