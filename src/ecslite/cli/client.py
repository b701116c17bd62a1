"""How the operator commands (``ps``, ``services``, ``events``, ``traces``, ``trace``, ``top``) reach
the server, and the options they share.

Everything goes over HTTP: the AWS API through botocore clients pointed at the endpoint (the same
calls a user's AWS CLI makes, with the same credentials chain, falling back to placeholder keys),
and ecslite's own routes (``/_ecslite/...``, ``/prometheus``, ``/tempo``, ``/jaeger``) through httpx.

Any failure becomes a :class:`CliError`: one line saying what went wrong (``Cannot reach ecslite at
URL: <why>`` when nothing answers there, or the error code and message the server answered), which
:func:`reporting` prints on stderr before exiting non-zero (1, or 2 for a bad option). Nothing here
prints a traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.console import Console
from rich.markup import escape

from ecslite.config import DEFAULT_ENDPOINT

UNREACHABLE = "Cannot reach ecslite at {endpoint}: {reason}. Start it with: ecslite server --detach"
NOT_ECSLITE = "Cannot reach ecslite at {endpoint}: {path} answered HTTP {status}; is this an ecslite server?"
BAD_ENDPOINT = "Invalid --endpoint '{endpoint}': give a URL such as http://localhost:4577."
DESCRIBE_TASKS_MAX = 100
DESCRIBE_SERVICES_MAX = 10
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

EndpointOpt = Annotated[str, typer.Option("--endpoint", envvar="ECSLITE_ENDPOINT", help="URL of the ecslite server.")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="Region to look at (default: the server's region).")]
ClusterOpt = Annotated[
    str | None, typer.Option("--cluster", "-c", help="Cluster name or ARN (default: every cluster).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (stable keys) instead of a table.")]

DEFAULT = DEFAULT_ENDPOINT


def server_health(endpoint: str) -> dict[str, Any] | None:
    """The server's ``/_ecslite/health`` answer, ``None`` when nothing healthy answers there."""
    try:
        response = httpx.get(f"{endpoint.rstrip('/')}/_ecslite/health", timeout=3.0)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    data: dict[str, Any] = response.json()
    return data


class CliError(Exception):
    """A problem reported in one line before exiting with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def usage_error(message: str) -> CliError:
    return CliError(message, exit_code=2)


@contextlib.contextmanager
def reporting(err: Console | None = None) -> Iterator[None]:
    """Turn a :class:`CliError` into one line on stderr and a non-zero exit; Ctrl-C exits quietly."""
    console = err or Console(stderr=True)
    try:
        yield
    except CliError as error:
        console.print(f"[red]{escape(error.message)}[/]", soft_wrap=True)
        raise typer.Exit(error.exit_code) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def parse_duration(text: str, option: str) -> float:
    """Seconds in ``30s``, ``15m``, ``1.5h``, ``2d``, ``1w`` or ``250ms``."""
    found = _DURATION.match(text.strip())
    if not found:
        raise usage_error(f"Invalid {option} value '{text}': give a duration such as 30s, 15m, 1h or 2d.")
    return float(found.group(1)) * _UNIT_SECONDS[found.group(2)]


def epoch_of(value: Any) -> float:
    """Epoch seconds of a botocore timestamp (``datetime``) or a number."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


def short_id(arn: str) -> str:
    """The last part of an ARN (a task id, a cluster or service name)."""
    return arn.rsplit("/", 1)[-1]


class Client:
    """botocore clients for the server's AWS API and an HTTP client for its own routes."""

    def __init__(self, endpoint: str, region: str | None = None, *, timeout: float = 30.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        if httpx.URL(self.endpoint).scheme not in ("http", "https") or not httpx.URL(self.endpoint).host:
            raise usage_error(BAD_ENDPOINT.format(endpoint=endpoint))
        self.http = httpx.Client(base_url=self.endpoint, timeout=httpx.Timeout(timeout, connect=5.0))
        health = self._health()
        self.region = region or str(health.get("region") or "us-east-1")
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _health(self) -> dict[str, Any]:
        """The server's health answer; anything else there is "cannot reach ecslite"."""
        path = "/_ecslite/health"
        response = self.get(path)
        try:
            health = orjson.loads(response.content) if response.status_code == 200 else None
        except orjson.JSONDecodeError:
            health = None
        if not isinstance(health, dict):
            raise CliError(NOT_ECSLITE.format(endpoint=self.endpoint, path=path, status=response.status_code))
        return health

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the AWS API --

    def aws(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                import botocore.session  # here, not at import: every ecslite command would pay for it
                from botocore.config import Config

                session = botocore.session.get_session()
                credentials = session.get_credentials()
                self._clients[service] = session.create_client(
                    service,
                    endpoint_url=self.endpoint,
                    region_name=self.region,
                    aws_access_key_id=credentials.access_key if credentials else "ecslite",
                    aws_secret_access_key=credentials.secret_key if credentials else "ecslite",
                    aws_session_token=credentials.token if credentials else None,
                    config=Config(
                        inject_host_prefix=False,
                        retries={"total_max_attempts": 2, "mode": "standard"},
                        connect_timeout=5,
                        read_timeout=30,
                    ),
                )
            return self._clients[service]

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """One API call; its errors become a :class:`CliError` ``<Code>: <message>``."""
        import botocore.exceptions

        client = self.aws(service)
        try:
            result: dict[str, Any] = getattr(client, operation)(**params)
        except botocore.exceptions.ClientError as error:
            detail = error.response.get("Error", {})
            raise CliError(f"{detail.get('Code', 'Error')}: {detail.get('Message', '')}") from None
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError):
            raise CliError(unreachable(self.endpoint, "the connection failed")) from None
        except botocore.exceptions.BotoCoreError as error:
            raise CliError(f"Cannot talk to ecslite at {self.endpoint}: {error}") from None
        return result

    def ecs(self, operation: str, **params: Any) -> dict[str, Any]:
        return self.call("ecs", operation, **params)

    def pages(self, service: str, operation: str, key: str, **params: Any) -> list[Any]:
        """Every item of a paginated list operation (following ``nextToken``)."""
        items: list[Any] = []
        while True:
            page = self.call(service, operation, **params)
            items += page.get(key) or []
            token = page.get("nextToken")
            if not token:
                return items
            params["nextToken"] = token

    # -- ECS helpers shared by the commands --

    def cluster_arns(self, cluster: str | None) -> list[str]:
        """The named cluster (which must exist), or every cluster of the region."""
        if cluster is None:
            return sorted(self.pages("ecs", "list_clusters", "clusterArns"))
        found = self.ecs("describe_clusters", clusters=[cluster])
        active = [c["clusterArn"] for c in found.get("clusters", []) if c.get("status") != "INACTIVE"]
        if not active:
            raise CliError(f"ClusterNotFoundException: Cluster not found. No cluster {cluster!r} in {self.region}.")
        return active

    def describe_tasks(self, cluster: str, arns: Sequence[str]) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        for start in range(0, len(arns), DESCRIBE_TASKS_MAX):
            chunk = list(arns[start : start + DESCRIBE_TASKS_MAX])
            tasks += self.ecs("describe_tasks", cluster=cluster, tasks=chunk)["tasks"]
        return tasks

    def tasks(self, cluster: str, *, stopped: bool, service: str | None = None) -> list[dict[str, Any]]:
        """The cluster's tasks that have not stopped (and with ``stopped`` those that have)."""
        filters: dict[str, Any] = {"cluster": cluster}
        if service:
            filters["serviceName"] = service
        arns = self.pages("ecs", "list_tasks", "taskArns", desiredStatus="RUNNING", **filters)
        arns += self.pages("ecs", "list_tasks", "taskArns", desiredStatus="STOPPED", **filters)
        tasks = self.describe_tasks(cluster, list(dict.fromkeys(arns)))
        return tasks if stopped else [t for t in tasks if t.get("lastStatus") != "STOPPED"]

    def services(self, cluster: str, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The cluster's services (ACTIVE and DRAINING, as ListServices gives them), or the named
        ones that exist in any status (a deleted service keeps its events while ECS shows it)."""
        listed = names is None
        wanted = self.pages("ecs", "list_services", "serviceArns", cluster=cluster) if listed else list(names or ())
        services: list[dict[str, Any]] = []
        for start in range(0, len(wanted), DESCRIBE_SERVICES_MAX):
            chunk = wanted[start : start + DESCRIBE_SERVICES_MAX]
            services += self.ecs("describe_services", cluster=cluster, services=chunk)["services"]
        return [s for s in services if s.get("status") != "INACTIVE"] if listed else services

    # -- ecslite's own routes --

    def get(self, path: str, params: dict[str, Any] | None = None, *, timeout: float | None = None) -> httpx.Response:
        """GET one of the server's own routes, whatever it answers; no answer is a :class:`CliError`."""
        try:
            kwargs: dict[str, Any] = {"params": params}
            if timeout is not None:
                kwargs["timeout"] = httpx.Timeout(timeout, connect=5.0)
            return self.http.get(path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise CliError(unreachable(self.endpoint, str(error) or type(error).__name__)) from None
        except httpx.HTTPError as error:
            raise CliError(f"Cannot talk to ecslite at {self.endpoint}: {error}") from None

    def get_json(self, path: str, params: dict[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """GET one of the server's own routes; an error answer becomes a :class:`CliError`."""
        response = self.get(path, params, timeout=timeout)
        if response.status_code >= 400:
            raise CliError(error_text(response))
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise CliError(f"ecslite answered {path} with something other than JSON.") from None


def unreachable(endpoint: str, reason: str) -> str:
    """The one line for a server that does not answer: ``[Errno 111] Connection refused`` becomes
    ``connection refused``."""
    text = _ERRNO.sub("", reason.strip()).rstrip(".") or "no answer"
    return UNREACHABLE.format(endpoint=endpoint, reason=text[0].lower() + text[1:])


def error_text(response: httpx.Response) -> str:
    """One line from an error answer of ecslite's own routes, whichever API shape it has."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        text = response.text.strip()
        return text or f"HTTP {response.status_code}"
    if isinstance(body, dict):
        if body.get("errors"):  # Jaeger's envelope
            return "; ".join(str(e.get("msg")) for e in body["errors"] if isinstance(e, dict))
        message = body.get("message") or body.get("error") or body.get("Message")
        code = body.get("__type") or body.get("errorType")
        if message:
            return f"{str(code).rsplit('#', 1)[-1]}: {message}" if code else str(message)
    return f"HTTP {response.status_code}: {response.text.strip()}"
