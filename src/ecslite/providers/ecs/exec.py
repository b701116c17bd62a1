"""ECS Exec: ``ExecuteCommand`` and the sessions it opens (spec/ecs.md §11).

``ExecuteCommand`` checks ECS's preconditions in ECS's order and with its texts (§11.1), then opens a
session: an id shaped like ECS's (``ecs-execute-command-<17 hex>``), a ``streamUrl`` pointing at
ecslite's own data channel (``ws://<server>/ecs-exec/<sessionId>``, §11.4) and a one-time
``tokenValue``. The data channel (:mod:`ecslite.agent.exec_server`) takes the token from the
plugin's first frame, consumes it, and runs the command in the container.

Invariants:

- A token opens at most one channel, and only within :data:`TOKEN_TTL_SECONDS` of the call; it is
  bound to the task, the container and the command chosen here (§11.4 "one-time tokenValue bound
  to task and container"). Tokens are never logged.
- Sessions live in memory: like ECS's, they do not outlive the agent that serves them.
- The cluster's ``executeCommandConfiguration`` logging choice is resolved here, at session start,
  so a later UpdateCluster does not redirect a running session's transcript (§11.2).

Beyond ECS: every refusal keeps AWS's exact text first and then names the cause (§1.3, §11.4).
"""

from __future__ import annotations

import secrets
import shlex
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.ecs.common import EcsBase
from ecslite.providers.ecs.errors import InvalidParameterException, TargetNotConnectedException
from ecslite.store import tasks as task_store

# §11.1, exact (note the typographic apostrophe in "isn’t").
EXEC_NOT_ENABLED = (
    "The execute command failed because execute command was not enabled when the task was run or the execute "
    "command agent isn’t running. Wait and try again or run a new task with execute command enabled and try again."
)
EXEC_INTERNAL_ERROR = "The execute command failed due to an internal error. Try again later."
# §11.1 (verified in boto/boto3#2822).
INTERACTIVE_ONLY = "Interactive is the only mode supported currently."
# §11.1 (unverified): a task with several containers needs ``container``; an unknown name.
CONTAINER_REQUIRED = "Task has multiple containers, container name must be specified."
CONTAINER_UNKNOWN = "The container {name} does not exist in the task."
TASK_NOT_FOUND = "The referenced task was not found."

SESSION_PREFIX = "ecs-execute-command-"
TOKEN_TTL_SECONDS = 60.0
# §11.2: ECS Exec sessions end after 20 minutes without input or output.
IDLE_TIMEOUT_SECONDS = 20 * 60.0
EXEC_PATH = "/ecs-exec/"
AGENT_NAME = "ExecuteCommandAgent"


@dataclass(frozen=True, slots=True)
class TranscriptTarget:
    """Where a session's transcript goes (cluster ``executeCommandConfiguration``, §2.1, §11.2)."""

    log_group: str
    log_stream: str


@dataclass(slots=True)
class ExecSession:
    session_id: str
    token: str = field(repr=False)
    account: str
    region: str
    cluster_arn: str
    task_arn: str
    task_id: str
    container: str
    container_arn: str
    command: tuple[str, ...]
    created_at: float
    transcript: TranscriptTarget | None = None
    used: bool = False


class ExecSessionBook:
    """The sessions ExecuteCommand opened and not yet handed to a data channel (thread-safe)."""

    def __init__(self) -> None:
        self._sessions: dict[str, ExecSession] = {}
        self._lock = threading.Lock()
        # The ``ws://host:port`` data channels are reached at; set by the server once it is bound.
        self.stream_base: str | None = None

    def add(self, session: ExecSession) -> None:
        with self._lock:
            self._drop_expired(session.created_at)
            self._sessions[session.session_id] = session

    def claim(self, session_id: str, token: str, now: float) -> ExecSession | None:
        """The session, if ``token`` is its token, unused and fresh; it can never be claimed again."""
        with self._lock:
            self._drop_expired(now)
            session = self._sessions.get(session_id)
            if session is None or session.used or not secrets.compare_digest(session.token, token):
                return None
            session.used = True
            del self._sessions[session_id]
            return session

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if now - s.created_at > TOKEN_TTL_SECONDS]:
            del self._sessions[key]


def new_session_id() -> str:
    return SESSION_PREFIX + secrets.token_hex(9)[:17]


def split_command(command: str) -> tuple[str, ...]:
    """The argv of a ``command`` string: words as a POSIX shell splits them, without running a shell
    (the SSM agent runs the command itself; pipes need an explicit ``sh -c``)."""
    try:
        words = shlex.split(command)
    except ValueError as error:
        raise InvalidParameterException(f"The command {command!r} cannot be split into words: {error}.") from None
    if not words:
        raise InvalidParameterException("The command is empty; give a program to run, such as /bin/sh.")
    return tuple(words)


class ExecOps(EcsBase):
    @property
    def exec_sessions(self) -> ExecSessionBook:
        book: ExecSessionBook | None = self.__dict__.get("_exec_sessions")
        if book is None:
            book = ExecSessionBook()
            self.__dict__["_exec_sessions"] = book
        return book

    def execute_command(self, ctx: RequestContext, params: Params) -> dict[str, Any]:
        if not params["interactive"]:
            raise InvalidParameterException(INTERACTIVE_ONLY)
        cluster = self.get_cluster(ctx, params.get("cluster"))
        doc = self._exec_task(ctx, cluster["clusterName"], params["task"])
        task_id = doc["_spec"]["taskId"]
        if not doc.get("enableExecuteCommand"):
            raise InvalidParameterException(
                f"{EXEC_NOT_ENABLED} Task {task_id} was started without enableExecuteCommand: run a new task with "
                "--enable-execute-command (for a service: update-service --enable-execute-command "
                "--force-new-deployment)."
            )
        name = self._exec_container_name(doc, params.get("container"))
        container = next(c for c in doc["containers"] if c["name"] == name)
        self._check_agent_running(doc, container)
        spec = next(c for c in doc["_spec"]["containers"] if c["name"] == name)
        if spec.get("readonlyRootFilesystem"):
            # §2.4/§11.2: the SSM agent needs a writable root filesystem inside the container.
            raise TargetNotConnectedException(
                f"{EXEC_INTERNAL_ERROR} Container {name} has readonlyRootFilesystem set, and ECS Exec needs a "
                "writable root filesystem."
            )
        command = split_command(params["command"])
        session = ExecSession(
            session_id=new_session_id(),
            token=secrets.token_urlsafe(48),
            account=ctx.account,
            region=ctx.region,
            cluster_arn=cluster["clusterArn"],
            task_arn=doc["taskArn"],
            task_id=task_id,
            container=name,
            container_arn=container["containerArn"],
            command=command,
            created_at=self.clock.now(),
        )
        session.transcript = transcript_target(cluster, spec, session.session_id)
        self.exec_sessions.add(session)
        return {
            "clusterArn": cluster["clusterArn"],
            "containerArn": container["containerArn"],
            "containerName": name,
            "interactive": True,
            "taskArn": doc["taskArn"],
            "session": {
                "sessionId": session.session_id,
                "streamUrl": f"{self._stream_base()}{EXEC_PATH}{session.session_id}?role=publish_subscribe",
                "tokenValue": session.token,
            },
        }

    def _exec_task(self, ctx: RequestContext, cluster: str, ref: str) -> dict[str, Any]:
        task_id = self.ref_id(ctx, ref, "task", cluster=cluster, lengths=(2,))
        doc = task_store.get_by_id(self.db, ctx.account, ctx.region, cluster, task_id) if task_id else None
        if doc is None:
            raise InvalidParameterException(TASK_NOT_FOUND)
        return doc

    @staticmethod
    def _exec_container_name(doc: dict[str, Any], given: str | None) -> str:
        names = [c["name"] for c in doc["containers"]]
        if given:
            if given not in names:
                raise InvalidParameterException(
                    f"{CONTAINER_UNKNOWN.format(name=given)} The task's containers are: {', '.join(names)}."
                )
            return str(given)
        if len(names) > 1:
            raise InvalidParameterException(f"{CONTAINER_REQUIRED} The task's containers are: {', '.join(names)}.")
        return str(names[0])

    @staticmethod
    def _check_agent_running(doc: dict[str, Any], container: dict[str, Any]) -> None:
        """The exec agent runs with its container: a task or container not RUNNING has none (§11.2)."""
        task_id = doc["_spec"]["taskId"]
        agent = next((a for a in container.get("managedAgents") or () if a.get("name") == AGENT_NAME), None)
        if doc["lastStatus"] != "RUNNING" or doc["desiredStatus"] != "RUNNING":
            cause = f"Task {task_id} is {doc['lastStatus']}; " + (
                "wait until it is RUNNING." if doc["desiredStatus"] == "RUNNING" else "it has stopped or is stopping."
            )
            raise InvalidParameterException(f"{EXEC_NOT_ENABLED} {cause}")
        if container["lastStatus"] != "RUNNING" or agent is None or agent.get("lastStatus") != "RUNNING":
            raise InvalidParameterException(
                f"{EXEC_NOT_ENABLED} Container {container['name']} is {container['lastStatus']}, so its execute "
                "command agent is not running."
            )

    def _stream_base(self) -> str:
        base = self.exec_sessions.stream_base
        if base:
            return str(base)
        info = _read_endpoint(self.settings.info_file)
        host = self.settings.host if self.settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        endpoint = info or f"http://{host}:{self.settings.port}"
        return "ws://" + endpoint.split("://", 1)[-1]


def transcript_target(cluster: dict[str, Any], container: dict[str, Any], session_id: str) -> TranscriptTarget | None:
    """Where the session's transcript goes (§11.2): ``OVERRIDE`` names a log group; ``DEFAULT`` uses
    the container's ``awslogs`` group (or a group the configuration names); ``NONE`` keeps none."""
    config = (cluster.get("configuration") or {}).get("executeCommandConfiguration") or {}
    logging = config.get("logging") or "DEFAULT"
    group = (config.get("logConfiguration") or {}).get("cloudWatchLogGroupName")
    if logging == "NONE":
        return None
    if logging == "DEFAULT" and not group:
        log_config = container.get("logConfiguration") or {}
        if log_config.get("logDriver") == "awslogs":
            group = (log_config.get("options") or {}).get("awslogs-group")
    return TranscriptTarget(str(group), session_id) if group else None


def _read_endpoint(path: Path) -> str | None:
    try:
        info = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    endpoint = info.get("endpoint") if isinstance(info, dict) else None
    return str(endpoint) if endpoint else None
