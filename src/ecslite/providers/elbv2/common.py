"""State and helpers shared by ELBv2's groups of operations: store, ids, ARNs, names, paging, tags.

Resources are found by ARN; an ARN of another account or region is not found, as in AWS, even
though ARNs are unique across partitions in the store. Describe operations page with ``Marker`` /
``PageSize`` (1–400) over creation order; the marker encodes the last row id served, so it survives
restarts.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.default_vpc import DefaultVpcProvider
from ecslite.providers.elbv2 import errors
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.store import elbv2 as store
from ecslite.store import tags as tag_store

Doc = dict[str, Any]
T = TypeVar("T")

MAX_PAGE = 400
MAX_TAGS = 50
_NAME = re.compile(r"[A-Za-z0-9-]+")


def new_id() -> str:
    return secrets.token_hex(8)


def elb_arn(ctx: RequestContext, resource: str) -> str:
    return f"arn:aws:elasticloadbalancing:{ctx.region}:{ctx.account}:{resource}"


def in_partition(ctx: RequestContext, arn: str) -> bool:
    parts = arn.split(":")
    return len(parts) >= 6 and parts[3] == ctx.region and parts[4] == ctx.account


def check_name(name: str, what: str) -> None:
    """ELBv2's rule for load balancer and target group names: 1–32 alphanumerics or hyphens."""
    if len(name) > 32:
        raise errors.validation(errors.NAME_TOO_LONG.format(what=what, name=name))
    if not _NAME.fullmatch(name):
        raise errors.validation(errors.NAME_CHARACTERS.format(what=what, name=name))
    if name.startswith("-") or name.endswith("-"):
        raise errors.validation(errors.NAME_HYPHEN.format(what=what, name=name))


def page(params: Params, rows: Sequence[tuple[int, T]]) -> tuple[list[T], str | None]:
    """The page of ``rows`` (in rid order) after ``Marker``, and the next marker if more remain."""
    marker = params.get("Marker")
    after = decode_token(marker, lambda _: errors.validation(errors.INVALID_MARKER.format(marker=marker)))
    if after is not None and not isinstance(after, int):
        raise errors.validation(errors.INVALID_MARKER.format(marker=marker))
    size = int(params.get("PageSize") or MAX_PAGE)
    remaining = [(rid, item) for rid, item in rows if after is None or rid > after]
    shown = remaining[:size]
    following = encode_token(shown[-1][0]) if len(remaining) > size else None
    return [item for _, item in shown], following


def paged(key: str, params: Params, rows: Sequence[tuple[int, Doc]], view: Callable[[Doc], Doc]) -> Doc:
    items, following = page(params, rows)
    out: Doc = {key: [view(d) for d in items]}
    if following is not None:
        out["NextMarker"] = following
    return out


class ElbBase(DefaultVpcProvider):
    """The store, clock and settings, the partition's default VPC before each operation (the base
    class), and lookups by ARN that raise ELBv2's errors."""

    # -- lookups -----------------------------------------------------------------------------

    def load_balancer(self, ctx: RequestContext, arn: str) -> Doc:
        doc = store.get_load_balancer(self.db, arn) if in_partition(ctx, arn) else None
        if doc is None:
            raise errors.load_balancer_not_found()
        return doc

    def target_group(self, ctx: RequestContext, arn: str) -> Doc:
        doc = store.get_target_group(self.db, arn) if in_partition(ctx, arn) else None
        if doc is None:
            raise errors.target_group_not_found()
        return doc

    def listener(self, ctx: RequestContext, arn: str) -> Doc:
        doc = store.get_listener(self.db, arn) if in_partition(ctx, arn) else None
        if doc is None:
            raise errors.listener_not_found()
        return doc

    def rule(self, ctx: RequestContext, arn: str) -> tuple[str, Doc]:
        found = store.get_rule(self.db, arn) if in_partition(ctx, arn) else None
        if found is None:
            raise errors.rule_not_found()
        return found

    # -- tags --------------------------------------------------------------------------------

    def _tagged(self, ctx: RequestContext, arn: str) -> None:
        """Raise the not-found error of ``arn``'s kind when it names no resource of this partition."""
        if in_partition(ctx, arn) and store.resource_exists(self.db, arn):
            return
        kind = arn.split(":")[5].split("/")[0] if arn.count(":") >= 5 else ""
        raise {
            "targetgroup": errors.target_group_not_found,
            "listener": errors.listener_not_found,
            "listener-rule": errors.rule_not_found,
        }.get(kind, errors.load_balancer_not_found)()

    def put_tags(self, arn: str, tags: list[Doc]) -> None:
        keys = {t["Key"] for t in tags}
        if len({k for k, _ in tag_store.get(self.db, arn)} | keys) > MAX_TAGS:
            raise errors.ElbError("TooManyTags", errors.TOO_MANY_TAGS.format(arn=arn))
        tag_store.put(self.db, arn, [(t["Key"], t.get("Value", "")) for t in tags])

    def add_tags(self, ctx: RequestContext, params: Params) -> Doc:
        for arn in params["ResourceArns"]:
            self._tagged(ctx, arn)
        with self.db.transaction():
            for arn in params["ResourceArns"]:
                self.put_tags(arn, params["Tags"])
        return {}

    def remove_tags(self, ctx: RequestContext, params: Params) -> Doc:
        for arn in params["ResourceArns"]:
            self._tagged(ctx, arn)
        with self.db.transaction():
            for arn in params["ResourceArns"]:
                tag_store.remove(self.db, arn, params["TagKeys"])
        return {}

    def describe_tags(self, ctx: RequestContext, params: Params) -> Doc:
        out = []
        for arn in params["ResourceArns"]:
            self._tagged(ctx, arn)
            out.append({"ResourceArn": arn, "Tags": [{"Key": k, "Value": v} for k, v in tag_store.get(self.db, arn)]})
        return {"TagDescriptions": out}
