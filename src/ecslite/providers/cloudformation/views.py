"""How stacks, resources and change sets show through CloudFormation's Describe and List operations."""

from __future__ import annotations

from typing import Any

Doc = dict[str, Any]
NOT_CHECKED = {"StackDriftStatus": "NOT_CHECKED"}
RESOURCE_DRIFT = {"StackResourceDriftStatus": "NOT_CHECKED"}


def public(doc: Doc) -> Doc:
    """``doc`` without ecslite's own (``_``-prefixed) members."""
    return {key: value for key, value in doc.items() if not key.startswith("_")}


def stack(doc: Doc) -> Doc:
    shown = public(doc)
    shown.setdefault("DriftInformation", NOT_CHECKED)
    return shown


def stack_summary(doc: Doc) -> Doc:
    shown: Doc = {
        key: doc[key]
        for key in (
            "StackId",
            "StackName",
            "CreationTime",
            "LastUpdatedTime",
            "DeletionTime",
            "StackStatus",
            "StackStatusReason",
        )
        if key in doc
    }
    if doc.get("Description"):
        shown["TemplateDescription"] = doc["Description"]
    shown["DriftInformation"] = {"StackDriftStatus": "NOT_CHECKED"}
    return shown


def _resource_base(doc: Doc) -> Doc:
    shown: Doc = {
        key: doc[key]
        for key in ("LogicalResourceId", "PhysicalResourceId", "ResourceType", "ResourceStatus", "ResourceStatusReason")
        if key in doc
    }
    shown["DriftInformation"] = RESOURCE_DRIFT
    return shown


def resource(doc: Doc, stack_doc: Doc) -> Doc:
    """DescribeStackResources' StackResource."""
    return {
        "StackName": stack_doc["StackName"],
        "StackId": stack_doc["StackId"],
        **_resource_base(doc),
        "Timestamp": doc.get("Timestamp", 0.0),
    }


def resource_detail(doc: Doc, stack_doc: Doc) -> Doc:
    """DescribeStackResource's StackResourceDetail."""
    return {
        "StackName": stack_doc["StackName"],
        "StackId": stack_doc["StackId"],
        **_resource_base(doc),
        "LastUpdatedTimestamp": doc.get("LastUpdatedTimestamp", doc.get("Timestamp", 0.0)),
    }


def resource_summary(doc: Doc) -> Doc:
    """ListStackResources' StackResourceSummary."""
    return {**_resource_base(doc), "LastUpdatedTimestamp": doc.get("LastUpdatedTimestamp", doc.get("Timestamp", 0.0))}


def change_set(doc: Doc) -> Doc:
    return public(doc)


def change_set_summary(doc: Doc) -> Doc:
    return {
        key: doc[key]
        for key in (
            "StackId",
            "StackName",
            "ChangeSetId",
            "ChangeSetName",
            "ExecutionStatus",
            "Status",
            "StatusReason",
            "CreationTime",
            "Description",
            "IncludeNestedStacks",
        )
        if key in doc
    }
