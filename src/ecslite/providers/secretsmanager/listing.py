"""ListSecrets (filters, sorting, pagination) and the secret as DescribeSecret and ListSecrets show it.

Filters follow Secrets Manager's rules: each filter's values are alternatives, all filters must
match, a value starting with ``!`` negates; ``name``, ``tag-key`` and ``tag-value`` match
prefixes case-sensitively, ``description`` without regard to case, and ``all`` matches any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ecslite.clock import Clock
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.providers.secretsmanager import errors
from ecslite.store import secrets as secret_store
from ecslite.store import tags as tag_store
from ecslite.store.db import Database

DEFAULT_PAGE = 100
# (unverified) ListSecrets' order when SortBy/SortOrder are not given: newest first.
DEFAULT_SORT_BY, DEFAULT_SORT_ORDER = "created-date", "desc"
_SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "created-date": lambda doc: doc["CreatedDate"],
    "last-changed-date": lambda doc: doc.get("LastChangedDate", 0.0),
    "last-accessed-date": lambda doc: doc.get("LastAccessedDate", 0.0),
    "name": lambda doc: doc["Name"],
}


class ListingOps:
    db: Database
    clock: Clock

    def list_secrets(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        now = round(self.clock.now(), 3)
        found = secret_store.all_secrets(self.db, ctx.account, ctx.region, now)
        if not params.get("IncludePlannedDeletion"):
            found = [s for s in found if not s.deleted]
        filters = params.get("Filters") or []
        views = [self.secret_view(s, "SecretVersionsToStages") for s in found]
        views = [v for v in views if all(_matches(v, f) for f in filters)]
        sort_key = _SORT_KEYS[params.get("SortBy", DEFAULT_SORT_BY)]
        descending = params.get("SortOrder", DEFAULT_SORT_ORDER) == "desc"
        views.sort(key=lambda v: (sort_key(v), v["ARN"]), reverse=descending)
        start, limit = self.page_args(params)
        result: dict[str, Any] = {"SecretList": views[start : start + limit]}
        if start + limit < len(views):
            result["NextToken"] = self.token(start + limit)
        return result

    def secret_view(self, secret: secret_store.Secret, stages_member: str) -> dict[str, Any]:
        """The secret's metadata with its labelled versions under ``stages_member``."""
        view = {
            key: secret.doc[key]
            for key in (
                "ARN",
                "Name",
                "Description",
                "KmsKeyId",
                "LastChangedDate",
                "LastAccessedDate",
                "DeletedDate",
                "CreatedDate",
            )
            if secret.doc.get(key) is not None
        }
        tags = [{"Key": k, "Value": v} for k, v in tag_store.get(self.db, secret.arn)]
        if tags:
            view["Tags"] = tags
        labelled = {v.version_id: v.stages for v in secret_store.versions(self.db, secret) if v.stages}
        if labelled:
            view[stages_member] = labelled
        return view

    @staticmethod
    def page_args(params: Params) -> tuple[int, int]:
        after = decode_token(params.get("NextToken"), errors.InvalidNextTokenException)
        if after is not None and (not isinstance(after, int) or after < 0):
            raise errors.InvalidNextTokenException()
        return after or 0, params.get("MaxResults") or DEFAULT_PAGE

    @staticmethod
    def token(position: int) -> str:
        return encode_token(position)


def _matches(view: dict[str, Any], flt: dict[str, Any]) -> bool:
    key, values = flt.get("Key"), flt.get("Values") or []
    if key is None:
        return True
    positive = [v for v in values if not v.startswith("!")]
    negative = [v[1:] for v in values if v.startswith("!")]
    if any(_field_matches(view, key, value) for value in negative):
        return False
    return not positive or any(_field_matches(view, key, value) for value in positive)


def _field_matches(view: dict[str, Any], key: str, value: str) -> bool:
    tags = view.get("Tags", [])
    if key == "name":
        return str(view["Name"]).startswith(value)
    if key == "description":
        return str(view.get("Description", "")).lower().startswith(value.lower())
    if key == "tag-key":
        return any(t["Key"].startswith(value) for t in tags)
    if key == "tag-value":
        return any(t["Value"].startswith(value) for t in tags)
    if key == "all":
        return any(_field_matches(view, k, value) for k in ("name", "description", "tag-key", "tag-value"))
    return False  # primary-region, owning-service: no secret here is replicated or service-owned
