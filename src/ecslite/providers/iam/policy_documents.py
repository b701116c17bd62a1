"""Checks IAM applies to policy documents before storing them: JSON, grammar, and size quotas.

Documents are kept exactly as submitted (IAM returns them URL-encoded, whitespace and all); they are
never evaluated. The grammar check is the structural part of IAM's: top-level and statement
elements, ``Effect``, string-or-list values, and what a trust policy or a permissions policy must
and must not contain. Sizes are counted without whitespace, as IAM counts them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ecslite.providers.iam.errors import LimitExceeded, MalformedPolicyDocument, pattern_error

INVALID_JSON = "This policy contains invalid Json"
SYNTAX_ERRORS = "Syntax errors in policy."
MISSING_ACTIONS = "Policy statement must contain actions."
MISSING_RESOURCES = "Policy statement must contain resources."
DUPLICATE_SIDS = "Statement IDs (SID) in a single policy must be unique."
TRUST_HAS_RESOURCE = "Has prohibited field Resource"
TRUST_MISSING_PRINCIPAL = "Missing required field Principal"

TRUST_POLICY_QUOTA = 2048  # ACLSizePerRole
ROLE_POLICY_QUOTA = 10240  # aggregate of a role's inline policies

# The model's pattern for policy documents; IAM anchors it (Latin-1 text only).
DOCUMENT_PATTERN = r"[\u0009\u000A\u000D\u0020-\u00FF]+"
_DOCUMENT = re.compile(r"[\t\n\r\u0020-\u00ff]+")

_TOP_ELEMENTS = {"Version", "Id", "Statement"}
_STATEMENT_ELEMENTS = {
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
}
_VERSIONS = {"2008-10-17", "2012-10-17"}
_WHITESPACE = re.compile(r"\s+")


def check_trust_policy(document: str, field: str) -> None:
    """A role's trust (assume-role) policy: who may assume it. Raises IAM's error for a bad one."""
    statements = _parse(document, field)
    for statement in statements:
        if "Resource" in statement or "NotResource" in statement:
            raise MalformedPolicyDocument(TRUST_HAS_RESOURCE)
        if "Principal" not in statement and "NotPrincipal" not in statement:
            raise MalformedPolicyDocument(TRUST_MISSING_PRINCIPAL)
        if "Action" not in statement and "NotAction" not in statement:
            raise MalformedPolicyDocument(MISSING_ACTIONS)
    if compact_size(document) > TRUST_POLICY_QUOTA:
        raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_QUOTA}")


def check_permissions_policy(document: str, field: str) -> None:
    """An identity-based (inline) policy: what the role may do. Raises IAM's error for a bad one."""
    statements = _parse(document, field)
    sids: set[str] = set()
    for statement in statements:
        sid = statement.get("Sid")
        if sid:
            if sid in sids:
                raise MalformedPolicyDocument(DUPLICATE_SIDS)
            sids.add(sid)
        if "Action" not in statement and "NotAction" not in statement:
            raise MalformedPolicyDocument(MISSING_ACTIONS)
        if "Resource" not in statement and "NotResource" not in statement:
            raise MalformedPolicyDocument(MISSING_RESOURCES)


def compact_size(document: str) -> int:
    """The size IAM counts against its quotas: characters other than whitespace."""
    return len(_WHITESPACE.sub("", document))


def _parse(document: str, field: str) -> list[dict[str, Any]]:
    if not _DOCUMENT.fullmatch(document):
        raise pattern_error(document, field, DOCUMENT_PATTERN)
    try:
        policy = json.loads(document)
    except ValueError:
        raise MalformedPolicyDocument(INVALID_JSON) from None
    statements = _grammar(policy)
    if statements is None:
        raise MalformedPolicyDocument(SYNTAX_ERRORS)
    return statements


def _grammar(policy: Any) -> list[dict[str, Any]] | None:
    """The policy's statements if its structure is valid, else ``None``."""
    if not isinstance(policy, dict) or not set(policy) <= _TOP_ELEMENTS:
        return None
    if "Version" in policy and policy["Version"] not in _VERSIONS:
        return None
    raw = policy.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements:
        return None
    for statement in statements:
        if not isinstance(statement, dict) or not set(statement) <= _STATEMENT_ELEMENTS:
            return None
        if statement.get("Effect") not in ("Allow", "Deny"):
            return None
        if ("Action" in statement and "NotAction" in statement) or (
            "Resource" in statement and "NotResource" in statement
        ):
            return None
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in statement and not _strings(statement[key]):
                return None
        for key in ("Principal", "NotPrincipal"):
            if key in statement and not _principal(statement[key]):
                return None
        if "Condition" in statement and not isinstance(statement["Condition"], dict):
            return None
        if "Sid" in statement and not isinstance(statement["Sid"], str):
            return None
    return statements


def _strings(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _principal(value: Any) -> bool:
    if value == "*":
        return True
    return isinstance(value, dict) and bool(value) and all(_strings(v) for v in value.values())
