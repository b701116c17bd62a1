"""What the service scheduler does with container instances (spec/ecs.md §4.4, §4.11, §5.3, §5.5).

- **Draining** (§5.5): a REPLICA service's tasks on DRAINING instances are treated like tasks of
  an older deployment (:data:`DRAINING_PREFIX`), so the rolling step replaces them under the
  service's bounds: PENDING ones are stopped at once, RUNNING ones once their replacements allow
  (maximumPercent above 100 starts replacements first, minimumHealthyPercent below 100 may stop
  first; 100/100 moves nothing until capacity frees).
- **Scale-in victims** (§4.4, §5.3): :func:`victim_chooser` picks the tasks to stop by the
  service's placement strategies (the default spread over zones keeps zones balanced; binpack
  empties the instance with the most free resources), after the scheduler's own preference for
  unhealthy and not-yet-running tasks.
- **DAEMON** (§4.11): :class:`DaemonScheduler` keeps one task of the PRIMARY deployment on every
  ACTIVE instance that meets the service's and the definition's constraints and required
  attributes. The service's (and the deployment's) ``desiredCount`` is the number of such
  instances. Deployments replace instance by instance with minimum 0 % / maximum 100 %: an old
  task goes first, the new one starts once nothing of the service is left there. Instances that
  drain, leave or stop meeting the constraints lose their task (``SERVICE_DAEMON_PLACEMENT_
  CONSTRAINT_VIOLATED`` when a running task no longer meets them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ecslite.control import service_events as texts
from ecslite.control.service_events import AnnouncementKind
from ecslite.model.deployments import VICTIM_RANK, ServiceTask, StopOrder, StopWhy, VictimChooser
from ecslite.model.placement.constraints import parse_constraints
from ecslite.model.placement.engine import Instance
from ecslite.model.placement.strategies import (
    AZ_ATTRIBUTE,
    DEFAULT_SERVICE_STRATEGY,
    PlacementInputError,
    Victim,
    choose_victims,
    parse_strategies,
)
from ecslite.store import placement as placement_store
from ecslite.store import services as svc_store
from ecslite.store import task_definitions as td_store
from ecslite.store import tasks as task_store
from ecslite.store.db import Database

if TYPE_CHECKING:
    from ecslite.control.service_outcomes import Step
    from ecslite.control.service_reconciler import ServiceReconciler

Doc = dict[str, Any]

# Tasks on draining instances join the rollout as tasks of this pseudo-deployment (never an id ECS makes).
DRAINING_PREFIX = "draining:"
DAEMON_VIOLATED = "SERVICE_DAEMON_PLACEMENT_CONSTRAINT_VIOLATED"


def draining_instances(db: Database, account: str, region: str, cluster: str) -> set[str]:
    rows = db.query(
        "SELECT arn FROM container_instances WHERE account=? AND region=? AND cluster=? AND status='DRAINING'",
        (account, region, cluster),
    )
    return {str(r["arn"]) for r in rows}


def spread_attributes(service: Mapping[str, Any]) -> set[str]:
    """The attributes the service's strategies spread over (what scale-in needs to read)."""
    try:
        strategies = parse_strategies(service.get("placementStrategy") or ()) or DEFAULT_SERVICE_STRATEGY
    except PlacementInputError:
        strategies = DEFAULT_SERVICE_STRATEGY
    return {s.attribute for s in strategies if s.attribute}


def victim_chooser(
    service: Mapping[str, Any], live: Sequence[Doc], view: placement_store.ClusterView | None
) -> VictimChooser:
    """Scale-in by the service's strategies (§5.3), over its tasks' instances (or zones on Fargate)."""
    try:
        strategies = parse_strategies(service.get("placementStrategy") or ()) or DEFAULT_SERVICE_STRATEGY
    except PlacementInputError:
        strategies = DEFAULT_SERVICE_STRATEGY
    docs = {t["taskArn"]: t for t in live}
    instances: dict[str, Instance] = {i.arn: i for i in view.instances} if view is not None else {}

    def victim(task: ServiceTask) -> Victim:
        doc = docs.get(task.arn) or {}
        inst = instances.get(str(doc.get("containerInstanceArn")))
        reservation = ((doc.get("_spec") or {}).get("reservation")) or {}
        attributes: Mapping[str, str | None] = inst.attributes if inst is not None else {AZ_ATTRIBUTE: task.zone}
        return Victim(
            key=task.arn,
            rank=VICTIM_RANK[task.phase],
            instance=inst.arn if inst is not None else None,
            attributes=attributes,
            cpu_left=inst.cpu if inst is not None else 0,
            memory_left=inst.memory if inst is not None else 0,
            cpu=int(reservation.get("cpu", 0)),
            memory=int(reservation.get("memory", 0)),
            created_at=task.created_at,
        )

    def choose(tasks: Sequence[ServiceTask], count: int) -> list[ServiceTask]:
        by_arn = {t.arn: t for t in tasks}
        chosen = choose_victims([victim(t) for t in tasks], count, strategies)
        return [by_arn[v.key] for v in chosen]

    return choose


class DaemonScheduler:
    """One step of a DAEMON service: what each eligible instance is missing, and what must go."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def step(self, reconciler: ServiceReconciler, step: Step, tasks: Sequence[ServiceTask]) -> None:
        primary = step.primary()
        eligible = self._eligible(step, primary)
        desired = len(eligible)
        if step.doc["desiredCount"] != desired or primary.get("desiredCount") != desired:
            step.doc["desiredCount"] = desired
            primary["desiredCount"] = desired
        docs = {t["taskArn"]: t for t in step.live}
        stops: list[StopOrder] = []
        occupied: set[str] = set()  # instances still holding a task of the service (even one stopping)
        kept: dict[str, ServiceTask] = {}
        for doc in step.live:
            if doc.get("containerInstanceArn"):
                occupied.add(str(doc["containerInstanceArn"]))
        violated = False
        active = _active_instances(self.db, step.ref.account, step.ref.region, step.ref.cluster)
        for task in sorted(tasks, key=lambda t: t.created_at):
            instance = str(docs[task.arn].get("containerInstanceArn") or "")
            if instance not in eligible:
                stops.append(StopOrder(task.arn, StopWhy.ROLLOUT))
                violated = violated or instance in active
            elif task.deployment_id != primary["id"] or instance in kept:
                stops.append(StopOrder(task.arn, StopWhy.ROLLOUT))  # min 0 %: the old task goes first
            else:
                kept[instance] = task
        if stops:
            reconciler._stop(step, stops, primary)
        if violated:
            reconciler._announce(step, AnnouncementKind.SERVICE_ACTION, "ERROR", DAEMON_VIOLATED)
        failed = primary["rolloutState"] == "FAILED"
        missing = [arn for arn in eligible if arn not in occupied]
        if missing and not failed:
            self._launch(reconciler, step, primary, missing)
        if not stops and not missing:
            reconciler._steady(step, primary, list(kept.values()))
        elif stops or missing:
            step.doc.pop("_steadyAt", None)

    def _eligible(self, step: Step, primary: Doc) -> list[str]:
        """ACTIVE instances meeting the constraints and required attributes, in registration order."""
        ref = step.ref
        definition = _definition(self.db, ref.account, ref.region, primary["_spec"]["taskDefinition"])
        try:
            constraints = parse_constraints(step.doc.get("placementConstraints") or ())
            launch = placement_store.launch_placement(definition or {}, f"service:{ref.name}", constraints)
        except PlacementInputError:
            return []
        view = placement_store.view_for(self.db, ref.account, ref.region, ref.cluster, launch)
        out = []
        for inst in view.candidates():
            if not inst.agent_connected:
                continue
            if any(
                name not in inst.attributes or (value is not None and inst.attributes[name] != value)
                for name, value in launch.required_attributes
            ):
                continue
            # distinctInstance holds by construction; memberOf decides.
            if all(c.allows(inst, "") for c in launch.constraints if c.type == "memberOf"):
                out.append(inst.arn)
        return out

    def _launch(self, reconciler: ServiceReconciler, step: Step, primary: Doc, instances: list[str]) -> None:
        outcome = reconciler.launcher.launch(
            step.ref, step.doc, primary, len(instances), step.live, step.now, on_instances=instances
        )
        if outcome.docs:
            task_store.insert_launched(
                self.db, step.ref.account, step.ref.region, step.ref.cluster, outcome.docs, outcome.tags
            )
            for doc in outcome.docs:
                svc_store.record_launch(self.db, step.arn, doc["taskArn"], primary["id"], step.now)
            for batch in texts.batches([doc["taskArn"] for doc in outcome.docs]):
                reconciler._event(step, texts.STARTED.format(count=len(batch), tasks=texts.task_list(batch)))
        if outcome.problem is not None:
            reconciler._event(step, outcome.problem)
            reconciler._announce(step, AnnouncementKind.SERVICE_ACTION, "ERROR", "SERVICE_TASK_PLACEMENT_FAILURE")
            step.recheck.append(step.now + 10.0)


def _active_instances(db: Database, account: str, region: str, cluster: str) -> set[str]:
    rows = db.query(
        "SELECT arn FROM container_instances WHERE account=? AND region=? AND cluster=? AND status='ACTIVE'",
        (account, region, cluster),
    )
    return {str(r["arn"]) for r in rows}


def _definition(db: Database, account: str, region: str, arn: str) -> Doc | None:
    family, _, revision = arn.rsplit("/", 1)[-1].rpartition(":")
    return td_store.get(db, account, region, family, int(revision)) if revision.isdigit() else None
