"""Where OTLP is received: host listeners on 127.0.0.1 and each task's implicit ``localhost:4317/4318``
(spec/telemetry.md §0, §1.2).

- Host listeners (``--otlp-grpc-port``, ``--otlp-http-port``; 0 turns one off) are bound when the
  server is built, so a busy port stops the server with :class:`ReceiverPortBusy` before anything
  else starts.
- Task listeners: when :class:`~ecslite.telemetry.enrich.TaskOwners` announces a task with a
  network namespace, a short-lived thread enters the namespace (``setns`` is per thread), binds
  ``127.0.0.1`` and ``::1`` on 4317 and 4318 and hands the listening sockets to the event loop; one
  server process so serves every task without a process per task. A port a container declares
  is never taken, and a task that runs its own collector image gets none (§0). The listeners close
  when the task goes away.
- Every listener speaks both transports on its port (:mod:`.otlp_http` sniffs).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import socket
import threading
from collections.abc import Callable

from ecslite.telemetry.enrich import TaskOwner, TaskOwners
from ecslite.telemetry.pipeline import Pipeline
from ecslite.telemetry.receivers.otlp_grpc import GrpcBackend
from ecslite.telemetry.receivers.otlp_http import OtlpConnection

log = logging.getLogger(__name__)

TASK_PORTS = (4317, 4318)
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


class ReceiverPortBusy(Exception):
    """A host receiver's port is taken; the message says which and what to do."""


def bind_host(port: int, what: str, option: str, host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ReceiverPortBusy(
            f"Cannot listen for {what} on {host}:{port}: {error.strerror or error}. Another collector or ecslite "
            f"server holds it; pass {option} with another port, or {option} 0 to turn this receiver off."
        ) from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def bind_in_namespace(netns_path: str, ports: tuple[int, ...]) -> list[socket.socket]:
    """Listening sockets on 127.0.0.1 and ::1 inside the namespace, made on a throwaway thread."""
    result: list[socket.socket] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, f"setns({netns_path}): {os.strerror(code)}")
            finally:
                os.close(fd)
            for port in ports:
                for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                    sock = socket.socket(family, socket.SOCK_STREAM)
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        if family == socket.AF_INET6:
                            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                        sock.bind((address, port))
                        sock.listen(256)
                        sock.setblocking(False)
                        result.append(sock)
                    except OSError as error:
                        sock.close()
                        if family == socket.AF_INET:
                            log.warning(
                                "implicit OTLP receiver not started in task namespace",
                                extra={"netns": netns_path, "port": port, "error": str(error)},
                            )
        except BaseException as error:
            failure.append(error)

    # The thread ends inside the task's namespace; it never serves anything else.
    thread = threading.Thread(target=work, name="otlp-netns-bind", daemon=True)
    thread.start()
    thread.join()
    if failure:
        for sock in result:
            sock.close()
        raise failure[0]
    return result


class OtlpReceivers:
    """The host listeners and the per-task listeners; a server component."""

    name = "otlp-receivers"

    def __init__(
        self,
        pipeline: Pipeline,
        owners: TaskOwners,
        *,
        grpc_port: int = 4317,
        http_port: int = 4318,
        implicit: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.pipeline = pipeline
        self.owners = owners
        self.implicit = implicit
        self.grpc = GrpcBackend(pipeline)
        self._host_sockets: list[socket.socket] = []
        try:
            if grpc_port:
                self._host_sockets.append(bind_host(grpc_port, "OTLP/gRPC", "--otlp-grpc-port", host))
            if http_port and http_port != grpc_port:
                self._host_sockets.append(bind_host(http_port, "OTLP/HTTP", "--otlp-http-port", host))
        except ReceiverPortBusy:
            for sock in self._host_sockets:
                sock.close()
            self.grpc.close(0)
            raise
        self._servers: list[asyncio.Server] = []
        self._task_servers: dict[str, list[asyncio.Server]] = {}
        self._refs: dict[str, _OwnerRef] = {}
        self._task_locks: dict[str, asyncio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[None]] = set()
        owners.subscribe(self._on_owner)

    @property
    def host_ports(self) -> list[int]:
        return [s.getsockname()[1] for s in self._host_sockets]

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for sock in self._host_sockets:
            server = await self._loop.create_server(self._factory(None), sock=sock)
            self._servers.append(server)
        for arn, owner in self.owners.all().items():
            self._on_owner(arn, owner)

    async def stop(self) -> None:
        for task in list(self._background):
            task.cancel()
        for server in self._servers:
            server.close()
        for servers in self._task_servers.values():
            for server in servers:
                server.close()
        self._task_servers.clear()
        await asyncio.to_thread(self.grpc.close)

    def task_ports(self, task_arn: str) -> list[tuple[str, int]]:
        return [s.getsockname()[:2] for srv in self._task_servers.get(task_arn, []) for s in srv.sockets]

    def _factory(self, owner: TaskOwner | None) -> Callable[[], OtlpConnection]:
        pipeline, backend = self.pipeline, self.grpc
        return lambda: OtlpConnection(pipeline, backend, owner)

    # -- task listeners -----------------------------------------------------------------------------

    def _on_owner(self, task_arn: str, owner: TaskOwner | None) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._schedule, task_arn, owner)

    def _schedule(self, task_arn: str, owner: TaskOwner | None) -> None:
        task = asyncio.get_running_loop().create_task(self._reconcile_task(task_arn, owner))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reconcile_task(self, task_arn: str, owner: TaskOwner | None) -> None:
        lock = self._task_locks.setdefault(task_arn, asyncio.Lock())
        async with lock:
            wanted = owner is not None and self.implicit and owner.netns_path is not None and not owner.has_collector
            current = self._task_servers.get(task_arn)
            if not wanted:
                for server in self._task_servers.pop(task_arn, []):
                    server.close()
                self._refs.pop(task_arn, None)
                if owner is None:
                    self._task_locks.pop(task_arn, None)
                return
            assert owner is not None and owner.netns_path is not None
            if current is not None:
                # The owner changed (containers, addresses): listeners stay, new connections see the new owner.
                self._refs[task_arn].owner = owner
                return
            ports = tuple(p for p in TASK_PORTS if p not in owner.declared_ports)
            if not ports:
                return
            try:
                sockets = await asyncio.to_thread(bind_in_namespace, owner.netns_path, ports)
            except OSError as error:
                log.warning(
                    "implicit OTLP receivers unavailable for task", extra={"task": task_arn, "error": str(error)}
                )
                return
            holder = _OwnerRef(owner)
            servers = []
            for sock in sockets:
                servers.append(await asyncio.get_running_loop().create_server(holder.factory(self), sock=sock))
            self._task_servers[task_arn] = servers
            self._refs[task_arn] = holder


class _OwnerRef:
    """The current owner of a task's listeners (updated when the task's metadata changes)."""

    def __init__(self, owner: TaskOwner) -> None:
        self.owner = owner

    def factory(self, receivers: OtlpReceivers) -> Callable[[], OtlpConnection]:
        return lambda: OtlpConnection(receivers.pipeline, receivers.grpc, self.owner)
