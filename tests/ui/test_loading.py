"""How the one-request pages load: the shell asks for the overview's and a trace's data while the
modules load, the page takes that answer (errors included) instead of asking again, and the event
times of the overview get their full-date title when the pointer reaches them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ui.conftest import Console, UiServer
from tests.ui.seed import network, register, wait_for

pytestmark = pytest.mark.integration

RESOURCES = """(names) => performance.getEntriesByType("resource")
  .map((e) => new URL(e.name).pathname)
  .filter((path) => names.some((name) => path.startsWith(name)))"""


def started(page: Any, *names: str) -> list[str]:
    """Paths of the resources whose path starts with one of ``names``, in the order they started."""
    return list(page.evaluate(RESOURCES, list(names)))


def test_overview_data_is_requested_before_its_module_when_shell_loads(page: Any, ui_server: UiServer) -> None:
    page.goto(f"{ui_server.endpoint}/ui")
    page.locator("main h1", has_text="Overview").wait_for()
    order = started(page, "/ui/api/overview", "/ui/static/js/pages/overview.js")
    assert order[:2] == ["/ui/api/overview", "/ui/static/js/pages/overview.js"]
    assert page.evaluate("() => Object.keys(window.ecsliteEarly)") == []


def test_trace_error_is_shown_from_early_answer_when_trace_is_unknown(
    page: Any, ui_server: UiServer, console: Console
) -> None:
    missing = "0123456789abcdef0123456789abcdef"
    page.goto(f"{ui_server.endpoint}/ui/traces/{missing}")
    alert = page.locator("main .error-box")
    alert.wait_for()
    assert alert.inner_text() == f"Trace {missing} was not found (yet): spans become searchable within a second."
    assert started(page, f"/ui/api/traces/{missing}") == [f"/ui/api/traces/{missing}"]
    assert page.evaluate("() => Object.keys(window.ecsliteEarly)") == []
    # The browser reports the 404 it was answered; that one line is the expected answer, no error.
    console.errors[:] = [e for e in console.errors if "status of 404" not in e or missing not in e]


def test_later_pages_fetch_anew_when_early_answer_was_taken(page: Any, ui_server: UiServer) -> None:
    page.goto(f"{ui_server.endpoint}/ui")
    page.locator("main h1", has_text="Overview").wait_for()
    page.locator("header nav a", has_text="Traces").click()
    page.wait_for_url(re.compile("/ui/traces$"))
    page.locator("header nav a", has_text="Overview").click()
    page.locator("main h1", has_text="Overview").wait_for()
    page.wait_for_function(
        """() => performance.getEntriesByType("resource")
          .filter((e) => new URL(e.name).pathname === "/ui/api/overview").length >= 2"""
    )


def test_event_time_gets_full_date_title_when_pointer_reaches_it(page: Any, ui_server: UiServer) -> None:
    ecs = ui_server.client("ecs")
    ecs.create_cluster(clusterName="titles")
    register(ecs, "titled", [{"name": "app", "image": "example/app:1"}])
    ecs.create_service(
        cluster="titles",
        serviceName="titled",
        taskDefinition="titled",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=network(ui_server.endpoint),
    )
    wait_for(
        lambda: ecs.describe_services(cluster="titles", services=["titled"])["services"][0]["events"],
        what="a service event",
    )
    page.goto(f"{ui_server.endpoint}/ui")
    stamp = page.locator("ul.events li", has_text="titled").locator("time").first
    stamp.wait_for()
    assert stamp.get_attribute("title") is None
    stamp.hover()
    title = stamp.get_attribute("title") or ""
    expected = page.evaluate(
        "(iso) => new Date(iso).toLocaleString()",
        stamp.get_attribute("datetime"),
    )
    assert title == expected
