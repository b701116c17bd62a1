"""The event feed (spec/ecs.md §12.1): EventBridge envelopes from committed task changes and the
scheduler's announcements, read by cursor and filtered with the event pattern subset."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ecslite.clock import FakeClock
from ecslite.control.service_events import Announcement, AnnouncementKind
from ecslite.model.event_patterns import PatternError, matches, parse_pattern
from ecslite.providers.events_feed import EventsFeed
from ecslite.store import tasks as task_store
from ecslite.store.db import Database

CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/shop"
TASK = "arn:aws:ecs:eu-west-1:123456789012:task/shop/0123456789abcdef0123456789abcdef"
SERVICE = "arn:aws:ecs:eu-west-1:123456789012:service/shop/web"

EVENT: dict[str, Any] = {
    "version": "0",
    "detail-type": "ECS Task State Change",
    "source": "aws.ecs",
    "region": "eu-west-1",
    "resources": [TASK],
    "detail": {
        "lastStatus": "STOPPED",
        "stoppedReason": "Essential container in task exited",
        "group": "service:web",
        "version": 7,
        "containers": [{"name": "app", "exitCode": 1}, {"name": "router", "exitCode": 0}],
        "overrides": {},
    },
}


def pattern_matches(text: str, event: dict[str, Any] = EVENT) -> bool:
    return matches(parse_pattern(text), event)


# -- the pattern language ------------------------------------------------------------------------


def test_pattern_value_arrays_match_any_listed_value() -> None:
    assert pattern_matches('{"detail": {"lastStatus": ["STOPPED", "RUNNING"]}}')
    assert not pattern_matches('{"detail": {"lastStatus": ["RUNNING"]}}')
    assert pattern_matches('{"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]}')


def test_pattern_of_seed_004_matches_an_essential_exit() -> None:
    rule = (
        '{"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"], '
        '"detail": {"lastStatus": ["STOPPED"], "stoppedReason": ["Essential container in task exited"]}}'
    )
    assert pattern_matches(rule)
    assert not pattern_matches(rule, {**EVENT, "detail": {**EVENT["detail"], "stoppedReason": "Task stopped by user"}})


def test_pattern_prefix_matches_the_start_of_strings_only() -> None:
    assert pattern_matches('{"detail": {"group": [{"prefix": "service:"}]}}')
    assert not pattern_matches('{"detail": {"group": [{"prefix": "family:"}]}}')
    assert not pattern_matches('{"detail": {"version": [{"prefix": "7"}]}}')


def test_pattern_anything_but_excludes_values_and_prefixes() -> None:
    assert pattern_matches('{"detail": {"lastStatus": [{"anything-but": "RUNNING"}]}}')
    assert not pattern_matches('{"detail": {"lastStatus": [{"anything-but": ["STOPPED", "RUNNING"]}]}}')
    assert not pattern_matches('{"detail": {"group": [{"anything-but": {"prefix": "service:"}}]}}')
    assert not pattern_matches('{"detail": {"missing": [{"anything-but": "x"}]}}')


def test_pattern_exists_tests_presence_of_leaves() -> None:
    assert pattern_matches('{"detail": {"stoppedReason": [{"exists": true}]}}')
    assert pattern_matches('{"detail": {"stopCode": [{"exists": false}]}}')
    assert not pattern_matches('{"detail": {"stopCode": [{"exists": true}]}}')
    assert not pattern_matches('{"detail": {"overrides": [{"exists": true}]}}')  # an object is not a leaf
    assert pattern_matches('{"nothing": {"here": [{"exists": false}]}}')


def test_pattern_matches_any_element_of_an_array_in_the_event() -> None:
    assert pattern_matches('{"detail": {"containers": {"exitCode": [1]}}}')
    assert not pattern_matches('{"detail": {"containers": {"exitCode": [137]}}}')
    assert pattern_matches('{"detail": {"containers": {"name": ["app"], "exitCode": [1]}}}')
    assert not pattern_matches('{"detail": {"containers": {"name": ["router"], "exitCode": [1]}}}')
    assert pattern_matches('{"resources": [{"prefix": "arn:aws:ecs:eu-west-1:"}]}')


def test_pattern_keeps_json_types_apart() -> None:
    assert pattern_matches('{"detail": {"version": [7.0]}}')
    assert not pattern_matches('{"detail": {"version": ["7"]}}')
    assert not matches(parse_pattern('{"a": [true]}'), {"a": 1})
    assert matches(parse_pattern('{"a": [null]}'), {"a": None})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[1]", "The pattern must be a JSON object."),
        ('{"a": "x"}', "'a' must be an object or an array of values, not \"x\"."),
        ('{"a": []}', "Empty arrays are not allowed: 'a'."),
        ('{"a": {}}', "Empty objects are not allowed: 'a'."),
        ('{"a": {"b": [{"numeric": [">", 1]}]}}', "Unsupported matcher 'numeric' at 'a.b': ecslite supports"),
        ('{"a": [{"prefix": 1}]}', "'prefix' takes a string, at 'a'."),
        ('{"a": [{"exists": "yes"}]}', "'exists' takes true or false, at 'a'."),
        ('{"a": [{"prefix": "x", "exists": true}]}', "A matcher object must have exactly one key, at 'a'."),
        ('{"a": [{"anything-but": []}]}', "'anything-but' takes a non-empty array of plain values, at 'a'."),
    ],
)
def test_pattern_errors_name_the_problem(text: str, reason: str) -> None:
    with pytest.raises(PatternError) as caught:
        parse_pattern(text)
    assert str(caught.value).startswith(reason)


# -- the feed ------------------------------------------------------------------------------------


def task_doc(**fields: Any) -> dict[str, Any]:
    return {
        "taskArn": TASK,
        "clusterArn": CLUSTER,
        "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3",
        "group": "service:web",
        "desiredStatus": "RUNNING",
        "lastStatus": "PROVISIONING",
        "createdAt": 1_700_000_000.25,
        "version": 1,
        "tags": [{"key": "team", "value": "shop"}],
        "attachments": [{"id": "a-1", "type": "ElasticNetworkInterface", "status": "PRECREATED", "details": []}],
        "containers": [{"name": "app", "lastStatus": "PENDING", "taskArn": TASK}],
        "notInTheModel": "kept out",
        "_spec": {"taskId": TASK.rsplit("/", 1)[1], "family": "web", "serviceName": "web"},
        "_run": {"private": True},
        **fields,
    }


@pytest.fixture
def db() -> Database:
    return Database(None)


@pytest.fixture
def feed(db: Database) -> EventsFeed:
    return EventsFeed(db, FakeClock(1_700_000_001.5))


def launch(db: Database) -> None:
    task_store.insert_launched(db, "123456789012", "eu-west-1", "shop", [task_doc()], [])


def change(db: Database, **fields: Any) -> None:
    def apply(doc: dict[str, Any]) -> bool:
        doc.update(fields)
        return True

    task_store.update(db, TASK, apply)


def test_task_changes_become_task_state_change_envelopes(db: Database, feed: EventsFeed) -> None:
    launch(db)
    (event,), cursor = feed.read(0, None)
    assert cursor == 1
    assert {k: v for k, v in event.items() if k not in ("id", "detail")} == {
        "version": "0",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": "2023-11-14T22:13:21Z",
        "region": "eu-west-1",
        "resources": [TASK],
    }
    detail = event["detail"]
    assert detail["lastStatus"] == "PROVISIONING" and detail["version"] == 1
    assert detail["createdAt"] == "2023-11-14T22:13:20.250Z"
    assert detail["updatedAt"] == "2023-11-14T22:13:21.500Z"
    assert detail["attachments"][0]["type"] == "eni"
    for absent in ("tags", "notInTheModel", "_spec", "_run"):
        assert absent not in detail


def test_each_visible_version_is_announced_once(db: Database, feed: EventsFeed) -> None:
    launch(db)
    change(db, lastStatus="PENDING")
    change(db, lastStatus="RUNNING")
    task_store.update(db, TASK, lambda doc: doc["_run"].update(seen=1) is None, visible=False)
    events, cursor = feed.read(0, None)
    assert [(e["detail"]["lastStatus"], e["detail"]["version"]) for e in events] == [
        ("PROVISIONING", 1),
        ("PENDING", 2),
        ("RUNNING", 3),
    ]
    assert cursor == 3
    assert feed.read(cursor, None) == ([], 3)


def test_envelopes_are_built_from_the_state_at_commit(db: Database, feed: EventsFeed) -> None:
    launch(db)
    change(db, lastStatus="RUNNING")
    first, second = feed.read(0, None)[0]
    assert (first["detail"]["lastStatus"], second["detail"]["lastStatus"]) == ("PROVISIONING", "RUNNING")
    assert first["id"] != second["id"]
    assert feed.read(0, None)[0][0]["id"] == first["id"]  # built once, read many times


def test_announcements_become_service_action_and_deployment_events(feed: EventsFeed) -> None:
    feed.announce(
        Announcement(AnnouncementKind.SERVICE_ACTION, "INFO", "SERVICE_STEADY_STATE", SERVICE, CLUSTER, 1_700_000_002.0)
    )
    reason = "ECS deployment ecs-svc/1234567890123456789 completed."
    feed.announce(
        Announcement(
            AnnouncementKind.DEPLOYMENT_STATE_CHANGE,
            "INFO",
            "SERVICE_DEPLOYMENT_COMPLETED",
            SERVICE,
            CLUSTER,
            1_700_000_003.0,
            "ecs-svc/1234567890123456789",
            reason,
        )
    )
    action, deployment = feed.read(0, None)[0]
    assert action["detail-type"] == "ECS Service Action" and action["resources"] == [SERVICE]
    assert action["detail"] == {
        "eventType": "INFO",
        "eventName": "SERVICE_STEADY_STATE",
        "clusterArn": CLUSTER,
        "createdAt": "2023-11-14T22:13:22.000Z",
    }
    assert deployment["detail-type"] == "ECS Deployment State Change"
    assert deployment["detail"] == {
        "eventType": "INFO",
        "eventName": "SERVICE_DEPLOYMENT_COMPLETED",
        "deploymentId": "ecs-svc/1234567890123456789",
        "updatedAt": "2023-11-14T22:13:23.000Z",
        "reason": reason,
    }


def test_reading_with_a_pattern_moves_the_cursor_past_what_did_not_match(db: Database, feed: EventsFeed) -> None:
    launch(db)
    change(db, lastStatus="RUNNING")
    change(db, lastStatus="STOPPED", desiredStatus="STOPPED")
    stopped = parse_pattern('{"detail": {"lastStatus": ["STOPPED"]}}')
    events, cursor = feed.read(0, stopped)
    assert [e["detail"]["version"] for e in events] == [3] and cursor == 3
    assert feed.read(0, stopped, limit=1)[1] == 3
    assert feed.read(0, None, limit=2)[1] == 2


def test_the_buffer_keeps_the_newest_events(db: Database) -> None:
    small = EventsFeed(db, FakeClock(1_700_000_000.0), capacity=2)
    launch(db)
    change(db, lastStatus="PENDING")
    change(db, lastStatus="RUNNING")
    events, cursor = small.read(0, None)
    assert [e["detail"]["lastStatus"] for e in events] == ["PENDING", "RUNNING"] and cursor == 3


def test_reset_empties_the_feed_but_never_reuses_sequence_numbers(db: Database, feed: EventsFeed) -> None:
    launch(db)
    asyncio.run(feed.reset())
    db.reset()
    assert feed.read(0, None) == ([], 0)
    launch(db)  # version 1 again: a new task
    events, cursor = feed.read(0, None)
    assert len(events) == 1 and cursor == 2


def test_waiting_readers_wake_when_an_event_arrives(db: Database, feed: EventsFeed) -> None:
    async def scenario() -> float:
        await feed.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        loop.call_later(0.05, launch, db)
        await feed.wait(0, timeout=5.0)
        return loop.time() - started

    assert asyncio.run(scenario()) < 2.0
    assert len(feed.read(0, None)[0]) == 1


def test_waiting_without_events_returns_after_the_timeout(feed: EventsFeed) -> None:
    async def scenario() -> None:
        await feed.start()
        await feed.wait(0, timeout=0.05)

    asyncio.run(scenario())
    assert feed.read(0, None) == ([], 0)
