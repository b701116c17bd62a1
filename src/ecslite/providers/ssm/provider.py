"""The Parameter Store provider (JSON 1.1, ``AmazonSSM.<Op>``): parameters, versions, labels, tags.

Parameters are partitioned by (account, region). Every PutParameter with ``Overwrite`` makes a new
version; the last 100 are kept, and a labelled oldest version blocks a new one. Values are
encrypted at rest whatever their type; ``KeyId`` is recorded for SecureStrings and shown, the
local key does the encrypting. Parameter policies are stored and shown, not acted on. Other SSM
operations (documents, Run Command, sessions…) answer ``NotImplemented``.
"""

from __future__ import annotations

import json
from typing import Any

import regex

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.providers.ssm import errors
from ecslite.providers.ssm.listing import ListingOps
from ecslite.providers.ssm.names import arn_for, check_name, valid_label
from ecslite.store import parameters as parameter_store
from ecslite.store import tags as tag_store

DEFAULT_KEY_ID = "alias/aws/ssm"
DATA_TYPES = ("text", "aws:ec2:image", "aws:ssm:integration")
POLICY_TYPES = ("Expiration", "ExpirationNotification", "NoChangeNotification")
MAX_VERSIONS = 100
MAX_LABELS = 10
MAX_TAGS = 50
STANDARD_MAX, ADVANCED_MAX = 4096, 8192
# (unverified) Parameter Store's texts for these.
STANDARD_TOO_LONG = (
    "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter "
    "value, upgrade the parameter to use the advanced-parameter tier. For more information, see "
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"
)
ADVANCED_TOO_LONG = "Advanced tier parameters support a maximum parameter value of 8192 characters."
BAD_POLICIES = (
    "Parameter policies must be a JSON list of policies of the types Expiration, ExpirationNotification and "
    "NoChangeNotification."
)
HISTORY_PAGE = 50


class SsmProvider(ListingOps):
    """AWS Systems Manager, Parameter Store only."""

    def put_parameter(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        name, value = params["Name"], params["Value"]
        check_name(name)
        if value == "":
            raise errors.ValidationException(errors.EMPTY_VALUE)
        overwrite = bool(params.get("Overwrite"))
        if overwrite and params.get("Tags"):
            raise errors.ValidationException(errors.TAGS_WITH_OVERWRITE)
        existing = parameter_store.get(self.db, ctx.account, ctx.region, name)
        if existing is not None and not overwrite:
            raise errors.ParameterAlreadyExists()
        previous = parameter_store.version(self.db, existing, existing.version) if existing else None
        prior: dict[str, Any] = previous.doc if previous else {}
        doc = self._version_doc(ctx, params, prior, value)
        tags = self._tags(params.get("Tags"))
        number = existing.version + 1 if existing else 1
        dropped = self._version_to_drop(existing)
        with self.db.transaction():
            if existing is not None and dropped is not None:
                parameter_store.drop_version(self.db, existing, dropped)
            arn = arn_for(ctx.region, ctx.account, name)
            parameter_store.put_version(self.db, ctx.account, ctx.region, name, number, doc, value, arn)
            tag_store.put(self.db, arn, tags)
        return {"Version": number, "Tier": doc["Tier"]}

    def get_parameter(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        ref = self.reference(ctx, params["Name"])
        parameter = self.parameter(ctx, ref)
        version = self.select(parameter, ref)
        return {"Parameter": self.parameter_view(parameter, version, bool(params.get("WithDecryption")), ref.selector)}

    def get_parameters(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        found, invalid = [], []
        for text in dict.fromkeys(params["Names"]):
            try:
                ref = self.reference(ctx, text)
                parameter = self.parameter(ctx, ref)
                version = self.select(parameter, ref)
            except (errors.ParameterNotFound, errors.ParameterVersionNotFound, errors.ValidationException):
                invalid.append(text)
                continue
            found.append(self.parameter_view(parameter, version, bool(params.get("WithDecryption")), ref.selector))
        return {"Parameters": found, "InvalidParameters": invalid}

    def get_parameter_history(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        parameter = self.parameter(ctx, self.reference(ctx, params["Name"]))
        history = parameter_store.versions(self.db, parameter)
        start = decode_token(params.get("NextToken"), lambda _: errors.InvalidNextToken()) or 0
        if not isinstance(start, int) or start < 0:
            raise errors.InvalidNextToken()
        limit = params.get("MaxResults") or HISTORY_PAGE
        clear = bool(params.get("WithDecryption"))
        shown = [
            {**self.metadata_view(parameter, v), "Value": self.value(parameter, v, clear), "Labels": v.labels}
            for v in history[start : start + limit]
        ]
        result: dict[str, Any] = {"Parameters": shown}
        if start + limit < len(history):
            result["NextToken"] = encode_token(start + limit)
        return result

    def delete_parameter(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        parameter = self.parameter(ctx, self.reference(ctx, params["Name"]))
        with self.db.transaction():
            parameter_store.delete(self.db, parameter, arn_for(ctx.region, ctx.account, parameter.name))
        return {}

    def delete_parameters(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        deleted, invalid = [], []
        with self.db.transaction():
            for name in dict.fromkeys(params["Names"]):
                parameter = parameter_store.get(self.db, ctx.account, ctx.region, name)
                if parameter is None:
                    invalid.append(name)
                    continue
                parameter_store.delete(self.db, parameter, arn_for(ctx.region, ctx.account, name))
                deleted.append(name)
        return {"DeletedParameters": deleted, "InvalidParameters": invalid}

    # -- labels ------------------------------------------------------------------------------------

    def label_parameter_version(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        parameter = self.parameter(ctx, self.reference(ctx, params["Name"]))
        number = params.get("ParameterVersion") or parameter.version
        version = parameter_store.version(self.db, parameter, number)
        if version is None:
            raise errors.version_not_found(str(number), parameter.name)
        labels = list(dict.fromkeys(params["Labels"]))
        valid = [label for label in labels if valid_label(label)]
        merged = version.labels + [label for label in valid if label not in version.labels]
        if len(merged) > MAX_LABELS:
            raise errors.ParameterVersionLabelLimitExceeded()
        with self.db.transaction():
            for other in parameter_store.versions(self.db, parameter):
                if other.version != number and set(other.labels) & set(valid):
                    kept = [label for label in other.labels if label not in valid]
                    parameter_store.set_labels(self.db, parameter, other.version, kept)
            parameter_store.set_labels(self.db, parameter, number, merged)
        return {"InvalidLabels": [label for label in labels if label not in valid], "ParameterVersion": number}

    def unlabel_parameter_version(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        parameter = self.parameter(ctx, self.reference(ctx, params["Name"]))
        number = params["ParameterVersion"]
        version = parameter_store.version(self.db, parameter, number)
        if version is None:
            raise errors.version_not_found(str(number), parameter.name)
        labels = list(dict.fromkeys(params["Labels"]))
        removed = [label for label in labels if label in version.labels]
        if removed:
            with self.db.transaction():
                kept = [label for label in version.labels if label not in removed]
                parameter_store.set_labels(self.db, parameter, number, kept)
        return {"RemovedLabels": removed, "InvalidLabels": [label for label in labels if label not in removed]}

    # -- tags --------------------------------------------------------------------------------------

    def add_tags_to_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._tagged_parameter(ctx, params)
        pairs = self._tags(params["Tags"])
        if tag_store.count_after(self.db, arn, [k for k, _ in pairs]) > MAX_TAGS:
            raise errors.TooManyTagsError(errors.TOO_MANY_TAGS)
        with self.db.transaction():
            tag_store.put(self.db, arn, pairs)
        return {}

    def remove_tags_from_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._tagged_parameter(ctx, params)
        with self.db.transaction():
            tag_store.remove(self.db, arn, params["TagKeys"])
        return {}

    def list_tags_for_resource(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        arn = self._tagged_parameter(ctx, params)
        return {"TagList": [{"Key": k, "Value": v} for k, v in tag_store.get(self.db, arn)]}

    # -- helpers -----------------------------------------------------------------------------------

    def _version_doc(self, ctx: RequestContext, params: Params, prior: dict[str, Any], value: str) -> dict[str, Any]:
        """The new version's metadata: what the request gives, else what the previous version had."""
        kind = params.get("Type") or prior.get("Type")
        if kind is None:
            raise errors.ValidationException(errors.TYPE_REQUIRED)
        data_type = params.get("DataType") or prior.get("DataType") or "text"
        if data_type not in DATA_TYPES:
            raise errors.ValidationException(
                f"The following data type is not supported: {data_type} (Data type names are all lowercase.)"
            )
        policies = _policies(params["Policies"]) if params.get("Policies") else prior.get("Policies")
        tier = _tier(params.get("Tier"), prior.get("Tier"), value, bool(policies))
        doc: dict[str, Any] = {
            "Type": kind,
            "DataType": data_type,
            "Tier": tier,
            "LastModifiedDate": self.now(),
            "LastModifiedUser": ctx.principal_arn,
            "Policies": policies or [],
        }
        for key in ("Description", "AllowedPattern"):
            if params.get(key) is not None or prior.get(key) is not None:
                doc[key] = params.get(key, prior.get(key))
        if kind == "SecureString":
            doc["KeyId"] = params.get("KeyId") or prior.get("KeyId") or DEFAULT_KEY_ID
        if doc.get("AllowedPattern"):
            _check_pattern(doc["AllowedPattern"], value)
        return doc

    def _version_to_drop(self, existing: parameter_store.Parameter | None) -> int | None:
        """The oldest version, when a new one would pass the 100 kept; refused if it carries labels."""
        if existing is None:
            return None
        kept = parameter_store.versions(self.db, existing)
        if len(kept) < MAX_VERSIONS:
            return None
        oldest = kept[0]
        if oldest.labels:
            raise errors.ParameterMaxVersionLimitExceeded(
                f"You attempted to create a new version of {existing.name} by calling the PutParameter API with "
                f"the overwrite flag. Version {oldest.version}, the oldest version, can't be deleted because it has "
                "a label associated with it. Move the label to another version of the parameter, and try again."
            )
        return oldest.version

    def _tagged_parameter(self, ctx: RequestContext, params: Params) -> str:
        if params["ResourceType"] != "Parameter":
            raise errors.InvalidResourceType(
                f"The resource type {params['ResourceType']} is not supported by ecslite; only Parameter is."
            )
        parameter = parameter_store.get(self.db, ctx.account, ctx.region, params["ResourceId"])
        if parameter is None:
            raise errors.InvalidResourceId(f"The resource ID {params['ResourceId']} is not valid.")
        return arn_for(ctx.region, ctx.account, parameter.name)

    @staticmethod
    def _tags(tags: list[dict[str, str]] | None) -> list[tuple[str, str]]:
        pairs = [(t["Key"], t["Value"]) for t in tags or []]
        if len({k for k, _ in pairs}) > MAX_TAGS:
            raise errors.TooManyTagsError(errors.TOO_MANY_TAGS)
        return pairs


def _tier(requested: str | None, previous: str | None, value: str, has_policies: bool) -> str:
    """The tier a new version gets: as asked, else the parameter's; Intelligent-Tiering picks the
    cheapest that fits. An advanced parameter never goes back to standard."""
    if requested == "Intelligent-Tiering":
        needs_advanced = len(value) > STANDARD_MAX or has_policies or previous == "Advanced"
        tier = "Advanced" if needs_advanced else "Standard"
    else:
        tier = requested or previous or "Standard"
    if previous == "Advanced" and tier == "Standard":
        raise errors.ValidationException(errors.NO_DOWNGRADE)
    if tier == "Standard" and len(value) > STANDARD_MAX:
        raise errors.ValidationException(STANDARD_TOO_LONG)
    if len(value) > ADVANCED_MAX:
        raise errors.ValidationException(ADVANCED_TOO_LONG)
    return tier


def _check_pattern(pattern: str, value: str) -> None:
    try:
        compiled = regex.compile(pattern)
    except regex.error:
        raise errors.InvalidAllowedPatternException(f"The allowed pattern {pattern} is not valid.") from None
    try:
        matched = compiled.fullmatch(value, timeout=1.0) is not None
    except TimeoutError:
        matched = False  # a pattern that backtracks this long would not be allowed to block the server
    if not matched:
        raise errors.ParameterPatternMismatchException(
            f"Parameter value, cannot be validated against allowedPattern: {pattern}"
        )


def _policies(text: str) -> list[dict[str, str]]:
    try:
        policies = json.loads(text)
    except ValueError:
        raise errors.InvalidPolicyTypeException(BAD_POLICIES) from None
    if not isinstance(policies, list) or not all(
        isinstance(p, dict) and p.get("Type") in POLICY_TYPES for p in policies
    ):
        raise errors.InvalidPolicyTypeException(BAD_POLICIES)
    return [{"PolicyText": json.dumps(p), "PolicyType": p["Type"], "PolicyStatus": "Pending"} for p in policies]
