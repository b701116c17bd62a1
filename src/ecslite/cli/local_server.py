"""The server a project runs on: found or started by ``ecslite up``, checked against the project.

- **Image map.** ``up`` writes the project's ``[images]`` as a JSON image map in the project's
  ``.ecslite/images.json`` (absolute paths; the router image's ``path`` is the root of the chosen
  ``--router-config``) and starts a server with it. The server re-reads the file when it changes,
  so a later ``up`` with another router configuration only rewrites it. A server started some
  other way must map every image of the deployed task definitions exactly as the project does;
  otherwise ``up`` says so and how to restart it, instead of deploying tasks that cannot pull.
- **Prerequisites** (spec/otel-demo.md §4.1 step 1): the process runtime needs root, and the
  health checks of the task definitions run ``curl``/``wget`` on the host; what is missing is named.
- **State.** ``.ecslite/server.json`` remembers the server ``up`` started (pid, endpoint, data
  directory), so ``down --stop-server`` stops that one and never a server it did not start.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ecslite.cli.client import CliError, server_health
from ecslite.cli.project import Project, ProjectError, Service

STATE_DIR = ".ecslite"
HEALTH_TOOLS = ("curl", "wget")
START_TIMEOUT_SECONDS = 120


def state_dir(project: Project) -> Path:
    return project.directory / STATE_DIR


def generated_map(project: Project) -> Path:
    return state_dir(project) / "images.json"


def images_of(services: Sequence[Service]) -> list[str]:
    return list(dict.fromkeys(str(c["image"]) for s in services for c in s.task_definition["containerDefinitions"]))


def router_configs(project: Project) -> list[str]:
    return list(project.router.roots) if project.router else []


def project_map(project: Project, router_config: str | None) -> dict[str, dict[str, Any]]:
    """The project's ``[images]`` with absolute paths, the router's root per ``router_config``."""
    out: dict[str, dict[str, Any]] = {}
    for image, entry in project.images.items():
        item = dict(entry)
        item["path"] = str((project.directory / str(entry["path"])).resolve())
        if project.router is not None and router_config is not None and image == project.router.image:
            item["path"] = str((project.directory / project.router.roots[router_config]).resolve())
        out[image] = item
    return out


def write_map(project: Project, router_config: str | None) -> bool:
    """Write the generated image map; True when its content changed (the server re-reads it)."""
    path = generated_map(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(project_map(project, router_config), indent=2, sort_keys=True)
    if path.is_file() and path.read_text() == text:
        return False
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
    return True


# -- prerequisites ------------------------------------------------------------------------------------


def health_tools(services: Sequence[Service]) -> dict[str, list[str]]:
    """The host programs the health checks run: tool -> the containers whose check runs it."""
    found: dict[str, list[str]] = {}
    for service in services:
        for container in service.task_definition["containerDefinitions"]:
            command = " ".join((container.get("healthCheck") or {}).get("command") or [])
            for tool in HEALTH_TOOLS:
                if tool in command.split() or f"{tool} " in command:
                    found.setdefault(tool, []).append(f"{service.family}/{container['name']}")
    return found


def prerequisite_problems(services: Sequence[Service], runtime: str) -> list[str]:
    """What this host lacks to run the services on ``runtime`` (``process`` or ``auto``)."""
    if runtime == "fake":
        return []
    problems = []
    if os.geteuid() != 0:
        problems.append(
            "The process runtime runs each task in its own network namespace and cgroup, which needs root: "
            "run ecslite up with sudo (or --runtime fake to walk the ECS lifecycle without processes)."
        )
    for tool, containers in sorted(health_tools(services).items()):
        if shutil.which(tool) is None:
            problems.append(
                f"The health checks of {', '.join(containers)} run {tool}, which is not installed on this host "
                f"(apt-get install {tool})."
            )
    return problems


# -- finding, starting and checking the server ------------------------------------------------------------


def start(project: Project, endpoint: str, data_dir: Path, runtime: str, image_map: Path) -> dict[str, Any]:
    """``ecslite server --detach`` for ``endpoint`` with the project's image map and region."""
    parts = urlsplit(endpoint)
    if parts.scheme != "http" or not parts.hostname:
        raise CliError(f"Cannot start a server for {endpoint}: give an http://HOST:PORT endpoint.")
    argv = [
        sys.executable,
        "-m",
        "ecslite",
        "server",
        "--detach",
        "--host",
        parts.hostname,
        "--port",
        str(parts.port or 80),
        "--data-dir",
        str(data_dir),
        "--runtime",
        runtime,
        "--region",
        project.region,
        "--image-map",
        str(image_map),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS, check=False)
    found = server_health(endpoint)
    if result.returncode != 0 or found is None:
        output = (result.stdout + result.stderr).strip()
        raise CliError(f"ecslite server did not start at {endpoint}:\n{output}")
    record_started(project, found, endpoint)
    return found


def record_started(project: Project, found: dict[str, Any], endpoint: str) -> None:
    path = state_dir(project) / "server.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": found["pid"], "endpoint": endpoint, "dataDir": found["dataDir"]}))


def started_by_up(project: Project) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((state_dir(project) / "server.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data


def forget_started(project: Project) -> None:
    (state_dir(project) / "server.json").unlink(missing_ok=True)


def image_map_problem(
    found: dict[str, Any], endpoint: str, project: Project, services: Sequence[Service], router_config: str | None
) -> str | None:
    """Why the running server cannot run the services' images as the project maps them, or ``None``."""
    from ecslite.builtin.registry import REGISTRY, InvalidReference, parse_reference
    from ecslite.runtime.process.images import ImageMapError, load_image_map, match_entry

    if found.get("runtime") != "process":
        return None
    restart = (
        f"Restart it with the project's images: ecslite stop --endpoint {endpoint}, then ecslite up {project.directory}"
    )
    configured = found.get("imageMap")
    if configured and Path(configured) == generated_map(project):
        return None
    if not configured:
        return f"The server at {endpoint} (pid {found.get('pid')}) has no image map. {restart}"
    try:
        entries = load_image_map(Path(configured))
    except ImageMapError as error:
        return f"The server's image map cannot be read ({error}). {restart}"
    wanted = project_map(project, router_config)
    for image in images_of(services):
        try:
            reference = parse_reference(image)
        except InvalidReference as error:
            raise ProjectError(f"{project.file}: image {image!r}: {error}") from None
        if REGISTRY.lookup(reference) is not None:
            continue
        entry = match_entry(entries, reference)
        expected = _project_entry(wanted, reference)
        if entry is None:
            return f"The server's image map {configured} has no entry for {image}. {restart}"
        if expected is not None and entry.path != Path(expected["path"]):
            return (
                f"The server's image map {configured} runs {image} from {entry.path}, the project from "
                f"{expected['path']}"
                + (f" (--router-config {router_config})" if router_config else "")
                + f". {restart}"
            )
    return None


def _project_entry(wanted: dict[str, dict[str, Any]], reference: Any) -> dict[str, Any] | None:
    from ecslite.builtin.registry import parse_reference
    from ecslite.runtime.process.images import ImageMapEntry, match_entry

    entries = [ImageMapEntry(image=k, reference=parse_reference(k), path=Path(v["path"])) for k, v in wanted.items()]
    entry = match_entry(entries, reference)
    return wanted[entry.image] if entry is not None else None
