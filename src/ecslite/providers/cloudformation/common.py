"""What CloudFormation's operations share: finding stacks, and checking a template with its
parameters before an operation starts (every problem found here is answered synchronously)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import regex

from ecslite.clock import Clock
from ecslite.model import cfn
from ecslite.protocol.errors import AwsError
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.cloudformation import errors, template_urls, templates
from ecslite.providers.cloudformation.engine import StackEngine
from ecslite.providers.cloudformation.resources.base import ResourceHandler
from ecslite.providers.cloudformation.run import StackRun
from ecslite.store import stacks as store
from ecslite.store.db import Database

Doc = dict[str, Any]
STACK_NAME = regex.compile(r"[a-zA-Z][-a-zA-Z0-9]{0,127}")
# Statuses from which a stack can be updated (CloudFormation's "can not be updated" otherwise).
UPDATABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}


@dataclass
class Prepared:
    """A template and its parameters, checked: what an operation or a change set goes on with."""

    body: str
    template: cfn.Template
    values: dict[str, Any]
    described: list[Doc]
    given: dict[str, str]
    capabilities: list[str]


class CloudFormationBase:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        providers: Mapping[str, object],
        engine: StackEngine,
        handlers: Mapping[str, ResourceHandler],
    ) -> None:
        self.db = db
        self.clock = clock
        self.providers = providers
        self.engine = engine
        self.handlers = handlers

    def now(self) -> float:
        return round(self.clock.now(), 3)

    # -- stacks ------------------------------------------------------------------------------------

    def stack(self, ctx: RequestContext, name: str) -> Doc:
        found = store.find(self.db, ctx.account, ctx.region, name)
        if found is None:
            raise errors.stack_not_found(name)
        return found

    def new_stack_id(self, ctx: RequestContext, name: str) -> str:
        if not STACK_NAME.fullmatch(name):
            raise errors.ValidationError(
                f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: Member "
                "must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
            )
        return f"arn:aws:cloudformation:{ctx.region}:{ctx.account}:stack/{name}/{uuid.uuid4()}"

    def check_updatable(self, doc: Doc) -> None:
        if doc["StackStatus"] not in UPDATABLE or self.engine.busy(doc["StackId"]):
            raise errors.ValidationError(
                f"Stack:{doc['StackId']} is in {doc['StackStatus']} state and can not be updated."
            )

    def run_for(self, ctx: RequestContext, doc: Doc) -> StackRun:
        return StackRun(self.db, self.clock, self.providers, self.handlers, ctx.account, ctx.region, doc)

    # -- templates ---------------------------------------------------------------------------------

    def body(self, ctx: RequestContext, params: Doc, previous: Doc | None) -> str:
        if params.get("TemplateURL"):
            return template_urls.read(self.providers, ctx, str(params["TemplateURL"]))
        if params.get("UsePreviousTemplate"):
            if previous is None:
                raise errors.ValidationError("UsePreviousTemplate can only be used with an existing stack")
            return str(previous["_template"])
        body = params.get("TemplateBody")
        if not body:
            raise errors.ValidationError("Either Template URL or Template Body must be specified.")
        return str(body)

    def checked(self, ctx: RequestContext, params: Doc, name: str, stack_id: str, previous: Doc | None) -> Prepared:
        """Parses and checks the template, resolves the parameters, checks capabilities and the
        resources' dependencies (a cycle is answered here, not found by the operation)."""
        body = self.body(ctx, params, previous)
        template = templates.load(body, self.handlers)
        given = params.get("Parameters") or []
        before = (previous or {}).get("_given") or {}
        try:
            resolved = cfn.resolve_parameters(template, given, before, ssm=lambda n: self._ssm(ctx, n))
            pseudo = templates.pseudo(ctx.account, ctx.region, name, stack_id, params.get("NotificationARNs") or [])
            conditions = cfn.evaluate_conditions(template, resolved.values, pseudo)
            cfn.check_rules(template, resolved.values, pseudo)
            templates.check_types(template, self.handlers, conditions)
            cfn.resource_dependencies(template, conditions)
        except cfn.TemplateError as error:
            raise errors.ValidationError(error.message) from None
        if previous is not None:
            changed = [
                r["LogicalResourceId"]
                for r in store.resources(self.db, previous["StackId"])
                if r["LogicalResourceId"] in template.resources
                and template.resources[r["LogicalResourceId"]].get("Type") != r["ResourceType"]
            ]
            if changed:
                raise errors.ValidationError(
                    "Update of resource type is not permitted. The new template modifies resource type of the "
                    f"following resources: [{', '.join(sorted(changed))}]"
                )
        capabilities = list(params.get("Capabilities") or [])
        templates.check_capabilities(template, self.handlers, capabilities)
        # What UsePreviousValue reads at the next update: every parameter's value as given (a default's
        # too; an SSM parameter's name, not its value).
        strings: dict[str, str] = {}
        for item in resolved.described:
            key, value = item["ParameterKey"], resolved.values.get(item["ParameterKey"])
            if "ResolvedValue" in item or value is None:
                strings[key] = item["ParameterValue"]
            else:
                strings[key] = ",".join(value) if isinstance(value, list) else str(value)
        for item in given:
            key = item.get("ParameterKey")
            if not key:
                continue
            if item.get("UsePreviousValue") and key in before:
                strings[key] = before[key]
            elif "ParameterValue" in item:
                strings[key] = str(item["ParameterValue"])
        return Prepared(body, template, dict(resolved.values), list(resolved.described), strings, capabilities)

    def _ssm(self, ctx: RequestContext, name: str) -> str | None:
        ssm = self.providers.get("ssm")
        if ssm is None:
            return None
        try:
            found = ssm.get_parameter(  # type: ignore[attr-defined]
                RequestContext(ctx.account, ctx.region, ctx.request_id, "ssm", "GetParameter"),
                {"Name": name, "WithDecryption": True},
            )
        except AwsError:
            return None
        return str(found["Parameter"]["Value"])

    def apply_prepared(self, doc: Doc, prepared: Prepared, params: Doc) -> None:
        """Writes the checked template and parameters (and the request's settings) onto the stack."""
        doc["_template"] = prepared.body
        doc["_values"] = prepared.values
        doc["_given"] = prepared.given
        doc["Parameters"] = prepared.described
        doc["Capabilities"] = prepared.capabilities
        description = prepared.template.description
        if description:
            doc["Description"] = description
        else:
            doc.pop("Description", None)
        for key in ("NotificationARNs", "RoleARN", "Tags"):
            if params.get(key) is not None:
                doc[key] = params[key]
        if params.get("ClientRequestToken"):
            doc["_token"] = params["ClientRequestToken"]
        else:
            doc.pop("_token", None)

    def start_update(self, ctx: RequestContext, doc: Doc, prepared: Prepared, params: Params) -> None:
        doc["_previous"] = {
            key: doc[key]
            for key in ("_template", "_values", "_given", "Parameters", "Description", "Outputs", "_imports", "Tags")
            if key in doc
        }
        self.apply_prepared(doc, prepared, params)
        if params.get("DisableRollback") is not None:
            doc["DisableRollback"] = bool(params["DisableRollback"])
        doc["LastUpdatedTime"] = self.now()
        self.run_for(ctx, doc).stack_status("UPDATE_IN_PROGRESS", "User Initiated")
        self.engine.launch(ctx.account, ctx.region, doc["StackId"], "UPDATE")
