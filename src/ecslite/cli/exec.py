"""``ecslite exec TASK [--container C] [--] CMD...``: ECS Exec from this terminal (spec/ecs.md §11.4).

It calls ``ExecuteCommand`` on the server like ``aws ecs execute-command`` does, then speaks the
Session Manager data channel (:mod:`ecslite.agent.ssm_messages`) on the returned ``streamUrl`` as the
``session-manager-plugin`` does: the token in the first frame, the handshake, keystrokes as
``input_stream_data``, output written as it arrives, every message acknowledged, terminal sizes sent
at the start and on every ``SIGWINCH``. On a terminal, the local terminal is put in raw mode for the
session (keys go to the command, which echoes them) and restored afterwards.

Unlike the plugin, ``ecslite exec`` exits with the command's exit code: it announces itself as an
``ecslite`` client and the server sends the code before closing the channel.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import termios
import threading
import tty
import uuid
from collections.abc import Callable
from typing import Annotated, Any, BinaryIO

import typer

from ecslite import __version__
from ecslite.agent import ssm_messages as ssm
from ecslite.config import DEFAULT_ENDPOINT

CLIENT_VERSION = f"ecslite/{__version__}"
EXIT_UNAVAILABLE = 255  # what the AWS CLI returns when the call itself fails


class SessionClient:
    """The plugin side of one data channel session, on a synchronous WebSocket."""

    def __init__(self, websocket: Any, stdout: BinaryIO, *, on_error: Callable[[str], None]) -> None:
        self.websocket = websocket
        self.stdout = stdout
        self.on_error = on_error
        self.exit_code: int | None = None
        self.closed_output = ""
        self.ready = threading.Event()
        self.finished = threading.Event()
        self._send_lock = threading.Lock()
        self._next_out = 0
        self._next_in = 0
        self._early: dict[int, ssm.AgentMessage] = {}

    def open(self, token: str) -> None:
        self.websocket.send(ssm.open_data_channel(token, str(uuid.uuid4()), CLIENT_VERSION))

    def send_input(self, payload_type: int, payload: bytes) -> None:
        with self._send_lock:
            message = ssm.stream_message(ssm.INPUT_STREAM, self._next_out, payload_type, payload)
            self._next_out += 1
            self.websocket.send(message.encode())

    def send_size(self, rows: int, cols: int) -> None:
        self.send_input(ssm.PayloadType.SIZE, ssm.size_payload(cols, rows))

    def _ack(self, message: ssm.AgentMessage) -> None:
        with self._send_lock:
            self.websocket.send(ssm.acknowledgement(message).encode())

    def run(self) -> None:
        """Receive until the channel closes (``channel_closed`` or the socket's end)."""
        try:
            for frame in self.websocket:
                if isinstance(frame, str):
                    continue
                message = ssm.decode(frame)
                if message.message_type == ssm.CHANNEL_CLOSED:
                    with contextlib.suppress(Exception):
                        self.closed_output = str(message.json().get("Output") or "")
                    break
                if message.message_type == ssm.OUTPUT_STREAM:
                    self._on_stream(message)
        finally:
            self.finished.set()

    def _on_stream(self, message: ssm.AgentMessage) -> None:
        self._ack(message)
        if message.sequence_number < self._next_in:
            return
        self._early[message.sequence_number] = message
        while self._next_in in self._early:
            self._handle(self._early.pop(self._next_in))
            self._next_in += 1

    def _handle(self, message: ssm.AgentMessage) -> None:
        kind = message.payload_type
        if kind == ssm.PayloadType.HANDSHAKE_REQUEST:
            request = message.json()
            processed = [
                {"ActionType": action.get("ActionType"), "ActionStatus": 1}
                for action in request.get("RequestedClientActions") or ()
            ]
            self.send_input(ssm.PayloadType.HANDSHAKE_RESPONSE, ssm.handshake_response(CLIENT_VERSION, processed))
        elif kind == ssm.PayloadType.HANDSHAKE_COMPLETE:
            self.ready.set()
        elif kind in (ssm.PayloadType.OUTPUT, ssm.PayloadType.STDERR):
            self.stdout.write(message.payload)
            self.stdout.flush()
        elif kind == ssm.PayloadType.EXIT_CODE:
            with contextlib.suppress(ValueError):
                self.exit_code = int(message.payload.decode().strip())


def _terminal_size() -> tuple[int, int]:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        return 24, 80
    return size.lines, size.columns


def _pump_stdin(client: SessionClient) -> None:
    fd = sys.stdin.fileno()
    while not client.finished.is_set():
        try:
            data = os.read(fd, 1024)
        except OSError:
            return
        if not data:
            return  # stdin ended: the command keeps its terminal and ends on its own
        try:
            client.send_input(ssm.PayloadType.OUTPUT, data)
        except Exception:
            return


def run_session(stream_url: str, token: str) -> int:
    """Attach this terminal to the session; the command's exit code."""
    from websockets.sync.client import connect

    interactive = sys.stdin.isatty()
    saved = termios.tcgetattr(sys.stdin.fileno()) if interactive else None
    with connect(stream_url, max_size=None, open_timeout=10) as websocket:
        client = SessionClient(websocket, sys.stdout.buffer, on_error=lambda text: print(text, file=sys.stderr))
        client.open(token)
        receiver = threading.Thread(target=client.run, name="ecslite-exec-receive", daemon=True)
        receiver.start()
        previous = signal.getsignal(signal.SIGWINCH)
        try:
            while not client.ready.wait(0.1):
                if client.finished.is_set():
                    break
            if client.ready.is_set():
                if saved is not None:
                    tty.setraw(sys.stdin.fileno())
                client.send_size(*_terminal_size())
                signal.signal(signal.SIGWINCH, lambda *_: client.send_size(*_terminal_size()))
                threading.Thread(target=_pump_stdin, args=(client,), name="ecslite-exec-stdin", daemon=True).start()
            while not client.finished.wait(0.2):
                pass
        finally:
            signal.signal(signal.SIGWINCH, previous)
            if saved is not None:
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
    if client.closed_output:
        print(client.closed_output, file=sys.stderr)
    if client.exit_code is not None:
        return client.exit_code
    return 1 if client.closed_output else 0


def exec_command(
    task: Annotated[str, typer.Argument(help="Task id or ARN.")],
    command: Annotated[list[str], typer.Argument(help="The command and its arguments (after --).")],
    container: Annotated[
        str | None, typer.Option("--container", "-c", help="Container name; needed when the task has several.")
    ] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="Cluster name or ARN (default: default).")] = None,
    endpoint: Annotated[
        str, typer.Option("--endpoint", envvar="ECSLITE_ENDPOINT", help="URL of the ecslite server.")
    ] = DEFAULT_ENDPOINT,
    region: Annotated[str | None, typer.Option("--region", envvar="AWS_DEFAULT_REGION", help="Region.")] = None,
) -> None:
    """Run a command in a task's container with this terminal attached (ECS Exec)."""
    import botocore.exceptions
    import botocore.session
    from botocore.config import Config

    client: Any = botocore.session.get_session().create_client(
        "ecs",
        endpoint_url=endpoint,
        region_name=region or "us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "ecslite"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "ecslite"),
        config=Config(retries={"max_attempts": 1}),
    )
    request: dict[str, Any] = {"task": task, "command": shlex.join(command), "interactive": True}
    if container:
        request["container"] = container
    if cluster:
        request["cluster"] = cluster
    try:
        session = client.execute_command(**request)["session"]
    except botocore.exceptions.ClientError as failed:
        error = failed.response["Error"]
        print(f"An error occurred ({error['Code']}): {error['Message']}", file=sys.stderr)
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    except botocore.exceptions.EndpointConnectionError:
        print(f"ecslite is not running at {endpoint}. Start it with: ecslite server --detach", file=sys.stderr)
        raise typer.Exit(EXIT_UNAVAILABLE) from None
    raise typer.Exit(run_session(session["streamUrl"], session["tokenValue"]))


def register(app: typer.Typer) -> None:
    app.command(
        name="exec",
        help="Run a command in a task's container with this terminal attached (ECS Exec). Put the command "
        "after -- when it has options of its own: ecslite exec TASK --container app -- sh -c 'ls -l'.",
    )(exec_command)
