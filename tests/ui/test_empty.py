"""A new user's first look: on a server with nothing in it, every page says what to run next
instead of showing empty tables, without a console error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import UiServer, screenshot

pytestmark = pytest.mark.integration

FIRST_STEP = "ecslite up examples/otel-demo"


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/ui", "Nothing is running yet"),
        ("/ui/traces", "No traces yet"),
        ("/ui/logs", "No log lines yet"),
        ("/ui/map", "No calls seen yet"),
        ("/ui/metrics", "Pick a saved view or type a query"),
    ],
)
def test_empty_page_tells_what_to_run_next(page: Any, ui_server: UiServer, path: str, title: str) -> None:
    page.goto(f"{ui_server.endpoint}{path}")
    empty = page.locator(".empty")
    empty.get_by_role("heading", name=title).wait_for()
    commands = empty.locator(".copy code").all_inner_texts()
    assert FIRST_STEP in commands
    name = path.strip("/").replace("/", "-")
    screenshot(page, f"empty-{name}")


def test_empty_overview_aws_cli_example_runs_a_task(page: Any, ui_server: UiServer, tmp_path: Path) -> None:
    page.goto(f"{ui_server.endpoint}/ui")
    page.locator(".empty").get_by_role("heading", name="Nothing is running yet").wait_for()
    commands = page.locator(".empty .copy code").all_inner_texts()
    examples = [c for c in commands if c.startswith(f"aws --endpoint-url {ui_server.endpoint} ecs ")]
    assert len(examples) == 2
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }
    for command in examples:  # pasted into a shell as the user would
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    # The task appears on the open overview (live), and the getting-started box goes away.
    expect(page.locator(".stat", has_text="tasks not yet stopped").locator("b")).to_have_text("1", timeout=20_000)
    expect(page.locator(".empty")).to_have_count(0)
