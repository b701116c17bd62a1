"""STS operations. Without IAM every caller is the account's root user."""

from __future__ import annotations

from ecslite.providers.base import Params, RequestContext


class StsProvider:
    def get_caller_identity(self, ctx: RequestContext, params: Params) -> dict[str, str]:
        return {"UserId": ctx.account, "Account": ctx.account, "Arn": ctx.principal_arn}
