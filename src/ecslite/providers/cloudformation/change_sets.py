"""Change sets: what an update (or a stack's creation) would do, computed at once, run on ExecuteChangeSet.

Changes are found by resolving each resource's properties in dependency order against what the
stack holds: a resource the template adds or that must be replaced has no known physical id yet, so
what reads it (``Ref``, ``Fn::GetAtt``) is a ``Modify`` with ``Replacement: Conditional`` when it cannot
be resolved, as CloudFormation shows it.
"""

from __future__ import annotations

import uuid
from typing import Any

from ecslite.model import cfn
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.cloudformation import errors, templates, views
from ecslite.providers.cloudformation.common import CloudFormationBase, Prepared
from ecslite.providers.cloudformation.run import exported
from ecslite.store import stacks as store

Doc = dict[str, Any]


class _Unknown(Exception):
    """A value only known once the change set runs (a new or replaced resource's id or attribute)."""


def same_inputs(doc: Doc, prepared: Prepared, params: Params) -> bool:
    """True when an update would change nothing: the same template, parameters and tags."""
    if cfn.parse_template(doc["_template"]).doc != prepared.template.doc:
        return False
    if (doc.get("_values") or {}) != prepared.values:
        return False
    return params.get("Tags") is None or params["Tags"] == doc.get("Tags")


class ChangeSetOps(CloudFormationBase):
    def create_change_set(self, ctx: RequestContext, params: Params) -> Doc:
        name, kind = params["StackName"], params.get("ChangeSetType") or "UPDATE"
        if kind == "IMPORT":
            raise errors.ValidationError("ChangeSetType IMPORT is not supported by ecslite.")
        doc = store.find(self.db, ctx.account, ctx.region, name)
        if kind == "CREATE":
            if doc is not None and doc["StackStatus"] != "REVIEW_IN_PROGRESS":
                raise errors.AlreadyExistsException(f"Stack [{name}] already exists")
            stack_id = doc["StackId"] if doc is not None else self.new_stack_id(ctx, name)
        else:
            if doc is None:
                raise errors.ValidationError(f"Stack [{name}] does not exist")
            if doc["StackStatus"] == "REVIEW_IN_PROGRESS":
                raise errors.ValidationError(
                    f"Stack [{name}] does not exist"
                )  # a stack in review has no template to update yet
            self.check_updatable(doc)
            stack_id = doc["StackId"]
        if doc is not None and store.change_set_by_name(self.db, stack_id, params["ChangeSetName"]):
            raise errors.AlreadyExistsException(f"ChangeSet [{params['ChangeSetName']}] already exists")
        prepared = self.checked(ctx, params, name, stack_id, doc if kind == "UPDATE" else None)
        arn = f"arn:aws:cloudformation:{ctx.region}:{ctx.account}:changeSet/{params['ChangeSetName']}/{uuid.uuid4()}"
        stack_name = doc["StackName"] if doc is not None else name
        change_set: Doc = {
            "ChangeSetId": arn,
            "ChangeSetName": params["ChangeSetName"],
            "StackId": stack_id,
            "StackName": stack_name,
            "Parameters": prepared.described,
            "CreationTime": self.now(),
            "NotificationARNs": params.get("NotificationARNs") or [],
            "Capabilities": prepared.capabilities,
            "Tags": params.get("Tags") or (doc.get("Tags") if doc else []) or [],
            "IncludeNestedStacks": False,
            "_type": kind,
            "_params": {k: v for k, v in params.items() if k not in ("TemplateBody",)},
            "_template": prepared.body,
            "_values": prepared.values,
            "_given": prepared.given,
            "_described": prepared.described,
        }
        if params.get("Description"):
            change_set["Description"] = params["Description"]
        if doc is None:
            doc = {
                "StackId": stack_id,
                "StackName": name,
                "CreationTime": self.now(),
                "StackStatus": "REVIEW_IN_PROGRESS",
                "DisableRollback": False,
                "NotificationARNs": [],
                "Tags": [],
                "EnableTerminationProtection": False,
                "_template": prepared.body,
                # The change set's values: a template whose Conditions read parameters is evaluated
                # as soon as the stack is written.
                "_values": prepared.values,
            }
            self.run_for(ctx, doc).stack_status("REVIEW_IN_PROGRESS", "User Initiated")
        changes = self._changes(ctx, doc, prepared, fresh=kind == "CREATE")
        change_set["Changes"] = changes
        if not changes and kind == "UPDATE" and same_inputs(doc, prepared, params):
            change_set.update(Status="FAILED", ExecutionStatus="UNAVAILABLE", StatusReason=errors.EMPTY_CHANGE_SET)
        else:
            change_set.update(Status="CREATE_COMPLETE", ExecutionStatus="AVAILABLE")
        with self.db.transaction():
            store.put_change_set(self.db, ctx.account, ctx.region, change_set)
        return {"Id": arn, "StackId": stack_id}

    def _changes(self, ctx: RequestContext, doc: Doc, prepared: Prepared, *, fresh: bool) -> list[Doc]:
        template = prepared.template
        existing = (
            {}
            if fresh
            else {
                r["LogicalResourceId"]: r
                for r in store.resources(self.db, doc["StackId"])
                if r.get("PhysicalResourceId") and r.get("ResourceStatus") not in ("DELETE_COMPLETE", "DELETE_SKIPPED")
            }
        )
        pseudo = templates.pseudo(ctx.account, ctx.region, doc["StackName"], doc["StackId"], [])
        conditions = cfn.evaluate_conditions(template, prepared.values, pseudo)
        deps = cfn.resource_dependencies(template, conditions)
        unknown: set[str] = set()  # ids and attributes not known until the change set runs
        changed_attributes: set[str] = set()

        def ref(logical_id: str) -> Any:
            if logical_id in unknown or logical_id not in existing:
                raise _Unknown()
            return existing[logical_id]["PhysicalResourceId"]

        def get_att(logical_id: str, attribute: str) -> Any:
            if logical_id in unknown or logical_id in changed_attributes or logical_id not in existing:
                raise _Unknown()
            attributes = existing[logical_id].get("_attributes") or {}
            if attribute not in attributes:
                raise _Unknown()
            return attributes[attribute]

        def import_value(name: str) -> str:
            found = exported(self.db, ctx.account, ctx.region).get(name)
            if found is None:
                raise cfn.TemplateError(f"No export named {name} found.")
            return found[1]

        context = cfn.Context(
            parameters=prepared.values,
            pseudo=pseudo,
            conditions=conditions,
            mappings=template.mappings or {},
            ref=ref,
            get_att=get_att,
            import_value=import_value,
            azs=lambda region: templates.azs(region or ctx.region),
        )
        changes: list[Doc] = []
        for logical_id in _order(deps):
            spec = template.resources[logical_id]
            rtype = str(spec["Type"])
            current = existing.get(logical_id)
            if current is None:
                unknown.add(logical_id)
                changes.append(_change("Add", logical_id, rtype))
                continue
            handler = self.handlers[rtype]
            old = current.get("_props") or {}
            try:
                props = cfn.resolve(spec.get("Properties") or {}, context) or {}
            except _Unknown:
                changed_attributes.add(logical_id)
                changes.append(
                    _change(
                        "Modify", logical_id, rtype, current["PhysicalResourceId"], "Conditional", _details(old, None)
                    )
                )
                continue
            except cfn.TemplateError as error:
                raise errors.ValidationError(error.message) from None
            if props == old and current.get("ResourceType") == rtype:
                continue
            replace = current.get("ResourceType") != rtype or handler.needs_replacement(old, props)
            (unknown if replace else changed_attributes).add(logical_id)
            changes.append(
                _change(
                    "Modify",
                    logical_id,
                    rtype,
                    current["PhysicalResourceId"],
                    "True" if replace else "False",
                    _details(old, props),
                )
            )
        for logical_id, current in existing.items():
            if logical_id not in deps:
                changes.append(_change("Remove", logical_id, current["ResourceType"], current["PhysicalResourceId"]))
        return changes

    # -- the other change set operations -----------------------------------------------------------

    def change_set(self, ctx: RequestContext, name: str, stack_name: str | None) -> Doc:
        if name.startswith("arn:"):
            found = store.get_change_set(self.db, name)
        else:
            if not stack_name:
                raise errors.ValidationError("StackName must be specified if ChangeSetName is not specified as an ARN.")
            stack = store.find(self.db, ctx.account, ctx.region, stack_name)
            found = store.change_set_by_name(self.db, stack["StackId"], name) if stack else None
        if found is None:
            raise errors.change_set_not_found(name)
        return found

    def describe_change_set(self, ctx: RequestContext, params: Params) -> Doc:
        return views.change_set(self.change_set(ctx, params["ChangeSetName"], params.get("StackName")))

    def list_change_sets(self, ctx: RequestContext, params: Params) -> Doc:
        stack = self.stack(ctx, params["StackName"])
        return {"Summaries": [views.change_set_summary(c) for c in store.change_sets(self.db, stack["StackId"])]}

    def delete_change_set(self, ctx: RequestContext, params: Params) -> Doc:
        found = self.change_set(ctx, params["ChangeSetName"], params.get("StackName"))
        if found["ExecutionStatus"] == "EXECUTE_IN_PROGRESS":
            raise errors.InvalidChangeSetStatusException(
                f"Cannot delete ChangeSet in status {found['ExecutionStatus']}"
            )  # (unverified)
        with self.db.transaction():
            store.delete_change_set(self.db, found["ChangeSetId"])
        return {}

    def execute_change_set(self, ctx: RequestContext, params: Params) -> Doc:
        found = self.change_set(ctx, params["ChangeSetName"], params.get("StackName"))
        if found["ExecutionStatus"] != "AVAILABLE":
            raise errors.InvalidChangeSetStatusException(
                f"ChangeSet [{found['ChangeSetId']}] cannot be executed in its current status of [{found['Status']}]"
            )  # (unverified)
        doc = self.stack(ctx, found["StackId"])
        request = {
            **found["_params"],
            **{k: v for k, v in params.items() if k in ("DisableRollback", "ClientRequestToken")},
        }
        prepared = Prepared(
            found["_template"],
            cfn.parse_template(found["_template"]),
            found["_values"],
            found["_described"],
            found["_given"],
            found["Capabilities"],
        )
        if found["_type"] == "CREATE":
            if doc["StackStatus"] != "REVIEW_IN_PROGRESS":
                raise errors.InvalidChangeSetStatusException(
                    f"ChangeSet [{found['ChangeSetId']}] cannot be executed in its current status of [OBSOLETE]"
                )
            disable = bool(request.get("DisableRollback"))
            doc["DisableRollback"] = disable
            doc["_on_failure"] = "DO_NOTHING" if disable else (request.get("OnStackFailure") or "ROLLBACK")
            doc["ChangeSetId"] = found["ChangeSetId"]
            self.apply_prepared(doc, prepared, request)
            self.run_for(ctx, doc).stack_status("CREATE_IN_PROGRESS", "User Initiated")
            self.engine.launch(ctx.account, ctx.region, doc["StackId"], "CREATE")
        else:
            self.check_updatable(doc)
            doc["ChangeSetId"] = found["ChangeSetId"]
            self.start_update(ctx, doc, prepared, request)
        found.update(ExecutionStatus="EXECUTE_COMPLETE")
        with self.db.transaction():
            store.delete_change_sets(self.db, doc["StackId"])
            store.put_change_set(self.db, ctx.account, ctx.region, found)
        return {}


def _order(deps: dict[str, set[str]]) -> list[str]:
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(deps):
        ready = sorted(k for k in deps if k not in done and deps[k] <= done)
        if not ready:  # a cycle: resource_dependencies has refused it already
            break
        order.extend(ready)
        done.update(ready)
    return order


def _change(
    action: str,
    logical_id: str,
    rtype: str,
    physical: str | None = None,
    replacement: str | None = None,
    details: list[Doc] | None = None,
) -> Doc:
    change: Doc = {"Action": action, "LogicalResourceId": logical_id, "ResourceType": rtype}
    if physical:
        change["PhysicalResourceId"] = physical
    if replacement is not None:
        change["Replacement"] = replacement
        change["Scope"] = ["Properties"] if details else []
        change["Details"] = details or []
    return {"Type": "Resource", "ResourceChange": change}


def _details(old: Doc, new: Doc | None) -> list[Doc]:
    names = sorted(set(old) | set(new or {})) if new is not None else sorted(old)
    changed = [n for n in names if new is None or old.get(n) != new.get(n)]
    return [
        {
            "Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": "Conditionally"},
            "Evaluation": "Dynamic" if new is None else "Static",
            "ChangeSource": "DirectModification",
        }
        for name in changed
    ]
