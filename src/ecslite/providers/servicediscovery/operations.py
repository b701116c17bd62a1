"""Cloud Map operations and tags (spec/ecs.md §8.1): GetOperation, ListOperations with filters, and
TagResource/UntagResource/ListTagsForResource on namespace and service ARNs."""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.servicediscovery import errors
from ecslite.providers.servicediscovery.common import CloudMapBase, Doc, keep, tags_of
from ecslite.store import cloudmap as store
from ecslite.store import tags as tag_store

MAX_TAGS = 50
# Unverified text.
BETWEEN_DATES = "The UPDATE_DATE filter takes the BETWEEN condition with two epoch times."

_GETTERS = {
    "NAMESPACE_ID": lambda doc: (doc.get("Targets") or {}).get("NAMESPACE"),
    "SERVICE_ID": lambda doc: (doc.get("Targets") or {}).get("SERVICE"),
    "STATUS": lambda doc: doc.get("Status"),
    "TYPE": lambda doc: doc.get("Type"),
}


class OperationOps(CloudMapBase):
    def get_operation(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        account = params.get("OwnerAccount") or ctx.account
        doc = store.get_operation(self.db, account, ctx.region, params["OperationId"])
        if doc is None:
            raise errors.OperationNotFound(params["OperationId"])
        return {"Operation": {**doc, "OwnerAccount": account}}

    def list_operations(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        filters = list(params.get("Filters") or ())
        dates = [f for f in filters if f["Name"] == "UPDATE_DATE"]
        others = [f for f in filters if f["Name"] != "UPDATE_DATE"]
        found = [d for d in store.operations(self.db, ctx.account, ctx.region) if keep(d, others, _GETTERS)]
        for item in dates:
            low, high = _between(item)
            found = [d for d in found if low <= float(d["UpdateDate"]) <= high]
        return self.listing("Operations", found, params, lambda d: {"Id": d["Id"], "Status": d["Status"]})

    # -- tags ------------------------------------------------------------------------------------

    def tag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._taggable(ctx, params["ResourceARN"])
        pairs = tags_of(params)
        if tag_store.count_after(self.db, arn, [k for k, _ in pairs]) > MAX_TAGS:
            raise errors.TooManyTagsException(arn)
        with self.db.transaction():
            tag_store.put(self.db, arn, pairs)
        return {}

    def untag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._taggable(ctx, params["ResourceARN"])
        with self.db.transaction():
            tag_store.remove(self.db, arn, params["TagKeys"])
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._taggable(ctx, params["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in tag_store.get(self.db, arn)]}

    def _taggable(self, ctx: RequestContext, arn: str) -> str:
        found: Doc | None = None
        if ":namespace/" in arn:
            found = store.get_namespace(self.db, ctx.account, ctx.region, arn)
        elif ":service/" in arn:
            found = store.get_service(self.db, ctx.account, ctx.region, arn)
        if found is None:
            raise errors.ResourceNotFoundException(arn)
        return str(found["Arn"])


def _between(item: dict[str, Any]) -> tuple[float, float]:
    values = item["Values"]
    if (item.get("Condition") or "EQ") != "BETWEEN" or len(values) != 2:
        raise errors.InvalidInput(BETWEEN_DATES)
    try:
        return float(values[0]), float(values[1])
    except ValueError:
        raise errors.InvalidInput(BETWEEN_DATES) from None
