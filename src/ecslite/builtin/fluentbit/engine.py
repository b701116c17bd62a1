"""The router's core: chunks, plugin instances with Fluent Bit's counters, tag routing, filters,
buffered outputs with retries, the per-second metrics snapshot and the health window
(spec/telemetry.md §5, §6.1).

- Instances are named as Fluent Bit names them: the ``Alias``, else ``<plugin>.<n>`` where ``n``
  counts the instances of that kind (inputs, filters, outputs) in configuration order.
- ``Match`` is a wildcard pattern over the whole tag (``*`` matches any characters, dots
  included); ``Match_Regex`` a regular expression. Filters apply to log records only, as Fluent
  Bit's filters do; traces and metrics pass them unchanged.
- Outputs are flushed every ``Flush`` seconds. A flush that fails with a retryable error is tried
  again after a random wait in ``[scheduler.base, min(scheduler.cap, base × 2^n)]``, at most
  ``Retry_Limit`` times (default 1; ``no_limits``/``false``/``off`` unlimited, ``no_retries``
  none); then the chunk is dropped and ``retries_failed`` counted. A final error counts ``errors``.
- Health (§5): with ``Health_Check On`` every snapshot's summed ``errors`` and
  ``retries_failed`` are kept for ``HC_Period`` seconds; unhealthy when either grew by more than
  ``HC_Errors_Count`` / ``HC_Retry_Failure_Count`` over the window.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import random
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ecslite.builtin.fluentbit.config import Config, Section
from ecslite.builtin.tap import Tap

log = logging.getLogger("ecslite.builtin.fluentbit")

LOGS = "logs"
TRACES = "traces"
METRICS = "metrics"
DEFAULT_RETRY_LIMIT = 1
UNLIMITED = -1


@dataclass(slots=True)
class Chunk:
    """Records of one tag and one signal on their way through the router."""

    tag: str
    kind: str  # logs | traces | metrics
    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # logs: (time ns, record)
    payload: bytes = b""  # traces, metrics (and OTLP logs): the OTLP Export*ServiceRequest protobuf
    count: int = 0
    size: int = 0

    def __post_init__(self) -> None:
        if not self.count:
            self.count = len(self.records)


class Result(Enum):
    OK = "ok"
    RETRY = "retry"
    ERROR = "error"


def tag_pattern(match: str | None, match_regex: str | None) -> Callable[[str], bool]:
    if match_regex:
        regex = re.compile(match_regex)
        return lambda tag: regex.fullmatch(tag) is not None
    if match is None:
        return lambda tag: False
    regex = re.compile(fnmatch.translate(match.strip()))
    return lambda tag: regex.fullmatch(tag) is not None


def retry_limit(value: str | None) -> int:
    if value is None or not value.strip():
        return DEFAULT_RETRY_LIMIT
    text = value.strip().lower()
    if text in ("no_limits", "false", "off", "unlimited"):
        return UNLIMITED
    if text == "no_retries":
        return 0
    try:
        return max(0, int(text))
    except ValueError:
        return DEFAULT_RETRY_LIMIT


class Plugin:
    """A configured instance; subclasses are inputs, filters and outputs."""

    kind = "plugin"

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        self.section = section
        self.plugin = section.name
        self.name = section.get("alias") or name
        self.engine = engine

    def warn(self, message: str) -> None:
        self.engine.warn(f"[{self.kind} {self.name}] {message}")


class Input(Plugin):
    kind = "input"

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.records = 0
        self.bytes = 0
        self.tag = section.get("tag")

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def emit(self, chunk: Chunk) -> None:
        """Hand a chunk to the router (on the event loop)."""
        self.engine.dispatch(self, chunk)

    def counters(self) -> dict[str, int]:
        return {"records": self.records, "bytes": self.bytes}


class Filter(Plugin):
    kind = "filter"

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.matches = tag_pattern(section.get("match"), section.get("match_regex"))
        self.records = self.bytes = self.add_records = self.drop_records = self.drop_bytes = 0

    def apply(self, tag: str, records: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
        return records

    def counters(self) -> dict[str, int]:
        return {
            "drop_records": self.drop_records,
            "add_records": self.add_records,
            "records": self.records,
            "bytes": self.bytes,
            "drop_bytes": self.drop_bytes,
        }


class Output(Plugin):
    kind = "output"
    signals: tuple[str, ...] = (LOGS,)

    def __init__(self, section: Section, name: str, engine: Engine) -> None:
        super().__init__(section, name, engine)
        self.matches = tag_pattern(section.get("match"), section.get("match_regex"))
        self.retry_limit = retry_limit(section.get("retry_limit"))
        self.proc_records = self.proc_bytes = self.errors = self.retries = 0
        self.retries_failed = self.dropped_records = self.retried_records = 0
        self.matched = 0
        self.buffer: list[Chunk] = []

    def accepts(self, kind: str) -> bool:
        return kind in self.signals

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def flush(self, chunks: Sequence[Chunk]) -> Result:
        return Result.OK

    def counters(self) -> dict[str, int]:
        return {
            "proc_records": self.proc_records,
            "proc_bytes": self.proc_bytes,
            "errors": self.errors,
            "retries": self.retries,
            "retries_failed": self.retries_failed,
            "dropped_records": self.dropped_records,
            "retried_records": self.retried_records,
        }


@dataclass(slots=True)
class _Pending:
    output: Output
    chunks: list[Chunk]
    attempt: int = 0

    @property
    def count(self) -> int:
        return sum(c.count for c in self.chunks)

    @property
    def size(self) -> int:
        return sum(c.size for c in self.chunks)


@dataclass(frozen=True, slots=True)
class HealthSettings:
    enabled: bool = False
    errors_count: int = 5
    retry_failure_count: int = 5
    period: float = 60.0


class Health:
    """The ``/api/v1/health`` window (§5): snapshots of the summed counters of the last period."""

    def __init__(self, settings: HealthSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self.clock = clock
        self._snapshots: deque[tuple[float, int, int]] = deque()

    def push(self, errors: int, retries_failed: int) -> None:
        now = self.clock()
        self._snapshots.append((now, errors, retries_failed))
        while self._snapshots and self._snapshots[0][0] < now - self.settings.period:
            self._snapshots.popleft()

    def healthy(self) -> bool:
        if not self._snapshots:
            return True
        _, errors_start, failed_start = self._snapshots[0]
        _, errors_now, failed_now = self._snapshots[-1]
        return not (
            errors_now - errors_start > self.settings.errors_count
            or failed_now - failed_start > self.settings.retry_failure_count
        )


Factory = Callable[[Section, str, "Engine"], Plugin]


class Engine:
    """Builds the plugin instances of a configuration and runs the router."""

    def __init__(
        self,
        config: Config,
        *,
        inputs: dict[str, Factory],
        filters: dict[str, Factory],
        outputs: dict[str, Factory],
        clock: Callable[[], float] = time.time,
        on_warning: Callable[[str], None] | None = None,
        context: dict[str, Any] | None = None,
        tap: Tap | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        # The task this router runs in (the gateway's /v1/context) and the tap into ecslite.
        self.task_context: dict[str, Any] = dict((context or {}).get("task") or {})
        self.tap = tap or Tap("off")
        # Marks what this router's forward outputs send, so its forward inputs know them again (§6.5 row 4).
        self.router_id = secrets.token_hex(8)
        self.started = clock()
        self.on_warning = on_warning
        self.warnings: list[str] = []
        service = config.service
        self.flush_interval = max(0.05, service.number("flush", 1.0))
        self.scheduler_base = max(0.0, service.number("scheduler.base", 5.0))
        self.scheduler_cap = max(self.scheduler_base, service.number("scheduler.cap", 2000.0))
        self.health = Health(
            HealthSettings(
                enabled=service.flag("health_check"),
                errors_count=int(service.number("hc_errors_count", 5)),
                retry_failure_count=int(service.number("hc_retry_failure_count", 5)),
                period=service.number("hc_period", 60.0),
            ),
            clock,
        )
        for message in config.warnings:
            self.warn(message)
        self.inputs: list[Input] = self._build(config.inputs, inputs, "input")  # type: ignore[assignment]
        self.filters: list[Filter] = self._build(config.filters, filters, "filter")  # type: ignore[assignment]
        self.outputs: list[Output] = self._build(config.outputs, outputs, "output")  # type: ignore[assignment]
        self.snapshot: dict[str, Any] | None = None
        self.tags_seen: dict[str, int] = {}
        self._retries: list[asyncio.TimerHandle] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._reported_unmatched: set[str] = set()

    def warn(self, message: str) -> None:
        if message in self.warnings:
            return
        self.warnings.append(message)
        log.warning(message)
        if self.on_warning is not None:
            self.on_warning(message)

    def _build(self, sections: Sequence[Section], factories: dict[str, Factory], kind: str) -> list[Plugin]:
        built: list[Plugin] = []
        for index, section in enumerate(sections):
            plugin = section.name
            if not plugin:
                self.warn(f"[{kind} {index}] at {section.source} has no Name; it is skipped")
                continue
            factory = factories.get(plugin)
            if factory is None:
                dropped = "; records routed to it are dropped" if kind == "output" else ""
                self.warn(
                    f"[{kind} {plugin}.{index}] {kind} plugin '{plugin}' is not implemented by ecslite's Fluent Bit; "
                    f"it is skipped ({section.source}){dropped}"
                )
                continue
            built.append(factory(section, f"{plugin}.{index}", self))
        return built

    # -- routing -----------------------------------------------------------------------------------

    def dispatch(self, source: Input, chunk: Chunk) -> None:
        source.records += chunk.count
        source.bytes += chunk.size
        self.tags_seen[chunk.tag] = self.tags_seen.get(chunk.tag, 0) + chunk.count
        if chunk.kind == LOGS:
            for flt in self.filters:
                if not flt.matches(chunk.tag):
                    continue
                before = len(chunk.records)
                flt.records += before
                flt.bytes += chunk.size
                chunk.records = flt.apply(chunk.tag, chunk.records)
                after = len(chunk.records)
                if after < before:
                    flt.drop_records += before - after
                    flt.drop_bytes += chunk.size * (before - after) // max(before, 1)
                elif after > before:
                    flt.add_records += after - before
                chunk.count = after
            if not chunk.records:
                return
        for output in self.outputs:
            if output.matches(chunk.tag) and output.accepts(chunk.kind):
                output.matched += chunk.count
                output.buffer.append(chunk)

    # -- running -----------------------------------------------------------------------------------

    async def start(self) -> None:
        for output in self.outputs:
            await output.start()
        for source in self.inputs:
            await source.start()
        self._spawn(self._flush_loop())
        self._spawn(self._metrics_loop())

    async def stop(self) -> None:
        for source in self.inputs:
            await source.stop()
        self._stopping = True
        await self.flush_all()
        for handle in self._retries:
            handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        for output in self.outputs:
            await output.stop()

    def _spawn(self, work: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await self.flush_all()

    async def flush_all(self) -> None:
        work = []
        for output in self.outputs:
            if output.buffer:
                chunks, output.buffer = output.buffer, []
                work.append(self._deliver(_Pending(output, chunks)))
        if work:
            await asyncio.gather(*work)

    async def _deliver(self, pending: _Pending) -> None:
        output = pending.output
        try:
            result = await output.flush(pending.chunks)
        except Exception as error:  # an output's bug counts as a retryable failure, never a crash
            log.exception("output flush failed", extra={"output": output.name})
            output.warn(f"flush failed: {error}")
            result = Result.RETRY
        if result is Result.OK:
            output.proc_records += pending.count
            output.proc_bytes += pending.size
            return
        if result is Result.ERROR:
            output.errors += 1
            output.dropped_records += pending.count
            return
        if output.retry_limit != UNLIMITED and pending.attempt >= output.retry_limit:
            output.retries_failed += 1
            output.dropped_records += pending.count
            return
        if self._stopping:
            output.dropped_records += pending.count
            return
        pending.attempt += 1
        output.retries += 1
        output.retried_records += pending.count
        wait = self.retry_wait(pending.attempt)
        loop = asyncio.get_running_loop()
        self._retries.append(loop.call_later(wait, lambda: self._spawn(self._deliver(pending))))

    def retry_wait(self, attempt: int) -> float:
        """Fluent Bit's full jitter: a random whole number of seconds in [base, min(cap, base·2^n)]."""
        base = self.scheduler_base
        ceiling = min(self.scheduler_cap, base * (2**attempt))
        if ceiling <= base:
            return base
        if base < 1:
            return random.uniform(base, ceiling)
        return float(random.randint(int(base), int(ceiling)))

    async def _metrics_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.take_snapshot()
            self._report_unmatched()

    def take_snapshot(self) -> dict[str, Any]:
        snapshot = {
            "input": {i.name: i.counters() for i in self.inputs},
            "filter": {f.name: f.counters() for f in self.filters},
            "output": {o.name: o.counters() for o in self.outputs},
        }
        self.snapshot = snapshot
        errors = sum(o.errors for o in self.outputs)
        failed = sum(o.retries_failed for o in self.outputs)
        self.health.push(errors, failed)
        return snapshot

    def _report_unmatched(self) -> None:
        """§6.5 row 3: an output that has matched nothing while records flow says which tags flow."""
        if not self.tags_seen or self.clock() - self.started < 10:
            return
        for output in self.outputs:
            if output.matched or output.name in self._reported_unmatched:
                continue
            self._reported_unmatched.add(output.name)
            seen = ", ".join(sorted(self.tags_seen)[:10])
            match = output.section.get("match") or output.section.get("match_regex") or "(none)"
            output.warn(f"matched 0 records (Match {match}); tags seen: {seen}")

    def uptime(self) -> int:
        return int(self.clock() - self.started)
