"""CloudWatch Logs groups and streams through boto3: names, describe, retention, tags, KMS (spec §10.2)."""

from __future__ import annotations

import time
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import make_client

ACCOUNT = "000000000000"
ARN = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:"
GROUP_PATTERN = r"[\.\-_/#A-Za-z0-9]+"


@pytest.fixture
def logs(endpoint: str) -> Any:
    return make_client("logs", endpoint)


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def group_names(logs: Any, **kwargs: Any) -> list[str]:
    return [g["logGroupName"] for g in logs.describe_log_groups(**kwargs)["logGroups"]]


def now_ms() -> int:
    return int(time.time() * 1000)


# -- groups --------------------------------------------------------------------------------------------


def test_create_log_group_is_described_as_aws_shows_it(logs: Any) -> None:
    before = now_ms()
    logs.create_log_group(logGroupName="/ecs/otel-demo-app")
    [group] = logs.describe_log_groups()["logGroups"]
    assert before - 1000 <= group.pop("creationTime") <= now_ms() + 1000
    assert group == {
        "logGroupName": "/ecs/otel-demo-app",
        "metricFilterCount": 0,
        "arn": ARN + "/ecs/otel-demo-app:*",
        "storedBytes": 0,
        "logGroupClass": "STANDARD",
        "logGroupArn": ARN + "/ecs/otel-demo-app",
        "deletionProtectionEnabled": False,
    }


def test_create_existing_log_group_is_refused(logs: Any) -> None:
    logs.create_log_group(logGroupName="g", tags={"a": "1"})
    code, message = error_of(logs.create_log_group, logGroupName="g", tags={"b": "2"})
    assert (code, message) == ("ResourceAlreadyExistsException", "The specified log group already exists")
    assert logs.list_tags_log_group(logGroupName="g")["tags"] == {"a": "1"}


@pytest.mark.parametrize(
    ("name", "constraint"),
    [
        ("bad name", f"Member must satisfy regular expression pattern: {GROUP_PATTERN}"),
        ("a" * 513, "Member must have length less than or equal to 512"),
    ],
)
def test_invalid_log_group_names_are_refused_and_nothing_is_stored(logs: Any, name: str, constraint: str) -> None:
    code, message = error_of(logs.create_log_group, logGroupName=name)
    assert code == "InvalidParameterException"
    assert (
        message
        == f"1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy constraint: {constraint}"
    )
    assert group_names(logs) == []


def test_log_group_class_and_kms_key_are_kept(logs: Any) -> None:
    key = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    logs.create_log_group(logGroupName="ia", logGroupClass="INFREQUENT_ACCESS", kmsKeyId=key)
    logs.create_log_group(logGroupName="std")
    [group] = logs.describe_log_groups(logGroupClass="INFREQUENT_ACCESS")["logGroups"]
    assert (group["logGroupName"], group["logGroupClass"], group["kmsKeyId"]) == ("ia", "INFREQUENT_ACCESS", key)
    assert group_names(logs, logGroupClass="STANDARD") == ["std"]


def test_associate_and_disassociate_kms_key(logs: Any) -> None:
    key = "arn:aws:kms:us-east-1:000000000000:key/k1"
    logs.create_log_group(logGroupName="g")
    logs.associate_kms_key(logGroupName="g", kmsKeyId=key)
    assert logs.describe_log_groups()["logGroups"][0]["kmsKeyId"] == key
    logs.disassociate_kms_key(resourceIdentifier=ARN + "g")
    assert "kmsKeyId" not in logs.describe_log_groups()["logGroups"][0]
    code, message = error_of(logs.associate_kms_key, logGroupName="nope", kmsKeyId=key)
    assert (code, message) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_delete_log_group_removes_streams_and_events(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[{"timestamp": now_ms(), "message": "x"}])
    logs.delete_log_group(logGroupName="g")
    assert group_names(logs) == []
    logs.create_log_group(logGroupName="g")
    assert logs.describe_log_streams(logGroupName="g")["logStreams"] == []
    assert logs.filter_log_events(logGroupName="g")["events"] == []


def test_delete_missing_log_group_is_not_found(logs: Any) -> None:
    code, message = error_of(logs.delete_log_group, logGroupName="nope")
    assert (code, message) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_deletion_protection_blocks_delete(logs: Any) -> None:
    logs.create_log_group(logGroupName="kept", deletionProtectionEnabled=True)
    code, _ = error_of(logs.delete_log_group, logGroupName="kept")
    assert code == "ValidationException"
    assert group_names(logs) == ["kept"]


def test_describe_log_groups_by_prefix_and_pattern(logs: Any) -> None:
    for name in ("/ecs/app", "/ecs/DataLogs", "/aws/lambda/DataLogs-fn", "other"):
        logs.create_log_group(logGroupName=name)
    logs.put_retention_policy(logGroupName="/ecs/DataLogs", retentionInDays=7)
    assert group_names(logs, logGroupNamePrefix="/ecs/") == ["/ecs/DataLogs", "/ecs/app"]
    # The pattern is a case-sensitive substring, and AWS then returns only three fields.
    described = logs.describe_log_groups(logGroupNamePattern="DataLogs")["logGroups"]
    assert [g["logGroupName"] for g in described] == ["/aws/lambda/DataLogs-fn", "/ecs/DataLogs"]
    assert all(set(g) == {"logGroupName", "creationTime", "arn"} for g in described)
    assert group_names(logs, logGroupNamePattern="datalogs") == []


def test_describe_log_groups_prefix_with_pattern_is_refused(logs: Any) -> None:
    code, message = error_of(logs.describe_log_groups, logGroupNamePrefix="/ecs", logGroupNamePattern="app")
    assert code == "InvalidParameterException"
    assert message == (
        "logGroupNamePattern and logGroupNamePrefix are mutually exclusive. Only one of these parameters can be passed."
    )


def test_describe_log_groups_paginates_in_name_order(logs: Any) -> None:
    names = [f"g{i:02d}" for i in range(7)]
    for name in reversed(names):
        logs.create_log_group(logGroupName=name)
    first = logs.describe_log_groups(limit=3)
    second = logs.describe_log_groups(limit=3, nextToken=first["nextToken"])
    third = logs.describe_log_groups(limit=3, nextToken=second["nextToken"])
    pages = [first, second, third]
    assert [[g["logGroupName"] for g in p["logGroups"]] for p in pages] == [names[:3], names[3:6], names[6:]]
    assert "nextToken" not in third
    paginator = logs.get_paginator("describe_log_groups")
    assert [g["logGroupName"] for page in paginator.paginate(limit=2) for g in page["logGroups"]] == names


def test_describe_log_groups_limit_out_of_range_is_refused(logs: Any) -> None:
    code, message = error_of(logs.describe_log_groups, limit=51)
    assert code == "InvalidParameterException"
    assert message == (
        "1 validation error detected: Value 51 at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 50"
    )


def test_describe_log_groups_with_a_foreign_token_is_refused(logs: Any) -> None:
    code, message = error_of(logs.describe_log_groups, nextToken="not-a-token")
    assert (code, message) == ("InvalidParameterException", "The specified nextToken is invalid.")


def test_log_groups_are_partitioned_by_region_and_account(endpoint: str, logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    assert group_names(make_client("logs", endpoint, region="eu-west-1")) == []
    assert group_names(make_client("logs", endpoint, access_key="111111111111")) == []


# -- retention -------------------------------------------------------------------------------------------


def test_retention_policy_is_shown_and_removed(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    logs.put_retention_policy(logGroupName="g", retentionInDays=30)
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 30
    logs.delete_retention_policy(logGroupName="g")
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]


def test_retention_policy_accepts_only_aws_values(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    code, message = error_of(logs.put_retention_policy, logGroupName="g", retentionInDays=4)
    assert code == "InvalidParameterException"
    assert message == (
        "1 validation error detected: Value 4 at 'retentionInDays' failed to satisfy constraint: Member must "
        "satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, "
        "2192, 2557, 2922, 3288, 3653]"
    )
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]


def test_retention_policy_on_missing_group_is_not_found(logs: Any) -> None:
    for call in (logs.put_retention_policy, logs.delete_retention_policy):
        kwargs = {"retentionInDays": 1} if call == logs.put_retention_policy else {}
        code, message = error_of(call, logGroupName="nope", **kwargs)
        assert (code, message) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_retention_removes_older_events_from_reads_and_storage(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    day = 86_400_000
    now = now_ms()
    old = [{"timestamp": now - 3 * day + i, "message": f"old {i}"} for i in range(3)]
    logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=old)
    logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[{"timestamp": now, "message": "new"}])
    assert logs.describe_log_groups()["logGroups"][0]["storedBytes"] == 18
    logs.put_retention_policy(logGroupName="g", retentionInDays=1)
    events = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in events] == ["new"]
    assert [e["message"] for e in logs.filter_log_events(logGroupName="g")["events"]] == ["new"]
    assert logs.describe_log_groups()["logGroups"][0]["storedBytes"] == 3


# -- tags ------------------------------------------------------------------------------------------------


def test_tag_log_group_and_list(logs: Any) -> None:
    logs.create_log_group(logGroupName="g", tags={"team": "obs"})
    logs.tag_log_group(logGroupName="g", tags={"env": "dev", "team": "core"})
    assert logs.list_tags_log_group(logGroupName="g")["tags"] == {"env": "dev", "team": "core"}
    logs.untag_log_group(logGroupName="g", tags=["team"])
    assert logs.list_tags_log_group(logGroupName="g")["tags"] == {"env": "dev"}


def test_tag_resource_by_log_group_arn(logs: Any) -> None:
    logs.create_log_group(logGroupName="/ecs/app")
    arn = logs.describe_log_groups()["logGroups"][0]["logGroupArn"]
    logs.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
    logs.untag_resource(resourceArn=arn, tagKeys=["b"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1"}
    assert logs.list_tags_log_group(logGroupName="/ecs/app")["tags"] == {"a": "1"}


def test_tagging_unknown_resources_is_not_found(logs: Any) -> None:
    code, message = error_of(logs.list_tags_for_resource, resourceArn=ARN + "nope")
    assert (code, message) == ("ResourceNotFoundException", "The specified log group does not exist.")
    code, _ = error_of(logs.tag_log_group, logGroupName="nope", tags={"a": "b"})
    assert code == "ResourceNotFoundException"
    other_region = "arn:aws:logs:eu-west-1:000000000000:log-group:g"
    logs.create_log_group(logGroupName="g")
    code, _ = error_of(logs.tag_resource, resourceArn=other_region, tags={"a": "b"})
    assert code == "ResourceNotFoundException"


def test_more_than_fifty_tags_are_refused(logs: Any) -> None:
    logs.create_log_group(logGroupName="g", tags={f"k{i}": "v" for i in range(50)})
    arn = ARN + "g"
    code, _ = error_of(logs.tag_resource, resourceArn=arn, tags={"one-more": "v"})
    assert code == "TooManyTagsException"
    assert len(logs.list_tags_for_resource(resourceArn=arn)["tags"]) == 50


# -- streams -----------------------------------------------------------------------------------------------


def test_create_log_stream_and_describe_an_empty_one(logs: Any) -> None:
    logs.create_log_group(logGroupName="/ecs/app")
    logs.create_log_stream(logGroupName="/ecs/app", logStreamName="ecs/web/0123")
    [stream] = logs.describe_log_streams(logGroupName="/ecs/app")["logStreams"]
    assert abs(stream.pop("creationTime") - now_ms()) < 5000
    assert stream == {
        "logStreamName": "ecs/web/0123",
        "arn": ARN + "/ecs/app:log-stream:ecs/web/0123",
        "storedBytes": 0,
    }


def test_describe_log_stream_after_events(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    now = now_ms()
    put = logs.put_log_events(
        logGroupName="g",
        logStreamName="s",
        logEvents=[{"timestamp": now - 500, "message": "a"}, {"timestamp": now - 100, "message": "b"}],
    )
    [stream] = logs.describe_log_streams(logGroupName="g")["logStreams"]
    assert stream["firstEventTimestamp"] == now - 500
    assert stream["lastEventTimestamp"] == now - 100
    assert abs(stream["lastIngestionTime"] - now) < 5000
    assert stream["uploadSequenceToken"] == put["nextSequenceToken"]
    assert len(put["nextSequenceToken"]) == 56 and put["nextSequenceToken"].isdigit()
    assert stream["storedBytes"] == 0


def test_create_existing_log_stream_is_refused(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    code, message = error_of(logs.create_log_stream, logGroupName="g", logStreamName="s")
    assert (code, message) == ("ResourceAlreadyExistsException", "The specified log stream already exists")


def test_create_log_stream_in_missing_group_is_not_found(logs: Any) -> None:
    code, message = error_of(logs.create_log_stream, logGroupName="nope", logStreamName="s")
    assert (code, message) == ("ResourceNotFoundException", "The specified log group does not exist.")


@pytest.mark.parametrize("name", ["a:b", "a*b"])
def test_invalid_log_stream_names_are_refused(logs: Any, name: str) -> None:
    logs.create_log_group(logGroupName="g")
    code, message = error_of(logs.create_log_stream, logGroupName="g", logStreamName=name)
    assert code == "InvalidParameterException"
    assert message == (
        f"1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [^:*]*"
    )
    assert logs.describe_log_streams(logGroupName="g")["logStreams"] == []


def test_delete_log_stream(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[{"timestamp": now_ms(), "message": "xyz"}])
    logs.delete_log_stream(logGroupName="g", logStreamName="s")
    assert logs.describe_log_streams(logGroupName="g")["logStreams"] == []
    assert logs.describe_log_groups()["logGroups"][0]["storedBytes"] == 0
    code, message = error_of(logs.delete_log_stream, logGroupName="g", logStreamName="s")
    assert (code, message) == ("ResourceNotFoundException", "The specified log stream does not exist.")


def test_describe_log_streams_orders_by_name_or_last_event(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    now = now_ms()
    for name, age in (("b", 300), ("a", 100), ("c", 200)):
        logs.create_log_stream(logGroupName="g", logStreamName=name)
        logs.put_log_events(logGroupName="g", logStreamName=name, logEvents=[{"timestamp": now - age, "message": "x"}])
    logs.create_log_stream(logGroupName="g", logStreamName="empty")

    def names(**kwargs: Any) -> list[str]:
        return [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="g", **kwargs)["logStreams"]]

    assert names() == ["a", "b", "c", "empty"]
    assert names(descending=True) == ["empty", "c", "b", "a"]
    assert names(orderBy="LastEventTime", descending=True) == ["a", "c", "b", "empty"]
    assert names(orderBy="LastEventTime") == ["empty", "b", "c", "a"]
    assert names(logStreamNamePrefix="e") == ["empty"]


def test_describe_log_streams_by_last_event_time_with_prefix_is_refused(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    code, message = error_of(
        logs.describe_log_streams, logGroupName="g", orderBy="LastEventTime", logStreamNamePrefix="a"
    )
    assert (code, message) == ("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")


def test_describe_log_streams_paginates(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    for i in range(5):
        logs.create_log_stream(logGroupName="g", logStreamName=f"s{i}")
    first = logs.describe_log_streams(logGroupName="g", limit=2)
    second = logs.describe_log_streams(logGroupName="g", limit=2, nextToken=first["nextToken"])
    third = logs.describe_log_streams(logGroupName="g", limit=2, nextToken=second["nextToken"])
    pages = [[s["logStreamName"] for s in p["logStreams"]] for p in (first, second, third)]
    assert pages == [["s0", "s1"], ["s2", "s3"], ["s4"]]
    assert "nextToken" not in third


def test_describe_log_streams_by_identifier(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    for identifier in ("g", ARN + "g"):
        streams = logs.describe_log_streams(logGroupIdentifier=identifier)["logStreams"]
        assert [s["logStreamName"] for s in streams] == ["s"]
    code, message = error_of(logs.describe_log_streams, logGroupIdentifier=ARN + "g:*")
    assert (code, message) == (
        "InvalidParameterException",
        f"1 validation error detected: Value '{ARN}g:*' at 'logGroupIdentifier' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [\w#+=/:,.@-]*",
    )
    code, message = error_of(logs.describe_log_streams, logGroupName="g", logGroupIdentifier="g")
    assert (code, message) == (
        "InvalidParameterException",
        "You must include either logGroupIdentifier or logGroupName, but not both.",
    )
    code, message = error_of(logs.describe_log_streams, logGroupName="nope")
    assert (code, message) == ("ResourceNotFoundException", "The specified log group does not exist.")
