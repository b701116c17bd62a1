"""The stop sequence of a task whose desired status is STOPPED (spec/ecs.md §3.4).

One step per call, like the rest of the reconciler:

0. A task that went through ACTIVATING (``_run.activation``) and is ACTIVATING or RUNNING becomes
   ``DEACTIVATING``; there its targets and Cloud Map instances are deregistered
   (:mod:`ecslite.control.task_activation`) and it waits until the targets have drained (the target
   groups' deregistration delay) before any container is signalled. ``_run.deactivation``
   (``at``, ``drainUntil``) is written before the step returns, so a repeated step or a restart
   never deregisters twice nor starts the delay again.
1. Before STOPPING: containers that never started become STOPPED (no ``exitCode``), the task
   ``STOPPING``.
2. STOPPING: each running container whose dependents have all stopped gets its stop signal
   (SIGTERM); one that still runs ``stopTimeout`` seconds later (default 30) gets SIGKILL.
   Unrelated containers are signalled together; the step asks to be called again at the next
   deadline, and exits reported by the runtime enqueue it sooner.
3. Every container stopped: ``executionStoppedAt``; awsvpc tasks go to ``DEPROVISIONING`` (ENI
   attachment ``DETACHED``), others are removed at once.
4. DEPROVISIONING: the sandbox is destroyed, the attachment ``DELETED``, the task ``STOPPED``.

Signal times live in ``_run.containers[name]`` (``signalledAt``/``killedAt``), written before the
step returns, so a repeated step never sends a second SIGTERM or restarts the grace period.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from ecslite.control.task_activation import activation_of
from ecslite.control.task_docs import Doc, container_facts, set_attachment, spec_containers, stamp
from ecslite.control.workqueue import Outcome
from ecslite.model.container_ordering import may_stop
from ecslite.model.tasks import (
    DEFAULT_STOP_TIMEOUT,
    SIGKILL,
    SIGTERM,
    AttachmentStatus,
    ContainerStatus,
    TaskStatus,
    status_rank,
)
from ecslite.runtime.base import ContainerNotFound
from ecslite.store import tasks as task_store

if TYPE_CHECKING:
    from ecslite.control.task_reconciler import TaskReconciler


async def stop_step(rec: TaskReconciler, key: str, doc: Doc) -> Outcome:
    status = doc["lastStatus"]
    if status in (TaskStatus.ACTIVATING, TaskStatus.RUNNING) and activation_of(doc) is not None:
        task_store.update(rec.db, key, _begin_deactivating)
        return Outcome()
    if status == TaskStatus.DEACTIVATING:
        return _deactivate(rec, key, doc)
    if status_rank(status) < status_rank(TaskStatus.STOPPING):
        task_store.update(rec.db, key, _begin_stopping)
        return Outcome()
    if status == TaskStatus.STOPPING:
        running = [c["name"] for c in doc["containers"] if c["lastStatus"] == ContainerStatus.RUNNING]
        if running:
            return await _signal(rec, key, doc, running)
        await _finish_execution(rec, key, doc)
        return Outcome()
    if status == TaskStatus.DEPROVISIONING:
        await _deprovision(rec, key, doc)
    return Outcome()


def _begin_deactivating(doc: Doc) -> bool:
    if doc["lastStatus"] not in (TaskStatus.ACTIVATING, TaskStatus.RUNNING):
        return False
    doc["lastStatus"] = TaskStatus.DEACTIVATING
    return True


def _deactivate(rec: TaskReconciler, key: str, doc: Doc) -> Outcome:
    """§3.4 step 2: deregister once, then wait out the draining before STOPPING."""
    now = rec.now()
    deactivation = (doc.get("_run") or {}).get("deactivation")
    if deactivation is None:
        until = rec.activation.deregister(key, doc, now)
        record = {"at": now, "drainUntil": until}

        def remember(fresh: Doc) -> bool:
            fresh.setdefault("_run", {}).setdefault("deactivation", record)
            return True

        task_store.update(rec.db, key, remember, visible=False)
    else:
        until = float(deactivation["drainUntil"])
    if now < until:
        return Outcome(requeue_after=until - now)
    task_store.update(rec.db, key, _begin_stopping)
    return Outcome()


def _begin_stopping(doc: Doc) -> bool:
    if status_rank(doc["lastStatus"]) >= status_rank(TaskStatus.STOPPING):
        return False
    for container in doc["containers"]:
        if container["lastStatus"] == ContainerStatus.PENDING:
            container["lastStatus"] = ContainerStatus.STOPPED
    doc["lastStatus"] = TaskStatus.STOPPING
    return True


async def _signal(rec: TaskReconciler, key: str, doc: Doc, running: list[str]) -> Outcome:
    task_id = doc["_spec"]["taskId"]
    specs = spec_containers(doc)
    facts = container_facts(doc)
    run: dict[str, dict[str, Any]] = (doc.get("_run") or {}).get("containers", {})
    now = rec.now()
    sent: dict[str, dict[str, float]] = {}
    next_deadline: float | None = None
    for name in running:
        state = run.get(name, {})
        timeout = float(specs[name].get("stopTimeout") or DEFAULT_STOP_TIMEOUT)
        if state.get("signalledAt") is None:
            if not may_stop(name, facts):
                continue  # §3.4: its dependents stop first
            await _send(rec, task_id, name, SIGTERM)
            sent[name] = {"signalledAt": now}
            deadline = now + timeout
        elif state.get("killedAt") is None:
            deadline = float(state["signalledAt"]) + timeout
            if now >= deadline:
                await _send(rec, task_id, name, SIGKILL)
                sent[name] = {"killedAt": now}
                continue
        else:
            continue
        next_deadline = deadline if next_deadline is None else min(next_deadline, deadline)
    if sent:

        def record(fresh: Doc) -> bool:
            containers = fresh.setdefault("_run", {}).setdefault("containers", {})
            for name, times in sent.items():
                containers.setdefault(name, {}).update(times)
            return True

        task_store.update(rec.db, key, record, visible=False)
    return Outcome(requeue_after=None if next_deadline is None else max(0.0, next_deadline - now))


async def _send(rec: TaskReconciler, task_id: str, name: str, signum: int) -> None:
    with contextlib.suppress(ContainerNotFound):  # already gone: the next observation records it
        await rec.runtime.signal(task_id, name, signum)


async def _finish_execution(rec: TaskReconciler, key: str, doc: Doc) -> None:
    """All containers stopped: awsvpc tasks detach their ENI first; others are cleaned up at once."""
    awsvpc = bool(doc.get("attachments"))
    if not awsvpc:
        await _destroy(rec, doc)
    now = rec.now()

    def change(fresh: Doc) -> bool:
        if fresh["lastStatus"] != TaskStatus.STOPPING:
            return False
        stamp(fresh, "executionStoppedAt", now)
        if awsvpc:
            fresh["lastStatus"] = TaskStatus.DEPROVISIONING
            set_attachment(fresh, AttachmentStatus.DETACHED)
        else:
            _stopped(fresh, now)
        return True

    task_store.update(rec.db, key, change)


async def _deprovision(rec: TaskReconciler, key: str, doc: Doc) -> None:
    await _destroy(rec, doc)
    now = rec.now()

    def change(fresh: Doc) -> bool:
        if fresh["lastStatus"] != TaskStatus.DEPROVISIONING:
            return False
        set_attachment(fresh, AttachmentStatus.DELETED)
        _stopped(fresh, now)
        return True

    task_store.update(rec.db, key, change)


async def _destroy(rec: TaskReconciler, doc: Doc) -> None:
    task_id = doc["_spec"]["taskId"]
    rec.probes.forget_task(task_id)
    await rec.runtime.destroy_sandbox(task_id)


def _stopped(doc: Doc, now: float) -> None:
    for container in doc["containers"]:
        if container["lastStatus"] != ContainerStatus.STOPPED:
            container["lastStatus"] = ContainerStatus.STOPPED
    doc["lastStatus"] = TaskStatus.STOPPED
    stamp(doc, "stoppedAt", now)
