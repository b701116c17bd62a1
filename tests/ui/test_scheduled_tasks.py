"""A cluster's "Scheduled tasks" view against a real server (fake runtime): a schedule that started
its task, a schedule whose RunTask failed (its error shown in red on the row and in its history),
and an EventBridge rule with an ECS target; the started task's page links back to its schedule.
No console error; the screenshot is not blank."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.ui.conftest import UiServer, screenshot
from tests.ui.seed import network, register, wait_for

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::000000000000:role/scheduler"


def soon(seconds: float = 1) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds + 1)
    return f"at({moment.strftime('%Y-%m-%dT%H:%M:%S')})"


def seed(ui: UiServer) -> str:
    ecs, scheduler, events = ui.client("ecs"), ui.client("scheduler"), ui.client("events")
    cluster = ecs.create_cluster(clusterName="cron")["cluster"]["clusterArn"]
    definition = register(ecs, "nightly-report", [{"name": "app", "image": "example/report:1", "essential": True}])
    subnets = network(ui.endpoint)["awsvpcConfiguration"]["subnets"]
    ecs_parameters = {
        "TaskDefinitionArn": definition,
        "LaunchType": "FARGATE",
        "NetworkConfiguration": {"awsvpcConfiguration": {"Subnets": subnets}},
    }
    common = {"ScheduleExpression": soon(), "FlexibleTimeWindow": {"Mode": "OFF"}}
    scheduler.create_schedule(
        Name="report", Target={"Arn": cluster, "RoleArn": ROLE, "EcsParameters": ecs_parameters}, **common
    )
    # awsvpc without a network configuration: RunTask refuses it, and no retry is allowed.
    broken = {"TaskDefinitionArn": definition, "LaunchType": "FARGATE"}
    target = {"Arn": cluster, "RoleArn": ROLE, "EcsParameters": broken, "RetryPolicy": {"MaximumRetryAttempts": 0}}
    scheduler.create_schedule(Name="broken", Target=target, **common)
    events.put_rule(Name="on-upload", EventPattern=json.dumps({"source": ["my.uploads"]}))
    events.put_targets(Rule="on-upload", Targets=[{"Id": "process", "Arn": cluster, "EcsParameters": ecs_parameters}])
    events.put_events(Entries=[{"Source": "my.uploads", "DetailType": "Upload", "Detail": "{}"}])

    def all_invoked() -> bool:
        answer = httpx.get(f"{ui.endpoint}/_ecslite/schedules", params={"cluster": "cron"}, timeout=10).json()
        return len(answer["scheduledTasks"]) == 3 and all(e["last"] for e in answer["scheduledTasks"])

    wait_for(all_invoked, timeout=20, what="three invocations")
    return str(cluster)


def test_cluster_page_shows_scheduled_tasks_their_failures_and_task_links(page: Any, ui_server: UiServer) -> None:
    cluster = seed(ui_server)
    page.goto(f"{ui_server.endpoint}/ui")
    page.get_by_role("link", name="cron", exact=True).click()
    expect(page.get_by_role("heading", name="Scheduled tasks")).to_be_visible()
    rows = page.locator("section.panel table tbody tr")
    expect(rows).to_have_count(3)
    broken = rows.filter(has=page.locator("#schedule-broken"))
    expect(broken.locator(".badge", has_text="FAILED")).to_be_visible()
    expect(broken.locator(".invocation-error")).to_contain_text("InvalidParameterException")
    report = rows.filter(has=page.locator("#schedule-report"))
    expect(report.locator(".badge", has_text="STARTED")).to_be_visible()
    expect(report).to_contain_text("nightly-report:1")
    rule = rows.filter(has=page.locator("#rule-on-upload"))
    expect(rule).to_contain_text("EventBridge rule")
    expect(rule.locator(".badge", has_text="STARTED")).to_be_visible()
    expect(page.locator(".head h1 .badge")).to_have_text("1 failing")
    expect(page.locator(".invocations")).to_have_count(3)
    screenshot(page, "cluster-scheduled-tasks")

    # The task the schedule started names it in startedBy, linked back to its row.
    report.locator("a.mono").first.click()
    back = page.locator("a.scheduled-by")
    expect(back).to_have_text("chronos-schedule/report")
    back.click()
    expect(page).to_have_url(
        f"{ui_server.endpoint}/ui/cluster?arn={cluster.replace(':', '%3A').replace('/', '%2F')}#schedule-report"
    )
    expect(page.locator("#schedule-report")).to_be_visible()
