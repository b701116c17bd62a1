"""Fixtures of the web UI's end-to-end tests: a real server with its OTLP/HTTP receiver, Debian's
chromium driven by Playwright, and pages that fail their test on any console error.

The browser is the system's ``/usr/bin/chromium`` (``./dev test`` installs it); Playwright never
downloads one. A missing browser fails the run when ``CI`` is set and skips elsewhere.
Screenshots go to ``test-artifacts/ui/`` (git-ignored) and are checked not to be blank.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import REPO, RunningServer, make_client, start_server, stop_server
from tests.fixtures.capability import missing
from tests.fixtures.ports import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts" / "ui"
VIEWPORT = {"width": 1366, "height": 860}  # a laptop screen
MIN_COLOURS = 24  # a page with text, badges and charts has hundreds; a blank or error-only page a handful


@dataclass
class UiServer:
    server: RunningServer
    otlp_http: str

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def client(self, service: str) -> Any:
        return make_client(service, self.endpoint)


@pytest.fixture(scope="module")
def ui_server_args() -> tuple[str, ...]:
    """Further server options; a test module overrides this fixture to add its own."""
    return ()


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory, ui_server_args: tuple[str, ...]) -> Iterator[UiServer]:
    """One server per test module: telemetry is not reset between tests, so tests use their own names."""
    port = free_port()
    server = start_server(
        tmp_path_factory.mktemp("ui"),
        "--otlp-http-port",
        str(port),
        "--runtime-metrics-interval",
        "1",
        *ui_server_args,
        ephemeral=False,
    )
    yield UiServer(server, f"http://127.0.0.1:{port}")
    stop_server(server)


# Module scope, not session: while Playwright's sync API is open its event loop counts as running in
# this thread, so every later test of the worker that calls asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} is missing: ./dev test installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    profile = ARTIFACTS.parent / f".chromium-profile-{os.getpid()}"
    shutil.rmtree(profile, ignore_errors=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=VIEWPORT,  # type: ignore[arg-type]
        )
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Console:
    """Console errors and uncaught exceptions of one page."""

    errors: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.errors, "console errors:\n" + "\n".join(self.errors)


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    """A fresh tab whose console errors fail the test."""
    tab = browser.new_page()
    tab.set_default_timeout(15_000)

    def on_console(message: Any) -> None:
        if message.type == "error":
            console.errors.append(f"{message.text} ({message.location.get('url')})")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: console.errors.append(f"uncaught: {error}"))
    yield tab
    tab.close()
    console.check()


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot under test-artifacts/ui/ and fail if it is (nearly) one colour."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    data = page.screenshot(path=str(path), full_page=full_page)
    colours = distinct_colours(data)
    assert colours >= MIN_COLOURS, f"{path} looks blank: {colours} distinct colours"
    return path


def distinct_colours(png: bytes) -> int:
    with Image.open(io.BytesIO(png)) as image:
        found = image.convert("RGB").getcolors(maxcolors=1 << 20)
    return len(found) if found is not None else 1 << 20
