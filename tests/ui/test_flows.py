"""What a user does in the web UI, end to end against a real server: follow a log line to its trace,
watch a failing deployment reach the overview without reloading, read the service map's edges and
open the traces of one, switch theme, and move around with the keyboard."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.ui.conftest import UiServer, screenshot
from tests.ui.seed import HEALTH, Telemetry, network, register, wait_for, wait_for_trace

pytestmark = pytest.mark.integration

FAIL_AT_ONCE = {"ecslite.fake.exit-code": "1", "ecslite.fake.run-seconds": "0"}


@pytest.fixture(scope="module")
def telemetry(ui_server: UiServer) -> Iterator[Telemetry]:
    sender = Telemetry(ui_server.otlp_http)
    yield sender
    sender.close()


def map_edges(ui: UiServer) -> set[tuple[str, str]]:
    answer = httpx.get(f"{ui.endpoint}/ui/api/map", params={"range": "15m"}, timeout=10).json()
    return {(e["client"], e["server"]) for e in answer["edges"]}


def test_log_line_trace_link_opens_its_waterfall(page: Any, ui_server: UiServer, telemetry: Telemetry) -> None:
    others = [telemetry.call("checkout", "payments", "/pay") for _ in range(3)]
    wanted = telemetry.call("checkout", "payments", "/refund", fail=True)
    wait_for_trace(ui_server.endpoint, wanted, 3)
    page.goto(f"{ui_server.endpoint}/ui/logs?service=payments")
    line = page.locator(".loglines .line", has_text="payments answered /refund")
    # The search runs at load; a record accepted a moment ago reaches the page through the live tail.
    line.wait_for()
    link = line.locator("a.trace-link")
    assert link.get_attribute("data-trace") == wanted
    link.click()
    page.wait_for_url(re.compile(f"/ui/traces/{wanted}$"))
    page.locator(".wf-row").first.wait_for()
    header = page.locator("main .head").first.inner_text()
    assert wanted in header and "checkout: GET /refund" in header
    assert not any(other in header for other in others)
    spans = page.locator(".wf-row[data-span]")
    assert spans.count() == 3
    assert page.locator(".wf-row.err", has_text="GET /payments").count() == 1
    assert page.locator(".wf-row.log", has_text="payments answered /refund").count() == 1
    screenshot(page, "flow-log-to-trace")


def test_trace_lookup_accepts_an_xray_id(page: Any, ui_server: UiServer, telemetry: Telemetry) -> None:
    trace_id = telemetry.call("lookup", "ledger", "/balance")
    xray = f"1-{trace_id[:8]}-{trace_id[8:]}"
    wait_for_trace(ui_server.endpoint, trace_id, 3)
    page.goto(f"{ui_server.endpoint}/ui/traces")
    page.get_by_label("Trace id").fill(xray)
    page.get_by_role("button", name="Open").click()
    page.locator(".wf-row").first.wait_for()
    assert trace_id in page.locator("main .head").first.inner_text()


def test_failing_deployment_reaches_the_overview_without_reload(page: Any, ui_server: UiServer) -> None:
    ecs = ui_server.client("ecs")
    ecs.create_cluster(clusterName="rollout")
    # A health check lets the deployment complete at the first healthy check (5 s) rather than
    # after ECS's stabilisation wait for containers without one.
    register(ecs, "api", [{"name": "app", "image": "example/api:1", "healthCheck": HEALTH}])
    ecs.create_service(
        cluster="rollout",
        serviceName="api",
        taskDefinition="api",
        # Three tasks: the new deployment starts all three at once and their failures reach the
        # breaker's threshold (3) together, before the scheduler's retry back-off comes into play.
        desiredCount=3,
        launchType="FARGATE",
        networkConfiguration=network(ui_server.endpoint),
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
    )

    def completed() -> bool:
        service = ecs.describe_services(cluster="rollout", services=["api"])["services"][0]
        return bool(service["deployments"][0]["rolloutState"] == "COMPLETED")

    wait_for(completed, what="the first deployment completes")
    page.goto(f"{ui_server.endpoint}/ui")
    row = page.locator("tr", has=page.get_by_role("link", name="api", exact=True))
    row.get_by_text("COMPLETED", exact=True).wait_for()
    page.locator("#live.on").wait_for()
    page.evaluate("window.__sameDocument = true")

    register(ecs, "api", [{"name": "app", "image": "example/api:broken", "dockerLabels": FAIL_AT_ONCE}])
    ecs.update_service(cluster="rollout", service="api", taskDefinition="api")

    row.get_by_text("FAILED", exact=True).wait_for(timeout=45_000)
    assert "ECS deployment circuit breaker: tasks failed to start." in row.inner_text()
    failing = page.locator("ul.failing li", has_text="service:api")
    failing.first.wait_for()
    assert "Essential container in task exited" in failing.first.inner_text()
    assert "app: exit 1" in failing.first.inner_text()
    events = page.locator("ul.events").first
    events.get_by_text("deployment failed: tasks failed to start.").wait_for()
    assert page.evaluate("window.__sameDocument === true"), "the overview was reloaded"
    screenshot(page, "flow-failing-deployment")


def test_service_map_shows_the_edges_and_opens_the_traces_of_one(
    page: Any, ui_server: UiServer, telemetry: Telemetry
) -> None:
    calls = [telemetry.call("gateway", "catalog", "/items", fail=i == 0) for i in range(5)]
    elsewhere = telemetry.call("gateway", "reviews", "/reviews")
    wait_for(lambda: {("gateway", "catalog"), ("gateway", "reviews")} <= map_edges(ui_server), what="map edges")
    page.goto(f"{ui_server.endpoint}/ui/map")
    edge = page.locator('svg.map [data-edge="gateway>catalog"]')
    edge.wait_for()
    assert page.locator('svg.map [data-edge="user>gateway"]').count() == 1
    assert page.locator('svg.map [data-edge="gateway>reviews"]').count() == 1
    row = page.locator("tr", has=page.get_by_role("cell", name="catalog", exact=True))
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == "gateway" and cells[2] == "5" and cells[4] == "20.0%"
    assert re.fullmatch(r"[\d.]+ ms", cells[6]), cells
    screenshot(page, "flow-map")

    edge.locator("path.hit").click()
    page.wait_for_url(re.compile(r"/ui/traces\?edge="))
    assert urllib.parse.unquote(page.url.split("edge=")[1]) == "gateway>catalog"
    page.locator("[data-trace]").first.wait_for()
    listed = set(page.locator("[data-trace]").evaluate_all("links => links.map(a => a.dataset.trace)"))
    assert listed == set(calls)
    assert elsewhere not in listed


def test_theme_toggle_switches_and_is_remembered(page: Any, ui_server: UiServer) -> None:
    page.emulate_media(color_scheme="light")
    page.goto(f"{ui_server.endpoint}/ui")
    page.locator("main h1").wait_for()
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.get_by_role("button", name="Dark").click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark != light
    page.reload()
    page.locator("main h1").wait_for()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == dark
    screenshot(page, "overview-dark")
    page.get_by_role("button", name="Light").click()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == light


def test_keyboard_moves_between_pages_and_focuses_search(page: Any, ui_server: UiServer) -> None:
    page.goto(f"{ui_server.endpoint}/ui")
    page.locator("main h1").wait_for()
    page.keyboard.press("g")
    page.keyboard.press("l")
    page.wait_for_url(re.compile(r"/ui/logs$"))
    page.get_by_role("heading", name="Logs").wait_for()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "text"
    page.keyboard.type("boom")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/logs\?.*text=boom"))
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("?")
    assert page.get_by_role("dialog", name="Keyboard shortcuts").is_visible()
