"""CloudFormation's errors (query protocol codes) and its fixed texts."""

from __future__ import annotations

from ecslite.protocol.errors import NamedAwsError

NO_UPDATES = "No updates are to be performed."
EMPTY_CHANGE_SET = (
    "The submitted information didn't contain changes. Submit different information to create a change set."
)
TEMPLATE_URL = "TemplateURL needs ecslite's S3, which this server does not serve: pass TemplateBody instead."
TRANSFORM = (
    "Transform {names} is not supported by ecslite: macros and the serverless transform are not run here. "
    "Deploy the processed template instead."
)


class ValidationError(NamedAwsError):
    pass


class AlreadyExistsException(NamedAwsError):
    pass


class InsufficientCapabilitiesException(NamedAwsError):
    pass


class ChangeSetNotFoundException(NamedAwsError):
    http_status = 404


class InvalidChangeSetStatusException(NamedAwsError):
    pass


class TokenAlreadyExistsException(NamedAwsError):
    pass


def stack_not_found(name: str) -> ValidationError:
    return ValidationError(f"Stack with id {name} does not exist")


def change_set_not_found(name: str) -> ChangeSetNotFoundException:
    return ChangeSetNotFoundException(f"ChangeSet [{name}] does not exist")
