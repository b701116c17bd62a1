"""Calling another provider's operation from inside ecslite, as the edge would call it.

Express Mode services and CloudFormation stacks make what they stand on through ecslite's own
operations (the same handlers the API reaches, with a request context of their own), so that every
resource shows through the usual APIs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext, call_handler, find_handler

log = logging.getLogger(__name__)

Doc = dict[str, Any]

# Errors that mean "not there any more" when taking something down.
_GONE = {
    "LoadBalancerNotFound",
    "ListenerNotFound",
    "RuleNotFound",
    "TargetGroupNotFound",
    "InvalidGroup.NotFound",
    "ResourceNotFoundException",
    "ResourceNotFound",  # CloudWatch's DeleteAlarms
    "ObjectNotFoundException",
    "ServiceNotFoundException",
    "ServiceNotActiveException",
}


class Calls:
    """Another provider's operation, called as the edge would call it (``prepare`` first)."""

    def __init__(self, providers: Mapping[str, object], ctx: RequestContext) -> None:
        self.providers = providers
        self.ctx = ctx

    async def __call__(self, service: str, operation: str, params: Doc) -> Doc:
        provider = self.providers[service]
        handler = find_handler(provider, operation)
        if handler is None:  # a wiring mistake, not a client's
            raise RuntimeError(f"{service} has no {operation}")
        ctx = RequestContext(
            self.ctx.account, self.ctx.region, self.ctx.request_id, service, operation, self.ctx.access_key
        )
        prepare = getattr(provider, "prepare", None)
        if prepare is not None:
            prepare(ctx)
        return await call_handler(handler, ctx, params) or {}

    async def remove(self, service: str, operation: str, params: Doc) -> bool:
        """Take something down: True once it is gone, False while something still depends on it."""
        try:
            await self(service, operation, params)
        except AwsError as error:
            if error.code in _GONE:
                return True
            log.info("%s.%s deferred: %s", service, operation, error.message)
            return False
        return True
