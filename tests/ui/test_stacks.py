"""The stacks page and a stack's page against a real server (fake runtime), with two stacks made
through boto3's cloudformation client: one whose service becomes stable and one whose container
exits at once, tripping the deployment circuit breaker so its create fails and rolls back. The
failed stack's page shows, beside CloudFormation's reason, the service's stopped tasks with their
stopped reason and exit code and a link to the task's logs; the resources link to ecslite's pages;
statuses update live. No console error; the screenshots are not blank."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fixtures.stacks import SERVER_ARGS, create_stack
from tests.ui.conftest import UiServer, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BREAKER = "Error occurred during operation 'ECS Deployment Circuit Breaker was triggered'."
ERR_LIGHT = "rgb(196, 37, 47)"  # --err of the light theme
STABLE_MS = 120_000  # a new service is stable after its task's first health check


@pytest.fixture(scope="module")
def ui_server_args() -> tuple[str, ...]:
    return SERVER_ARGS


def test_stacks_page_without_stacks(page: Any, ui_server: UiServer) -> None:
    page.goto(f"{ui_server.endpoint}/ui")
    page.locator("header nav a", has_text="Stacks").click()
    expect(page.get_by_role("heading", name="No stacks yet")).to_be_visible()
    expect(page.locator('header nav a[aria-current="page"]')).to_have_text("Stacks")
    expect(page.locator(".copy code")).to_contain_text("cloudformation deploy --stack-name web")


def test_failed_stack_shows_why_and_stable_stack_links_to_its_resources(page: Any, ui_server: UiServer) -> None:
    cfn, ec2 = ui_server.client("cloudformation"), ui_server.client("ec2")
    create_stack(cfn, ec2, "good")
    create_stack(cfn, ec2, "bad", exit_code=3)

    # The list, open while the stacks are being made, follows them live.
    page.goto(f"{ui_server.endpoint}/ui/stacks")
    rows = page.locator("section.panel table tbody tr")
    expect(rows).to_have_count(2)
    bad = rows.filter(has=page.locator('[data-stack="bad"]'))
    expect(bad.locator(".badge")).to_have_text("ROLLBACK_COMPLETE", timeout=STABLE_MS)
    expect(bad.locator(".stack-failure")).to_have_text(f"Service: {BREAKER}")

    bad.get_by_role("link", name="bad").click()
    expect(page.locator(".head h1")).to_contain_text("bad")
    expect(page.locator(".head h1 .badge")).to_have_text("ROLLBACK_COMPLETE")
    failure = page.locator('[data-failure="Service"]')
    expect(failure.locator(".stack-failure").first).to_have_text(BREAKER)
    expect(failure.get_by_role("link", name="bad-cluster/bad-Service-", exact=False)).to_be_visible()
    expect(failure).to_contain_text("ECS deployment circuit breaker")
    tasks = failure.locator("[data-failed-task]")
    expect(tasks.first).to_be_visible()
    stopped = failure.locator("table tbody tr").first
    expect(stopped).to_contain_text("EssentialContainerExited")
    expect(stopped).to_contain_text("Essential container in task exited")
    expect(stopped.locator('[data-failed-container="app"]')).to_contain_text("app exit 3")
    expect(failure.locator("ul.events li").first).to_be_visible()
    # Events newest first, the failure's row in red.
    events = page.locator(".stack-events tbody tr")
    expect(events.first).to_have_attribute("data-stack-event", "ROLLBACK_COMPLETE")
    failed_row = page.locator('.stack-events tr.failed[data-stack-event="CREATE_FAILED"]')
    expect(failed_row).to_have_count(1)
    expect(failed_row).to_contain_text(BREAKER)
    assert failed_row.locator("td").last.evaluate("td => getComputedStyle(td).color") == ERR_LIGHT
    expect(page.locator('[data-stack-resource="Service"]')).to_be_visible()
    expect(page.locator(".kv")).to_contain_text("ExitCode")
    screenshot(page, "stack-failed")

    # The rollback deleted the log group; the container's last output is still shown, stderr in red.
    app = stopped.locator('[data-failed-container="app"]')
    expect(app).to_contain_text("log group /stacks/bad was deleted with the stack")
    expect(app.locator("[data-logs-link]")).to_have_count(0)
    expect(app.locator('[data-last-output="app"]')).to_have_text("starting app\nError: DATABASE_URL is not set\n")
    expect(app.locator(".stack-output .stack-failure")).to_have_text("Error: DATABASE_URL is not set\n")

    # The failed service's own page (deleted by the rollback, still shown) has the same stopped tasks.
    task_id = tasks.first.get_attribute("data-failed-task")
    failure.get_by_role("link", name="bad-cluster/bad-Service-", exact=False).click()
    expect(page.locator(".head h1")).to_contain_text("bad-Service-")
    expect(page.locator(".head h1")).to_contain_text("inactive")
    expect(page.locator(f'a[href="/ui/task?id={task_id}"]').first).to_be_visible()

    # The stack that succeeds: its status turns CREATE_COMPLETE live, its resources link to their pages.
    page.goto(f"{ui_server.endpoint}/ui/stacks")
    page.get_by_role("link", name="good", exact=True).click()
    expect(page.locator(".head h1 .badge")).to_have_text("CREATE_COMPLETE", timeout=STABLE_MS)
    expect(page.locator("[data-failure]")).to_have_count(0)
    [service_arn] = ui_server.client("ecs").list_services(cluster="good-cluster")["serviceArns"]
    expect(page.locator('[data-output="ServiceArn"]')).to_have_text(service_arn)
    resources = page.locator("section.panel", has=page.locator("[data-stack-resource]")).locator("tbody tr")
    expect(resources).to_have_count(5)
    cluster_link = resources.filter(has=page.locator('[data-stack-resource="Cluster"]')).get_by_role("link")
    expect(cluster_link).to_have_attribute(
        "href", "/ui/cluster?arn=arn%3Aaws%3Aecs%3Aus-east-1%3A000000000000%3Acluster%2Fgood-cluster"
    )
    task_definition = resources.filter(has=page.locator('[data-stack-resource="TaskDef"]'))
    expect(task_definition.get_by_role("link")).to_have_count(0)  # no page for task definitions
    screenshot(page, "stack-complete")
    resources.filter(has=page.locator('[data-stack-resource="Service"]')).get_by_role("link").click()
    expect(page.locator(".head h1")).to_contain_text(service_arn.rsplit("/", 1)[-1])
