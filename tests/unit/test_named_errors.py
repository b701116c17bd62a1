"""Errors whose code is their class name: the code, message and HTTP status each service's model gives."""

from __future__ import annotations

import pytest

from ecslite.protocol.errors import AwsError, NamedAwsError
from ecslite.providers.events import errors as events
from ecslite.providers.scheduler import errors as scheduler
from ecslite.providers.ssm import errors as ssm


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (scheduler.ValidationException, "ValidationException", 400),
        (scheduler.ConflictException, "ConflictException", 409),
        (scheduler.ResourceNotFoundException, "ResourceNotFoundException", 404),
        (events.ResourceNotFoundException, "ResourceNotFoundException", 400),
        (events.ValidationException, "ValidationException", 400),
        (events.InvalidEventPatternException, "InvalidEventPatternException", 400),
        (events.LimitExceededException, "LimitExceededException", 400),
        (ssm.ParameterNotFound, "ParameterNotFound", 400),
    ],
)
def test_the_code_is_the_class_name_with_the_models_status(error: type[NamedAwsError], code: str, status: int) -> None:
    raised = error("what went wrong")
    assert isinstance(raised, AwsError)
    assert (raised.code, raised.message, raised.status, raised.sender_fault) == (code, "what went wrong", status, True)
    assert str(raised) == "what went wrong"


def test_a_default_message_of_the_subclass_is_kept() -> None:
    assert ssm.ParameterAlreadyExists().message == ssm.ALREADY_EXISTS
    assert ssm.ParameterAlreadyExists().code == "ParameterAlreadyExists"
    assert events.rule_not_found("nightly").message == "Rule nightly does not exist on EventBus default."
