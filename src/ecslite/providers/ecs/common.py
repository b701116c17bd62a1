"""State and helpers shared by every group of ECS operations (the mixins of ``EcsProvider``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.model.arns import cluster_arn, parse_arn
from ecslite.providers.base import RequestContext
from ecslite.providers.ecs.errors import ClusterNotFoundException, InvalidParameterException
from ecslite.providers.pagination import decode_token, page_size
from ecslite.store import clusters as cluster_store
from ecslite.store import tags as tag_store
from ecslite.store import vpc as vpc_store
from ecslite.store.db import Change, Database

# Names of clusters, services, families, containers and capacity providers (use with fullmatch).
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,255}")
MAX_TAGS = 50
DEFAULT_CLUSTER = "default"


class EcsBase:
    """Holds the store, the clock and the settings; every ECS mixin builds on it."""

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self._initialized: set[tuple[str, str]] = set()
        db.subscribe(self._on_changes)

    def _on_changes(self, changes: Sequence[Change]) -> None:
        if any(change.kind == "*" for change in changes):
            self._initialized.clear()  # the store was reset

    def now(self) -> float:
        return round(self.clock.now(), 3)

    # -- partitions and the default cluster ----------------------------------------------------

    def prepare(self, ctx: RequestContext) -> None:
        """Run before every ECS operation: set up a partition the first time it is used.

        ECS's API never creates the ``default`` cluster (the console and the agent do). ecslite
        creates it once per account and region, as in an account that has opened the console;
        once deleted it stays deleted (``--no-default-cluster`` turns this off).
        """
        key = (ctx.account, ctx.region)
        if key in self._initialized:
            return
        if self.db.query_one("SELECT 1 FROM partitions WHERE account=? AND region=?", key) is None:
            with self.db.transaction():
                self.db.execute(
                    "INSERT OR IGNORE INTO partitions (account, region, initialized_at) VALUES (?, ?, ?)",
                    (ctx.account, ctx.region, self.now()),
                )
                if self.settings.create_default_cluster:
                    self.create_default_cluster(ctx)
        self.prepare_network(ctx)
        self._initialized.add(key)

    def prepare_network(self, ctx: RequestContext) -> None:
        """The partition's default VPC, which awsvpc tasks are launched into (store.vpc)."""
        vpc_store.ensure_default(self.db, ctx.account, ctx.region, self.settings.vpc_cidr, self.now())

    def create_default_cluster(self, ctx: RequestContext) -> None:
        if cluster_store.get(self.db, ctx.account, ctx.region, DEFAULT_CLUSTER) is None:
            cluster_store.put(self.db, ctx.account, ctx.region, self.new_cluster_doc(ctx, DEFAULT_CLUSTER))

    def new_cluster_doc(self, ctx: RequestContext, name: str) -> dict[str, Any]:
        return {
            "clusterArn": cluster_arn(ctx.region, ctx.account, name),
            "clusterName": name,
            "status": "ACTIVE",
            "settings": [{"name": "containerInsights", "value": self.account_setting(ctx, "containerInsights")}],
            "capacityProviders": [],
            "defaultCapacityProviderStrategy": [],
        }

    def account_setting(self, ctx: RequestContext, name: str) -> str:
        """The effective value of an account setting for the caller (principal, then account default)."""
        row = self.db.query_one(
            """SELECT value FROM account_settings WHERE account=? AND region=? AND name=?
               AND principal IN (?, '') ORDER BY principal DESC LIMIT 1""",
            (ctx.account, ctx.region, name, ctx.principal_arn),
        )
        if row is not None:
            return str(row["value"])
        return ACCOUNT_SETTING_DEFAULTS.get(name, "disabled")

    # -- references ------------------------------------------------------------------------------

    @staticmethod
    def ref_id(
        ctx: RequestContext,
        ref: str,
        resource_type: str,
        *,
        cluster: str | None = None,
        lengths: tuple[int, ...] = (1,),
    ) -> str | None:
        """The id a reference names (§1.5): the reference itself unless it is an ARN; for an ARN, its last
        path part when it is an ECS ``resource_type`` ARN of the caller's partition whose path has one of
        ``lengths`` parts and, where the path names a cluster, names ``cluster``. ``None`` otherwise:
        an ARN of another region or account names nothing here."""
        if not ref.startswith("arn:"):
            return ref
        arn = parse_arn(ref)
        if arn is None or (arn.service, arn.region, arn.account) != ("ecs", ctx.region, ctx.account):
            return None
        path = arn.resource_path
        if arn.resource_type != resource_type or len(path) not in lengths:
            return None
        if cluster is not None and len(path) > 1 and path[0] != cluster:
            return None
        return path[-1]

    def cluster_name(self, ctx: RequestContext, ref: str | None) -> str:
        """The cluster name a reference (name, ARN or nothing) points at in the caller's partition."""
        if not ref:
            return DEFAULT_CLUSTER
        name = self.ref_id(ctx, ref, "cluster")
        if name is None:
            raise ClusterNotFoundException()
        return name

    def get_cluster(self, ctx: RequestContext, ref: str | None, *, active: bool = True) -> dict[str, Any]:
        """The cluster a reference names; ``ClusterNotFoundException`` if absent (or INACTIVE when ``active``)."""
        name = self.cluster_name(ctx, ref)
        doc = cluster_store.get(self.db, ctx.account, ctx.region, name)
        if doc is None or (active and doc["status"] == "INACTIVE"):
            raise ClusterNotFoundException()
        return doc

    # -- tags ------------------------------------------------------------------------------------

    def check_tags(self, tags: list[dict[str, str]] | None, existing_arn: str | None = None) -> list[tuple[str, str]]:
        """Tags as ``(key, value)`` pairs after ECS's checks (count, reserved prefix)."""
        for index, tag in enumerate(tags or [], 1):
            if tag.get("key") is None:  # the model leaves Tag.key optional; ECS still needs it
                raise InvalidParameterException(
                    f"1 validation error detected: Value null at 'tags.{index}.member.key' failed to satisfy "
                    "constraint: Member must not be null"
                )
        pairs = [(t["key"], t.get("value", "")) for t in tags or []]
        for key, value in pairs:
            if key.lower().startswith("aws:") or value.lower().startswith("aws:"):
                raise InvalidParameterException(
                    "Tag keys and values beginning with 'aws:' are reserved for AWS use and cannot be added or removed."
                )
        total = len({k for k, _ in pairs})
        if existing_arn is not None:
            total = tag_store.count_after(self.db, existing_arn, [k for k, _ in pairs])
        if total > MAX_TAGS:
            raise InvalidParameterException(
                f"A resource can have at most {MAX_TAGS} tags; this request leaves {total}."
            )
        return pairs

    def tags_of(self, arn: str) -> list[dict[str, str]]:
        return [{"key": k, "value": v} for k, v in tag_store.get(self.db, arn)]

    # -- pagination ------------------------------------------------------------------------------

    @staticmethod
    def page_args(params: dict[str, Any], default: int = 100, maximum: int = 100) -> tuple[Any, int]:
        after = decode_token(params.get("nextToken"), InvalidParameterException)
        limit = page_size(params.get("maxResults"), default, maximum, InvalidParameterException)
        return after, limit


ACCOUNT_SETTING_DEFAULTS = {
    "serviceLongArnFormat": "enabled",
    "taskLongArnFormat": "enabled",
    "containerInstanceLongArnFormat": "enabled",
    "awsvpcTrunking": "disabled",
    "containerInsights": "disabled",
    "dualStackIPv6": "disabled",
    "fargateFIPSMode": "disabled",
    "tagResourceAuthorization": "on",
    "fargateTaskRetirementWaitPeriod": "7",
    "guardDutyActivate": "off",
    "defaultLogDriverMode": "blocking",
}
