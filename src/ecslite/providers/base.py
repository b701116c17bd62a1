"""What every provider receives with a request, and how operations are looked up on a provider."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from botocore import xform_name


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is calling, where, and which operation: taken from the credential scope and the route."""

    account: str
    region: str
    request_id: str
    service: str
    operation: str
    access_key: str | None = None

    @property
    def principal_arn(self) -> str:
        # Without IAM, every caller is the account's root user.
        return f"arn:aws:iam::{self.account}:root"


Params = dict[str, Any]
Result = dict[str, Any] | None
Handler = Callable[[RequestContext, Params], Result | Awaitable[Result]]


@functools.cache
def method_name(operation: str) -> str:
    """botocore's snake_case name of an operation: ``RegisterTaskDefinition`` → ``register_task_definition``."""
    return str(xform_name(operation))


def find_handler(provider: object, operation: str) -> Handler | None:
    handler = getattr(provider, method_name(operation), None)
    return handler if callable(handler) else None


async def call_handler(handler: Handler, ctx: RequestContext, params: Params) -> Result:
    result = handler(ctx, params)
    if inspect.isawaitable(result):
        result = await result
    return result
