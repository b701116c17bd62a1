"""Managed policies: customer managed ones (create, versions, delete) and the AWS managed ones listed.

A customer managed policy belongs to the caller's account, at ``arn:aws:iam::<account>:policy<path><name>``.
It keeps up to five versions (``v1``, ``v2``… never reused), one of them the default; its documents are
checked like inline policies and stored as submitted, never evaluated. ``AttachmentCount`` is counted
from the roles it is attached to, so it cannot drift. AWS managed policies (``managed_policies.py``)
are shown by GetPolicy and ListPolicies with one version, ``v1``; ecslite does not hold their text.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from base64 import b32encode
from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.iam import policy_documents
from ecslite.providers.iam.common import IamBase, check_description, check_name, check_path, check_path_prefix, quoted
from ecslite.providers.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    LimitExceeded,
    NoSuchEntity,
    ValidationError,
)
from ecslite.providers.iam.managed_policies import ManagedPolicy, all_managed_policies, managed_policy
from ecslite.store import iam as iam_store

MAX_VERSIONS = 5
POLICY_SIZE_QUOTA = 6144  # PolicySize, counted without whitespace
MAX_POLICIES = 1500
POLICY_NAME_PATTERN = r"[\w+=,.@-]+"
SCOPES = ("All", "AWS", "Local")
# AWS managed policies have no creation date in ecslite; IAM's first ones date from 2015-02-06.
AWS_POLICY_DATE = 1423180800.0
_ID_ALPHABET = string.ascii_uppercase + "234567"


def new_policy_id() -> str:
    """``ANPA`` and 17 characters, 21 in all, like IAM's policy ids."""
    return "ANPA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def _aws_policy_id(policy: ManagedPolicy) -> str:
    """A stable id for an AWS managed policy, so that every answer shows the same one."""
    return "ANPA" + b32encode(hashlib.sha256(policy.arn.encode()).digest()).decode()[:17]


def policy_not_found(arn: str) -> NoSuchEntity:
    return NoSuchEntity(f"Policy {arn} was not found.")


class PolicyOps(IamBase):
    def create_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name, document = params["PolicyName"], params["PolicyDocument"]
        check_name(name, "policyName", POLICY_NAME_PATTERN)
        path = params.get("Path", "/")
        check_path(path)
        if params.get("Description") is not None:
            check_description(params["Description"])
        _check_document(document)
        tags = self.checked_tags(params.get("Tags") or [])
        if iam_store.policy_by_name(self.db, ctx.account, name) is not None:
            raise EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names are not allowed.")
        if len(iam_store.list_policies(self.db, ctx.account)) >= MAX_POLICIES:
            raise LimitExceeded(f"Cannot exceed quota for PoliciesPerAccount: {MAX_POLICIES}")
        now = self.now()
        doc: dict[str, Any] = {
            "PolicyName": name,
            "PolicyId": new_policy_id(),
            "Arn": f"arn:aws:iam::{ctx.account}:policy{path}{name}",
            "Path": path,
            "DefaultVersionId": "v1",
            "CreateDate": now,
            "UpdateDate": now,
            "NextVersion": 2,
            "Versions": [{"VersionId": "v1", "Document": document, "CreateDate": now}],
        }
        if params.get("Description") is not None:
            doc["Description"] = params["Description"]
        with self.db.transaction():
            self.remove_tags(doc["Arn"], [t["Key"] for t in self.tags_of(doc["Arn"])])  # a reused name starts clean
            iam_store.put_policy(self.db, ctx.account, doc)
            self.put_tags(doc["Arn"], tags)
        return {"Policy": self._view(ctx, doc, "get")}

    def get_policy(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = params["PolicyArn"]
        aws = managed_policy(arn)
        if aws is not None:
            return {"Policy": self._aws_view(ctx, aws)}
        return {"Policy": self._view(ctx, self.customer_policy(ctx, arn), "get")}

    def list_policies(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        scope = params.get("Scope", "All")
        if scope not in SCOPES:
            raise ValidationError(
                f"1 validation error detected: Value '{scope}' at 'scope' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [All, AWS, Local]"
            )
        prefix = params.get("PathPrefix", "/")
        check_path_prefix(prefix)
        after, limit = self.page_args(params)
        views: list[dict[str, Any]] = []
        if scope in ("All", "AWS"):
            views += [self._aws_view(ctx, p) for p in all_managed_policies()]
        if scope in ("All", "Local"):
            views += [self._view(ctx, doc, "list") for doc in iam_store.list_policies(self.db, ctx.account)]
        views = [v for v in views if v["Path"].startswith(prefix)]
        if params.get("OnlyAttached"):
            views = [v for v in views if v["AttachmentCount"] > 0]
        views.sort(key=lambda v: (v["PolicyName"].lower(), v["Arn"]))
        start = after if isinstance(after, int) else 0
        shown, extra = self.page(views[start : start + limit + 1], limit, lambda _: start + limit)
        return {"Policies": shown, **extra}

    def delete_policy(self, ctx: RequestContext, params: Params) -> None:
        arn = params["PolicyArn"]
        doc = self.customer_policy(ctx, arn)
        if iam_store.attachment_count(self.db, ctx.account, arn):
            raise DeleteConflict("Cannot delete a policy attached to entities.")
        if len(doc["Versions"]) > 1:
            raise DeleteConflict(
                "This policy has more than one version. Before you delete a policy, you must delete the "
                "policy's versions. The default version is deleted with the policy."
            )
        with self.db.transaction():
            iam_store.delete_policy(self.db, arn)
            self.remove_tags(arn, [t["Key"] for t in self.tags_of(arn)])

    # -- versions ------------------------------------------------------------------------------------

    def create_policy_version(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn, document = params["PolicyArn"], params["PolicyDocument"]
        doc = self.customer_policy(ctx, arn)
        _check_document(document)
        if len(doc["Versions"]) >= MAX_VERSIONS:
            raise LimitExceeded(
                f"A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new version, "
                "you must delete an existing version."
            )
        now = self.now()
        version = {"VersionId": f"v{doc['NextVersion']}", "Document": document, "CreateDate": now}
        doc["NextVersion"] += 1
        doc["Versions"].append(version)
        if params.get("SetAsDefault"):
            doc["DefaultVersionId"] = version["VersionId"]
        doc["UpdateDate"] = now
        with self.db.transaction():
            iam_store.put_policy(self.db, ctx.account, doc)
        return {"PolicyVersion": _version_view(doc, version, document=False)}

    def get_policy_version(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn, version_id = params["PolicyArn"], params["VersionId"]
        doc = self.customer_policy(ctx, arn)
        return {"PolicyVersion": _version_view(doc, _version(doc, version_id), document=True)}

    def list_policy_versions(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.customer_policy(ctx, params["PolicyArn"])
        after, limit = self.page_args(params)
        start = after if isinstance(after, int) else 0
        # Newest first, as IAM lists them.
        versions = list(reversed(doc["Versions"]))[start : start + limit + 1]
        shown, extra = self.page(versions, limit, lambda _: start + limit)
        return {"Versions": [_version_view(doc, v, document=False) for v in shown], **extra}

    def delete_policy_version(self, ctx: RequestContext, params: Params) -> None:
        arn, version_id = params["PolicyArn"], params["VersionId"]
        doc = self.customer_policy(ctx, arn)
        _version(doc, version_id)
        if version_id == doc["DefaultVersionId"]:
            raise DeleteConflict("Cannot delete the default version of a policy.")
        doc["Versions"] = [v for v in doc["Versions"] if v["VersionId"] != version_id]
        with self.db.transaction():
            iam_store.put_policy(self.db, ctx.account, doc)

    def set_default_policy_version(self, ctx: RequestContext, params: Params) -> None:
        arn, version_id = params["PolicyArn"], params["VersionId"]
        doc = self.customer_policy(ctx, arn)
        _version(doc, version_id)
        doc["DefaultVersionId"] = version_id
        doc["UpdateDate"] = self.now()
        with self.db.transaction():
            iam_store.put_policy(self.db, ctx.account, doc)

    # -- helpers -------------------------------------------------------------------------------------

    def customer_policy(self, ctx: RequestContext, arn: str) -> dict[str, Any]:
        """The caller's customer managed policy ``arn``; another account's is as unknown as a missing one."""
        doc = iam_store.get_policy(self.db, arn)
        if doc is None or not arn.startswith(f"arn:aws:iam::{ctx.account}:"):
            raise policy_not_found(arn)
        return doc

    def _view(self, ctx: RequestContext, doc: dict[str, Any], shape: str) -> dict[str, Any]:
        """The policy as IAM shows it; ListPolicies leaves out the description and the tags."""
        view = {key: doc[key] for key in ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId")}
        view["AttachmentCount"] = iam_store.attachment_count(self.db, ctx.account, doc["Arn"])
        view["PermissionsBoundaryUsageCount"] = 0
        view["IsAttachable"] = True
        view["CreateDate"] = doc["CreateDate"]
        view["UpdateDate"] = doc["UpdateDate"]
        if shape == "get":
            if doc.get("Description") is not None:
                view["Description"] = doc["Description"]
            tags = self.tags_of(doc["Arn"])
            if tags:
                view["Tags"] = tags
        return view

    def _aws_view(self, ctx: RequestContext, policy: ManagedPolicy) -> dict[str, Any]:
        return {
            "PolicyName": policy.name,
            "PolicyId": _aws_policy_id(policy),
            "Arn": policy.arn,
            "Path": policy.path,
            "DefaultVersionId": "v1",
            "AttachmentCount": iam_store.attachment_count(self.db, ctx.account, policy.arn),
            "PermissionsBoundaryUsageCount": 0,
            "IsAttachable": True,
            "CreateDate": AWS_POLICY_DATE,
            "UpdateDate": AWS_POLICY_DATE,
        }


def _check_document(document: str) -> None:
    policy_documents.check_permissions_policy(document, "policyDocument")
    if policy_documents.compact_size(document) > POLICY_SIZE_QUOTA:
        raise LimitExceeded(f"Cannot exceed quota for PolicySize: {POLICY_SIZE_QUOTA}")


def _version(doc: dict[str, Any], version_id: str) -> dict[str, Any]:
    for version in doc["Versions"]:
        if version["VersionId"] == version_id:
            return dict(version)
    raise NoSuchEntity(f"Policy {doc['Arn']} version {version_id} does not exist or is not attachable.")


def _version_view(doc: dict[str, Any], version: dict[str, Any], document: bool) -> dict[str, Any]:
    view: dict[str, Any] = {}
    if document:
        view["Document"] = quoted(version["Document"])
    view["VersionId"] = version["VersionId"]
    view["IsDefaultVersion"] = version["VersionId"] == doc["DefaultVersionId"]
    view["CreateDate"] = version["CreateDate"]
    return view
