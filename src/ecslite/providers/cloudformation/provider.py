"""The CloudFormation provider (query protocol): stacks whose resources are made through ecslite's
own providers, with their events, resources, change sets and exports.

A request is checked here (template, parameters, capabilities, the stack's state) and answered at
once; the operation itself runs in the background on the :class:`~.engine.StackEngine`, as
CloudFormation's does: clients poll DescribeStacks or DescribeStackEvents (or a waiter) for its end.
Templates come as ``TemplateBody`` or as a ``TemplateURL`` in ecslite's own S3 (:mod:`.template_urls`);
Transforms are not run. Stack policies, notifications and drift detection are not served.
"""

from __future__ import annotations

from typing import Any

import orjson

from ecslite.model import cfn
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.cloudformation import errors, templates, views
from ecslite.providers.cloudformation.change_sets import ChangeSetOps, same_inputs
from ecslite.providers.cloudformation.run import exported, importers
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.store import stacks as store

Doc = dict[str, Any]
PAGE = 100


def _bad_token(message: str) -> errors.ValidationError:
    return errors.ValidationError("Invalid NextToken")


def page(items: list[Any], params: Params, key: str, size: int = PAGE) -> Doc:
    start = decode_token(params.get("NextToken"), _bad_token) or 0
    if not isinstance(start, int) or start < 0:
        raise _bad_token("")
    result: Doc = {key: items[start : start + size]}
    if start + size < len(items):
        result["NextToken"] = encode_token(start + size)
    return result


class CloudFormationProvider(ChangeSetOps):
    """AWS CloudFormation: stacks, change sets and exports."""

    # -- stack operations --------------------------------------------------------------------------

    def create_stack(self, ctx: RequestContext, params: Params) -> Doc:
        name = params["StackName"]
        stack_id = self.new_stack_id(ctx, name)
        if store.live_by_name(self.db, ctx.account, ctx.region, name) is not None:
            raise errors.AlreadyExistsException(f"Stack [{name}] already exists")
        prepared = self.checked(ctx, params, name, stack_id, None)
        if params.get("OnFailure") and params.get("DisableRollback") is not None:
            raise errors.ValidationError(
                "You may specify one of either OnFailure or DisableRollback, but not both"
            )  # (unverified)
        on_failure = params.get("OnFailure") or ("DO_NOTHING" if params.get("DisableRollback") else "ROLLBACK")
        doc: Doc = {
            "StackId": stack_id,
            "StackName": name,
            "CreationTime": self.now(),
            "StackStatus": "CREATE_IN_PROGRESS",
            "DisableRollback": on_failure == "DO_NOTHING",
            "NotificationARNs": [],
            "Tags": [],
            "EnableTerminationProtection": bool(params.get("EnableTerminationProtection")),
            "_on_failure": on_failure,
        }
        if params.get("TimeoutInMinutes"):
            doc["TimeoutInMinutes"] = int(params["TimeoutInMinutes"])
        self.apply_prepared(doc, prepared, params)
        self.run_for(ctx, doc).stack_status("CREATE_IN_PROGRESS", "User Initiated")
        self.engine.launch(ctx.account, ctx.region, stack_id, "CREATE")
        return {"StackId": stack_id}

    def update_stack(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.stack(ctx, params["StackName"])
        self.check_updatable(doc)
        prepared = self.checked(ctx, params, doc["StackName"], doc["StackId"], doc)
        if same_inputs(doc, prepared, params):
            raise errors.ValidationError(errors.NO_UPDATES)
        self.start_update(ctx, doc, prepared, params)
        return {"StackId": doc["StackId"]}

    def delete_stack(self, ctx: RequestContext, params: Params) -> Doc:
        doc = store.find(self.db, ctx.account, ctx.region, params["StackName"])
        if doc is None or doc["StackStatus"] in ("DELETE_COMPLETE", "DELETE_IN_PROGRESS"):
            return {}
        if doc.get("EnableTerminationProtection"):
            raise errors.ValidationError(
                f"Stack [{doc['StackName']}] cannot be deleted while TerminationProtection is enabled"
            )
        retain = list(params.get("RetainResources") or [])
        if retain and doc["StackStatus"] != "DELETE_FAILED":
            raise errors.ValidationError(
                f"Invalid operation on stack [{doc['StackId']}]. RetainResources can only be specified when the "
                "stack is in the DELETE_FAILED state"  # (unverified)
            )
        if self.engine.busy(doc["StackId"]):
            # A stack being created is deleted once the resources being made are (the engine does it).
            if self.engine.request_delete(doc["StackId"]):
                return {}
            raise errors.ValidationError(
                f"Stack [{doc['StackName']}] cannot be deleted while in status {doc['StackStatus']}"
            )  # (unverified)
        doc["_retain"] = retain
        if params.get("ClientRequestToken"):
            doc["_token"] = params["ClientRequestToken"]
        self.run_for(ctx, doc).stack_status("DELETE_IN_PROGRESS", "User Initiated")
        self.engine.launch(ctx.account, ctx.region, doc["StackId"], "DELETE")
        return {}

    def cancel_update_stack(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.stack(ctx, params["StackName"])
        if doc["StackStatus"] != "UPDATE_IN_PROGRESS" or not self.engine.cancel_update(doc["StackId"]):
            raise errors.ValidationError(
                f"CancelUpdateStack cannot be called from current stack status {doc['StackStatus']}"
            )  # (unverified)
        return {}

    def continue_update_rollback(self, ctx: RequestContext, params: Params) -> Doc:
        """Runs a failed update's rollback again; ``ResourcesToSkip`` are left as they are."""
        doc = self.stack(ctx, params["StackName"])
        if doc["StackStatus"] != "UPDATE_ROLLBACK_FAILED" or self.engine.busy(doc["StackId"]):
            raise errors.ValidationError(
                f"Stack {doc['StackId']} is in {doc['StackStatus']} state and can not continue update rollback."
            )  # (unverified)
        skipped = set(params.get("ResourcesToSkip") or [])
        with self.db.transaction():
            for resource in store.resources(self.db, doc["StackId"]):
                if resource["LogicalResourceId"] in skipped and resource.get("_undo"):
                    resource["_undo"]["done"] = True
                    store.put_resource(self.db, doc["StackId"], resource)
        self.run_for(ctx, doc).stack_status("UPDATE_ROLLBACK_IN_PROGRESS")
        self.engine.launch(ctx.account, ctx.region, doc["StackId"], "RESUME")
        return {}

    def update_termination_protection(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.stack(ctx, params["StackName"])
        doc["EnableTerminationProtection"] = bool(params["EnableTerminationProtection"])
        with self.db.transaction():
            store.put_stack(self.db, ctx.account, ctx.region, doc)
        return {"StackId": doc["StackId"]}

    # -- reading stacks ----------------------------------------------------------------------------

    def describe_stacks(self, ctx: RequestContext, params: Params) -> Doc:
        name = params.get("StackName")
        if name:
            return {"Stacks": [views.stack(self.stack(ctx, name))]}
        docs = store.list_stacks(self.db, ctx.account, ctx.region, live_only=True)
        return page([views.stack(d) for d in docs], params, "Stacks")

    def list_stacks(self, ctx: RequestContext, params: Params) -> Doc:
        wanted = set(params.get("StackStatusFilter") or [])
        docs = store.list_stacks(self.db, ctx.account, ctx.region, live_only=False)
        shown = [views.stack_summary(d) for d in docs if not wanted or d["StackStatus"] in wanted]
        return page(shown, params, "StackSummaries")

    def describe_stack_events(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.stack(ctx, params["StackName"])
        return page(store.events(self.db, doc["StackId"]), params, "StackEvents")

    def describe_stack_resource(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.stack(ctx, params["StackName"])
        found = store.get_resource(self.db, doc["StackId"], params["LogicalResourceId"])
        if found is None:
            raise errors.ValidationError(
                f"Resource {params['LogicalResourceId']} does not exist for stack {params['StackName']}"
            )
        return {"StackResourceDetail": views.resource_detail(found, doc)}

    def describe_stack_resources(self, ctx: RequestContext, params: Params) -> Doc:
        if params.get("StackName"):
            doc = self.stack(ctx, params["StackName"])
        elif params.get("PhysicalResourceId"):
            owner = store.by_physical_id(self.db, ctx.account, ctx.region, params["PhysicalResourceId"])
            if owner is None:
                raise errors.ValidationError(f"Stack for {params['PhysicalResourceId']} does not exist")
            doc = owner[0]
        else:
            raise errors.ValidationError("Either StackName or PhysicalResourceId must be specified.")
        found = store.resources(self.db, doc["StackId"])
        logical = params.get("LogicalResourceId")
        return {
            "StackResources": [
                views.resource(r, doc) for r in found if not logical or r["LogicalResourceId"] == logical
            ]
        }

    def list_stack_resources(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.stack(ctx, params["StackName"])
        shown = [views.resource_summary(r) for r in store.resources(self.db, doc["StackId"])]
        return page(shown, params, "StackResourceSummaries")

    def get_template(self, ctx: RequestContext, params: Params) -> Doc:
        if params.get("ChangeSetName"):
            body = self.change_set(ctx, params["ChangeSetName"], params.get("StackName"))["_template"]
        elif params.get("StackName"):
            body = self.stack(ctx, params["StackName"])["_template"]
        else:
            raise errors.ValidationError("Either StackName or ChangeSetName must be specified.")  # (unverified)
        return {"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]}

    def validate_template(self, ctx: RequestContext, params: Params) -> Doc:
        template = self._template_of(ctx, params)
        result = self._described(template, {"Parameters": templates.parameter_declarations(template)})
        result["DeclaredTransforms"] = list(template.transforms)
        return result

    def get_template_summary(self, ctx: RequestContext, params: Params) -> Doc:
        if params.get("StackName"):
            template = cfn.parse_template(self.stack(ctx, params["StackName"])["_template"])
        else:
            template = self._template_of(ctx, params)
        result = self._described(template, {"Parameters": templates.parameter_summaries(template)})
        result["ResourceTypes"] = sorted({str(spec.get("Type")) for spec in template.resources.values()})
        result["Version"] = str(template.doc.get("AWSTemplateFormatVersion", "2010-09-09"))
        result["DeclaredTransforms"] = list(template.transforms)
        if template.metadata:
            result["Metadata"] = orjson.dumps(template.metadata).decode()
        return result

    def _described(self, template: cfn.Template, result: Doc) -> Doc:
        """``result`` with what ValidateTemplate and GetTemplateSummary both tell of a template: its
        description and the capabilities it needs, with why."""
        if template.description:
            result["Description"] = template.description
        capabilities, reason = templates.required_capabilities(template, self.handlers)
        if capabilities:
            result["Capabilities"], result["CapabilitiesReason"] = capabilities, reason
        return result

    def _template_of(self, ctx: RequestContext, params: Params) -> cfn.Template:
        body = self.body(ctx, params, None)
        try:
            return cfn.parse_template(body)
        except cfn.TemplateError as error:
            raise errors.ValidationError(error.message) from None

    # -- exports -----------------------------------------------------------------------------------

    def list_exports(self, ctx: RequestContext, params: Params) -> Doc:
        shown = [
            {"ExportingStackId": stack["StackId"], "Name": name, "Value": value}
            for name, (stack, value) in sorted(exported(self.db, ctx.account, ctx.region).items())
        ]
        return page(shown, params, "Exports")

    def list_imports(self, ctx: RequestContext, params: Params) -> Doc:
        name = params["ExportName"]
        if name not in exported(self.db, ctx.account, ctx.region):
            raise errors.ValidationError(f"Export '{name}' is not imported by any stack.")
        users = importers(self.db, ctx.account, ctx.region, name)
        if not users:
            raise errors.ValidationError(f"Export '{name}' is not imported by any stack.")
        return page(users, params, "Imports")
