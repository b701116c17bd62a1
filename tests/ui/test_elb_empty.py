"""The Load balancers page on a server without any: it says what to run, the commands it shows work
when pasted into a shell, and the load balancer they make appears on the open page (live)."""

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


def test_empty_load_balancers_page_commands_make_a_served_load_balancer(
    page: Any, ui_server: UiServer, tmp_path: Path
) -> None:
    page.goto(f"{ui_server.endpoint}/ui/load-balancers")
    empty = page.locator(".empty")
    empty.get_by_role("heading", name="No load balancers yet").wait_for()
    commands = empty.locator(".copy code").all_inner_texts()
    assert [c.split()[3:5] for c in commands] == [
        ["elbv2", "create-target-group"],
        ["elbv2", "create-load-balancer"],
        ["elbv2", "create-listener"],
    ]
    screenshot(page, "empty-load-balancers")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }
    for command in commands:  # pasted into a shell as the user would
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    lb = page.locator('[data-load-balancer="web"]')
    expect(lb).to_be_visible(timeout=20_000)
    expect(page.locator(".empty")).to_have_count(0)
    expect(lb.locator('[data-listener="8080"] tbody tr')).to_have_count(1)
    expect(lb.locator('[data-listener="8080"] tbody tr')).to_contain_text("forward to web")
    expect(lb.locator("[data-local-url]")).to_contain_text("http://127.0.0.1:", timeout=20_000)
