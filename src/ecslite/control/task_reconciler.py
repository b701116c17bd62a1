"""The task reconciler: one idempotent step of a task's lifecycle per call (spec/ecs.md §3).

``reconcile(key)`` reads the stored task (desired state and what was last observed), asks the
runtime what really exists, takes the single next step, writes what it saw, and returns. Its own
write is a store change, which enqueues the key again, so the task walks
PROVISIONING → PENDING → (ACTIVATING →) RUNNING → (DEACTIVATING →) STOPPING → DEPROVISIONING →
STOPPED one visible state at a time.

Steps, in the order they are considered:

1. Task gone from the store (purged, reset): remove whatever the runtime still has of it.
2. Sandbox or containers lost (the runtime kept nothing across a restart): stop the task with a
   reason saying so, instead of leaving it to hang.
3. Container exits reported by the runtime: ``exitCode``, OOM reason; an essential exit asks the
   task to stop (``EssentialContainerExited``, §3.5).
4. Health results of the probes: container and task ``healthStatus`` (§2.7).
5. Desired STOPPED: the stop sequence in :mod:`ecslite.control.task_stop` (§3.4).
6. PROVISIONING: the sandbox (§3.1); PENDING: pulls, the awslogs streams (``task_logs``), then
   containers as their ``dependsOn`` allow (§3.3), then RUNNING, or ACTIVATING for a service task
   with load balancers, Cloud Map registries or Service Connect; ACTIVATING: their registration
   (:mod:`ecslite.control.task_activation`), then RUNNING. ``startedAt`` is stamped on RUNNING.

Ownership: this module writes observed fields only (``lastStatus``, timestamps, container state,
health, attachments, ``_run``); a stop request goes through ``task_store.apply_stop`` (first wins).
Every write re-reads the row (``task_store.update``), so a StopTask that arrives while the runtime
is being asked something is never overwritten. Nothing escapes a step unhandled except a bug,
which the runner logs and retries with back-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ecslite.clock import Clock
from ecslite.control import task_network
from ecslite.control.health_probes import HealthProbes
from ecslite.control.task_activation import Activation, Attachments, TargetGroups
from ecslite.control.task_docs import (
    Doc,
    api_container,
    container_facts,
    container_secrets,
    container_spec,
    set_attachment,
    spec_containers,
    stamp,
    task_id_of,
)
from ecslite.control.task_logs import LogStreams, awslogs_containers
from ecslite.control.task_stop import stop_step
from ecslite.control.workqueue import Outcome
from ecslite.model.container_ordering import Verdict, satisfied_for_running, start_decision
from ecslite.model.health import HealthCheckSpec, task_health
from ecslite.model.tasks import (
    CONTAINERS_UP,
    ESSENTIAL_CONTAINER_EXITED,
    EXIT_SIGTERM,
    OOM_REASON,
    AttachmentStatus,
    ContainerStatus,
    DesiredStatus,
    HealthStatus,
    StopCode,
    TaskStatus,
)
from ecslite.runtime.base import (
    ContainerState,
    ImageInfo,
    Runtime,
    RuntimeFailure,
    SandboxFailed,
    SandboxInfo,
    SandboxSpec,
)
from ecslite.store import tasks as task_store
from ecslite.store.capacity_wait import WAIT_KEY
from ecslite.store.db import Database
from ecslite.store.tasks import StopRequest, apply_stop

# PROVISIONING → PENDING, pull started, pulled, log streams, containers (in dependsOn waves),
# ACTIVATING, RUNNING.
MAX_START_STEPS = 11


@dataclass(slots=True)
class Observed:
    """What the runtime reports for a task right now."""

    sandbox: SandboxInfo | None = None
    containers: dict[str, ContainerState | None] = field(default_factory=dict)
    lost: str | None = None


class TaskReconciler:
    def __init__(
        self,
        db: Database,
        runtime: Runtime,
        clock: Clock,
        probes: HealthProbes,
        logs: LogStreams | None = None,
        *,
        target_groups: TargetGroups | None = None,
    ) -> None:
        self.db = db
        self.runtime = runtime
        self.clock = clock
        self.probes = probes
        self.logs = logs
        self.activation = Activation(db, target_groups)

    def now(self) -> float:
        return round(self.clock.now(), 3)

    async def reconcile(self, key: str) -> Outcome:
        # The start steps follow each other within one call (§3.2 order kept: each step is its own
        # commit, re-read by the next), instead of one trip through the work queue per step.
        outcome = Outcome()
        for _ in range(MAX_START_STEPS):
            outcome, starting = await self._step(key)
            if not starting:
                break
        return outcome

    async def _step(self, key: str) -> tuple[Outcome, bool]:
        """One step; True when it was a start step after which the next may follow at once."""
        doc = task_store.get(self.db, key)
        if doc is None:
            await self._forget(key)
            return Outcome(), False
        if doc["lastStatus"] == TaskStatus.STOPPED:
            task_network.release(self.db, key)  # its sandbox is gone: the ENI and addresses are free
            return Outcome(), False
        observed = await self._observe(doc)
        if observed.lost is not None:
            self._lose(key, doc, observed.lost)
            return Outcome(), False
        if self._record_exits(key, doc, observed):
            return Outcome(), False
        if self._apply_health(key, doc):
            return Outcome(), False
        if doc["desiredStatus"] == DesiredStatus.STOPPED:
            return await stop_step(self, key, doc), False
        if doc["_spec"].get(WAIT_KEY):
            return Outcome(), False  # §5.6: no instance yet; control.capacity_wait places it first
        if doc["lastStatus"] == TaskStatus.PROVISIONING:
            await self._prepare_sandbox(key, doc)
            return Outcome(), True
        if doc["lastStatus"] == TaskStatus.PENDING:
            outcome = await self._pending_step(key, doc, observed)
            return outcome, outcome.requeue_after is None
        if doc["lastStatus"] == TaskStatus.ACTIVATING:
            self._activate(key, doc)
            return Outcome(), True
        return Outcome(), False

    # -- observing -----------------------------------------------------------------------------

    async def _forget(self, key: str) -> None:
        task_id = key.rsplit("/", 1)[-1]
        self.probes.forget_task(task_id)
        await self.runtime.destroy_sandbox(task_id)
        task_network.release(self.db, key)

    async def _observe(self, doc: Doc) -> Observed:
        task_id = task_id_of(doc)
        run = doc.get("_run") or {}
        observed = Observed()
        if not run.get("sandbox") or run.get("lost"):
            return observed
        observed.sandbox = await self.runtime.sandbox(task_id)
        if observed.sandbox is None:
            if doc["lastStatus"] != TaskStatus.DEPROVISIONING and self._has_live_containers(doc):
                observed.lost = self._lost_reason("sandbox")
            return observed
        for name in spec_containers(doc):
            observed.containers[name] = await self.runtime.inspect(task_id, name)
            container = api_container(doc, name)
            if container["lastStatus"] == ContainerStatus.RUNNING and observed.containers[name] is None:
                observed.lost = self._lost_reason(f"container {name}")
        return observed

    @staticmethod
    def _has_live_containers(doc: Doc) -> bool:
        return any(c["lastStatus"] != ContainerStatus.STOPPED for c in doc["containers"]) or (
            doc["lastStatus"] in (TaskStatus.PENDING, *CONTAINERS_UP)
        )

    def _lost_reason(self, what: str) -> str:
        return (
            f"Task stopped because its {what} no longer exists in the {self.runtime.name} runtime: the ecslite "
            f"server restarted and the {self.runtime.name} runtime does not keep containers across restarts."
        )

    def _lose(self, key: str, doc: Doc, reason: str) -> None:
        """Record that the runtime lost the task; the stop sequence then finishes it (step 2)."""
        now = self.now()
        self.probes.forget_task(task_id_of(doc))

        def change(fresh: Doc) -> bool:
            for container in fresh["containers"]:
                if container["lastStatus"] != ContainerStatus.STOPPED:
                    container["lastStatus"] = ContainerStatus.STOPPED
                    container["reason"] = reason
            fresh.setdefault("_run", {})["lost"] = True
            apply_stop(fresh, StopRequest(StopCode.INFRASTRUCTURE_HEALTH, reason, now))
            return True

        task_store.update(self.db, key, change)

    # -- exits and health ------------------------------------------------------------------------

    def _record_exits(self, key: str, doc: Doc, observed: Observed) -> bool:
        exited = {
            name: state
            for name, state in observed.containers.items()
            if state is not None and not state.running and api_container(doc, name)["lastStatus"] == "RUNNING"
        }
        if not exited:
            return False
        task_id = task_id_of(doc)
        specs = spec_containers(doc)
        now = self.now()
        for name in exited:
            self.probes.stop(task_id, name)

        def change(fresh: Doc) -> bool:
            run = fresh.setdefault("_run", {}).setdefault("containers", {})
            for name, state in exited.items():
                container = api_container(fresh, name)
                if container["lastStatus"] != ContainerStatus.RUNNING:
                    continue
                container["lastStatus"] = ContainerStatus.STOPPED
                container["exitCode"] = state.exit_code
                if state.oom_killed:
                    container["reason"] = OOM_REASON
                elif state.reason:
                    # The runtime, not the process, ended it (the task's shim died): the task stops for that.
                    container["reason"] = state.reason
                    apply_stop(fresh, StopRequest(StopCode.INFRASTRUCTURE_HEALTH, state.reason, now))
                for agent in container.get("managedAgents", []):
                    agent["lastStatus"] = "STOPPED"
                run.setdefault(name, {})["finishedAt"] = state.finished_at or now
                if specs[name].get("essential", True):
                    # §3.5: any exit of an essential container stops the task, even with code 0.
                    apply_stop(fresh, StopRequest(StopCode.ESSENTIAL_CONTAINER_EXITED, ESSENTIAL_CONTAINER_EXITED, now))
            return True

        task_store.update(self.db, key, change)
        return True

    def _apply_health(self, key: str, doc: Doc) -> bool:
        """Start probes for running containers with a check; write changed health (§2.7)."""
        task_id = task_id_of(doc)
        specs = spec_containers(doc)
        run = (doc.get("_run") or {}).get("containers", {})
        updates: dict[str, str] = {}
        for name, spec in specs.items():
            check = HealthCheckSpec.from_definition(spec.get("healthCheck"))
            container = api_container(doc, name)
            if check is None or container["lastStatus"] != ContainerStatus.RUNNING:
                continue
            self.probes.ensure(key, task_id, name, check, float(run.get(name, {}).get("startedAt") or self.now()))
            status = self.probes.status(task_id, name)
            if status is not None and status != container.get("healthStatus"):
                updates[name] = status
        statuses = {name: updates.get(name, api_container(doc, name).get("healthStatus", "UNKNOWN")) for name in specs}
        task_status = task_health(statuses[n] for n, s in specs.items() if s.get("essential", True))
        if not updates and task_status == doc.get("healthStatus"):
            return False

        def change(fresh: Doc) -> bool:
            for name, status in updates.items():
                api_container(fresh, name)["healthStatus"] = status
            fresh["healthStatus"] = task_health(
                api_container(fresh, n).get("healthStatus", HealthStatus.UNKNOWN)
                for n, s in specs.items()
                if s.get("essential", True)
            )
            return True

        task_store.update(self.db, key, change)
        return True

    # -- start ---------------------------------------------------------------------------------

    async def _prepare_sandbox(self, key: str, doc: Doc) -> None:
        spec = doc["_spec"]
        now = self.now()
        # The address is allocated and recorded before the runtime is asked (§3.7), so a retry or a
        # restart finds the same one and the runtime never picks addresses itself.
        try:
            network = task_network.allocate(self.db, key, doc, now)
        except task_network.NetworkUnavailable as unavailable:
            self._fail_to_start(key, unavailable.reason)
            return
        try:
            info = await self.runtime.prepare_sandbox(
                SandboxSpec(
                    task_id=spec["taskId"],
                    network_mode=spec["networkMode"],
                    hostname=task_network.hostname(doc, network),
                    labels={"family": spec["family"]},
                    network=task_network.network_spec(network),
                    port_bindings=task_network.port_bindings(doc),
                    extra_hosts=task_network.extra_hosts(doc),
                    cpu_units=(spec.get("limits") or {}).get("cpu") or 0,
                    memory_mib=(spec.get("limits") or {}).get("memory"),
                )
            )
        except SandboxFailed as failure:
            self._fail_to_start(key, failure.reason)
            return

        def change(fresh: Doc) -> bool:
            fresh.setdefault("_run", {})["sandbox"] = {
                "id": info.sandbox_id,
                "privateIpv4": network["ipv4"] if network else info.private_ipv4,
                "mac": network["mac"] if network else info.mac_address,
                "subnetCidr": network["subnetCidr"] if network else info.subnet_cidr,
            }
            if fresh["desiredStatus"] == DesiredStatus.STOPPED:
                return True
            fresh["connectivity"] = "CONNECTED"
            fresh["connectivityAt"] = now
            if spec["networkMode"] == "awsvpc" and network:
                self._attach(fresh, network)
            if fresh["lastStatus"] == TaskStatus.PROVISIONING:
                fresh["lastStatus"] = TaskStatus.PENDING
            return True

        task_store.update(self.db, key, change)

    def _attach(self, doc: Doc, network: Mapping[str, Any]) -> None:
        """The ENI attachment shows the address the controller allocated for the task (§3.7)."""
        spec = doc["_spec"]
        set_attachment(doc, AttachmentStatus.ATTACHED, task_network.attachment_details(doc, network))
        for container in doc["containers"]:
            container["networkInterfaces"] = [
                {"attachmentId": spec["attachmentId"], "privateIpv4Address": network["ipv4"]}
            ]

    async def _pending_step(self, key: str, doc: Doc, observed: Observed) -> Outcome:
        if not (doc.get("_run") or {}).get("sandbox"):
            await self._prepare_sandbox(key, doc)  # bridge/host/none tasks start in PENDING (§3.1)
            return Outcome()
        if doc.get("pullStartedAt") is None:
            now = self.now()
            task_store.update(self.db, key, lambda fresh: _set_pull_started(fresh, now))
            return Outcome()
        if doc.get("pullStoppedAt") is None:
            await self._pull(key, doc)
            return Outcome()
        if self.logs is not None and "logStreams" not in (doc.get("_run") or {}) and awslogs_containers(doc):
            await self._create_log_streams(key, doc)
            return Outcome()
        return await self._start_containers(key, doc, observed)

    async def _create_log_streams(self, key: str, doc: Doc) -> None:
        """§3.3: awslogs groups and streams exist before any container starts, or the task fails to start."""
        assert self.logs is not None
        prepared = await self.logs.prepare(doc)
        if prepared.failure is not None:
            self._fail_to_start(key, prepared.failure)
            return

        def change(fresh: Doc) -> bool:
            fresh.setdefault("_run", {})["logStreams"] = prepared.streams
            return True

        task_store.update(self.db, key, change, visible=False)

    async def _pull(self, key: str, doc: Doc) -> None:
        """Pull every image at once (§3.3); a failed pull stops that container, and the task if essential."""
        specs = spec_containers(doc)
        names = [n for n in specs if api_container(doc, n)["lastStatus"] == ContainerStatus.PENDING]
        results = await asyncio.gather(*(self._pull_one(doc, n) for n in names), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, RuntimeFailure):
                raise result
        now = self.now()

        def change(fresh: Doc) -> bool:
            if fresh["desiredStatus"] == DesiredStatus.RUNNING:
                # A stop during the pull leaves pullStoppedAt out rather than after stoppingAt (§3.2).
                stamp(fresh, "pullStoppedAt", now)
            for name, result in zip(names, results, strict=True):
                if isinstance(result, RuntimeFailure):
                    self._never_ran(fresh, name, result.reason, now)
                elif not isinstance(result, BaseException):
                    api_container(fresh, name)["imageDigest"] = result.digest
            return True

        task_store.update(self.db, key, change)

    async def _pull_one(self, doc: Doc, name: str) -> ImageInfo:
        # The spec is built inside the coroutine, so an environment file that cannot be read
        # (a RuntimeFailure) fails this container like a failed pull instead of the whole step.
        return await self.runtime.pull_image(container_spec(doc, name))

    async def _start_one(self, doc: Doc, name: str) -> ContainerState:
        # §2.8: secrets are resolved once, as the container starts; a failure (SecretsFailed, a
        # RuntimeFailure) fails this container like a failed start.
        secrets = container_secrets(self.db, doc, name, clock=self.clock)
        return await self.runtime.start_container(container_spec(doc, name, secrets=secrets))

    async def _start_containers(self, key: str, doc: Doc, observed: Observed) -> Outcome:
        now = self.now()
        facts = container_facts(doc)
        specs = spec_containers(doc)
        failures: dict[str, str] = {}
        ready: list[str] = []
        recheck: float | None = None
        for name, fact in facts.items():
            if fact.started or fact.terminal or api_container(doc, name)["lastStatus"] != ContainerStatus.PENDING:
                continue
            decision = start_decision(name, facts, now)
            if decision.verdict is Verdict.FAIL:
                failures[name] = decision.reason or ""
            elif decision.verdict is Verdict.READY:
                ready.append(name)
            elif decision.recheck_at is not None:
                recheck = decision.recheck_at if recheck is None else min(recheck, decision.recheck_at)
        if failures or ready:
            await self._start(key, doc, ready, failures)
            return Outcome()
        if all(satisfied_for_running(name, facts) for name in specs):
            attachments = self.activation.plan(doc)
            task_store.update(self.db, key, lambda fresh: _set_started(fresh, self.now(), attachments))
            return Outcome()
        return Outcome(requeue_after=None if recheck is None else max(0.0, recheck - now))

    async def _start(self, key: str, doc: Doc, ready: list[str], failures: Mapping[str, str]) -> None:
        """Start the containers whose dependencies hold, together; fail those whose never will (§3.3)."""
        results = await asyncio.gather(*(self._start_one(doc, n) for n in ready), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, RuntimeFailure):
                raise result
        now = self.now()
        specs = spec_containers(doc)

        def change(fresh: Doc) -> bool:
            run = fresh.setdefault("_run", {}).setdefault("containers", {})
            for name, reason in failures.items():
                container = api_container(fresh, name)
                if container["lastStatus"] != ContainerStatus.PENDING:
                    continue
                # §3.3: the agent stops a dependent it cannot start with 143 and the dependency reason.
                container.update(lastStatus=ContainerStatus.STOPPED, exitCode=EXIT_SIGTERM, reason=reason)
                self._fail_if_essential(fresh, name, reason, now)
            for name, result in zip(ready, results, strict=True):
                if isinstance(result, RuntimeFailure):
                    self._never_ran(fresh, name, result.reason, now)
                elif isinstance(result, ContainerState):
                    container = api_container(fresh, name)
                    container["lastStatus"] = ContainerStatus.RUNNING
                    container["runtimeId"] = result.runtime_id
                    for agent in container.get("managedAgents", []):
                        agent.update(lastStatus="RUNNING", lastStartedAt=result.started_at or now)
                    spec = specs[name]
                    if spec.get("networkBindings"):
                        container["networkBindings"] = spec["networkBindings"]
                    run.setdefault(name, {})["startedAt"] = result.started_at or now
            return True

        task_store.update(self.db, key, change)

    def _activate(self, key: str, doc: Doc) -> None:
        """ACTIVATING: register with the attachments frozen on entry, then RUNNING (§3.1)."""
        self.activation.register(key, doc, self.now())
        task_store.update(self.db, key, lambda fresh: _set_running(fresh, self.now()))

    def _never_ran(self, doc: Doc, name: str, reason: str, now: float) -> None:
        """A container that failed before it ran: STOPPED, no exitCode (§3.3)."""
        container = api_container(doc, name)
        if container["lastStatus"] == ContainerStatus.STOPPED:
            return
        container.update(lastStatus=ContainerStatus.STOPPED, reason=reason)
        container.pop("exitCode", None)
        self._fail_if_essential(doc, name, reason, now)

    @staticmethod
    def _fail_if_essential(doc: Doc, name: str, reason: str, now: float) -> None:
        if doc["_spec"]["containers"][_index(doc, name)].get("essential", True):
            apply_stop(doc, StopRequest(StopCode.TASK_FAILED_TO_START, reason, now))

    def _fail_to_start(self, key: str, reason: str) -> None:
        now = self.now()

        def change(fresh: Doc) -> bool:
            for container in fresh["containers"]:
                if container["lastStatus"] != ContainerStatus.STOPPED:
                    container.update(lastStatus=ContainerStatus.STOPPED, reason=reason)
            apply_stop(fresh, StopRequest(StopCode.TASK_FAILED_TO_START, reason, now))
            return True

        task_store.update(self.db, key, change)


def _index(doc: Doc, name: str) -> int:
    for i, container in enumerate(doc["_spec"]["containers"]):
        if container["name"] == name:
            return i
    raise KeyError(name)


def _set_pull_started(doc: Doc, now: float) -> bool:
    if doc.get("pullStartedAt") is not None or doc["desiredStatus"] != DesiredStatus.RUNNING:
        return False
    stamp(doc, "pullStartedAt", now)
    return True


def _set_started(doc: Doc, now: float, attachments: Attachments | None) -> bool:
    """Every container is up: RUNNING, or ACTIVATING first when there is something to register with."""
    if doc["lastStatus"] != TaskStatus.PENDING or doc["desiredStatus"] != DesiredStatus.RUNNING:
        return False
    if attachments is None:
        doc["lastStatus"] = TaskStatus.RUNNING
        stamp(doc, "startedAt", now)
    else:
        doc["lastStatus"] = TaskStatus.ACTIVATING
        doc.setdefault("_run", {})["activation"] = attachments.to_doc()
    return True


def _set_running(doc: Doc, now: float) -> bool:
    if doc["lastStatus"] != TaskStatus.ACTIVATING or doc["desiredStatus"] != DesiredStatus.RUNNING:
        return False
    doc["lastStatus"] = TaskStatus.RUNNING
    stamp(doc, "startedAt", now)
    return True
