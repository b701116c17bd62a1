"""The ``fluent-bit`` process: which configuration to read, start-up checks, run until SIGTERM.

Configuration, first found:

1. A FireLens router (the gateway's context has ``firelens``): the configuration ECS generates
   (ecs.md §10.3), which ``@INCLUDE``\\ s the ``config-file-value`` file of the image.
2. ``-c FILE`` / ``--config FILE`` (an image path, see :func:`~.config.image_path`).
3. The image's ``/fluent-bit/etc/fluent-bit.conf`` (ECSLITE_IMAGE_ROOT first).
4. ecslite's default for the images: a ``forward`` input on 24224 and a ``stdout`` output.

Start-up checks (§6.5): two ``forward`` inputs on one TCP port would fail to bind in Fluent Bit;
here the later one (the custom configuration's, which ``@INCLUDE`` brings after the generated
inputs) keeps the port and the earlier one is dropped with a warning, so the FireLens feed stays
on its unix socket. Every warning is printed as Fluent Bit prints its log lines and sent to
ecslite as a diagnostic of the task.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ecslite.builtin.fluentbit import config as fbconfig
from ecslite.builtin.fluentbit.engine import Engine
from ecslite.builtin.fluentbit.filters import FILTERS
from ecslite.builtin.fluentbit.inputs import INPUTS
from ecslite.builtin.fluentbit.monitor import VERSION, Monitor
from ecslite.builtin.fluentbit.outputs import OUTPUTS
from ecslite.builtin.http import HttpServer
from ecslite.builtin.tap import Tap

IMAGE_CONFIG = "/fluent-bit/etc/fluent-bit.conf"
DEFAULT_CONFIG = """\
[SERVICE]
    Flush     1
[INPUT]
    Name      forward
    Listen    0.0.0.0
    Port      24224
[OUTPUT]
    Name      stdout
    Match     *
"""
STRICT_ROUTES_VARIABLE = "ECSLITE_FLUENTBIT_STRICT_ROUTES"


def _log_line(level: str, component: str, message: str) -> str:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S")
    return f"[{stamp}] [{level:>5}] [{component}] {message}"


class _FluentBitFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = {"WARNING": "warn", "ERROR": "error", "CRITICAL": "error"}.get(record.levelname, "info")
        return _log_line(level, "ecslite", record.getMessage())


def read_config(args: argparse.Namespace, context: dict[str, Any] | None) -> fbconfig.Config:
    firelens = (context or {}).get("firelens")
    if firelens and firelens.get("config"):
        base = Path(fbconfig.image_path("/fluent-bit/etc"))
        return fbconfig.loads(firelens["config"], name="fluent-bit.conf", base=base)
    if args.config:
        return fbconfig.load(fbconfig.image_path(args.config))
    image = fbconfig.image_path(IMAGE_CONFIG)
    if image.exists():
        return fbconfig.load(image)
    return fbconfig.loads(DEFAULT_CONFIG, name="default.conf")


def resolve_port_conflicts(config: fbconfig.Config) -> None:
    """§6.5 row 2: the last forward input on a TCP port keeps it; earlier ones are dropped."""
    owners: dict[int, fbconfig.Section] = {}
    for section in config.inputs:
        if section.name != "forward" or section.get("unix_path"):
            continue
        try:
            port = int(section.get("port") or 24224)
        except ValueError:
            continue
        earlier = owners.get(port)
        if earlier is not None:
            config.inputs.remove(earlier)
            tag = section.get("tag")
            config.warn(
                f"two forward inputs listen on TCP {port} ({earlier.source} and {section.source}); Fluent Bit would "
                f"fail to bind the second. The later one keeps the port"
                + (f" and its Tag {tag} applies to everything arriving over TCP" if tag else "")
                + "; FireLens container logs keep arriving on the unix socket"
            )
        owners[port] = section


async def run(args: argparse.Namespace) -> int:
    tap = Tap()
    context = await asyncio.to_thread(tap.context)
    try:
        config = read_config(args, context)
    except fbconfig.ConfigError as error:
        print(_log_line("error", "config", str(error)), file=sys.stderr, flush=True)
        await _diagnose(tap, context, [f"configuration error: {error}"])
        return 1
    resolve_port_conflicts(config)
    warnings: list[str] = []
    engine = Engine(
        config,
        inputs=INPUTS,  # type: ignore[arg-type]
        filters=FILTERS,  # type: ignore[arg-type]
        outputs=OUTPUTS,  # type: ignore[arg-type]
        on_warning=warnings.append,
        context=context,
        tap=tap,
    )
    print(f"Fluent Bit v{VERSION} (ecslite built-in)", flush=True)
    monitor_server = None
    try:
        await engine.start()
        service = config.service
        if service.flag("http_server"):
            monitor = Monitor(engine, strict_routes=os.environ.get(STRICT_ROUTES_VARIABLE) == "1")
            monitor_server = HttpServer(monitor.handle)
            host = (service.get("http_listen") or "0.0.0.0").strip()
            port = int(service.get("http_port") or 2020)
            await monitor_server.listen(host, port)
            print(_log_line("info", "http_server", f"listen iface={host} tcp_port={port}"), flush=True)
    except OSError as error:
        print(_log_line("error", "engine", f"could not start: {error}"), file=sys.stderr, flush=True)
        await _diagnose(tap, context, [*warnings, f"could not start: {error}"])
        await engine.stop()
        return 1
    print(_log_line("info", "engine", f"started (pid={os.getpid()})"), flush=True)
    await _diagnose(tap, context, warnings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    sent = len(warnings)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5.0)
        if len(warnings) > sent:
            await _diagnose(tap, context, warnings[sent:])
            sent = len(warnings)
    print(_log_line("info", "engine", "service has stopped (0 pending tasks)"), flush=True)
    if monitor_server is not None:
        monitor_server.close()
    await engine.stop()
    await tap.close()
    return 0


async def _diagnose(tap: Tap, context: dict[str, Any] | None, messages: list[str]) -> None:
    if messages and context is not None:
        await tap.post_json("/v1/diagnostics", {"container": context.get("container"), "messages": messages})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fluent-bit", description="ecslite's built-in Fluent Bit")
    parser.add_argument("-c", "--config", help="configuration file (classic or YAML)")
    parser.add_argument("-q", "--quiet", action="store_true")
    args, _unknown = parser.parse_known_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_FluentBitFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        import uvloop

        return uvloop.run(run(args))
    except ImportError:
        return asyncio.run(run(args))
