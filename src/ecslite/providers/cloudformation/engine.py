"""The stack engine: runs each stack operation in the background, as CloudFormation does.

The provider checks a request, writes the stack's new status (``CREATE_IN_PROGRESS``,
``UPDATE_IN_PROGRESS``, ``DELETE_IN_PROGRESS``) and its first event, and hands the stack to
:meth:`StackEngine.launch`; the engine then walks the resources (:mod:`.run`) and moves the stack
through CloudFormation's statuses:

- create: ``CREATE_COMPLETE``; on a failure ``ROLLBACK_IN_PROGRESS`` → ``ROLLBACK_COMPLETE`` (or
  ``ROLLBACK_FAILED``), ``CREATE_FAILED`` with rollback disabled (``OnFailure=DO_NOTHING``), the
  rollback followed by a delete with ``OnFailure=DELETE``;
- update: ``UPDATE_COMPLETE_CLEANUP_IN_PROGRESS`` (replaced and removed resources deleted) →
  ``UPDATE_COMPLETE``; on a failure or CancelUpdateStack ``UPDATE_ROLLBACK_IN_PROGRESS`` (changed
  resources put back in reverse order) → ``UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS`` (what the
  update added or made as a replacement deleted) → ``UPDATE_ROLLBACK_COMPLETE`` (or
  ``UPDATE_ROLLBACK_FAILED``);
- delete: ``DELETE_COMPLETE`` or ``DELETE_FAILED``.

A DeleteStack during a create starts no further resource; the ones being made finish (so their
physical ids are known) and the stack is then deleted. TimeoutInMinutes cancels the running
resource steps ("Resource creation cancelled") and fails the operation, which then rolls back.

**After a restart** nothing stays in progress: :meth:`StackEngine.start` picks up every stack whose
status ends in ``_IN_PROGRESS``. A create or update that was running is failed with the reason
``RESTARTED`` (its resources that were in progress marked failed) and rolled back as after any
failure; a rollback, a delete and a cleanup phase are run again from where they were (deleting is
idempotent, and an update's rollback works from each resource's recorded ``_undo``). A resource
whose handler had made it but not yet returned (an ECS service waiting to be stable when the server
was killed) is known by the physical id the handler reported at once (``ResourceContext.made``): a
new resource's record holds it, a replacement's is in ``_making``; the rollback takes both down.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from ecslite.clock import Clock
from ecslite.model import cfn
from ecslite.providers.cloudformation.resources.base import HANDLERS, Physical, ResourceHandler
from ecslite.providers.cloudformation.run import StackRun, TakeDown, exported, importers, with_stack_tags
from ecslite.providers.cloudformation.templates import as_text
from ecslite.store import stacks as store
from ecslite.store.db import Database

log = logging.getLogger(__name__)
Doc = dict[str, Any]
RESTARTED = "ecslite stopped while this operation was in progress"
DELETE_REQUESTED = "Stack deletion requested"
TIMED_OUT = "Stack operation timed out"  # (unverified) CloudFormation's text for TimeoutInMinutes


class StackEngine:
    """The component that owns the stack operations' background tasks."""

    name = "cloudformation"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        providers: Mapping[str, object],
        handlers: Mapping[str, ResourceHandler] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.providers = providers
        self.handlers = handlers if handlers is not None else HANDLERS
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.runs: dict[str, StackRun] = {}

    async def start(self) -> None:
        for account, region, stack in store.in_progress(self.db):
            log.warning("stack operation resumed after a restart", extra={"stack": stack["StackName"]})
            self.launch(account, region, stack["StackId"], "RESUME")

    async def stop(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()

    async def reset(self) -> None:
        await self.stop()

    def launch(self, account: str, region: str, stack_id: str, action: str) -> None:
        """Runs ``action`` (CREATE, UPDATE, DELETE or RESUME) on the stored stack in the background."""
        task = asyncio.ensure_future(self._run(account, region, stack_id, action))
        self.tasks[stack_id] = task
        task.add_done_callback(lambda done: self._finished(stack_id, done))

    def _finished(self, stack_id: str, task: asyncio.Task[None]) -> None:
        if self.tasks.get(stack_id) is task:
            del self.tasks[stack_id]
            self.runs.pop(stack_id, None)

    def busy(self, stack_id: str) -> bool:
        return stack_id in self.tasks

    async def idle(self, stack_id: str) -> None:
        """Waits for the stack's operation to end (tests)."""
        task = self.tasks.get(stack_id)
        if task is not None:
            await asyncio.shield(task)

    def cancel_update(self, stack_id: str) -> bool:
        run = self.runs.get(stack_id)
        if run is None or run.stack.get("StackStatus") != "UPDATE_IN_PROGRESS":
            return False
        run.interrupt.reason = "User Initiated"
        for task in self._steps(stack_id):
            task.cancel()
        return True

    def request_delete(self, stack_id: str) -> bool:
        """DeleteStack while the stack is being created: no further resource starts, those being made
        finish (so that their physical ids are known), then the stack is deleted. False when the
        stack's operation is not a create."""
        run = self.runs.get(stack_id)
        if run is None or run.stack.get("StackStatus") != "CREATE_IN_PROGRESS":
            return False
        run.interrupt.reason = DELETE_REQUESTED
        run.stack["_delete_requested"] = True
        run.save_stack()
        return True

    def _steps(self, stack_id: str) -> set[asyncio.Task[Any]]:
        run = self.runs.get(stack_id)
        return set(run.steps) if run is not None else set()

    async def _run(self, account: str, region: str, stack_id: str, action: str) -> None:
        stack = store.get_stack(self.db, stack_id)
        if stack is None:
            return
        try:
            run = StackRun(self.db, self.clock, self.providers, self.handlers, account, region, stack)
        except Exception as error:  # a stored template that no longer reads (it was checked when given)
            log.exception("stack operation could not start", extra={"stack": stack["StackName"]})
            self._failed(account, region, stack, getattr(error, "message", "Internal Failure"))
            return
        self.runs[stack_id] = run
        try:
            if action == "CREATE":
                await self._create(run)
            elif action == "UPDATE":
                await self._update(run)
            elif action == "DELETE":
                await self._delete(run)
            else:
                await self._resume(run)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stack operation failed", extra={"stack": stack["StackName"]})
            run.stack_status(_failed_status(str(run.stack["StackStatus"])), "Internal Failure")

    def _failed(self, account: str, region: str, stack: Doc, reason: str) -> None:
        stack["StackStatus"], stack["StackStatusReason"] = _failed_status(str(stack["StackStatus"])), reason
        event = {
            "StackId": stack["StackId"],
            "EventId": str(uuid.uuid4()),
            "StackName": stack["StackName"],
            "LogicalResourceId": stack["StackName"],
            "PhysicalResourceId": stack["StackId"],
            "ResourceType": "AWS::CloudFormation::Stack",
            "Timestamp": self.clock.now(),
            "ResourceStatus": stack["StackStatus"],
            "ResourceStatusReason": reason,
        }
        with self.db.transaction():
            store.put_stack(self.db, account, region, stack)
            store.add_event(self.db, stack["StackId"], event)

    # -- create ------------------------------------------------------------------------------------

    async def _create(self, run: StackRun) -> None:
        _, reason = await self._deploy(run, updating=False)
        if run.stack.get("_delete_requested"):
            run.interrupt.reason = None
            run.stack_status("DELETE_IN_PROGRESS", "User Initiated")
            await self._delete(run)
        elif reason is None:
            run.stack_status("CREATE_COMPLETE")
        else:
            await self._create_failed(run, reason)

    async def _create_failed(self, run: StackRun, reason: str) -> None:
        on_failure = run.stack.get("_on_failure") or ("DO_NOTHING" if run.stack.get("DisableRollback") else "ROLLBACK")
        if run.stack.get("_delete_requested"):  # DeleteStack came while it was being created
            on_failure = "DELETE"
        if on_failure == "DO_NOTHING":
            run.stack_status("CREATE_FAILED", reason)
            return
        run.stack_status("ROLLBACK_IN_PROGRESS", reason + "Rollback requested by user.")
        await self._roll_back_create(run, on_failure)

    async def _roll_back_create(self, run: StackRun, on_failure: str) -> None:
        run.interrupt.reason = None
        failed = await run.take_down(self._all(run, retain=set(), rollback=True))
        if failed:
            run.stack_status("ROLLBACK_FAILED", _failed_text("delete", failed))
            return
        run.stack["Outputs"] = []
        run.stack_status("ROLLBACK_COMPLETE")
        if on_failure == "DELETE":
            run.stack["DeletionTime"] = self.clock.now()
            run.stack_status("DELETE_IN_PROGRESS")
            run.stack_status("DELETE_COMPLETE")

    async def _deploy(self, run: StackRun, *, updating: bool) -> tuple[list[str], str | None]:
        """Walks the template's resources, then the outputs: the failed ids and the stack's reason."""
        try:
            deps = cfn.resource_dependencies(run.template, run.conditions)
        except cfn.TemplateError as error:
            return [], error.message
        run.steps.clear()

        async def step(logical_id: str) -> bool:
            task = asyncio.current_task()
            assert task is not None
            run.steps.add(task)
            try:
                return await run.apply(logical_id, deps[logical_id], updating)
            finally:
                run.steps.discard(task)

        timeout = run.stack.get("TimeoutInMinutes")
        watcher = asyncio.ensure_future(self._watch(run, float(timeout) * 60)) if timeout else None
        try:
            failed = await run.walk(deps, step)
        finally:
            if watcher is not None:
                watcher.cancel()
        verb = "update" if updating else "create"
        if run.interrupt.reason == TIMED_OUT:
            return failed, f"{TIMED_OUT}. "
        if run.interrupt.reason is not None:
            return failed, f"{run.interrupt.reason}"
        if failed:
            return failed, _failed_text(verb, failed)
        problem = self._outputs(run)
        return [], problem

    async def _watch(self, run: StackRun, seconds: float) -> None:
        await self.clock.sleep(seconds)
        run.interrupt.reason = TIMED_OUT
        for task in list(run.steps):
            task.cancel()

    def _outputs(self, run: StackRun) -> str | None:
        """Resolves the Outputs onto the stack; the stack's failure reason if one cannot be."""
        shown: list[Doc] = []
        ctx = run.context()
        exports = exported(self.db, run.account, run.region)
        try:
            for key, spec in (run.template.outputs or {}).items():
                if "Condition" in spec and not run.conditions.get(spec["Condition"], False):
                    continue
                value = cfn.resolve(spec.get("Value"), ctx)
                output: Doc = {"OutputKey": key, "OutputValue": as_text(value)}
                if spec.get("Description"):
                    output["Description"] = spec["Description"]
                if "Export" in spec:
                    name = as_text(cfn.resolve((spec["Export"] or {}).get("Name"), ctx))
                    owner = exports.get(name)
                    if owner is not None and owner[0]["StackId"] != run.stack_id:
                        return f"Export with name {name} is already exported by stack {owner[0]['StackName']}"
                    output["ExportName"] = name
                shown.append(output)
        except cfn.TemplateError as error:
            return error.message
        problem = self._exports_in_use(run, shown)
        if problem:
            return problem
        run.stack["Outputs"] = shown
        run.stack["_imports"] = sorted(run.imports)
        run.save_stack()
        return None

    def _exports_in_use(self, run: StackRun, outputs: list[Doc]) -> str | None:
        new = {o["ExportName"]: o["OutputValue"] for o in outputs if "ExportName" in o}
        for output in run.stack.get("Outputs") or []:
            name = output.get("ExportName")
            if not name:
                continue
            users = [u for u in importers(self.db, run.account, run.region, name) if u != run.stack_name]
            if not users:
                continue
            if name not in new:
                return f"Export {name} cannot be deleted as it is in use by {', '.join(users)}"
            if new[name] != output["OutputValue"]:
                return f"Cannot update export {name} as it is in use by {', '.join(users)}"
        return None

    def _all(self, run: StackRun, retain: set[str], *, rollback: bool = False) -> list[TakeDown]:
        items = []
        for doc in store.resources(self.db, run.stack_id):
            if doc.get("ResourceStatus") in ("DELETE_COMPLETE", "DELETE_SKIPPED"):
                continue
            keep = doc["LogicalResourceId"] in retain
            items.append(TakeDown.resource(doc, retain=keep, rolling_back_creation=rollback))
            if doc.get("_old"):
                items.append(TakeDown.replaced(doc))
            if doc.get("_making"):
                items.append(TakeDown.half_made(doc))
        return items

    # -- update ------------------------------------------------------------------------------------

    async def _update(self, run: StackRun) -> None:
        _, reason = await self._deploy(run, updating=True)
        if reason is None:
            await self._cleanup(run)
            return
        await self._roll_back_update(run, reason)

    async def _cleanup(self, run: StackRun) -> None:
        run.stack_status("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        wanted = set(cfn.resource_dependencies(run.template, run.conditions))
        items = []
        for doc in store.resources(self.db, run.stack_id):
            if doc["LogicalResourceId"] not in wanted:
                items.append(TakeDown.resource(doc))
            elif doc.get("_old"):
                items.append(TakeDown.replaced(doc))
        await run.take_down(items)
        self._settle(run, wanted)
        run.stack.pop("_previous", None)
        run.stack_status("UPDATE_COMPLETE")

    def _settle(self, run: StackRun, wanted: set[str]) -> None:
        """Forgets what the cleanup took down (removed resources, replaced physical ones, undo records)."""
        with self.db.transaction():
            for doc in store.resources(self.db, run.stack_id):
                if doc["LogicalResourceId"] not in wanted:
                    store.delete_resource(self.db, run.stack_id, doc["LogicalResourceId"])
                    continue
                doc.pop("_old", None)
                doc.pop("_undo", None)
                doc.pop("_making", None)
                store.put_resource(self.db, run.stack_id, doc)

    async def _roll_back_update(self, run: StackRun, reason: str | None) -> None:
        """Puts the update back; ``reason`` None: the stack says UPDATE_ROLLBACK_IN_PROGRESS already."""
        run.interrupt.reason = None
        if reason is not None:
            run.stack_status("UPDATE_ROLLBACK_IN_PROGRESS", reason)
        previous = run.stack.get("_previous") or {}
        failed = await self._undo(run)
        for key in ("_template", "_values", "_given", "Parameters", "Description", "Outputs", "_imports", "Tags"):
            if key in previous:
                run.stack[key] = previous[key]
        run.load(run.stack["_template"], run.stack.get("_values") or {})
        if failed:
            run.stack_status("UPDATE_ROLLBACK_FAILED", _failed_text("update", failed))
            return
        await self._rollback_cleanup(run)

    async def _undo(self, run: StackRun) -> list[str]:
        """Puts back what the update changed, newest change first."""
        failed: list[str] = []
        changed = [d for d in store.resources(self.db, run.stack_id) if d.get("_undo") and not d["_undo"].get("done")]
        for doc in sorted(changed, key=lambda d: -int(d["_undo"]["seq"])):
            undo = doc["_undo"]
            handler = self.handlers.get(doc["ResourceType"])
            props = doc.get("_props") or {}
            # What the resource may be now: the new properties, also when their update failed midway.
            tried = props if props != undo["props"] else undo.get("attempted", props)
            # The stack's tags the update gave the resource go back to those it had.
            tags_back = (
                bool(handler and handler.stack_tags)
                and "stack_tags" in undo
                and doc.get("_stack_tags", undo["stack_tags"]) != undo["stack_tags"]
            )
            if undo["action"] == "Modify" and handler is not None and (tried != undo["props"] or tags_back):
                run.resource_status(doc, "UPDATE_IN_PROGRESS")
                current = Physical(doc["PhysicalResourceId"], doc.get("_attributes") or {})
                rc = run.resource_context(doc["LogicalResourceId"], stack_tags=undo.get("stack_tags"))
                before, after = tried, undo["props"]
                if tags_back:
                    before = with_stack_tags(tried, doc["_stack_tags"])
                    after = with_stack_tags(undo["props"], undo["stack_tags"])
                result = await run.handle(handler.update(rc, current, before, after), "Resource update cancelled")
                if isinstance(result, str):
                    run.resource_status(doc, "UPDATE_FAILED", result)
                    failed.append(doc["LogicalResourceId"])
                    continue
                run.made(doc, result, undo["props"], undo.get("stack_tags"))
                run.resource_status(doc, "UPDATE_COMPLETE")
            elif undo["action"] == "Replace":
                # The new physical resource goes in the cleanup phase; the old one is the resource again.
                doc["_old"] = {
                    "physical": doc["PhysicalResourceId"],
                    "props": doc.get("_props") or {},
                    "attributes": doc.get("_attributes") or {},
                    "retain": False,
                }
                run.made(doc, Physical(undo["physical"], undo["attributes"]), undo["props"], undo.get("stack_tags"))
                run.resource_status(doc, "UPDATE_COMPLETE")
            elif undo["action"] == "Modify" and doc.get("ResourceStatus") != "UPDATE_COMPLETE":
                run.resource_status(doc, "UPDATE_COMPLETE")
            undo["done"] = True
            with self.db.transaction():
                store.put_resource(self.db, run.stack_id, doc)
        return failed

    async def _rollback_cleanup(self, run: StackRun) -> None:
        run.stack_status("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
        items = []
        added = set()
        for doc in store.resources(self.db, run.stack_id):
            undo = doc.get("_undo") or {}
            if undo.get("action") == "Add":
                added.add(doc["LogicalResourceId"])
                items.append(TakeDown.resource(doc, rolling_back_creation=True))
            elif doc.get("_old"):
                items.append(TakeDown.replaced(doc))
            if doc.get("_making"):
                items.append(TakeDown.half_made(doc))
        await run.take_down(items)
        wanted = {d["LogicalResourceId"] for d in store.resources(self.db, run.stack_id)} - added
        self._settle(run, wanted)
        run.stack.pop("_previous", None)
        run.stack_status("UPDATE_ROLLBACK_COMPLETE")

    # -- delete ------------------------------------------------------------------------------------

    async def _delete(self, run: StackRun) -> None:
        for output in run.stack.get("Outputs") or []:
            name = output.get("ExportName")
            users = (
                [u for u in importers(self.db, run.account, run.region, name) if u != run.stack_name] if name else []
            )
            if users:
                run.stack_status(
                    "DELETE_FAILED", f"Export {name} cannot be deleted as it is in use by {', '.join(users)}"
                )
                return
        retain = set(run.stack.pop("_retain", None) or [])
        failed = await run.take_down(self._all(run, retain))
        if failed:
            run.stack_status("DELETE_FAILED", _failed_text("delete", failed))
            return
        run.stack["DeletionTime"] = self.clock.now()
        run.stack["Outputs"] = []
        run.stack["_imports"] = []
        with self.db.transaction():
            store.delete_change_sets(self.db, run.stack_id)
        run.stack_status("DELETE_COMPLETE")

    # -- after a restart ---------------------------------------------------------------------------

    async def _resume(self, run: StackRun) -> None:
        status = run.stack["StackStatus"]
        if status in ("CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"):
            prefix = status.split("_")[0]
            failed = []
            for doc in store.resources(self.db, run.stack_id):
                if str(doc.get("ResourceStatus", "")).endswith("_IN_PROGRESS"):
                    kind = "CREATE" if doc["ResourceStatus"].startswith("CREATE") else "UPDATE"
                    run.resource_status(doc, f"{kind}_FAILED", RESTARTED)
                    failed.append(doc["LogicalResourceId"])
            reason = (_failed_text(prefix.lower(), failed) if failed else "") + f"{RESTARTED}. "
            if prefix == "CREATE":
                await self._create_failed(run, reason)
            else:
                await self._roll_back_update(run, reason)
        elif status == "ROLLBACK_IN_PROGRESS":
            await self._roll_back_create(run, run.stack.get("_on_failure") or "ROLLBACK")
        elif status == "DELETE_IN_PROGRESS":
            await self._delete(run)
        elif status == "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS":
            await self._cleanup(run)
        elif status == "UPDATE_ROLLBACK_IN_PROGRESS":  # after a restart, or ContinueUpdateRollback
            await self._roll_back_update(run, None)
        elif status == "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS":
            previous = run.stack.get("_previous") or {}
            if "_template" in previous:
                run.load(previous["_template"], previous.get("_values") or {})
            await self._rollback_cleanup(run)


def _failed_status(status: str) -> str:
    """Where an operation in ``status`` ends when ecslite itself fails it."""
    found = {"CREATE_IN_PROGRESS": "CREATE_FAILED", "DELETE_IN_PROGRESS": "DELETE_FAILED"}.get(status)
    return found or ("UPDATE_ROLLBACK_FAILED" if status.startswith("UPDATE") else "ROLLBACK_FAILED")


def _failed_text(verb: str, failed: list[str]) -> str:
    return f"The following resource(s) failed to {verb}: [{', '.join(sorted(failed))}]. "
