"""Cluster operations (spec/ecs.md §2.1): create, describe, list, update, settings, delete."""

from __future__ import annotations

from typing import Any

from ecslite.model.arns import cluster_arn
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.capacity_providers import check_cluster_capacity
from ecslite.providers.ecs.common import NAME_PATTERN, EcsBase
from ecslite.providers.ecs.errors import (
    ClusterContainsCapacityProviderException,
    ClusterContainsContainerInstancesException,
    ClusterContainsServicesException,
    ClusterContainsTasksException,
    ClusterNotFoundException,
    InvalidParameterException,
)
from ecslite.providers.pagination import encode_token
from ecslite.store import clusters as cluster_store
from ecslite.store import tags as tag_store

MAX_DESCRIBE = 100
BUILT_IN_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


class ClusterOps(EcsBase):
    def create_cluster(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name = params.get("clusterName") or "default"
        if not NAME_PATTERN.fullmatch(name):
            raise InvalidParameterException(
                "Cluster name can only contain up to 255 letters (uppercase and lowercase), numbers, "
                f"underscores, and hyphens; got '{name}'."
            )
        existing = cluster_store.get(self.db, ctx.account, ctx.region, name)
        if existing is not None and existing["status"] != "INACTIVE":
            # CreateCluster is idempotent: an ACTIVE cluster of that name is returned as it is.
            return {"cluster": self.cluster_view(ctx, existing, ("SETTINGS", "CONFIGURATIONS", "TAGS"))}
        arn = cluster_arn(ctx.region, ctx.account, name)
        tags = self.check_tags(params.get("tags"))
        providers = params.get("capacityProviders") or []
        strategy = params.get("defaultCapacityProviderStrategy") or []
        check_cluster_capacity(self.db, ctx, providers, strategy)
        doc = self.new_cluster_doc(ctx, name)
        if params.get("settings"):
            doc["settings"] = self._merged_settings(doc["settings"], params["settings"])
        if params.get("configuration"):
            doc["configuration"] = self._checked_configuration(params["configuration"])
        if params.get("serviceConnectDefaults"):
            doc["serviceConnectDefaults"] = self._service_connect_defaults(params["serviceConnectDefaults"])
        doc["capacityProviders"] = list(providers)
        doc["defaultCapacityProviderStrategy"] = [self._strategy_item(i) for i in strategy]
        with self.db.transaction():
            tag_store.remove(self.db, arn, [k for k, _ in tag_store.get(self.db, arn)])  # a reused name starts clean
            tag_store.put(self.db, arn, tags)
            cluster_store.put(self.db, ctx.account, ctx.region, doc)
        return {"cluster": self.cluster_view(ctx, doc, ("SETTINGS", "CONFIGURATIONS", "TAGS"))}

    def describe_clusters(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        refs = params.get("clusters") or ["default"]
        if len(refs) > MAX_DESCRIBE:
            raise InvalidParameterException(f"clusters can have at most {MAX_DESCRIBE} items.")
        include = tuple(params.get("include") or ())
        found, failures = [], []
        for ref in refs:
            doc = self._find_cluster(ctx, ref)
            if doc is None:
                arn = ref if ref.startswith("arn:") else cluster_arn(ctx.region, ctx.account, ref)
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(self.cluster_view(ctx, doc, include))
        return {"clusters": found, "failures": failures}

    def list_clusters(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        after, limit = self.page_args(params)
        rows = cluster_store.list_page(self.db, ctx.account, ctx.region, after, limit + 1)
        result: dict[str, Any] = {"clusterArns": [arn for _, arn in rows[:limit]]}
        if len(rows) > limit:
            result["nextToken"] = encode_token(rows[limit - 1][0])
        return result

    def update_cluster(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.get_cluster(ctx, params["cluster"])
        if params.get("settings"):
            doc["settings"] = self._merged_settings(doc.get("settings", []), params["settings"])
        if params.get("configuration"):
            doc["configuration"] = self._checked_configuration(params["configuration"])
        if params.get("serviceConnectDefaults"):
            doc["serviceConnectDefaults"] = self._service_connect_defaults(params["serviceConnectDefaults"])
        with self.db.transaction():
            cluster_store.put(self.db, ctx.account, ctx.region, doc)
        return {"cluster": self.cluster_view(ctx, doc, ("SETTINGS", "CONFIGURATIONS"))}

    def update_cluster_settings(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.get_cluster(ctx, params["cluster"])
        doc["settings"] = self._merged_settings(doc.get("settings", []), params["settings"])
        with self.db.transaction():
            cluster_store.put(self.db, ctx.account, ctx.region, doc)
        return {"cluster": self.cluster_view(ctx, doc, ("SETTINGS",))}

    def delete_cluster(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        doc = self.get_cluster(ctx, params["cluster"])
        name = doc["clusterName"]
        self._check_deletable(ctx, name, doc)
        doc["status"] = "INACTIVE"
        with self.db.transaction():
            cluster_store.put(self.db, ctx.account, ctx.region, doc)
        view = self.cluster_view(ctx, doc, ("SETTINGS", "CONFIGURATIONS"))
        return {"cluster": view}

    # -- helpers ---------------------------------------------------------------------------------

    def _find_cluster(self, ctx: RequestContext, ref: str) -> dict[str, Any] | None:
        try:
            return self.get_cluster(ctx, ref, active=False)
        except ClusterNotFoundException:
            return None

    def _check_deletable(self, ctx: RequestContext, name: str, doc: dict[str, Any]) -> None:
        """ECS refuses while instances, services, tasks or ASG providers remain; ecslite names them."""
        part = (ctx.account, ctx.region, name)
        instances = self.db.query(
            """SELECT id FROM container_instances WHERE account=? AND region=? AND cluster=?
               AND status IN ('ACTIVE', 'DRAINING') ORDER BY rid LIMIT 5""",
            part,
        )
        if instances:
            raise ClusterContainsContainerInstancesException(
                ClusterContainsContainerInstancesException().message
                + " Still registered: "
                + " ".join(f"(container-instance {r['id']})" for r in instances)
                + "."
            )
        services = self.db.query(
            """SELECT name, status FROM services WHERE account=? AND region=? AND cluster=?
               AND status IN ('ACTIVE', 'DRAINING') ORDER BY rid LIMIT 5""",
            part,
        )
        if services:
            raise ClusterContainsServicesException(
                ClusterContainsServicesException().message
                + " Still present: "
                + " ".join(f"(service {r['name']}, {r['status']})" for r in services)
                + "."
            )
        tasks = self.db.query(
            """SELECT id, last_status FROM tasks WHERE account=? AND region=? AND cluster=?
               AND last_status != 'STOPPED' ORDER BY rid LIMIT 5""",
            part,
        )
        if tasks:
            raise ClusterContainsTasksException(
                ClusterContainsTasksException().message
                + " Not yet stopped: "
                + " ".join(f"(task {r['id']}, {r['last_status']})" for r in tasks)
                + ". Wait for them to reach STOPPED and try again."
            )
        asg = [p for p in doc.get("capacityProviders", []) if p not in BUILT_IN_PROVIDERS]
        if asg:
            raise ClusterContainsCapacityProviderException(
                ClusterContainsCapacityProviderException().message
                + f" Remove {', '.join(asg)} with PutClusterCapacityProviders first."
            )

    def cluster_view(self, ctx: RequestContext, doc: dict[str, Any], include: tuple[str, ...] = ()) -> dict[str, Any]:
        """The cluster as DescribeClusters shows it: live counters, and extras only when included."""
        counts = cluster_store.counts(self.db, ctx.account, ctx.region, doc["clusterName"])
        inactive = doc["status"] == "INACTIVE"
        view: dict[str, Any] = {
            "clusterArn": doc["clusterArn"],
            "clusterName": doc["clusterName"],
            "status": doc["status"],
            "registeredContainerInstancesCount": 0 if inactive else counts["instances"],
            "runningTasksCount": 0 if inactive else counts["running"],
            "pendingTasksCount": 0 if inactive else counts["pending"],
            "activeServicesCount": 0 if inactive else counts["activeServices"],
            "statistics": [],
            "tags": [],
            "capacityProviders": doc.get("capacityProviders", []),
            "defaultCapacityProviderStrategy": doc.get("defaultCapacityProviderStrategy", []),
        }
        if "STATISTICS" in include:
            view["statistics"] = [
                {"name": key, "value": str(0 if inactive else counts[src])}
                for key, src in (
                    ("runningEC2TasksCount", "runningEC2"),
                    ("runningFargateTasksCount", "runningFargate"),
                    ("pendingEC2TasksCount", "pendingEC2"),
                    ("pendingFargateTasksCount", "pendingFargate"),
                    ("activeEC2ServiceCount", "activeEC2Services"),
                    ("activeFargateServiceCount", "activeFargateServices"),
                    ("drainingEC2ServiceCount", "drainingEC2Services"),
                    ("drainingFargateServiceCount", "drainingFargateServices"),
                )
            ]
        if "TAGS" in include:
            view["tags"] = self.tags_of(doc["clusterArn"])
        if "SETTINGS" in include:
            view["settings"] = doc.get("settings", [])
        if "CONFIGURATIONS" in include and doc.get("configuration"):
            view["configuration"] = doc["configuration"]
        if "ATTACHMENTS" in include:
            view["attachments"] = doc.get("attachments", [])
            if doc.get("attachmentsStatus"):
                view["attachmentsStatus"] = doc["attachmentsStatus"]
        if doc.get("serviceConnectDefaults"):
            view["serviceConnectDefaults"] = doc["serviceConnectDefaults"]
        return view

    @staticmethod
    def _merged_settings(current: list[dict[str, str]], updates: list[dict[str, str]]) -> list[dict[str, str]]:
        merged = {s["name"]: s["value"] for s in current}
        for setting in updates:
            name, value = setting.get("name"), setting.get("value")
            if name != "containerInsights" or value not in ("enabled", "disabled", "enhanced"):
                raise InvalidParameterException(
                    "Cluster setting containerInsights must be one of enabled, disabled or enhanced; "
                    f"got {name}={value}."
                )
            merged[name] = value
        return [{"name": k, "value": v} for k, v in merged.items()]

    @staticmethod
    def _checked_configuration(config: dict[str, Any]) -> dict[str, Any]:
        exec_config = config.get("executeCommandConfiguration") or {}
        if exec_config.get("logging") == "OVERRIDE" and not exec_config.get("logConfiguration"):
            raise InvalidParameterException(
                "The logConfiguration must be specified when the logging value is OVERRIDE."
            )
        return config

    @staticmethod
    def _service_connect_defaults(defaults: dict[str, Any]) -> dict[str, Any]:
        # Kept as given; resolving a name to a Cloud Map namespace ARN comes with Service Connect.
        return {"namespace": defaults.get("namespace", "")}

    @staticmethod
    def _strategy_item(item: dict[str, Any]) -> dict[str, Any]:
        return {
            "capacityProvider": item["capacityProvider"],
            "weight": item.get("weight", 0),
            "base": item.get("base", 0),
        }
