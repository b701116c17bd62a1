"""Every page of the web UI against a real server holding real tasks and telemetry: it loads without a
console error, shows what it is for, and its screenshot (test-artifacts/ui/) is not blank."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import make_client
from tests.ui.conftest import UiServer, screenshot
from tests.ui.seed import EcsSeed, Telemetry, awslogs, network, register, seed_ecs, wait_for, wait_for_trace

pytestmark = pytest.mark.integration


@dataclass
class World:
    ui: UiServer
    ecs: EcsSeed
    traces: list[str]


@pytest.fixture(scope="module")
def world(ui_server: UiServer) -> Iterator[World]:
    seeded = seed_ecs(ui_server.endpoint)
    telemetry = Telemetry(ui_server.otlp_http)
    routes = ["/orders/{id}", "/orders"]
    traces = [telemetry.call("web", "inventory", routes[i % 2], fail=i % 4 == 0) for i in range(8)]
    telemetry.close()

    def edges() -> bool:
        answer = httpx.get(f"{ui_server.endpoint}/ui/api/map", params={"range": "15m"}, timeout=10).json()
        return any(e["client"] == "web" and e["server"] == "inventory" for e in answer["edges"])

    wait_for(edges, timeout=30, what="the web → inventory edge")
    yield World(ui_server, seeded, traces)


def open_page(page: Any, world: World, path: str) -> None:
    page.goto(f"{world.ui.endpoint}{path}")
    page.wait_for_load_state("networkidle")


def test_overview_shows_services_events_and_failing_tasks(page: Any, world: World) -> None:
    open_page(page, world, "/ui")
    page.get_by_role("link", name="web", exact=True).first.wait_for()
    failing = page.locator("ul.failing li")
    assert failing.count() >= 1
    assert "exit 3" in failing.first.inner_text()
    screenshot(page, "overview")


def test_service_page_shows_deployments_tasks_and_red(page: Any, world: World) -> None:
    open_page(page, world, f"/ui/service?arn={urllib.parse.quote(world.ecs.service_arn)}")
    page.get_by_role("heading", name="RED per operation").wait_for()
    page.locator("text=GET /orders/{id}").first.wait_for()
    screenshot(page, "service")
    page.locator('a[data-link="traces"][href="/ui/traces?service=web"]').click()
    page.locator("[data-trace]").first.wait_for()
    assert page.locator("[data-trace]").count() == len(world.traces)


def test_task_page_shows_containers_timeline_and_logs(page: Any, world: World) -> None:
    task_id = world.ecs.running_task.rsplit("/", 1)[-1]
    open_page(page, world, f"/ui/task?id={task_id}")
    page.locator(".loglines .line").first.wait_for()
    assert "ecslite exec" in page.locator(".copy code").first.inner_text()
    assert page.locator(".deps .layer").all_inner_texts() == ["init", "app"]
    screenshot(page, "task")
    # A container without awslogs: its output as the runtime recorded it (the container output endpoint).
    page.get_by_role("tab", name="init").click()
    page.locator(".loglines .line", has_text="migrated 3 tables").wait_for()
    assert page.locator(".loglines .line.stderr", has_text="1 warning").count() == 1


def test_task_page_shows_the_runtimes_copy_when_the_log_group_is_gone(page: Any, world: World) -> None:
    endpoint = world.ui.endpoint
    ecs, logs = make_client("ecs", endpoint), make_client("logs", endpoint)
    output = {"ecslite.fake.output": "kept {n}\nkept {n}\nkept {n}", "ecslite.fake.output-interval": "0.1"}
    container = {
        "name": "app",
        "image": "example/app:1",
        "logConfiguration": awslogs("/ecs/gone"),
        "dockerLabels": output,
    }
    register(ecs, "gone", [container])
    task = ecs.run_task(
        cluster=world.ecs.cluster, taskDefinition="gone", launchType="FARGATE", networkConfiguration=network(endpoint)
    )["tasks"][0]
    task_id = task["taskArn"].rsplit("/", 1)[-1]

    def shipped() -> bool:
        stream = f"ecs/app/{task_id}"
        try:
            return len(logs.get_log_events(logGroupName="/ecs/gone", logStreamName=stream)["events"]) == 3
        except logs.exceptions.ResourceNotFoundException:
            return False

    wait_for(shipped, what="the three lines in /ecs/gone")
    logs.delete_log_group(logGroupName="/ecs/gone")  # as a CloudFormation rollback does
    page.goto(f"{endpoint}/ui/task?id={task_id}")  # not to network idle: the output is followed while it runs
    page.locator(".loglines .line", has_text="kept 3").wait_for()
    assert page.locator(".loglines .line .body").all_inner_texts() == ["kept 1", "kept 2", "kept 3"]
    note = "log group /ecs/gone is gone; showing ecslite's own copy of the container's output"
    assert page.get_by_text(note).count() == 1


def test_traces_page_lists_traces(page: Any, world: World) -> None:
    open_page(page, world, "/ui/traces")
    page.locator("[data-trace]").first.wait_for()
    screenshot(page, "traces")


def test_trace_page_shows_the_waterfall(page: Any, world: World) -> None:
    wait_for_trace(world.ui.endpoint, world.traces[0], 3)
    open_page(page, world, f"/ui/traces/{world.traces[0]}")
    page.locator(".wf-row").first.wait_for()
    screenshot(page, "trace")


def test_logs_page_lists_lines(page: Any, world: World) -> None:
    open_page(page, world, "/ui/logs")
    page.locator(".loglines .line").first.wait_for()
    screenshot(page, "logs")


def test_map_page_draws_edges(page: Any, world: World) -> None:
    open_page(page, world, "/ui/map")
    page.locator('[data-edge="web>inventory"]').first.wait_for()
    screenshot(page, "map")


def test_metrics_page_charts_a_query(page: Any, world: World) -> None:
    open_page(page, world, "/ui/metrics")
    box = page.get_by_label("PromQL query")
    box.fill('sum by (service, span_kind) (traces_spanmetrics_calls_total{service=~"web|inventory"})')
    box.press("Enter")
    page.wait_for_url(re.compile(r"/ui/metrics\?query="))
    page.locator(".chart canvas").wait_for()
    rows = page.locator("table tbody tr").all_inner_texts()
    assert any('service="web"' in row and "SPAN_KIND_SERVER" in row and "\t8" in row for row in rows), rows
    screenshot(page, "metrics")
    page.get_by_role("link", name="Latency p95").click()
    page.wait_for_url(re.compile(r"histogram_quantile"))
    assert box.input_value().startswith("histogram_quantile(0.95, sum by (service, le)")
    page.locator(".chart canvas, .chart-empty").first.wait_for()
