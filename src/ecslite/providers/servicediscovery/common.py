"""What every Cloud Map operation shares: the store, the clock, lookups by id or ARN that raise
Cloud Map's errors, operation records with CreatorRequestId idempotency, list filters and pages.

Idempotency (§8.1): a request repeated with the CreatorRequestId (or UpdaterRequestId) of an
earlier one and the same parameters answers the earlier OperationId without doing anything again;
the same id with other parameters is a ``DuplicateRequest`` naming the earlier operation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from ecslite.model.cloudmap import OperationType, operation_doc
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.default_vpc import DefaultVpcProvider
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.providers.servicediscovery import errors
from ecslite.store import cloudmap as store

Doc = dict[str, Any]
DEFAULT_PAGE = 100


class CloudMapBase(DefaultVpcProvider):
    """The store, clock and settings, the partition's default VPC before each operation (the base
    class), lookups that raise Cloud Map's errors, and operation records."""

    # -- lookups -------------------------------------------------------------------------------

    def namespace(self, ctx: RequestContext, ref: str) -> Doc:
        found = store.get_namespace(self.db, ctx.account, ctx.region, ref)
        if found is None:
            raise errors.NamespaceNotFound(ref)
        return found

    def service(self, ctx: RequestContext, ref: str) -> Doc:
        found = store.get_service(self.db, ctx.account, ctx.region, ref)
        if found is None:
            raise errors.ServiceNotFound(ref)
        return found

    def instance(self, ctx: RequestContext, service: Doc, instance_id: str) -> store.Instance:
        found = store.get_instance(self.db, ctx.account, ctx.region, service["Id"], instance_id)
        if found is None:
            raise errors.InstanceNotFound(instance_id)
        return found

    # -- operations ----------------------------------------------------------------------------

    def repeated(self, ctx: RequestContext, kind: OperationType, token: str | None, params: Params) -> str | None:
        """The OperationId of an earlier identical request with this token; None for a new one."""
        if not token:
            return None
        earlier = store.operation_for_request(self.db, ctx.account, ctx.region, request_key(kind, token))
        if earlier is None:
            return None
        doc, seen = earlier
        if seen != fingerprint(params):
            raise errors.DuplicateRequest(kind.value, token, doc["Id"])
        return str(doc["Id"])

    def record(
        self,
        ctx: RequestContext,
        kind: OperationType,
        targets: Mapping[str, str],
        token: str | None = None,
        params: Params | None = None,
    ) -> str:
        """Record a finished operation (inside the caller's transaction) and return its id."""
        doc = operation_doc(kind, targets, self.now(), fingerprint(params or {}))
        key = request_key(kind, token) if token else None
        store.add_operation(self.db, ctx.account, ctx.region, doc, key)
        return str(doc["Id"])

    # -- lists ---------------------------------------------------------------------------------

    @staticmethod
    def page(items: Sequence[Doc], params: Params, default: int = DEFAULT_PAGE) -> tuple[list[Doc], str | None]:
        start = decode_token(params.get("NextToken"), errors.InvalidInput) or 0
        if not isinstance(start, int) or start < 0:
            raise errors.InvalidInput("Invalid NextToken.")
        limit = params.get("MaxResults") or default
        shown = list(items[start : start + limit])
        more = start + limit < len(items)
        return shown, encode_token(start + limit) if more else None

    def listing(
        self, key: str, items: Sequence[Doc], params: Params, view: Callable[[Doc], Any], **extra: Any
    ) -> dict[str, Any]:
        """One page of ``items`` as ``{**extra, key: [view(item)...], "NextToken"?}``."""
        shown, token = self.page(items, params)
        result: dict[str, Any] = {**extra, key: [view(d) for d in shown]}
        if token:
            result["NextToken"] = token
        return result


def request_key(kind: OperationType, token: str) -> str:
    return f"{kind.value}:{token}"


def fingerprint(params: Params) -> str:
    payload = {k: v for k, v in params.items() if k not in ("CreatorRequestId", "UpdaterRequestId")}
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


Getter = Callable[[Doc], str | None]
FILTER_VALUES_ONE = "The {name} filter with the {condition} condition takes exactly one value."
FILTER_VALUES_TWO = "The {name} filter with the BETWEEN condition takes exactly two values."
FILTER_CONDITION = "The {name} filter does not support the {condition} condition."


def keep(doc: Doc, filters: Sequence[Mapping[str, Any]], getters: Mapping[str, Getter]) -> bool:
    """True when ``doc`` passes every filter (EQ is the default condition)."""
    for item in filters:
        name, values = str(item["Name"]), [str(v) for v in item["Values"]]
        condition = str(item.get("Condition") or "EQ")
        value = getters[name](doc)
        if condition == "EQ":
            if len(values) != 1:
                raise errors.InvalidInput(FILTER_VALUES_ONE.format(name=name, condition=condition))
            if value != values[0]:
                return False
        elif condition == "IN":
            if value not in values:
                return False
        elif condition == "BEGINS_WITH":
            if len(values) != 1:
                raise errors.InvalidInput(FILTER_VALUES_ONE.format(name=name, condition=condition))
            if value is None or not value.startswith(values[0]):
                return False
        else:
            raise errors.InvalidInput(FILTER_CONDITION.format(name=name, condition=condition))
    return True


def tags_of(params: Params) -> list[tuple[str, str]]:
    return [(str(t["Key"]), str(t["Value"])) for t in params.get("Tags") or ()]
