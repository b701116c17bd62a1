"""One stack operation's resource steps: make, change, replace and take down resources through their
handlers, in dependency order, writing the resources' records and events as CloudFormation does.

:class:`StackRun` holds what a running operation reads (the template, the parameter values, the
conditions) and does the per-resource work; the stack-level flows (statuses, rollback, cleanup) are
in :mod:`ecslite.providers.cloudformation.engine`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ecslite.clock import Clock
from ecslite.model import cfn
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.calls import Calls
from ecslite.providers.cloudformation import templates
from ecslite.providers.cloudformation.resources.base import (
    Physical,
    ResourceContext,
    ResourceFailed,
    ResourceHandler,
)
from ecslite.store import stacks as store
from ecslite.store.db import Database

log = logging.getLogger(__name__)
Doc = dict[str, Any]
STACK_TYPE = "AWS::CloudFormation::Stack"
REPLACING = "Requested update requires the creation of a new physical resource; hence creating one."
INITIATED = "Resource creation Initiated"
CUSTOM_NAME = (
    "CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename {name} and "
    "update the stack again."
)


def handler_message(error: AwsError) -> str:
    """The status reason CloudFormation writes when a resource handler's call fails."""
    if "NotFound" in error.code:
        kind = "NotFound"
    elif "AlreadyExists" in error.code or "Duplicate" in error.code:
        kind = "AlreadyExists"
    elif error.status >= 500:
        kind = "ServiceInternalError"
    elif "Validation" in error.code or "InvalidParameter" in error.code:
        kind = "InvalidRequest"
    else:
        kind = "GeneralServiceException"
    return (
        f'Resource handler returned message: "{error.message}" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: {kind})'
    )


@dataclass
class Interrupt:
    """Why the operation's running resource steps are being cancelled (timeout, CancelUpdateStack)."""

    reason: str | None = None


@dataclass
class StackRun:
    db: Database
    clock: Clock
    providers: Mapping[str, object]
    handlers: Mapping[str, ResourceHandler]
    account: str
    region: str
    stack: Doc
    template: cfn.Template = field(init=False)
    conditions: dict[str, bool] = field(init=False)
    interrupt: Interrupt = field(default_factory=Interrupt)
    imports: set[str] = field(default_factory=set)
    # The resource steps running now (the engine cancels them on a timeout or CancelUpdateStack).
    steps: set[asyncio.Task[Any]] = field(default_factory=set)
    seq: int = 0

    def __post_init__(self) -> None:
        ctx = RequestContext(self.account, self.region, str(uuid.uuid4()), "cloudformation", "StackOperation")
        self.call = Calls(self.providers, ctx)
        self.load(self.stack["_template"], self.stack.get("_values") or {})

    def load(self, body: str, values: Mapping[str, Any]) -> None:
        """Reads (again) the template and parameter values the resources are resolved with."""
        self.template = cfn.parse_template(body)
        self.values = dict(values)
        self.pseudo = templates.pseudo(
            self.account, self.region, self.stack_name, self.stack_id, self.stack.get("NotificationARNs") or []
        )
        self.conditions = cfn.evaluate_conditions(self.template, self.values, self.pseudo)

    @property
    def stack_id(self) -> str:
        return str(self.stack["StackId"])

    @property
    def stack_name(self) -> str:
        return str(self.stack["StackName"])

    # -- records and events ------------------------------------------------------------------------

    def save_stack(self) -> None:
        with self.db.transaction():
            store.put_stack(self.db, self.account, self.region, self.stack)

    def stack_status(self, status: str, reason: str | None = None) -> None:
        self.stack["StackStatus"] = status
        if reason:
            self.stack["StackStatusReason"] = reason
        else:
            self.stack.pop("StackStatusReason", None)
        with self.db.transaction():
            store.put_stack(self.db, self.account, self.region, self.stack)
            self._event(self.stack_name, self.stack_id, STACK_TYPE, status, reason, None)

    def resource_status(self, doc: Doc, status: str, reason: str | None = None, *, props: Doc | None = None) -> None:
        doc["ResourceStatus"] = status
        doc["Timestamp"] = self.clock.now()
        doc["LastUpdatedTimestamp"] = doc["Timestamp"]
        if reason:
            doc["ResourceStatusReason"] = reason
        else:
            doc.pop("ResourceStatusReason", None)
        with self.db.transaction():
            store.put_resource(self.db, self.stack_id, doc)
            self._event(
                doc["LogicalResourceId"], doc.get("PhysicalResourceId", ""), doc["ResourceType"], status, reason, props
            )

    def resource_event(self, doc: Doc, physical_id: str, status: str, reason: str | None = None) -> None:
        """An event about a physical resource the record no longer names (a replaced one)."""
        with self.db.transaction():
            self._event(doc["LogicalResourceId"], physical_id, doc["ResourceType"], status, reason, None)

    def _event(
        self, logical_id: str, physical_id: str, rtype: str, status: str, reason: str | None, props: Doc | None
    ) -> None:
        event: Doc = {
            "StackId": self.stack_id,
            "EventId": str(uuid.uuid4()) if rtype == STACK_TYPE else f"{logical_id}-{status}-{uuid.uuid4()}",
            "StackName": self.stack_name,
            "LogicalResourceId": logical_id,
            "PhysicalResourceId": physical_id,
            "ResourceType": rtype,
            "Timestamp": self.clock.now(),
            "ResourceStatus": status,
        }
        if reason:
            event["ResourceStatusReason"] = reason
        if props is not None:
            event["ResourceProperties"] = orjson.dumps(props).decode()
        if token := self.stack.get("_token"):
            event["ClientRequestToken"] = token
        store.add_event(self.db, self.stack_id, event)

    # -- resolving ---------------------------------------------------------------------------------

    def context(self) -> cfn.Context:
        return cfn.Context(
            parameters=self.values,
            pseudo=self.pseudo,
            conditions=self.conditions,
            mappings=self.template.mappings or {},
            ref=self._ref,
            get_att=self._get_att,
            import_value=self._import_value,
            azs=lambda region: templates.azs(region or self.region),
        )

    def _ref(self, logical_id: str) -> Any:
        doc = store.get_resource(self.db, self.stack_id, logical_id)
        if doc is None or not doc.get("PhysicalResourceId"):
            raise cfn.TemplateError(f"Template error: resource {logical_id} has not been created")
        return doc["PhysicalResourceId"]

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        doc = store.get_resource(self.db, self.stack_id, logical_id)
        attributes = (doc or {}).get("_attributes") or {}
        if attribute not in attributes:
            raise cfn.TemplateError(
                f"Template error: resource {logical_id} does not support attribute type {attribute} in Fn::GetAtt"
            )
        return attributes[attribute]

    def _import_value(self, name: str) -> str:
        found = exported(self.db, self.account, self.region).get(name)
        if found is None:
            raise cfn.TemplateError(f"No export named {name} found.")
        self.imports.add(name)
        return found[1]

    def resource_context(
        self,
        logical_id: str,
        report: Callable[[Physical], None] | None = None,
        *,
        stack_tags: list[Doc] | None = None,
    ) -> ResourceContext:
        """``stack_tags``: the stack's tags to give (its current ones by default)."""
        tags = [
            *(self.stack_tags() if stack_tags is None else stack_tags),
            {"Key": "aws:cloudformation:stack-name", "Value": self.stack_name},
            {"Key": "aws:cloudformation:stack-id", "Value": self.stack_id},
            {"Key": "aws:cloudformation:logical-id", "Value": logical_id},
        ]
        return ResourceContext(self.call, self.clock, self.stack_name, self.stack_id, logical_id, tags, report)

    def stack_tags(self) -> list[Doc]:
        return [dict(t) for t in self.stack.get("Tags") or []]

    def retag(self, doc: Doc, handler: ResourceHandler) -> bool:
        """True when the stack's tags changed since the resource was given them (and its type passes
        them on): CloudFormation's UpdateStack takes new stack tags to every such resource."""
        return handler.stack_tags and "_stack_tags" in doc and doc["_stack_tags"] != self.stack_tags()

    # -- making and changing -----------------------------------------------------------------------

    async def walk(self, deps: Mapping[str, set[str]], step: Callable[[str], Awaitable[bool]]) -> list[str]:
        """Runs ``step`` for every logical id once the ones it needs are done, independent ones at once;
        after a failure no new step starts (those running finish). The ids whose step failed."""
        done: set[str] = set()
        failed: list[str] = []
        running: dict[asyncio.Task[bool], str] = {}
        started: set[str] = set()
        try:
            while True:
                if not failed and self.interrupt.reason is None:
                    for logical_id in sorted(deps):
                        if logical_id not in started and deps[logical_id] <= done:
                            started.add(logical_id)
                            running[asyncio.ensure_future(step(logical_id))] = logical_id
                if not running:
                    return failed
                finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    logical_id = running.pop(task)
                    (done.add if task.result() else failed.append)(logical_id)
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    async def apply(self, logical_id: str, deps: set[str], updating: bool) -> bool:
        """Makes or changes one resource to match the template; False (with its event) if it failed."""
        spec = self.template.resources[logical_id]
        rtype = str(spec["Type"])
        handler = self.handlers[rtype]
        current = store.get_resource(self.db, self.stack_id, logical_id)
        fresh = current is None or not current.get("PhysicalResourceId")
        doc: Doc = current if current is not None else {"LogicalResourceId": logical_id, "StackId": self.stack_id}
        doc.update(
            {
                "StackName": self.stack_name,
                "ResourceType": rtype,
                "_deps": sorted(deps),
                "_deletion_policy": spec.get("DeletionPolicy", "Delete"),
                "_replace_policy": spec.get("UpdateReplacePolicy", "Delete"),
            }
        )
        prefix = "CREATE" if fresh else "UPDATE"
        try:
            props = cfn.resolve(spec.get("Properties") or {}, self.context()) or {}
        except cfn.TemplateError as error:
            if not fresh and "_undo" not in doc:
                self._undo(doc, "Modify")  # unchanged, but shown UPDATE_COMPLETE again by the rollback
            self.resource_status(doc, f"{prefix}_FAILED", error.message)
            return False
        if fresh:
            return await self._create(doc, handler, props, updating)
        old = doc.get("_props") or {}
        if old == props and doc.get("ResourceStatus") not in ("UPDATE_FAILED",) and not self.retag(doc, handler):
            with self.db.transaction():
                store.put_resource(self.db, self.stack_id, doc)
            return True
        if handler.needs_replacement(old, props):
            return await self._replace(doc, handler, old, props)
        return await self._update(doc, handler, old, props)

    def _undo(self, doc: Doc, action: str) -> None:
        self.seq += 1
        doc["_undo"] = {
            "action": action,
            "seq": self.seq,
            "physical": doc.get("PhysicalResourceId", ""),
            "props": doc.get("_props") or {},
            "attributes": doc.get("_attributes") or {},
        }
        if "_stack_tags" in doc:
            doc["_undo"]["stack_tags"] = doc["_stack_tags"]

    async def _create(self, doc: Doc, handler: ResourceHandler, props: Doc, updating: bool) -> bool:
        doc["PhysicalResourceId"] = ""
        if updating and "_undo" not in doc:
            self._undo(doc, "Add")
        self.resource_status(doc, "CREATE_IN_PROGRESS", props=props)
        self.resource_status(doc, "CREATE_IN_PROGRESS", INITIATED, props=props)

        def report(physical: Physical) -> None:
            # Recorded before the handler returns, so that a rollback after a crash takes it down.
            self.made(doc, physical, props)
            self._save(doc)

        physical = await self._make(doc, handler, props, report, "CREATE")
        if physical is None:
            return False
        self.made(doc, physical, props)
        self.resource_status(doc, "CREATE_COMPLETE", props=props)
        return True

    async def _replace(self, doc: Doc, handler: ResourceHandler, old: Doc, props: Doc) -> bool:
        name = handler.name_property
        if name is not None and name in props and props.get(name) == old.get(name):
            self.resource_status(doc, "UPDATE_FAILED", CUSTOM_NAME.format(name=doc["LogicalResourceId"]))
            return False
        self.resource_status(doc, "UPDATE_IN_PROGRESS", REPLACING, props=props)

        def report(physical: Physical) -> None:
            # The replacement being made, recorded at once: a rollback after a crash takes it down.
            doc["_making"] = {"physical": physical.physical_id, "props": props, "attributes": dict(physical.attributes)}
            self._save(doc)

        physical = await self._make(doc, handler, props, report, "UPDATE")
        if physical is None:
            return False
        doc.pop("_making", None)
        self._undo(doc, "Replace")
        doc["_old"] = {k: doc["_undo"][k] for k in ("physical", "props", "attributes")}
        doc["_old"]["retain"] = doc.get("_replace_policy") == "Retain"
        self.made(doc, physical, props)
        self.resource_status(doc, "UPDATE_IN_PROGRESS", INITIATED, props=props)
        self.resource_status(doc, "UPDATE_COMPLETE", props=props)
        return True

    async def _update(self, doc: Doc, handler: ResourceHandler, old: Doc, props: Doc) -> bool:
        if "_undo" not in doc:
            self._undo(doc, "Modify")
        # A failed update may have changed part of the resource (an ECS service moved to a new task
        # definition that never stabilized): its rollback applies the old properties over these.
        doc["_undo"]["attempted"] = props
        current = Physical(doc["PhysicalResourceId"], doc.get("_attributes") or {})
        self.resource_status(doc, "UPDATE_IN_PROGRESS", props=props)
        before, after = old, props
        if self.retag(doc, handler):
            before, after = with_stack_tags(old, doc["_stack_tags"]), with_stack_tags(props, self.stack_tags())
        failure = await self.handle(
            handler.update(self.resource_context(doc["LogicalResourceId"]), current, before, after),
            "Resource update cancelled",
        )
        if isinstance(failure, str):
            self.resource_status(doc, "UPDATE_FAILED", failure)
            return False
        self.made(doc, failure, props)
        self.resource_status(doc, "UPDATE_COMPLETE", props=props)
        return True

    def _save(self, doc: Doc) -> None:
        with self.db.transaction():
            store.put_resource(self.db, self.stack_id, doc)

    def made(self, doc: Doc, physical: Physical, props: Doc, stack_tags: list[Doc] | None = None) -> None:
        """Records the resource as it is now, with the stack's tags it was given (the current ones by
        default)."""
        doc["PhysicalResourceId"] = physical.physical_id
        doc["_attributes"] = dict(physical.attributes)
        doc["_props"] = props
        doc["_stack_tags"] = self.stack_tags() if stack_tags is None else stack_tags

    async def _make(
        self, doc: Doc, handler: ResourceHandler, props: Doc, report: Callable[[Physical], None], action: str
    ) -> Physical | None:
        """The handler's create, for a new resource (``action`` CREATE) or a replacement (UPDATE): what
        it made, or None once its failure is recorded as the resource's ``<action>_FAILED``."""
        noun = "creation" if action == "CREATE" else "update"
        work = handler.create(self.resource_context(doc["LogicalResourceId"], report), props)
        result = await self.handle(work, f"Resource {noun} cancelled")
        if isinstance(result, str):
            self.resource_status(doc, f"{action}_FAILED", result)
            return None
        return result

    async def handle(self, work: Awaitable[Physical], cancelled: str) -> Physical | str:
        """The handler's result, or the status reason of its failure."""
        try:
            return await work
        except ResourceFailed as error:
            return error.reason
        except AwsError as error:
            return handler_message(error)
        except cfn.TemplateError as error:
            return error.message
        except asyncio.CancelledError:
            if self.interrupt.reason is None:
                raise  # the engine is stopping: the operation resumes at the next start
            return cancelled
        except Exception:
            log.exception("resource handler failed", extra={"stack": self.stack_name})
            return "Internal Failure"

    # -- taking down -------------------------------------------------------------------------------

    async def take_down(self, items: list[TakeDown]) -> list[str]:
        """Deletes the items, each once nothing left among them needs it; the logical ids that failed."""
        by_id = {item.logical_id: item for item in items}
        needed_by: dict[str, set[str]] = {item.logical_id: set() for item in items}
        for item in items:
            for dep in item.deps:
                # A removed resource needed the physical resource a replacement left, and the other way round.
                bare = dep.removesuffix("#old")
                for target in (bare, f"{bare}#old"):
                    if target in needed_by and target != item.logical_id:
                        needed_by[target].add(item.logical_id)

        async def step(logical_id: str) -> bool:
            return await self._delete(by_id[logical_id])

        failed = await self.walk(needed_by, step)
        return failed

    async def _delete(self, item: TakeDown) -> bool:
        doc, physical = item.doc, item.physical_id
        if item.retain:
            self._delete_event(item, "DELETE_SKIPPED")
            return True
        if not physical:
            self._delete_event(item, "DELETE_COMPLETE")
            return True
        self._delete_event(item, "DELETE_IN_PROGRESS")
        handler = self.handlers.get(doc["ResourceType"])
        if handler is None:
            self._delete_event(item, "DELETE_FAILED", f"Resource type {doc['ResourceType']} is not supported")
            return False
        current = Physical(physical, item.attributes)
        failure = await self.handle(
            self._deleted(handler.delete(self.resource_context(doc["LogicalResourceId"]), current, item.props)),
            "Resource deletion cancelled",
        )
        if isinstance(failure, str):
            self._delete_event(item, "DELETE_FAILED", failure)
            return False
        self._delete_event(item, "DELETE_COMPLETE")
        return True

    async def _deleted(self, work: Awaitable[None]) -> Physical:
        await work
        return Physical("")

    def _delete_event(self, item: TakeDown, status: str, reason: str | None = None) -> None:
        if item.old or item.making:
            self.resource_event(item.doc, item.physical_id, status, reason)
        else:
            self.resource_status(item.doc, status, reason)


def with_stack_tags(props: Doc, stack_tags: list[Doc]) -> Doc:
    """``props`` whose ``Tags`` hold the stack's tags too (the template's win), in the template's shape
    (a list of Key/Value, or an object for the types that take one): what a handler's ``update``
    compares to move the resource's tags when the stack's change."""
    given = props.get("Tags")
    if isinstance(given, Mapping):
        return {**props, "Tags": {str(t["Key"]): t.get("Value", "") for t in stack_tags} | dict(given)}
    merged = {str(t["Key"]): t for t in stack_tags}
    for tag in given or []:
        merged[str(tag["Key"])] = tag
    return {**props, "Tags": list(merged.values())}


@dataclass
class TakeDown:
    """A physical resource to delete: a stack's resource, or the one a replacement left (``old``)."""

    doc: Doc
    physical_id: str
    props: Doc
    attributes: Doc
    deps: list[str]
    retain: bool
    old: bool = False
    # A replacement whose handler had not returned (the server stopped or was killed while it waited).
    making: bool = False

    @property
    def logical_id(self) -> str:
        return str(self.doc["LogicalResourceId"]) + ("#old" if self.old else "#making" if self.making else "")

    @classmethod
    def resource(cls, doc: Doc, *, retain: bool = False, rolling_back_creation: bool = False) -> TakeDown:
        """``rolling_back_creation``: the operation that made the resource is being rolled back, which
        deletes a ``RetainExceptOnCreate`` resource (a ``Retain`` one stays)."""
        policies = ("Retain",) if rolling_back_creation else ("Retain", "RetainExceptOnCreate")
        return cls(
            doc,
            doc.get("PhysicalResourceId") or "",
            doc.get("_props") or {},
            doc.get("_attributes") or {},
            list(doc.get("_deps") or []),
            retain or doc.get("_deletion_policy") in policies,
        )

    @classmethod
    def replaced(cls, doc: Doc) -> TakeDown:
        old = doc["_old"]
        deps = [f"{d}#old" for d in doc.get("_deps") or []]
        return cls(doc, old["physical"], old["props"], old["attributes"], deps, bool(old.get("retain")), old=True)

    @classmethod
    def half_made(cls, doc: Doc) -> TakeDown:
        """The replacement recorded in ``_making``: it needs what the resource needs, nothing needs it."""
        making = doc["_making"]
        deps = list(doc.get("_deps") or [])
        return cls(doc, making["physical"], making["props"], making["attributes"], deps, False, making=True)


def exported(db: Database, account: str, region: str) -> dict[str, tuple[Doc, str]]:
    """Every export of the partition's live stacks: name → (exporting stack, value)."""
    found: dict[str, tuple[Doc, str]] = {}
    for stack in store.list_stacks(db, account, region, live_only=True):
        for output in stack.get("Outputs") or []:
            if output.get("ExportName"):
                found[output["ExportName"]] = (stack, output["OutputValue"])
    return found


def importers(db: Database, account: str, region: str, name: str) -> list[str]:
    """The names of the live stacks that import export ``name``."""
    return [
        stack["StackName"]
        for stack in store.list_stacks(db, account, region, live_only=True)
        if name in (stack.get("_imports") or [])
    ]
