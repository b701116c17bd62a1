"""The task credentials endpoint: ``GET /v2/credentials/<id>`` (spec/ecs.md §9.3).

A task with a ``taskRoleArn`` gets ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/<id>``
(the id is chosen at launch, ``_spec.credentialsId``). The answer is the role's temporary
credentials, issued through :func:`~ecslite.model.credentials.issue_role_credentials`, so requests
that the task signs with them reach ecslite as the assumed role (STS ``GetCallerIdentity`` answers
``assumed-role/<role>/<task id>``). Credentials are kept per id and issued again
:data:`REFRESH_BEFORE_SECONDS` before they expire, as the agent refreshes them; SDKs re-read the
endpoint before ``Expiration``.

The execution role is never served here (§9.3): only the ``credentialsId`` of the task role exists.

Beyond ECS, opt-in only (``ecslite server --host-credentials``): the answer carries the host's own
AWS credentials from botocore's default chain instead, for tasks that call a real AWS account. Off
by default, so a task never sees the host user's keys unless the user asked for it.

Errors use the agent's codes and texts (``agent/handlers/credentials``): ``400`` with
``{"code": "InvalidIdInRequest", "message": "CredentialsV2Request: ID not found"}`` for an id that
is not the calling task's, ``NoIdInRequest`` for none.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from ecslite.clock import Clock
from ecslite.model.credentials import Credentials, RoleNotFound, issue_role_credentials
from ecslite.store.db import Database

log = logging.getLogger(__name__)

PATH_PREFIX = "/v2/credentials/"
DURATION_SECONDS = 6 * 3600  # the task role credentials' lifetime (Fargate's are about six hours)
REFRESH_BEFORE_SECONDS = 30 * 60
NO_ID = "CredentialsV2Request: No ID in the request"
ID_NOT_FOUND = "CredentialsV2Request: ID not found"
HOST_CREDENTIALS_LIFETIME = 3600.0


@dataclass(frozen=True, slots=True)
class CredentialsAnswer:
    status: int
    body: dict[str, Any]


def error(status: int, code: str, message: str) -> CredentialsAnswer:
    return CredentialsAnswer(status, {"code": code, "message": message})


class HostCredentials:
    """The host's own credentials from botocore's default chain (``--host-credentials``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def document(self, role_arn: str) -> dict[str, str] | None:
        import botocore.session

        with self._lock:
            found = botocore.session.get_session().get_credentials()
        if found is None:
            return None
        frozen = found.get_frozen_credentials()
        expiry = getattr(found, "_expiry_time", None)
        expires_at = expiry.timestamp() if expiry is not None else time.time() + HOST_CREDENTIALS_LIFETIME
        return {
            "RoleArn": role_arn,
            "AccessKeyId": str(frozen.access_key),
            "SecretAccessKey": str(frozen.secret_key),
            "Token": frozen.token or "",
            "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at)),
        }


class TaskCredentials:
    """Issues and caches the task role credentials of every task that asks."""

    def __init__(self, db: Database, clock: Clock, *, host_credentials: bool = False) -> None:
        self.db = db
        self.clock = clock
        self.host = HostCredentials() if host_credentials else None
        self._issued: dict[str, Credentials] = {}

    def answer(self, doc: dict[str, Any] | None, credentials_id: str) -> CredentialsAnswer:
        """The answer for ``credentials_id`` asked by the task ``doc`` (``None``: the caller is no task)."""
        if not credentials_id:
            return error(400, "NoIdInRequest", NO_ID)
        spec = (doc or {}).get("_spec") or {}
        if doc is None or spec.get("credentialsId") != credentials_id or not spec.get("taskRoleArn"):
            return error(400, "InvalidIdInRequest", ID_NOT_FOUND)
        role_arn = str(spec["taskRoleArn"])
        if self.host is not None:
            document = self.host.document(role_arn)
            if document is not None:
                return CredentialsAnswer(200, document)
            log.warning("--host-credentials is on but botocore found no credentials; serving the task role's")
        try:
            credentials = self._current(credentials_id, spec)
        except RoleNotFound:
            # The agent has no credentials for a role it could not assume. Beyond ECS: say why.
            return error(
                400,
                "InvalidIdInRequest",
                f"{ID_NOT_FOUND}. The task role {role_arn} does not exist in account {spec['account']}; create it "
                "(aws iam create-role) and start a new task.",
            )
        return CredentialsAnswer(200, credentials.endpoint_document())

    def _current(self, credentials_id: str, spec: dict[str, Any]) -> Credentials:
        now = self.clock.now()
        cached = self._issued.get(credentials_id)
        if cached is not None and now < cached.expiration - REFRESH_BEFORE_SECONDS:
            return cached
        issued = issue_role_credentials(
            self.db,
            spec["account"],
            str(spec["taskRoleArn"]),
            str(spec["taskId"]),
            DURATION_SECONDS,
            region=spec.get("region"),
            clock=self.clock,
        )
        self._issued[credentials_id] = issued
        return issued

    def forget(self, credentials_id: str) -> None:
        self._issued.pop(credentials_id, None)
