"""Which tasks the scraper and the runtime metrics read: every task whose containers are up (§9.1).

A task registered with a load balancer or Cloud Map spends its draining time in DEACTIVATING and its
registration in ACTIVATING with its containers running; both still serve and use resources.
"""

from __future__ import annotations

from typing import Any

import pytest

from ecslite.store import tasks as task_store
from ecslite.store.db import Database
from ecslite.telemetry import runtime_metrics, scrape


def task_doc(task_id: str, status: str) -> dict[str, Any]:
    arn = f"arn:aws:ecs:us-east-1:000000000000:task/c1/{task_id}"
    container = {"name": "app", "portMappings": [{"name": "app-metrics", "containerPort": 9464}]}
    return {
        "taskArn": arn,
        "desiredStatus": "RUNNING" if status != "DEACTIVATING" else "STOPPED",
        "lastStatus": status,
        "cpu": "256",
        "memory": "512",
        "containers": [{"name": "app", "lastStatus": "RUNNING" if status != "PENDING" else "PENDING"}],
        "_spec": {
            "account": "000000000000",
            "region": "us-east-1",
            "clusterName": "c1",
            "taskId": task_id,
            "family": "web",
            "revision": 1,
            "networkMode": "awsvpc",
            "containers": [container],
        },
        "_run": {"sandbox": {"privateIpv4": "10.0.0.9"}},
    }


@pytest.fixture
def db() -> Database:
    db = Database()
    with db.transaction():
        for task_id, status in [("t1", "PENDING"), ("t2", "ACTIVATING"), ("t3", "RUNNING"), ("t4", "DEACTIVATING")]:
            task_store.insert(db, "000000000000", "us-east-1", "c1", task_doc(task_id, status))
    return db


def test_scrape_targets_are_tasks_with_containers_up_including_activating_and_deactivating(db: Database) -> None:
    assert sorted(t.task_id for t in scrape.running_targets(db)) == ["t2", "t3", "t4"]


def test_runtime_metrics_read_tasks_with_containers_up_including_deactivating(db: Database) -> None:
    assert sorted(t.task_id for t in runtime_metrics.running_targets(db)) == ["t2", "t3", "t4"]
