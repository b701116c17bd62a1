"""What the API acknowledged survives ``kill -9``: RegisterTaskDefinition under a concurrent burst.

Each round starts the server on the same persistent data directory, lets several threads register
revisions of a few families as fast as they can, and SIGKILLs the server once a number of
registrations have been acknowledged, while the other threads are still sending. After a restart:

- every acknowledged revision exists, exactly once, with the content that was sent;
- per family the stored revisions are exactly 1..N: no gap, no duplicate. Registrations that were
  committed but never acknowledged (the response was lost with the process) may be among them.

Each request carries a unique marker, so a revision that was stored twice or swapped with another
request's content is seen as such.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import RunningServer, make_client, start_server, stop_server

FAMILIES = ("crash-a", "crash-b", "crash-c")
THREADS = 6
ROUNDS = 3
ACKS_BEFORE_KILL = (30, 45, 60)
MAX_REQUESTS_PER_THREAD = 500
BURST_SECONDS = 30.0

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Ack:
    family: str
    revision: int
    marker: str
    sent: dict[str, Any]


@dataclass
class Burst:
    """Shared state of one round's sending threads."""

    acks: list[Ack] = field(default_factory=list)
    unexpected: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)
    killing: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    target: int = 0


def definition(family: str, marker: str) -> dict[str, Any]:
    return {
        "family": family,
        "networkMode": "bridge",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "busybox:1.36",
                "memory": 64,
                "command": ["echo", marker],
                "environment": [{"name": "MARKER", "value": marker}],
            }
        ],
        "tags": [{"key": "marker", "value": marker}],
    }


def send(burst: Burst, client: Any, round_no: int, thread_no: int) -> None:
    for i in range(MAX_REQUESTS_PER_THREAD):
        if burst.stop.is_set():
            return
        family = FAMILIES[(thread_no + i) % len(FAMILIES)]
        marker = f"r{round_no}-t{thread_no}-{i}"
        body = definition(family, marker)
        try:
            answer = client.register_task_definition(**body)
        except botocore.exceptions.BotoCoreError:
            return  # the server is gone: this request was never acknowledged
        except BaseException as error:  # anything else is a wrong answer, reported by the test
            with burst.lock:
                burst.unexpected.append(error)
            return
        if "taskDefinition" not in answer:
            if burst.killing.is_set():
                # Headers arrived but the body was cut off by the kill; botocore then parses an
                # empty result. The client never saw the revision: not acknowledged.
                return
            with burst.lock:
                burst.unexpected.append(AssertionError(f"a success without taskDefinition: {answer}"))
            return
        revision = answer["taskDefinition"]["revision"]
        with burst.lock:
            burst.acks.append(Ack(family, revision, marker, body))
            if len(burst.acks) >= burst.target:
                burst.enough.set()


def contains(got: Any, sent: Any) -> bool:
    """``got`` holds everything ``sent`` did (the server may add defaults to containers)."""
    if isinstance(sent, dict):
        return isinstance(got, dict) and all(k in got and contains(got[k], v) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(got, list) and len(got) == len(sent) and all(map(contains, got, sent))
    return bool(got == sent)


def stored_revisions(server: RunningServer) -> dict[str, dict[int, dict[str, Any]]]:
    """Every stored revision per family, read through the API; asserts they are exactly 1..N."""
    ecs = make_client("ecs", server.endpoint)
    stored: dict[str, dict[int, dict[str, Any]]] = {}
    for family in FAMILIES:
        try:
            latest = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["revision"]
        except ecs.exceptions.ClientException:
            latest = 0
        revisions = {}
        for revision in range(1, latest + 1):
            answer = ecs.describe_task_definition(taskDefinition=f"{family}:{revision}", include=["TAGS"])
            revisions[revision] = {**answer["taskDefinition"], "tags": answer.get("tags", [])}
        with pytest.raises(ecs.exceptions.ClientException):
            ecs.describe_task_definition(taskDefinition=f"{family}:{latest + 1}")
        stored[family] = revisions
    return stored


def run_burst(server: RunningServer, round_no: int) -> list[Ack]:
    """Send until enough acknowledgements, then SIGKILL the server while the threads still send."""
    burst = Burst(target=ACKS_BEFORE_KILL[round_no])
    clients = [make_client("ecs", server.endpoint) for _ in range(THREADS)]
    threads = [
        threading.Thread(target=send, args=(burst, client, round_no, n), daemon=True)
        for n, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        assert burst.enough.wait(BURST_SECONDS), f"only {len(burst.acks)} acknowledgements in {BURST_SECONDS} s"
    finally:
        burst.killing.set()
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        burst.stop.set()
        deadline = time.monotonic() + 30
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a sender did not finish"
    assert not burst.unexpected, burst.unexpected
    return list(burst.acks)


def test_acknowledged_registrations_survive_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    acknowledged: list[Ack] = []
    for round_no in range(ROUNDS):
        server = start_server(data_dir, ephemeral=False)
        try:
            acknowledged += run_burst(server, round_no)
        finally:
            stop_server(server, signal.SIGKILL)

        server = start_server(data_dir, ephemeral=False)
        try:
            stored = stored_revisions(server)
        finally:
            stop_server(server)

        markers = [
            doc["containerDefinitions"][0]["environment"][0]["value"]
            for revisions in stored.values()
            for doc in revisions.values()
        ]
        assert len(markers) == len(set(markers)), "a registration was stored more than once"
        for ack in acknowledged:
            doc = stored[ack.family].get(ack.revision)
            assert doc is not None, f"acknowledged {ack.family}:{ack.revision} ({ack.marker}) is missing"
            assert doc["status"] == "ACTIVE"
            assert contains(doc, ack.sent), (ack, doc)
        assert len({(a.family, a.revision) for a in acknowledged}) == len(acknowledged)
