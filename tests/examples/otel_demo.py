"""Helpers for the tests of ``examples/otel-demo``: the services' virtualenvs and their processes.

Virtualenvs are built once per requirements file and kept in a cache keyed by the file's hash and
the Python version (``$ECSLITE_VENV_CACHE``, else ``$XDG_CACHE_HOME/ecslite/venvs``, else
``~/.cache/ecslite/venvs``), as ``ecslite up`` keeps them: ``<service>-<hash>/`` with a ``.complete``
marker written last, built under a file lock so parallel test workers build each one once. The
example's ``.venvs/<service>`` links point at them, which is what the image map's interpreters use.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import tomllib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ecslite.cli import envs
from ecslite.cli.envs import cache_root, venv_key

__all__ = ["cache_root", "venv_key"]  # the cache of ecslite up, also used by the example's tests

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "otel-demo"
PROJECT_FILE = EXAMPLE / "ecslite.toml"
SERVICES = ("orders", "inventory", "pricing", "notifications", "loadgen")


def project() -> dict[str, Any]:
    with PROJECT_FILE.open("rb") as handle:
        return tomllib.load(handle)


def ensure_venv(service: str) -> Path:
    """The cached virtualenv of ``service``, built when missing; the example's link points at it
    (``ecslite up``'s own cache, :mod:`ecslite.cli.envs`)."""
    requirements = EXAMPLE / project()["environments"][service]["requirements"]
    return envs.ensure_venv(service, requirements, EXAMPLE).path


@dataclass
class ServiceProcess:
    """One demo service run on the host, its stdout/stderr captured in a file."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    extra_ports: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lines(self) -> list[dict[str, Any]]:
        """The JSON lines the service wrote so far (other lines are skipped)."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                document = json.loads(line)
                if isinstance(document, dict):
                    out.append(document)
        return out

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        return int(self.process.returncode)


def start_service(
    service: str, port: int, environment: Mapping[str, str], log_dir: Path, health_path: str = "/health"
) -> ServiceProcess:
    """``python -m services.<service>`` with its cached interpreter, waiting until ``health_path`` answers."""
    interpreter = ensure_venv(service) / "bin" / "python"
    log_path = log_dir / f"{service}-{port}.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONUNBUFFERED": "1",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **environment,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(interpreter), "-m", f"services.{service}"],
            cwd=EXAMPLE,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    running = ServiceProcess(service, port, process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{service} exited with {process.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{running.url}{health_path}", timeout=2).status_code == 200:
                return running
        time.sleep(0.1)
    running.stop()
    raise RuntimeError(f"{service} did not answer {health_path} within 60 s:\n{log_path.read_text()}")


def eventually(probe: Callable[[], Any], timeout: float = 20.0, interval: float = 0.2) -> Any:
    """``probe()``'s first truthy value within ``timeout`` (its last value otherwise)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(interval)


def spans_of(tempo_trace: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The spans of a Tempo ``/api/traces/<id>`` answer, each with its ``service`` added."""
    out = []
    for batch in tempo_trace.get("batches", []):
        attributes = {a["key"]: a["value"] for a in batch["resource"]["attributes"]}
        service = attributes.get("service.name", {}).get("stringValue", "")
        for scope in batch.get("scopeSpans", []):
            for span in scope.get("spans", []):
                out.append({**span, "service": service, "scope": scope["scope"]["name"]})
    return out


def read_trace(
    server_url: str,
    trace_id: str,
    services: int,
    timeout: float = 30.0,
    server_spans: Collection[tuple[str, str]] = (),
    including: Collection[str] = (),
) -> list[dict[str, Any]]:
    """The spans of a trace (Tempo API) once spans of ``services`` services, among them those named in
    ``including``, and every (service, name) SERVER span of ``server_spans`` have arrived; fails otherwise.

    Each service exports its own batches, and a service's SERVER span ends after its other spans of the
    request, so it may travel in a later batch than theirs: a test that reads a service's spans waits
    for that service's SERVER span."""

    def spans() -> list[dict[str, Any]]:
        response = httpx.get(f"{server_url}/tempo/api/traces/{trace_id}", timeout=10)
        return spans_of(response.json()) if response.status_code == 200 else []

    def complete() -> list[dict[str, Any]]:
        current = spans()
        servers = {(s["service"], s["name"]) for s in current if s["kind"] == "SPAN_KIND_SERVER"}
        if not servers >= set(server_spans):
            return []
        seen = {s["service"] for s in current}
        return current if len(seen) >= services and seen >= set(including) else []

    found: list[dict[str, Any]] = eventually(complete, timeout=timeout)
    if not found:
        seen = sorted({(s["service"], s["kind"], s["name"]) for s in spans()})
        raise AssertionError(f"trace {trace_id} did not reach ecslite with {services} services; spans seen: {seen}")
    return found


def span_attributes(span: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attribute in span.get("attributes", []):
        value = attribute["value"]
        out[attribute["key"]] = next(iter(value.values())) if value else None
    return out


@contextlib.contextmanager
def services_running(
    specs: Mapping[str, Mapping[str, str]], log_dir: Path, ports: Mapping[str, int]
) -> Iterator[dict[str, ServiceProcess]]:
    running: dict[str, ServiceProcess] = {}
    try:
        for service, environment in specs.items():
            health = "/metrics" if service == "loadgen" else "/health"
            running[service] = start_service(service, ports[service], environment, log_dir, health)
        yield running
    finally:
        for process in running.values():
            process.stop()
