"""IAM role operations: create, get, list, update, delete, trust policy, tags.

A role is the object ECS task definitions name as ``taskRoleArn``/``executionRoleArn``; STS
AssumeRole and the task credentials endpoint issue credentials for it (``model/credentials.py``).
Its trust policy is checked and stored as submitted, never evaluated.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.iam import policy_documents
from ecslite.providers.iam.common import (
    IamBase,
    check_description,
    check_name,
    check_path,
    check_path_prefix,
    quoted,
)
from ecslite.providers.iam.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded, NoSuchEntity
from ecslite.providers.iam.managed_policies import managed_policy
from ecslite.store import iam as iam_store

MAX_ROLES = 1000
DEFAULT_MAX_SESSION_DURATION = 3600
_ID_ALPHABET = string.ascii_uppercase + "234567"


def new_role_id() -> str:
    """``AROA`` and 17 characters, 21 in all, like IAM's role ids."""
    return "AROA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


class RoleOps(IamBase):
    def create_role(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name = params["RoleName"]
        check_name(name, "roleName")
        path = params.get("Path", "/")
        check_path(path)
        if params.get("Description") is not None:
            check_description(params["Description"])
        document = params["AssumeRolePolicyDocument"]
        policy_documents.check_trust_policy(document, "assumeRolePolicyDocument")
        tags = self.checked_tags(params.get("Tags") or [])
        boundary = self._permissions_boundary(params.get("PermissionsBoundary"))
        if iam_store.get_role(self.db, ctx.account, name) is not None:
            raise EntityAlreadyExists(f"Role with name {name} already exists.")
        if iam_store.count_roles(self.db, ctx.account) >= MAX_ROLES:
            raise LimitExceeded(f"Cannot exceed quota for RolesPerAccount: {MAX_ROLES}")
        doc: dict[str, Any] = {
            "Path": path,
            "RoleName": name,
            "RoleId": new_role_id(),
            "Arn": f"arn:aws:iam::{ctx.account}:role{path}{name}",
            "CreateDate": self.now(),
            "AssumeRolePolicyDocument": document,
            "MaxSessionDuration": params.get("MaxSessionDuration", DEFAULT_MAX_SESSION_DURATION),
        }
        if params.get("Description") is not None:
            doc["Description"] = params["Description"]
        if boundary is not None:
            doc["PermissionsBoundary"] = boundary
        with self.db.transaction():
            self.remove_tags(doc["Arn"], [k for k, _ in self._tag_pairs(doc["Arn"])])  # a reused name starts clean
            iam_store.put_role(self.db, ctx.account, doc)
            self.put_tags(doc["Arn"], tags)
        return {"Role": self.role_view(doc, "create")}

    def get_role(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        check_name(params["RoleName"], "roleName")
        return {"Role": self.role_view(self.role(ctx.account, params["RoleName"]), "get")}

    def list_roles(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        prefix = params.get("PathPrefix", "/")
        check_path_prefix(prefix)
        after, limit = self.page_args(params)
        rows = iam_store.list_roles(self.db, ctx.account, prefix, str(after) if after else None, limit + 1)
        shown, extra = self.page(rows, limit, lambda doc: iam_store.name_key(doc["RoleName"]))
        return {"Roles": [self.role_view(doc, "list") for doc in shown], **extra}

    def delete_role(self, ctx: RequestContext, params: Params) -> None:
        name = params["RoleName"]
        check_name(name, "roleName")
        role = self.role(ctx.account, name)
        if iam_store.attachments(self.db, ctx.account, name):
            raise DeleteConflict("Cannot delete entity, must detach all policies first.")
        if iam_store.role_policies(self.db, ctx.account, name):
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        with self.db.transaction():
            iam_store.delete_role(self.db, ctx.account, name)
            self.remove_tags(role["Arn"], [k for k, _ in self._tag_pairs(role["Arn"])])

    def update_assume_role_policy(self, ctx: RequestContext, params: Params) -> None:
        check_name(params["RoleName"], "roleName")
        role = self.role(ctx.account, params["RoleName"])
        policy_documents.check_trust_policy(params["PolicyDocument"], "policyDocument")
        role["AssumeRolePolicyDocument"] = params["PolicyDocument"]
        with self.db.transaction():
            iam_store.put_role(self.db, ctx.account, role)

    def update_role(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        check_name(params["RoleName"], "roleName")
        role = self.role(ctx.account, params["RoleName"])
        if params.get("Description") is not None:
            check_description(params["Description"])
            role["Description"] = params["Description"]
        if params.get("MaxSessionDuration") is not None:
            role["MaxSessionDuration"] = params["MaxSessionDuration"]
        with self.db.transaction():
            iam_store.put_role(self.db, ctx.account, role)
        return {}

    def update_role_description(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        check_name(params["RoleName"], "roleName")
        role = self.role(ctx.account, params["RoleName"])
        check_description(params["Description"])
        role["Description"] = params["Description"]
        with self.db.transaction():
            iam_store.put_role(self.db, ctx.account, role)
        return {"Role": self.role_view(role, "get")}

    # -- tags --------------------------------------------------------------------------------------

    def tag_role(self, ctx: RequestContext, params: Params) -> None:
        check_name(params["RoleName"], "roleName")
        role = self.role(ctx.account, params["RoleName"])
        pairs = self.checked_tags(params["Tags"], role["Arn"])
        with self.db.transaction():
            self.put_tags(role["Arn"], pairs)

    def untag_role(self, ctx: RequestContext, params: Params) -> None:
        check_name(params["RoleName"], "roleName")
        role = self.role(ctx.account, params["RoleName"])
        with self.db.transaction():
            self.remove_tags(role["Arn"], params["TagKeys"])

    def list_role_tags(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        check_name(params["RoleName"], "roleName")
        role = self.role(ctx.account, params["RoleName"])
        after, limit = self.page_args(params)
        start = int(after) if isinstance(after, int) else 0
        tags = self.tags_of(role["Arn"])[start : start + limit + 1]
        shown, extra = self.page(tags, limit, lambda _: start + limit)
        return {"Tags": shown, **extra}

    # -- views -------------------------------------------------------------------------------------

    def role_view(self, doc: dict[str, Any], shape: str) -> dict[str, Any]:
        """The role as IAM shows it: CreateRole, GetRole and ListRoles each show a different part."""
        view = {key: doc[key] for key in ("Path", "RoleName", "RoleId", "Arn", "CreateDate")}
        view["AssumeRolePolicyDocument"] = quoted(doc["AssumeRolePolicyDocument"])
        if doc.get("Description") is not None:
            view["Description"] = doc["Description"]
        if shape in ("get", "list"):
            view["MaxSessionDuration"] = doc["MaxSessionDuration"]
        if shape in ("create", "get"):
            if doc.get("PermissionsBoundary"):
                view["PermissionsBoundary"] = doc["PermissionsBoundary"]
            tags = self.tags_of(doc["Arn"])
            if tags:
                view["Tags"] = tags
        if shape == "get":
            view["RoleLastUsed"] = doc.get("RoleLastUsed", {})
        return view

    def _tag_pairs(self, arn: str) -> list[tuple[str, str]]:
        return [(t["Key"], t["Value"]) for t in self.tags_of(arn)]

    @staticmethod
    def _permissions_boundary(arn: str | None) -> dict[str, str] | None:
        if arn is None:
            return None
        if managed_policy(arn) is None:
            raise NoSuchEntity(f"Scope ARN: {arn} does not exist or is not attachable.")
        return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}
