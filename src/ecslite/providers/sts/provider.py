"""STS operations: who is calling, and temporary credentials for IAM roles.

A request signed with an access key id ecslite issued (AssumeRole, or a task's credentials
endpoint) is the assumed role's session: GetCallerIdentity answers ``<RoleId>:<session>`` and the
``assumed-role`` ARN, and the edge attributes the request to the role's account. Any other key is
the account's root user. Trust policies are not evaluated (IAM policies are stored, not enforced):
any caller may assume any role that exists.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ecslite.clock import Clock
from ecslite.model import credentials as creds
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.sts.errors import AccessDenied, ExpiredToken, MalformedPolicyDocument, ValidationError
from ecslite.store.db import Database

DEFAULT_DURATION = 3600
CHAINED_MAX_DURATION = 3600
SESSION_NAME_PATTERN = r"[\w+=,.@-]*"
_SESSION_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]*")
_ROLE_ARN = re.compile(r"arn:aws:iam::(\d{12}):role/(?:[\u0021-\u007e]+/)?[A-Za-z0-9_+=,.@-]+")


class StsProvider:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def get_caller_identity(self, ctx: RequestContext, params: Params) -> dict[str, str]:
        session = self._session(ctx)
        if session is not None:
            return {"UserId": session.assumed_role_id, "Account": session.account, "Arn": session.assumed_role_arn}
        return {"UserId": ctx.account, "Account": ctx.account, "Arn": ctx.principal_arn}

    def assume_role(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        role_arn, session_name = params["RoleArn"], params["RoleSessionName"]
        match = _ROLE_ARN.fullmatch(role_arn)
        if match is None:
            raise ValidationError("Request ARN is invalid")
        if not _SESSION_NAME.fullmatch(session_name):
            raise ValidationError(
                f"1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to satisfy "
                f"constraint: Member must satisfy regular expression pattern: {SESSION_NAME_PATTERN}"
            )
        if params.get("Policy") is not None:
            _check_session_policy(params["Policy"])
        caller = self._session(ctx)
        account = match.group(1)
        role = creds.role_for_arn(self.db, account, role_arn)
        if role is None:
            principal = caller.assumed_role_arn if caller else ctx.principal_arn
            raise AccessDenied(
                f"User: {principal} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            )
        duration = params.get("DurationSeconds", DEFAULT_DURATION)
        if caller is not None and duration > CHAINED_MAX_DURATION:
            raise ValidationError(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
            )
        if duration > role["MaxSessionDuration"]:
            raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        issued = creds.issue_role_credentials(
            self.db, account, str(role["Arn"]), session_name, duration, region=ctx.region, clock=self.clock
        )
        result: dict[str, Any] = {
            "Credentials": {
                "AccessKeyId": issued.access_key_id,
                "SecretAccessKey": issued.secret_access_key,
                "SessionToken": issued.session_token,
                "Expiration": issued.expiration,
            },
            "AssumedRoleUser": {"AssumedRoleId": issued.assumed_role_id, "Arn": issued.assumed_role_arn},
        }
        if params.get("SourceIdentity") is not None:
            result["SourceIdentity"] = params["SourceIdentity"]
        return result

    def _session(self, ctx: RequestContext) -> creds.Credentials | None:
        """The assumed-role session the request was signed for, if ecslite issued its key."""
        if ctx.access_key is None:
            return None
        session = creds.lookup_credentials(self.db, ctx.access_key)
        if session is not None and session.expired(self.clock.now()):
            raise ExpiredToken()
        return session


def _check_session_policy(document: str) -> None:
    try:
        policy = json.loads(document)
    except ValueError:
        raise MalformedPolicyDocument("This policy contains invalid Json") from None
    if not isinstance(policy, dict) or "Statement" not in policy:
        raise MalformedPolicyDocument("Syntax errors in policy.")
