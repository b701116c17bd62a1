"""Capacity providers and strategies (spec/ecs.md §5.6, §2.1, §13.2).

FARGATE and FARGATE_SPOT exist in every partition without being stored; Auto Scaling group
providers are rows in ``store.capacity_providers``. Invariants kept here:

- a live (not INACTIVE) provider name and an Auto Scaling group belong to one provider each;
- a cluster's ``capacityProviders`` name ACTIVE providers, and its default strategy only names
  associated providers, never mixes Fargate with Auto Scaling group providers, and has at most
  one item with a ``base`` (``check_cluster_capacity``, also used by CreateCluster);
- a provider still associated with a cluster or named by a service strategy is not deleted: as
  in ECS the call succeeds with ``updateStatus DELETE_FAILED`` and the reason.

Updates and deletions finish at once locally (there is no Auto Scaling group to wait for), so
the response shows ECS's in-progress state while the store already holds the final one.

Spot interruptions (§13.1, ``ecslite spot interrupt``): :meth:`CapacityProviderOps.interrupt_spot_tasks`
records a warning for each chosen FARGATE_SPOT task; the capacity controller stops it with
``SpotInterruption`` when the warning (two minutes by default) has run out, and a service replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ecslite.model.arns import capacity_provider_arn, parse_arn
from ecslite.model.capacity import StrategyItem, parse_strategy
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.common import NAME_PATTERN, EcsBase
from ecslite.providers.ecs.errors import (
    ClientException,
    InvalidParameterException,
    LimitExceededException,
    ResourceInUseException,
    UnsupportedFeatureException,
)
from ecslite.providers.pagination import encode_token
from ecslite.store import capacity as capacity_store
from ecslite.store import capacity_providers as cp_store
from ecslite.store import clusters as cluster_store
from ecslite.store import tags as tag_store
from ecslite.store.db import Database

BUILT_IN = ("FARGATE", "FARGATE_SPOT")
RESERVED_PREFIXES = ("aws", "ecs", "fargate")  # checked case-insensitively, as ECS does
MAX_PER_REGION = 20  # hard limit of Auto Scaling group providers per Region
MAX_PER_CLUSTER = 20  # §13.2 (unverified)
MAX_STRATEGY_ITEMS = 20  # §5.6
MAX_DESCRIBE = 100
PAGE = 10
INACTIVE_VISIBLE_SECONDS = 3600.0  # how long a deleted provider stays describable by name (unverified)
DEFAULT_SCALING = {
    "status": "DISABLED",
    "targetCapacity": 100,
    "minimumScalingStepSize": 1,
    "maximumScalingStepSize": 10000,
    "instanceWarmupPeriod": 300,
}

# Messages as ECS sends them (reported by users of the real API).
INVALID_NAME = (
    "The specified capacity provider name is invalid. Up to 255 characters are allowed, including letters "
    '(upper and lowercase), numbers, underscores, and hyphens. The name cannot be prefixed with "aws", "ecs", '
    'or "fargate". Specify a valid name and try again.'
)
ALREADY_EXISTS = (
    "The specified capacity provider already exists. To change the configuration of an existing capacity "
    "provider, update the capacity provider."
)
GROUP_IN_USE = (
    "The specified Auto Scaling group ARN is already being used by another capacity provider. Specify a "
    "unique Auto Scaling group ARN and try again."
)
DOES_NOT_EXIST = "The specified capacity provider does not exist. Specify a valid name or ARN and try again."
NOT_ACTIVE = (
    "The specified capacity provider '{name}' is not in an ACTIVE state. Specify a valid capacity provider "
    "and try again."
)
NOT_ASSOCIATED = (
    "The specified capacity provider strategy cannot contain a capacity provider that is not associated "
    "with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider "
    "and try again."
)
MIXED = (
    "A capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and "
    "Fargate providers. Specify one or the other and try again."
)
TOO_MANY_FOR_CLUSTER = "The maximum number of capacity providers per cluster has been exceeded."
IN_USE = "The specified capacity provider is in use and cannot be removed."
ASSOCIATED_WITH_CLUSTER = (
    "The capacity provider cannot be deleted because it is associated with cluster: {cluster}. Remove the "
    "capacity provider from the cluster and try again."
)
NO_WEIGHT_IN_DEFAULT = (
    "There are no capacity providers with a weight value greater than zero defined in the default capacity "
    "provider strategy. At least one capacity provider must have a weight value greater than zero specified. "
    "Update the cluster's default capacity provider strategy or specify a valid capacity provider strategy "
    "and try again."
)
# Unverified texts, kept together so they can be corrected in one place.
NO_WEIGHT_IN_STRATEGY = (
    "There are no capacity providers with a weight value greater than zero defined in the capacity provider "
    "strategy. At least one capacity provider must have a weight value greater than zero specified."
)
MULTIPLE_BASES = (
    "The specified capacity provider strategy cannot contain more than one capacity provider with a base "
    "value greater than zero. Specify a base value for only one capacity provider and try again."
)
TOO_MANY_ITEMS = (
    f"The specified capacity provider strategy cannot contain more than {MAX_STRATEGY_ITEMS} capacity providers."
)
DUPLICATE_ITEM = "The specified capacity provider strategy contains the capacity provider '{name}' more than once."
RESERVED = "The {name} capacity provider is reserved by AWS and cannot be {action}."
NEEDS_MANAGED_SCALING = (
    "The managed termination protection setting for the capacity provider is invalid. To enable managed "
    "termination protection for a capacity provider, managed scaling must be enabled."
)
USED_BY_SERVICE = (
    "The capacity provider cannot be deleted because it is used in the capacity provider strategy of "
    "service: {service}. Update the service to remove the capacity provider and try again."
)
STEP_SIZES = "The managed scaling minimumScalingStepSize cannot be greater than the maximumScalingStepSize."
REGION_LIMIT = f"The maximum number of capacity providers ({MAX_PER_REGION}) has been reached in this Region."
NO_GROUP_PROVIDER = "The autoScalingGroupProvider parameter must be specified."
CLUSTER_ONLY_FOR_MANAGED_INSTANCES = (
    "The cluster parameter can only be specified for Amazon ECS Managed Instances capacity providers."
)
MANAGED_INSTANCES_UNSUPPORTED = (
    "Amazon ECS Managed Instances capacity providers (managedInstancesProvider) are not supported by ecslite; "
    "use an autoScalingGroupProvider."
)


# Spot interruptions (§13.1): the warning ECS gives before it stops the task.
SPOT_WARNING_SECONDS = 120.0
SPOT = "FARGATE_SPOT"
TASK_NOT_FOUND = "The referenced task was not found."
NOT_SPOT = "Task {task} does not run on FARGATE_SPOT capacity, so it cannot be interrupted."
WARNING_RANGE = "The warning must be between 0 and 3600 seconds."


# -- rules shared with CreateCluster, RunTask and CreateService ---------------------------------


def provider_name(ctx: RequestContext, ref: str) -> str:
    """The name a capacity provider reference (name or ARN in the caller's partition) points at."""
    if not ref.startswith("arn:"):
        return ref
    arn = parse_arn(ref)
    if (
        arn is None
        or arn.service != "ecs"
        or arn.resource_type != "capacity-provider"
        or arn.region != ctx.region
        or arn.account != ctx.account
        or len(arn.resource_path) != 1
    ):
        return ref  # names no provider here; callers report it as missing
    return arn.resource_path[0]


def is_fargate(name: str) -> bool:
    return name in BUILT_IN


def check_cluster_capacity(
    db: Database, ctx: RequestContext, providers: list[str], strategy: list[dict[str, Any]]
) -> list[StrategyItem]:
    """A cluster's provider list and default strategy must name ACTIVE providers, consistently (§5.6).

    Returns the default strategy's items, names resolved and defaults set.
    """
    names = list(dict.fromkeys(provider_name(ctx, p) for p in providers))
    if len(names) > MAX_PER_CLUSTER:
        raise InvalidParameterException(TOO_MANY_FOR_CLUSTER)
    for name in names:
        if is_fargate(name):
            continue
        doc = cp_store.get(db, ctx.account, ctx.region, name)
        if doc is None or doc["status"] != "ACTIVE":
            message = NOT_ACTIVE.format(name=name)
            if doc is None:
                message += f" No capacity provider named {name} exists; create it with CreateCapacityProvider."
            raise InvalidParameterException(message)
    return check_strategy(ctx, names, strategy)


def check_strategy(
    ctx: RequestContext, associated: Sequence[str], strategy: list[dict[str, Any]]
) -> list[StrategyItem]:
    """A strategy's structural rules (§5.6); returns its items with names resolved and defaults set.

    Zero weights are accepted here (ECS accepts them in a cluster's default strategy); launching
    with such a strategy is refused by ``check_weighted``.
    """
    if len(strategy) > MAX_STRATEGY_ITEMS:
        raise InvalidParameterException(TOO_MANY_ITEMS)
    items = [StrategyItem(provider_name(ctx, i.capacity_provider), i.weight, i.base) for i in parse_strategy(strategy)]
    seen: set[str] = set()
    for item in items:
        if item.capacity_provider in seen:
            raise InvalidParameterException(DUPLICATE_ITEM.format(name=item.capacity_provider))
        seen.add(item.capacity_provider)
        if item.capacity_provider not in associated:
            raise InvalidParameterException(NOT_ASSOCIATED)
    if sum(1 for item in items if item.base > 0) > 1:
        raise InvalidParameterException(MULTIPLE_BASES)
    if len({is_fargate(item.capacity_provider) for item in items}) > 1:
        raise InvalidParameterException(MIXED)
    return items


def check_weighted(items: Sequence[StrategyItem], *, cluster_default: bool) -> None:
    """A strategy used to launch tasks needs an item with weight > 0 (§5.6)."""
    if items and not any(item.weight > 0 for item in items):
        raise InvalidParameterException(NO_WEIGHT_IN_DEFAULT if cluster_default else NO_WEIGHT_IN_STRATEGY)


def built_in_doc(ctx: RequestContext, name: str) -> dict[str, Any]:
    return {
        "capacityProviderArn": capacity_provider_arn(ctx.region, ctx.account, name),
        "name": name,
        "status": "ACTIVE",
        "type": name,
    }


class CapacityProviderOps(EcsBase):
    if TYPE_CHECKING:  # provided by ClusterOps in the assembled provider

        def cluster_view(
            self, ctx: RequestContext, doc: dict[str, Any], include: tuple[str, ...] = ()
        ) -> dict[str, Any]: ...

    def create_capacity_provider(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name = params["name"]
        if not NAME_PATTERN.fullmatch(name) or name.lower().startswith(RESERVED_PREFIXES):
            raise ClientException(INVALID_NAME)
        if params.get("managedInstancesProvider"):
            raise UnsupportedFeatureException(MANAGED_INSTANCES_UNSUPPORTED)
        group = params.get("autoScalingGroupProvider")
        if not group:
            raise InvalidParameterException(NO_GROUP_PROVIDER)
        if params.get("cluster"):
            raise InvalidParameterException(CLUSTER_ONLY_FOR_MANAGED_INSTANCES)
        existing = cp_store.get(self.db, ctx.account, ctx.region, name)
        if existing is not None and existing["status"] != "INACTIVE":
            raise ClientException(ALREADY_EXISTS)
        if cp_store.name_using_group(self.db, ctx.account, ctx.region, group["autoScalingGroupArn"]):
            raise ClientException(GROUP_IN_USE)
        if cp_store.count_live(self.db, ctx.account, ctx.region) >= MAX_PER_REGION:
            raise LimitExceededException(REGION_LIMIT)
        tags = self.check_tags(params.get("tags"))
        arn = capacity_provider_arn(ctx.region, ctx.account, name)
        doc = {
            "capacityProviderArn": arn,
            "name": name,
            "status": "ACTIVE",
            "type": "EC2_AUTOSCALING",
            "autoScalingGroupProvider": _group_provider(group, None),
        }
        with self.db.transaction():
            tag_store.remove(self.db, arn, [k for k, _ in tag_store.get(self.db, arn)])  # a reused name starts clean
            tag_store.put(self.db, arn, tags)
            cp_store.put(self.db, ctx.account, ctx.region, doc)
        return {"capacityProvider": self._view(doc, tags=True)}

    def update_capacity_provider(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self._live_provider(ctx, params["name"], "updated")
        if params.get("managedInstancesProvider"):
            raise UnsupportedFeatureException(MANAGED_INSTANCES_UNSUPPORTED)
        update = params.get("autoScalingGroupProvider")
        if not update:
            raise InvalidParameterException(NO_GROUP_PROVIDER)
        doc["autoScalingGroupProvider"] = _group_provider(update, doc["autoScalingGroupProvider"])
        doc["updateStatus"] = "UPDATE_COMPLETE"
        doc.pop("updateStatusReason", None)
        with self.db.transaction():
            cp_store.put(self.db, ctx.account, ctx.region, doc)
        return {"capacityProvider": self._view({**doc, "updateStatus": "UPDATE_IN_PROGRESS"}, tags=True)}

    def delete_capacity_provider(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        if params.get("cluster"):
            self.get_cluster(ctx, params["cluster"])
        doc = self._live_provider(ctx, params["capacityProvider"], "deleted")
        reason = self._delete_blocker(ctx, doc["name"])
        if reason is not None:
            doc.update(updateStatus="DELETE_FAILED", updateStatusReason=reason)
            with self.db.transaction():
                cp_store.put(self.db, ctx.account, ctx.region, doc)
            return {"capacityProvider": self._view(doc, tags=True)}
        arn = doc["capacityProviderArn"]
        gone = {**doc, "status": "INACTIVE", "updateStatus": "DELETE_COMPLETE", "deletedAt": self.now()}
        gone.pop("updateStatusReason", None)
        with self.db.transaction():
            tag_store.remove(self.db, arn, [k for k, _ in tag_store.get(self.db, arn)])
            cp_store.put(self.db, ctx.account, ctx.region, gone)
        view = self._view({**doc, "updateStatus": "DELETE_IN_PROGRESS"}, tags=False)
        view.pop("updateStatusReason", None)
        return {"capacityProvider": view}

    def describe_capacity_providers(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        if params.get("cluster"):
            self.get_cluster(ctx, params["cluster"])
        after, limit = self.page_args(params, default=PAGE, maximum=PAGE)
        with_tags = "TAGS" in (params.get("include") or ())
        refs = params.get("capacityProviders")
        if refs:
            if len(refs) > MAX_DESCRIBE:
                raise InvalidParameterException(f"capacityProviders can have at most {MAX_DESCRIBE} items.")
            named: list[tuple[tuple[int, ...], str | None, dict[str, Any] | None]] = [
                ((index,), ref, self._find(ctx, ref)) for index, ref in enumerate(refs)
            ]
        else:
            named = [((0, rid), None, doc) for rid, doc in cp_store.all_live(self.db, ctx.account, ctx.region)]
            named += [((1, index), None, built_in_doc(ctx, name)) for index, name in enumerate(BUILT_IN)]
        start = _token_key(after)
        remaining = [entry for entry in named if start is None or entry[0] > start]
        page = remaining[:limit]
        result: dict[str, Any] = {
            "capacityProviders": [self._view(doc, with_tags) for _, _, doc in page if doc is not None],
            "failures": [
                {"arn": _missing_arn(ctx, ref), "reason": "MISSING"} for _, ref, doc in page if doc is None and ref
            ],
        }
        if len(remaining) > limit:
            result["nextToken"] = encode_token(list(page[-1][0]))
        return result

    def put_cluster_capacity_providers(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.get_cluster(ctx, params["cluster"])
        providers, strategy = params["capacityProviders"], params["defaultCapacityProviderStrategy"]
        items = check_cluster_capacity(self.db, ctx, providers, strategy)
        names = list(dict.fromkeys(provider_name(ctx, p) for p in providers))
        for removed in [p for p in doc.get("capacityProviders", []) if p not in names]:
            user = self._cluster_user(ctx, doc["clusterName"], removed)
            if user is not None:
                raise ResourceInUseException(f"{IN_USE} It is still used by {user}.")
        doc["capacityProviders"] = names
        doc["defaultCapacityProviderStrategy"] = [item.to_api() for item in items]
        with self.db.transaction():
            cluster_store.put(self.db, ctx.account, ctx.region, doc)
        return {"cluster": self.cluster_view(ctx, doc, ("SETTINGS", "CONFIGURATIONS"))}

    # -- Spot interruptions (ecslite's own operation) ------------------------------------------------

    def interrupt_spot_tasks(
        self,
        ctx: RequestContext,
        cluster: str | None,
        service: str | None = None,
        task: str | None = None,
        warning_seconds: float = SPOT_WARNING_SECONDS,
    ) -> dict[str, Any]:
        """Warn the cluster's live FARGATE_SPOT tasks (of ``service``, or just ``task``) that they will
        be interrupted; returns each task with when its warning runs out."""
        found = self.get_cluster(ctx, cluster)
        name = found["clusterName"]
        if not 0 <= warning_seconds <= 3600:
            raise InvalidParameterException(WARNING_RANGE)
        sql = """SELECT arn, id, service_name, json_extract(doc, '$.capacityProviderName') AS provider FROM tasks
                 WHERE account=? AND region=? AND cluster=? AND desired_status='RUNNING'"""
        args: list[Any] = [ctx.account, ctx.region, name]
        if service:
            sql += " AND service_name=?"
            args.append(service.rsplit("/", 1)[-1])
        rows = self.db.query(sql + " ORDER BY rid", args)
        if task:
            wanted = task.rsplit("/", 1)[-1]
            rows = [r for r in rows if r["id"] == wanted]
            if not rows:
                raise InvalidParameterException(TASK_NOT_FOUND)
            if rows[0]["provider"] != SPOT:
                raise InvalidParameterException(NOT_SPOT.format(task=wanted))
        now = self.now()
        out = []
        with self.db.transaction():
            for row in rows:
                if row["provider"] != SPOT:
                    continue
                stands = capacity_store.add_interruption(
                    self.db, ctx.account, ctx.region, name, row["arn"], now, now + warning_seconds
                )
                out.append({"taskArn": stands.task_arn, "warnedAt": stands.warned_at, "interruptAt": stands.due_at})
        return {"interruptions": out}

    # -- helpers ---------------------------------------------------------------------------------

    def _find(self, ctx: RequestContext, ref: str) -> dict[str, Any] | None:
        """A provider to describe: built in, live, or deleted less than an hour ago."""
        name = provider_name(ctx, ref)
        if is_fargate(name):
            return built_in_doc(ctx, name)
        doc = cp_store.get(self.db, ctx.account, ctx.region, name)
        if doc is None:
            return None
        if doc["status"] == "INACTIVE" and self.now() - float(doc.get("deletedAt", 0)) > INACTIVE_VISIBLE_SECONDS:
            return None
        return doc

    def _live_provider(self, ctx: RequestContext, ref: str, action: str) -> dict[str, Any]:
        name = provider_name(ctx, ref)
        if is_fargate(name):
            raise ClientException(RESERVED.format(name=name, action=action))
        doc = cp_store.get(self.db, ctx.account, ctx.region, name)
        if doc is None or doc["status"] == "INACTIVE":
            raise ClientException(DOES_NOT_EXIST)
        return doc

    def _delete_blocker(self, ctx: RequestContext, name: str) -> str | None:
        """Why ECS would refuse to delete ``name`` now (the ``updateStatusReason``), or ``None``."""
        cluster = self.db.query_one(
            """SELECT name FROM clusters WHERE account=? AND region=? AND status != 'INACTIVE'
               AND EXISTS (SELECT 1 FROM json_each(doc, '$.capacityProviders') WHERE value = ?)
               ORDER BY rid LIMIT 1""",
            (ctx.account, ctx.region, name),
        )
        if cluster is not None:
            return ASSOCIATED_WITH_CLUSTER.format(cluster=cluster["name"])
        service = self.db.query_one(
            """SELECT cluster, name FROM services WHERE account=? AND region=? AND status IN ('ACTIVE', 'DRAINING')
               AND EXISTS (SELECT 1 FROM json_each(doc, '$.capacityProviderStrategy')
                           WHERE json_extract(value, '$.capacityProvider') = ?)
               ORDER BY rid LIMIT 1""",
            (ctx.account, ctx.region, name),
        )
        if service is not None:
            return USED_BY_SERVICE.format(service=f"{service['cluster']}/{service['name']}")
        return None

    def _cluster_user(self, ctx: RequestContext, cluster: str, name: str) -> str | None:
        """A service or unstopped task of ``cluster`` that runs on provider ``name`` (§5.6), described."""
        service = self.db.query_one(
            """SELECT name FROM services WHERE account=? AND region=? AND cluster=? AND status IN ('ACTIVE', 'DRAINING')
               AND EXISTS (SELECT 1 FROM json_each(doc, '$.capacityProviderStrategy')
                           WHERE json_extract(value, '$.capacityProvider') = ?)
               ORDER BY rid LIMIT 1""",
            (ctx.account, ctx.region, cluster, name),
        )
        if service is not None:
            return f"service {service['name']}"
        task = self.db.query_one(
            """SELECT id FROM tasks WHERE account=? AND region=? AND cluster=? AND last_status != 'STOPPED'
               AND json_extract(doc, '$.capacityProviderName') = ? ORDER BY rid LIMIT 1""",
            (ctx.account, ctx.region, cluster, name),
        )
        if task is not None:
            return f"task {task['id']}"
        return None

    def _view(self, doc: dict[str, Any], tags: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            key: doc[key]
            for key in (
                "capacityProviderArn",
                "name",
                "status",
                "autoScalingGroupProvider",
                "updateStatus",
                "updateStatusReason",
                "type",
            )
            if key in doc
        }
        view["tags"] = self.tags_of(doc["capacityProviderArn"]) if tags else []
        return view


def _group_provider(given: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """An ``autoScalingGroupProvider`` with ECS's defaults, ``given`` merged over ``current``."""
    base = current or {
        "autoScalingGroupArn": given.get("autoScalingGroupArn"),
        "managedScaling": dict(DEFAULT_SCALING),
        "managedTerminationProtection": "DISABLED",
        "managedDraining": "ENABLED",
    }
    merged = {**base, "managedScaling": {**base["managedScaling"], **(given.get("managedScaling") or {})}}
    for key in ("managedTerminationProtection", "managedDraining"):
        if given.get(key):
            merged[key] = given[key]
    scaling = merged["managedScaling"]
    if scaling["minimumScalingStepSize"] > scaling["maximumScalingStepSize"]:
        raise InvalidParameterException(STEP_SIZES)
    # Managed termination protection only works with managed scaling (§5.6).
    if merged["managedTerminationProtection"] == "ENABLED" and scaling["status"] != "ENABLED":
        raise ClientException(NEEDS_MANAGED_SCALING)
    return merged


def _token_key(after: Any) -> tuple[int, ...] | None:
    """The sort key a DescribeCapacityProviders token carries: ``[index]`` or ``[group, rid]``."""
    if after is None:
        return None
    if isinstance(after, list) and after and all(isinstance(part, int) for part in after):
        return tuple(after)
    raise InvalidParameterException("Invalid nextToken.")


def _missing_arn(ctx: RequestContext, ref: str) -> str:
    return ref if ref.startswith("arn:") else capacity_provider_arn(ctx.region, ctx.account, ref)
