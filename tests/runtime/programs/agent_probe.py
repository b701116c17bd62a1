"""Ask the ECS agent endpoint what a task sees of itself, and serve the answers on a port.

python3 agent_probe.py PORT

``GET /probe`` reads ``$ECS_CONTAINER_METADATA_URI_V4`` (the container, ``/task``, ``/stats``,
``/task/stats``) and v3's ``/task``, then lets boto3's default chain fetch the task role's credentials
and calls STS ``GetCallerIdentity`` at ``http://169.254.170.2`` (ecslite's API as tasks reach it).
``GET /other?token=T&credentials=C`` asks for another task's metadata and credentials and reports the
status codes and bodies. ``GET /env`` shows the environment. Stops promptly on SIGTERM (as PID 1
without a handler it would wait out the task's 30 s stop timeout).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

AGENT = "http://169.254.170.2"


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def probe() -> dict[str, Any]:
    import boto3

    uri = os.environ["ECS_CONTAINER_METADATA_URI_V4"]
    answers: dict[str, Any] = {}
    for key, url in {
        "container": uri,
        "task": f"{uri}/task",
        "taskWithTags": f"{uri}/taskWithTags",
        "stats": f"{uri}/stats",
        "taskStats": f"{uri}/task/stats",
        "v3task": f"{os.environ['ECS_CONTAINER_METADATA_URI']}/task",
    }.items():
        answers[key] = get(url)
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"))
    credentials = session.get_credentials()
    answers["credentialsMethod"] = credentials.method if credentials else None
    sts = session.client("sts", endpoint_url=AGENT)
    answers["identity"] = {k: v for k, v in sts.get_caller_identity().items() if k != "ResponseMetadata"}
    return answers


def other(query: dict[str, list[str]]) -> dict[str, Any]:
    token = query.get("token", [""])[0]
    credentials = query.get("credentials", [""])[0]
    return {
        "metadata": get(f"{AGENT}/v4/{token}"),
        "task": get(f"{AGENT}/v4/{token}/task"),
        "v3": get(f"{AGENT}/v3/{token}/task"),
        "credentials": get(f"{AGENT}/v2/credentials/{credentials}"),
    }


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        try:
            if url.path == "/probe":
                body: Any = probe()
            elif url.path == "/other":
                body = other(urllib.parse.parse_qs(url.query))
            elif url.path == "/env":
                body = dict(os.environ)
            else:
                self.send_error(404)
                return
            status = 200
        except Exception as error:  # reported to the test, which shows it
            status, body = 500, {"error": f"{type(error).__name__}: {error}"}
        data = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
