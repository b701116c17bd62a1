"""Placing tasks that wait in PROVISIONING for managed-scaling capacity (spec/ecs.md §5.6, §3.1).

One pass of :class:`WaitingPlacer` (run by the capacity controller after managed scaling) goes over
every cluster's waiting tasks (``store.capacity_wait``), oldest first:

- a task that has waited longer than the timeout (``settings.capacity_wait_timeout_seconds``; ECS
  lets provisioning tasks wait "between 10 and 30 minutes", default 30) stops with
  ``TaskFailedToStart`` and :data:`EMPTY_CAPACITY_REASON`;
- the others are placed with their own constraints and strategies on ACTIVE instances of their
  capacity provider that have room, through the engine every launch uses (``store.placement``);
  the instance, zone, subnet and host ports are written as the launch would have written them and
  the task controller starts the task from there (it leaves a waiting task alone).

``control.capacity_scaling`` counts waiting tasks in the instances needed, so the group grows for
them; a StopTask of a waiting task goes through the normal stop sequence, which has nothing to tear
down.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from ecslite.clock import Clock
from ecslite.model.placement.constraints import parse_constraints
from ecslite.model.placement.strategies import PlacementInputError, parse_strategies
from ecslite.model.task_placement import Placement
from ecslite.model.tasks import StopCode
from ecslite.store import placement as placement_store
from ecslite.store import task_definitions as td_store
from ecslite.store import tasks as task_store
from ecslite.store.capacity_wait import WAIT_KEY, Assignment, assign, demand_of, is_waiting, waiting_tasks
from ecslite.store.db import Database
from ecslite.store.tasks import StopRequest, apply_stop

Doc = dict[str, Any]

DEFAULT_WAIT_TIMEOUT_SECONDS = 1800.0
# The stop reason ECS shows for a task that waited out its time for capacity (unverified); the
# second sentence is ecslite's (spec §1.3 "Beyond ECS").
EMPTY_CAPACITY_REASON = "EMPTY CAPACITY PROVIDER"
EMPTY_CAPACITY_DETAIL = (
    " No instance of capacity provider {provider} could take the task within {seconds:g} seconds in PROVISIONING."
)


@dataclass(frozen=True, slots=True)
class PassResult:
    placed: tuple[str, ...] = ()
    timed_out: tuple[str, ...] = ()


class WaitingPlacer:
    """One pass over every cluster's waiting tasks: time out the overdue, place the rest."""

    def __init__(self, db: Database, clock: Clock, timeout: float = DEFAULT_WAIT_TIMEOUT_SECONDS) -> None:
        self.db = db
        self.clock = clock
        self.timeout = timeout

    def step(self) -> PassResult:
        by_cluster = waiting_tasks(self.db)
        placed: list[str] = []
        timed_out: list[str] = []
        now = round(self.clock.now(), 3)
        for (account, region, cluster), docs in by_cluster.items():
            view: placement_store.ClusterView | None = None
            for doc in docs:  # oldest first (insertion order)
                if now - float(doc["_spec"][WAIT_KEY]["since"]) >= self.timeout:
                    self._time_out(doc, now)
                    timed_out.append(doc["taskArn"])
                    continue
                provider = doc.get("capacityProviderName")
                if view is None:
                    view = placement_store.cluster_view(self.db, account, region, cluster)
                if not view.candidates(provider):
                    continue
                where = self._place(view, account, region, doc)
                if where is None:
                    continue
                stored = task_store.update(self.db, doc["taskArn"], partial(assign, where=where))
                if stored is not None and stored.get("containerInstanceArn") == where.instance_arn:
                    placed.append(doc["taskArn"])
        return PassResult(tuple(placed), tuple(timed_out))

    def _place(self, view: placement_store.ClusterView, account: str, region: str, doc: Doc) -> Assignment | None:
        spec = doc["_spec"]
        wait = spec[WAIT_KEY]
        definition = td_store.get(self.db, account, region, spec["family"], int(spec["revision"])) or {}
        try:
            launch = placement_store.launch_placement(
                definition,
                doc.get("group") or "",
                parse_constraints(wait.get("constraints") or None),
                parse_strategies(wait.get("strategies") or None),
            )
        except PlacementInputError:
            return None  # checked when the task was launched; a definition changed under it keeps waiting
        demand = demand_of(doc, placement_store.definition_gpus(definition))
        # The engines reserve on the view's instances, so later tasks of this pass see what earlier ones took.
        outcome = placement_store.Placer(view, launch, demand).place(doc.get("capacityProviderName"))
        if not isinstance(outcome, Placement):
            return None
        instance = view.docs.get(outcome.arn) or {}
        return Assignment(outcome.arn, instance.get("ec2InstanceId"), view.zone(outcome.arn), outcome.dynamic_ports)

    def _time_out(self, doc: Doc, now: float) -> None:
        reason = EMPTY_CAPACITY_REASON + EMPTY_CAPACITY_DETAIL.format(
            provider=doc.get("capacityProviderName"), seconds=self.timeout
        )
        request = StopRequest(StopCode.TASK_FAILED_TO_START.value, reason, now)
        task_store.update(self.db, doc["taskArn"], lambda d: is_waiting(d) and apply_stop(d, request))
