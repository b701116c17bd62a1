"""A role's policies: AWS managed policies attached to it, and inline policies embedded in it.

Policies are stored and shown, never enforced. Attaching needs a policy IAM has (an AWS managed
policy, ``managed_policies.py``, or one of the account's customer managed policies, ``policies.py``);
an inline policy must be valid JSON in IAM's grammar, and a role's inline policies together stay
within IAM's 10,240-character quota.
"""

from __future__ import annotations

import re
from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.iam import policy_documents
from ecslite.providers.iam.common import IamBase, check_name, quoted
from ecslite.providers.iam.errors import LimitExceeded, NoSuchEntity, pattern_error
from ecslite.providers.iam.managed_policies import managed_policy
from ecslite.store import iam as iam_store

MAX_ATTACHED = 10
POLICY_NAME_PATTERN = r"[\w+=,.@-]+"
ATTACHED_PATH_PREFIX_PATTERN = r"((/[A-Za-z0-9\.,\+@=_-]+)*)/"
_ATTACHED_PATH_PREFIX = re.compile(r"(/[A-Za-z0-9.,+@=_-]+)*/")


class RolePolicyOps(IamBase):
    # -- attached (managed) policies ---------------------------------------------------------------

    def attach_role_policy(self, ctx: RequestContext, params: Params) -> None:
        name, arn = params["RoleName"], params["PolicyArn"]
        check_name(name, "roleName")
        self.role(ctx.account, name)
        policy = self._attachable(ctx, arn)
        attached = iam_store.attachments(self.db, ctx.account, name)
        if any(a.policy_arn == arn for a in attached):
            return  # attaching again changes nothing, as in IAM
        if len(attached) >= MAX_ATTACHED:
            raise LimitExceeded(f"Cannot exceed quota for PoliciesPerRole: {MAX_ATTACHED}")
        with self.db.transaction():
            iam_store.attach(self.db, ctx.account, name, iam_store.Attachment(arn, *policy))

    def _attachable(self, ctx: RequestContext, arn: str) -> tuple[str, str]:
        """The name and path of the managed policy ``arn``: AWS's, or the caller's own."""
        aws = managed_policy(arn)
        if aws is not None:
            return aws.name, aws.path
        own = iam_store.get_policy(self.db, arn)
        if own is not None and arn.startswith(f"arn:aws:iam::{ctx.account}:"):
            return str(own["PolicyName"]), str(own["Path"])
        raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")

    def detach_role_policy(self, ctx: RequestContext, params: Params) -> None:
        name, arn = params["RoleName"], params["PolicyArn"]
        check_name(name, "roleName")
        self.role(ctx.account, name)
        if not any(a.policy_arn == arn for a in iam_store.attachments(self.db, ctx.account, name)):
            raise NoSuchEntity(f"Policy {arn} was not found.")
        with self.db.transaction():
            iam_store.detach(self.db, ctx.account, name, arn)

    def list_attached_role_policies(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name = params["RoleName"]
        check_name(name, "roleName")
        prefix = params.get("PathPrefix", "/")
        if not _attached_prefix_ok(prefix):
            raise pattern_error(prefix, "pathPrefix", ATTACHED_PATH_PREFIX_PATTERN)
        self.role(ctx.account, name)
        after, limit = self.page_args(params)
        start = after if isinstance(after, int) else 0
        matching = [a for a in iam_store.attachments(self.db, ctx.account, name) if a.policy_path.startswith(prefix)]
        shown, extra = self.page(matching[start : start + limit + 1], limit, lambda _: start + limit)
        return {"AttachedPolicies": [{"PolicyName": a.policy_name, "PolicyArn": a.policy_arn} for a in shown], **extra}

    # -- inline policies -----------------------------------------------------------------------------

    def put_role_policy(self, ctx: RequestContext, params: Params) -> None:
        name, policy_name, document = params["RoleName"], params["PolicyName"], params["PolicyDocument"]
        check_name(name, "roleName")
        check_name(policy_name, "policyName", POLICY_NAME_PATTERN)
        self.role(ctx.account, name)
        policy_documents.check_permissions_policy(document, "policyDocument")
        others = iam_store.role_policies(self.db, ctx.account, name)
        others.pop(policy_name, None)
        total = sum(policy_documents.compact_size(d) for d in others.values())
        if total + policy_documents.compact_size(document) > policy_documents.ROLE_POLICY_QUOTA:
            role_name = self.role(ctx.account, name)["RoleName"]
            raise LimitExceeded(
                f"Maximum policy size of {policy_documents.ROLE_POLICY_QUOTA} bytes exceeded for role {role_name}"
            )
        with self.db.transaction():
            iam_store.put_role_policy(self.db, ctx.account, name, policy_name, document)

    def get_role_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name, policy_name = params["RoleName"], params["PolicyName"]
        check_name(name, "roleName")
        check_name(policy_name, "policyName", POLICY_NAME_PATTERN)
        role = self.role(ctx.account, name)
        document = iam_store.role_policies(self.db, ctx.account, name).get(policy_name)
        if document is None:
            raise _no_role_policy(policy_name)
        return {"RoleName": role["RoleName"], "PolicyName": policy_name, "PolicyDocument": quoted(document)}

    def delete_role_policy(self, ctx: RequestContext, params: Params) -> None:
        name, policy_name = params["RoleName"], params["PolicyName"]
        check_name(name, "roleName")
        check_name(policy_name, "policyName", POLICY_NAME_PATTERN)
        self.role(ctx.account, name)
        if policy_name not in iam_store.role_policies(self.db, ctx.account, name):
            raise _no_role_policy(policy_name)
        with self.db.transaction():
            iam_store.delete_role_policy(self.db, ctx.account, name, policy_name)

    def list_role_policies(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name = params["RoleName"]
        check_name(name, "roleName")
        self.role(ctx.account, name)
        after, limit = self.page_args(params)
        names = [n for n in iam_store.role_policies(self.db, ctx.account, name) if after is None or n > str(after)]
        shown, extra = self.page(names[: limit + 1], limit, lambda last: last)
        return {"PolicyNames": shown, **extra}


def _no_role_policy(policy_name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The role policy with name {policy_name} cannot be found.")


def _attached_prefix_ok(prefix: str) -> bool:
    return _ATTACHED_PATH_PREFIX.fullmatch(prefix) is not None
