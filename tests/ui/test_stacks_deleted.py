"""The stacks page's "Show deleted" toggle against a real server (fake runtime): a stack created,
deleted, and created again under the same name. Off, only the live stack shows; on, the deleted one
comes last, greyed, and links to its own page by stack id, which shows its events down to its
DELETE_COMPLETE. The toggle survives a reload (?deleted=1). No console error."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fixtures.stacks import SERVER_ARGS, create_stack, wait_final
from tests.ui.conftest import UiServer, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def ui_server_args() -> tuple[str, ...]:
    return SERVER_ARGS


def test_show_deleted_lists_deleted_stacks_last_and_links_them_by_id(page: Any, ui_server: UiServer) -> None:
    cfn, ec2 = ui_server.client("cloudformation"), ui_server.client("ec2")
    old_id = create_stack(cfn, ec2, "web")
    assert wait_final(cfn, old_id) == "CREATE_COMPLETE"
    cfn.delete_stack(StackName="web")
    assert wait_final(cfn, old_id) == "DELETE_COMPLETE"
    new_id = create_stack(cfn, ec2, "web")  # the name reused: only the id tells the two apart

    page.goto(f"{ui_server.endpoint}/ui/stacks")
    rows = page.locator("section.panel table tbody tr")
    expect(rows).to_have_count(1)
    expect(page.locator("[data-deleted-stack]")).to_have_count(0)

    page.get_by_label("Show deleted").check()
    expect(rows).to_have_count(2)
    expect(page).to_have_url(f"{ui_server.endpoint}/ui/stacks?deleted=1")
    live, deleted = rows.nth(0), rows.nth(1)
    expect(live.locator('[data-stack="web"]:not([data-deleted-stack])')).to_have_count(1)
    expect(live).not_to_have_class("stack-deleted")
    expect(deleted.locator(f'[data-deleted-stack="{old_id}"]')).to_have_count(1)
    expect(deleted.locator(".badge")).to_have_text("DELETE_COMPLETE")
    expect(deleted).to_have_class("stack-deleted")
    expect(deleted).to_have_css("opacity", "0.55")  # greyed (retried: the list redraws as the new stack moves on)
    expect(live).to_have_css("opacity", "1")
    screenshot(page, "stacks-deleted")

    # Kept across a reload, and off again when unticked.
    page.reload()
    expect(page.get_by_label("Show deleted")).to_be_checked()
    expect(rows).to_have_count(2)

    # The deleted stack's page (by id, not the live stack of the same name) with its events.
    deleted.get_by_role("link", name="web").click()
    expect(page.locator(".head h1 .badge")).to_have_text("DELETE_COMPLETE")
    events = page.locator(".stack-events tbody tr")
    expect(events.first).to_have_attribute("data-stack-event", "DELETE_COMPLETE")
    expect(page.locator('.stack-events tr[data-stack-event="CREATE_COMPLETE"]').first).to_be_visible()

    page.goto(f"{ui_server.endpoint}/ui/stacks?deleted=1")
    page.get_by_label("Show deleted").uncheck()
    expect(rows).to_have_count(1)
    expect(page).to_have_url(f"{ui_server.endpoint}/ui/stacks")
    live_link = rows.first.get_by_role("link", name="web")
    expect(live_link).to_have_attribute("href", "/ui/stack?name=web&region=us-east-1")
    assert wait_final(cfn, new_id) == "CREATE_COMPLETE"
