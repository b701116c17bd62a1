"""State and helpers shared by the EC2 operation groups: the partition's default VPC, paging,
filtering and tag specifications.

Every Describe* here works the same way (EC2's rules): explicit ids must all exist (the first
unknown one is the error), filters narrow the result, ``MaxResults``/``NextToken`` page it in
creation order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from ipaddress import IPv4Network
from typing import Any

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.model.vpc import Filter, filters_from, matches, unknown_filter
from ecslite.model.vpc_docs import tags_of
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ec2 import errors
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Change, Database

Doc = dict[str, Any]
Values = Mapping[str, Sequence[str]]
PAGE_RANGE = (5, 1000)


def yes(value: bool) -> str:
    return "true" if value else "false"


HostRoutes = Callable[[], list[tuple[str, str]]]


class Ec2Base:
    def __init__(
        self, db: Database, clock: Clock, settings: Settings, *, host_routes: HostRoutes | None = None
    ) -> None:
        """``host_routes`` lists ``(interface, network)`` the host routes; given when tasks really run
        (the process runtime), so VPC space never takes over the host's own networks."""
        self.db = db
        self.clock = clock
        self.settings = settings
        self.host_routes = host_routes
        self._initialized: set[tuple[str, str]] = set()
        db.subscribe(self._on_changes)

    def _on_changes(self, changes: Sequence[Change]) -> None:
        if any(change.kind == "*" for change in changes):
            self._initialized.clear()

    def now(self) -> float:
        return round(self.clock.now(), 3)

    def prepare(self, ctx: RequestContext) -> None:
        """Before every EC2 operation: the partition's default VPC exists, as in a new AWS account."""
        key = (ctx.account, ctx.region)
        if key not in self._initialized:
            vpc_store.ensure_default(self.db, ctx.account, ctx.region, self.settings.vpc_cidr, self.now())
            self._initialized.add(key)

    @staticmethod
    def check_dry_run(params: Params) -> None:
        if params.get("DryRun"):
            raise errors.dry_run()

    # -- describe ----------------------------------------------------------------------------

    def describe(
        self,
        params: Params,
        rows: Sequence[tuple[int, Doc]],
        *,
        ids_param: str,
        id_key: str,
        not_found: Callable[[str], AwsError],
        filter_values: Callable[[Doc], Values],
        known_filters: Sequence[str],
        result_key: str,
        pageable: bool = True,
    ) -> dict[str, Any]:
        """The answer of a Describe* over ``rows`` (``(rid, doc)`` in creation order)."""
        self.check_dry_run(params)
        wanted = params.get(ids_param) or []
        by_id = {doc[id_key]: (rid, doc) for rid, doc in rows}
        for item in wanted:
            if item not in by_id:
                raise not_found(item)
        selected = [by_id[i] for i in dict.fromkeys(wanted)] if wanted else list(rows)
        filters = filters_from(params.get("Filters"))
        bad = unknown_filter(filters, known_filters)
        if bad is not None:
            raise errors.unknown_filter(bad)
        selected = [(rid, doc) for rid, doc in selected if _keep(filters, doc, filter_values)]
        result: dict[str, Any] = {}
        if pageable:
            selected, token = self._page(params, selected)
            if token is not None:
                result["NextToken"] = token
        result[result_key] = [doc for _, doc in selected]
        return result

    @staticmethod
    def _page(params: Params, rows: list[tuple[int, Doc]]) -> tuple[list[tuple[int, Doc]], str | None]:
        limit = params.get("MaxResults")
        after = decode_token(params.get("NextToken"), lambda _: errors.bad_token())
        if after is not None:
            if not isinstance(after, int):
                raise errors.bad_token()
            rows = [(rid, doc) for rid, doc in rows if rid > after]
        if limit is None:
            return rows, None
        if not PAGE_RANGE[0] <= limit <= PAGE_RANGE[1]:
            raise errors.bad_max_results(limit, *PAGE_RANGE)
        if len(rows) <= limit:
            return rows, None
        page = rows[:limit]
        return page, encode_token(page[-1][0])

    # -- tags ----------------------------------------------------------------------------------

    @staticmethod
    def spec_tags(params: Params, resource_type: str) -> dict[str, str]:
        """Tags of ``TagSpecifications`` for ``resource_type``; another type is EC2's error."""
        tags: dict[str, str] = {}
        for spec in params.get("TagSpecifications") or ():
            kind = spec.get("ResourceType")
            if kind and kind != resource_type:
                raise errors.invalid_value(f"'{kind}' is not a valid taggable resource type for this operation.")
            for tag in spec.get("Tags") or ():
                key = tag.get("Key")
                if not key:
                    raise errors.invalid_value("Tag keys must not be empty.")
                if key.lower().startswith("aws:"):
                    raise errors.invalid_value(f"Tag key '{key}' uses the reserved prefix 'aws:'.")
                tags[key] = tag.get("Value", "")
        return tags

    def check_routable(self, cidr: IPv4Network, what: str) -> None:
        """Refuse address space the host already routes elsewhere: on the bridge it would hijack it.

        A subnet's whole block goes on the bridge; of a VPC only its resolver address (base + 2) does.
        """
        if self.host_routes is None:
            return
        mine = cidr if what == "subnet" else IPv4Network(f"{cidr.network_address + 2}/32")
        for interface, network in self.host_routes():
            if interface == self.settings.bridge or not IPv4Network(network).overlaps(mine):
                continue
            why = (
                f"this host already routes {network} via {interface}, and ecslite puts its VPCs' subnets and "
                "resolvers on its own bridge; choose a block this host does not use."
            )
            if what == "subnet":
                raise errors.Ec2Error(
                    "InvalidSubnet.Conflict", f"The CIDR '{cidr}' conflicts with another subnet: {why}"
                )
            raise errors.Ec2Error(
                "InvalidVpc.Range",
                f"The CIDR '{cidr}' is invalid. Its resolver address would be {mine.network_address}, but {why}",
            )

    # -- lookups shared by several groups ----------------------------------------------------------

    def vpc(self, ctx: RequestContext, vpc_id: str) -> Doc:
        if not vpc_id.startswith("vpc-"):
            raise errors.malformed("InvalidVpcID.Malformed", vpc_id, "vpc")
        doc = vpc_store.get_vpc(self.db, ctx.account, ctx.region, vpc_id)
        if doc is None:
            raise errors.vpc_not_found(vpc_id)
        return doc

    def default_vpc_id(self, ctx: RequestContext) -> str:
        doc = vpc_store.default_vpc(self.db, ctx.account, ctx.region)
        if doc is None:
            raise errors.Ec2Error(
                "VPCIdNotSpecified",
                "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.",
            )
        return str(doc["VpcId"])


def _keep(filters: Sequence[Filter], doc: Doc, filter_values: Callable[[Doc], Values]) -> bool:
    if not filters:
        return True
    return matches(filters, filter_values(doc), tags_of(doc) or tags_of({"Tags": doc.get("TagSet")}))
