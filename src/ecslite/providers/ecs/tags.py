"""Tags on every taggable ECS resource (spec/ecs.md §1.6): TagResource, UntagResource,
ListTagsForResource.

Taggable: clusters, services, tasks, container instances, task definitions, capacity providers
and task sets, each named by its long-format ARN. An ARN is checked before its tags are touched:
it must be an ECS ARN of a taggable type in the long format (else ``InvalidParameterException``),
its cluster must exist (else ``ClusterNotFoundException``) and so must the resource (else
``ResourceNotFoundException``, spec §1.3). An ARN of another account or Region names nothing here.
Tags are stored under the resource's ARN (``store.tags``); keys are case-sensitive and tagging an
existing key overwrites its value.
"""

from __future__ import annotations

from typing import Any

from ecslite.model.arns import Arn, parse_arn
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.capacity_providers import BUILT_IN, RESERVED
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import (
    ClusterNotFoundException,
    InvalidParameterException,
    ResourceNotFoundException,
)
from ecslite.store import capacity_providers as cp_store
from ecslite.store import clusters as cluster_store
from ecslite.store import tags as tag_store
from ecslite.store import task_definitions as td_store

INVALID_ARN = "The ARN provided is invalid."
LONG_ARN_REQUIRED = "Long arn format must be used for tagging operations"
RESERVED_KEY = "Tag keys and values beginning with 'aws:' are reserved for AWS use and cannot be added or removed."

# Resource type → how many path parts its long ARN may have (``service/<cluster>/<name>`` → 2; a
# task set's id, ``ecs-svc/<digits>``, brings its own slash).
PATH_PARTS = {
    "cluster": (1,),
    "service": (2,),
    "task": (2,),
    "container-instance": (2,),
    "task-set": (3, 4),
    "task-definition": (1,),
    "capacity-provider": (1,),
}
# Older short formats (no cluster in the path) that ECS refuses for tagging.
SHORT_FORMAT = {"service", "task", "container-instance"}


class TagOps(EcsBase):
    def tag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._taggable(ctx, params["resourceArn"], for_change=True)
        tags = self.check_tags(params["tags"], existing_arn=arn)
        with self.db.transaction():
            tag_store.put(self.db, arn, tags)
        return {}

    def untag_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._taggable(ctx, params["resourceArn"], for_change=True)
        keys = params["tagKeys"]
        if any(key.lower().startswith("aws:") for key in keys):
            raise InvalidParameterException(RESERVED_KEY)
        with self.db.transaction():
            tag_store.remove(self.db, arn, keys)
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._taggable(ctx, params["resourceArn"], for_change=False)
        return {"tags": self.tags_of(arn)}

    # -- resolving an ARN ------------------------------------------------------------------------

    def _taggable(self, ctx: RequestContext, text: str, *, for_change: bool) -> str:
        """``text`` once it is known to name an existing taggable resource of the caller."""
        arn = parse_arn(text)
        if arn is None or arn.partition != "aws" or arn.service != "ecs" or arn.resource_type not in PATH_PARTS:
            raise InvalidParameterException(INVALID_ARN)
        kind, path = arn.resource_type, arn.resource_path
        if kind in SHORT_FORMAT and len(path) == 1:
            raise InvalidParameterException(LONG_ARN_REQUIRED)
        if len(path) not in PATH_PARTS[kind] or not all(path):
            raise InvalidParameterException(INVALID_ARN)
        if kind == "capacity-provider" and path[0] in BUILT_IN and for_change:
            raise InvalidParameterException(RESERVED.format(name=path[0], action="tagged"))
        if not self._exists(ctx, arn):
            raise ResourceNotFoundException(f"{ResourceNotFoundException().message} No {kind} {text} exists.")
        return text

    def _exists(self, ctx: RequestContext, arn: Arn) -> bool:
        if arn.region != ctx.region or arn.account != ctx.account:
            if arn.resource_type in ("cluster", *SHORT_FORMAT, "task-set"):
                raise ClusterNotFoundException()
            return False
        kind, path = arn.resource_type, arn.resource_path
        if kind == "task-definition":
            family, _, revision = path[0].rpartition(":")
            return (
                bool(family)
                and revision.isdigit()
                and (td_store.get(self.db, ctx.account, ctx.region, family, int(revision)) is not None)
            )
        if kind == "capacity-provider":
            if path[0] in BUILT_IN:
                return True
            doc = cp_store.get(self.db, ctx.account, ctx.region, path[0])
            return doc is not None and doc["status"] != "INACTIVE"
        cluster = cluster_store.get(self.db, ctx.account, ctx.region, path[0])
        if cluster is None or cluster["status"] == "INACTIVE":
            raise ClusterNotFoundException()
        return kind == "cluster" or self._in_cluster(ctx, arn)

    def _in_cluster(self, ctx: RequestContext, arn: Arn) -> bool:
        kind, path = arn.resource_type, arn.resource_path
        part = (ctx.account, ctx.region, path[0], path[1])
        if kind == "task":
            sql = "SELECT 1 FROM tasks WHERE account=? AND region=? AND cluster=? AND id=?"
        elif kind == "container-instance":
            sql = """SELECT 1 FROM container_instances WHERE account=? AND region=? AND cluster=? AND id=?
                     AND status != 'INACTIVE'"""
        elif kind == "service":
            sql = """SELECT 1 FROM services WHERE account=? AND region=? AND cluster=? AND name=?
                     AND status IN ('ACTIVE', 'DRAINING')"""
        else:  # a task set lives in its service's document
            row = self.db.query_one(
                """SELECT 1 FROM services, json_each(services.doc, '$.taskSets') AS ts
                   WHERE account=? AND region=? AND cluster=? AND name=? AND status IN ('ACTIVE', 'DRAINING')
                   AND json_extract(ts.value, '$.taskSetArn') = ?""",
                (*part, f"arn:{arn.partition}:{arn.service}:{arn.region}:{arn.account}:{arn.resource}"),
            )
            return row is not None
        return self.db.query_one(sql, part) is not None
