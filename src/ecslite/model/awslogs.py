"""The awslogs log driver's rules as pure functions (spec/ecs.md §10.1; Docker's ``awslogs`` driver).

- :func:`awslogs_config` reads a container's ``logConfiguration.options`` the way Docker validates
  them at container creation (``mode``, ``max-buffer-size``, then the driver's own options) and
  raises :class:`LoggerArgsError` with Docker's text; ECS shows it after
  ``failed to validate logger args:``.
- Stream names: ``<prefix>/<container>/<task id>``, or the container's runtime id without a prefix
  (Docker's default tag ``{{.FullID}}``).
- :func:`parse_records` reads the runtime's output records (``<epoch s, 9 decimals> stdout|stderr
  <line>``, see ``ProcessRuntime.output_path``); event timestamps are those times in milliseconds.
- :class:`EventBuilder` turns records into CloudWatch events as Docker does: one event per line,
  or, with ``awslogs-multiline-pattern``/``awslogs-datetime-format``, lines gathered until a line
  that matches starts the next event (each line keeps its ``\\n``, the event takes the time of its
  first line, a pending event is flushed after ``awslogs-force-flush-interval-seconds``); events
  longer than 262,118 bytes (256 KiB less the 26 bytes PutLogEvents counts per event) are split on
  character boundaries; batches hold at most 10,000 events, 1,048,576 bytes and 24 hours.
- Every event and batch carries the file offset up to which the output is fully shipped once it is
  stored, so a reader that persists that offset resumes without losing or repeating a line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MAX_EVENT_BYTES = 262_144 - 26  # Docker's maximumBytesPerEvent
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
# A piece of output this big always fits one batch (each record takes at least the 26 bytes of overhead
# PutLogEvents counts per event): the fast path's bound. Output that is not all ASCII may decode longer
# (an invalid byte becomes a three-byte U+FFFD), so its pieces are a third of that.
FAST_PIECE_BYTES = MAX_BATCH_BYTES
FAST_PIECE_BYTES_UTF8 = MAX_BATCH_BYTES // 3
DEFAULT_FLUSH_SECONDS = 5.0  # awslogs-force-flush-interval-seconds
DEFAULT_MAX_BUFFER_BYTES = 1_000_000  # Docker's ring buffer (defaultRingMaxSize) without max-buffer-size
BLOCKING = "blocking"
NON_BLOCKING = "non-blocking"
# ECS's default for `mode` comes from the account setting defaultLogDriverMode (providers/ecs/common.py
# keeps ecslite's built-in value of that setting: blocking).
DEFAULT_MODE = BLOCKING

# Docker's strftime → regular expression table for awslogs-datetime-format; any other %X becomes
# nothing, and the rest of the format is used as written (not escaped), as Docker does.
STRFTIME_TO_REGEX = {
    "%a": r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)",
    "%A": r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)",
    "%w": r"[0-6]",
    "%d": r"(?:0[1-9]|[1,2][0-9]|3[0,1])",
    "%b": r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)",
    "%B": r"(?:January|February|March|April|May|June|July|August|September|October|November|December)",
    "%m": r"(?:0[1-9]|1[0-2])",
    "%Y": r"\d{4}",
    "%y": r"\d{2}",
    "%H": r"(?:[0,1][0-9]|2[0-3])",
    "%I": r"(?:0[0-9]|1[0-2])",
    "%p": r"[A,P]M",
    "%M": r"[0-5][0-9]",
    "%S": r"[0-5][0-9]",
    "%f": r"\d{6}",
    "%z": r"[+-]\d{4}",
    "%Z": r"[A-Z]{1,4}T",
    "%j": r"(?:0[0-9][1-9]|[1,2][0-9][0-9]|3[0-5][0-9]|36[0-6])",
    "%L": r"\.\d{3}",
}
_FORMAT_SEQUENCE = re.compile(r"%.", re.DOTALL)
_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_GO_BOOLS = {
    "1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
    "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False,
}  # fmt: skip


class LoggerArgsError(ValueError):
    """Options the driver refuses; the message is Docker's."""


@dataclass(frozen=True, slots=True)
class AwslogsConfig:
    """One container's awslogs set-up, resolved at task start."""

    group: str
    region: str
    stream: str
    create_group: bool = False
    multiline: re.Pattern[str] | None = None
    flush_seconds: float = DEFAULT_FLUSH_SECONDS
    mode: str = DEFAULT_MODE
    max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES


def stream_name(prefix: str | None, container: str, task_id: str, runtime_id: str) -> str:
    """``<prefix>/<container>/<task id>``; without a prefix, the container's runtime id (§10.1)."""
    return f"{prefix}/{container}/{task_id}" if prefix else runtime_id


def awslogs_config(
    options: Mapping[str, str],
    *,
    container: str,
    task_id: str,
    runtime_id: str,
    default_mode: str = DEFAULT_MODE,
    default_region: str | None = None,
) -> AwslogsConfig:
    """The container's configuration, or :class:`LoggerArgsError` with the text Docker gives."""
    mode = options.get("mode") or ""
    if mode not in ("", BLOCKING, NON_BLOCKING):
        raise LoggerArgsError(f"logger: logging mode not supported: {mode}")
    max_buffer = DEFAULT_MAX_BUFFER_BYTES
    if "max-buffer-size" in options:
        if mode != NON_BLOCKING:
            raise LoggerArgsError(f"logger: max-buffer-size option is only supported with 'mode={NON_BLOCKING}'")
        try:
            max_buffer = parse_size(options["max-buffer-size"])
        except ValueError as error:
            raise LoggerArgsError(f"error parsing option max-buffer-size: {error}") from None
    group = options.get("awslogs-group") or ""
    if not group:
        raise LoggerArgsError("must specify a value for log opt 'awslogs-group'")
    create_group = _go_bool(options, "awslogs-create-group")
    flush = DEFAULT_FLUSH_SECONDS
    if options.get("awslogs-force-flush-interval-seconds"):
        raw = options["awslogs-force-flush-interval-seconds"]
        if not raw.lstrip("+-").isdigit() or int(raw) <= 0:
            raise LoggerArgsError(
                f"must specify a positive integer for log opt 'awslogs-force-flush-interval-seconds': {raw}"
            )
        flush = float(int(raw))
    if "awslogs-datetime-format" in options and "awslogs-multiline-pattern" in options:
        raise LoggerArgsError(
            "you cannot configure log opt 'awslogs-datetime-format' and 'awslogs-multiline-pattern' at the same time"
        )
    region = options.get("awslogs-region") or default_region
    if not region:
        raise LoggerArgsError("Cannot determine region for awslogs driver")
    return AwslogsConfig(
        group=group,
        region=region,
        stream=stream_name(options.get("awslogs-stream-prefix"), container, task_id, runtime_id),
        create_group=create_group,
        multiline=multiline_pattern(options),
        flush_seconds=flush,
        mode=mode or default_mode,
        max_buffer_bytes=max_buffer,
    )


def _go_bool(options: Mapping[str, str], key: str) -> bool:
    raw = options.get(key) or ""
    if not raw:
        return False
    if raw not in _GO_BOOLS:
        raise LoggerArgsError(
            f"must specify valid value for log opt '{key}': strconv.ParseBool: parsing \"{raw}\": invalid syntax"
        )
    return _GO_BOOLS[raw]


def strftime_regex(datetime_format: str) -> str:
    """Docker's translation of an ``awslogs-datetime-format`` into a regular expression."""
    return _FORMAT_SEQUENCE.sub(lambda match: STRFTIME_TO_REGEX.get(match.group(0), ""), datetime_format)


def multiline_pattern(options: Mapping[str, str]) -> re.Pattern[str] | None:
    """The expression that starts a new event, if the options ask for multi-line events.

    Docker matches it anywhere in the line (it does not anchor it); a datetime format is anchored
    only if the user's format is.
    """
    pattern = options.get("awslogs-multiline-pattern") or ""
    if options.get("awslogs-datetime-format"):
        pattern = strftime_regex(options["awslogs-datetime-format"])
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as error:
        raise LoggerArgsError(f'awslogs could not parse multiline pattern key "{pattern}": {error}') from None


def parse_size(text: str) -> int:
    """Docker's ``units.RAMInBytes``: ``1m``, ``512k``, ``2g``, ``100`` (binary multiples)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"invalid size: '{text}'")
    try:
        number = float(match.group(1))
    except ValueError:
        raise ValueError(f"invalid size: '{text}'") from None
    unit = (match.group(2) or "").lower()
    return int(number * _UNITS.get(unit, 1))


# -- output records ------------------------------------------------------------------------------


def parse_records(data: bytes, base: int = 0) -> tuple[list[tuple[int, str]], list[int]]:
    """The complete records in ``data`` as ``(time ms, line)``, and the file offset after each one.

    ``base`` is the file offset of ``data``. A record that is not ``<seconds>.<fraction> <source>
    <line>`` is skipped (its offset still counts, so it is never read again).
    """
    end = data.rfind(b"\n") + 1
    if not end:
        return [], []
    records: list[tuple[int, str]] = []
    ends: list[int] = []
    position = base
    for raw in data[: end - 1].split(b"\n"):
        position += len(raw) + 1
        stamp, _, rest = raw.partition(b" ")
        line = rest.partition(b" ")[2]
        try:
            ms = _millis(stamp)
        except ValueError:
            continue
        records.append((ms, line.decode("utf-8", "replace")))
        ends.append(position)
    return records, ends


def parse_sourced_records(data: bytes) -> tuple[list[tuple[int, str, str]], int]:
    """Complete records as ``(time ms, stdout|stderr, line)`` and how many bytes they took."""
    end = data.rfind(b"\n") + 1
    if not end:
        return [], 0
    records: list[tuple[int, str, str]] = []
    for raw in data[: end - 1].split(b"\n"):
        stamp, _, rest = raw.partition(b" ")
        source, _, line = rest.partition(b" ")
        try:
            ms = _millis(stamp)
        except ValueError:
            continue
        records.append((ms, source.decode("ascii", "replace"), line.decode("utf-8", "replace")))
    return records, end


def _millis(stamp: bytes) -> int:
    seconds, dot, fraction = stamp.partition(b".")
    if not dot:
        return int(seconds) * 1000
    return int(seconds) * 1000 + int((fraction + b"000")[:3])


def dropped_window(offset: int, size: int, mode: str, max_buffer: int) -> int | None:
    """Where a non-blocking driver's buffer ends when the unread output exceeds it, else ``None``.

    In ``non-blocking`` mode the driver buffers at most ``max-buffer-size`` bytes and drops the
    lines that arrive while its buffer is full (Docker's ring buffer drops new messages); here the
    unread part of the output file is that buffer. ``blocking`` never drops.
    """
    if mode != NON_BLOCKING or size - offset <= max_buffer:
        return None
    return offset + max_buffer


# -- events --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Batch:
    """Events for one append: chronological, within PutLogEvents' limits, and the offset they commit."""

    events: list[tuple[int, str]] = field(default_factory=list)
    size: int = 0
    commit: int = 0  # file offset up to which the output is shipped once this batch is stored
    last_ts: int = 0
    full: bool = False  # takes no more events (a fast-path batch does not count its bytes)


def split_message(message: str, limit: int = MAX_EVENT_BYTES) -> list[str]:
    """``message`` in pieces of at most ``limit`` UTF-8 bytes, never splitting a character."""
    encoded = message.encode("utf-8")
    if len(encoded) <= limit:
        return [message]
    pieces: list[str] = []
    while len(encoded) > limit:
        cut = limit
        while cut > 0 and (encoded[cut] & 0xC0) == 0x80:
            cut -= 1
        pieces.append(encoded[:cut].decode("utf-8"))
        encoded = encoded[cut:]
    if encoded:
        pieces.append(encoded.decode("utf-8"))
    return pieces


class EventBuilder:
    """Records in, batches out (see the module docstring); one per container, state kept between reads.

    ``commit`` only ever moves to the end of a record whose text is entirely in events handed out,
    so the lines of a pending multi-line event are read again after a restart.
    """

    def __init__(self, multiline: re.Pattern[str] | None = None, *, commit: int = 0, last_ts: int = 0) -> None:
        self.multiline = multiline
        self.commit = commit
        self.last_ts = last_ts
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._pending_ts = 0
        self._pending_end = commit
        self._batches: list[Batch] = []
        self._millis_cache: dict[bytes, int] = {}

    def pending_since_ms(self) -> int | None:
        """When the pending multi-line event's first line was read, if there is one."""
        return self._pending_ts if self._pending else None

    def add_output(self, data: bytes, base: int) -> int:
        """Add the complete records of ``data`` (output read at file offset ``base``); returns the
        bytes they take (a partial last record is left for the next read)."""
        taken = 0
        if self.multiline is None:
            # One batch per piece of at most FAST_PIECE_BYTES and 10,000 records, without per-record
            # offsets or limit checks: the piece's bound keeps every batch within PutLogEvents' limits.
            while taken < len(data):
                piece = data[taken : taken + FAST_PIECE_BYTES]
                if not piece.isascii():
                    piece = piece[:FAST_PIECE_BYTES_UTF8]
                used = self._add_piece(piece, base + taken)
                if used is None:
                    break
                if not used:
                    return taken
                taken += used
        rest = data[taken:]
        consumed = rest.rfind(b"\n") + 1
        records, ends = parse_records(rest[:consumed], base + taken)
        self.add(records, ends)
        return taken + consumed

    def _add_piece(self, piece: bytes, base: int) -> int | None:
        """The fast path of :meth:`add_output`: bytes taken, or None when this piece needs the general one."""
        lines = piece.split(b"\n", MAX_BATCH_EVENTS)
        rest = lines.pop()  # a partial record, or what follows the 10,000th
        if not lines:
            return 0
        if max(map(len, lines)) > FAST_PIECE_BYTES_UTF8 // 4:
            return None  # a record that could decode past an event's size
        events: list[tuple[int, str]] = []
        append = events.append
        cache = self._millis_cache
        if len(cache) > 4096:
            cache.clear()
        last = self.last_ts
        try:
            for raw in lines:
                stamp, _, text = raw.partition(b" ")
                ms = cache.get(stamp[:-6])
                if ms is None:
                    ms = _millis(stamp)
                    if len(stamp) >= 14 and stamp[-10] == 0x2E:  # <seconds>.<9 digits>: its millisecond prefix
                        cache[stamp[:-6]] = ms
                if ms < last:
                    ms = last  # kept in file order even if the clock stepped back
                last = ms
                append((ms, text.partition(b" ")[2].decode("utf-8", "replace")))
        except ValueError:
            return None  # a record that is not <time> <source> <line>: the general path skips it
        if events[-1][0] - events[0][0] > MAX_BATCH_SPAN_MS:
            return None
        taken = len(piece) - len(rest)
        self._batches.append(Batch(events=events, commit=base + taken, last_ts=last, full=True))
        self.last_ts, self.commit = last, base + taken
        return taken

    def add(self, records: Sequence[tuple[int, str]], ends: Sequence[int]) -> None:
        if self.multiline is None:
            self._add_lines(records, ends)
        else:
            self._add_multiline(self.multiline, records, ends)

    def flush(self) -> None:
        """Hand out the pending multi-line event (flush interval passed, or the output ended)."""
        self._emit_pending()

    def skip_to(self, offset: int) -> None:
        """Give up the output up to ``offset`` (dropped lines): the next batch commits past it."""
        self._emit_pending()
        self._current().commit = offset
        self.commit = self._pending_end = offset

    def take(self) -> list[Batch]:
        """The batches completed so far; the last one may be partly filled."""
        batches, self._batches = self._batches, []
        return batches

    # -- internals --

    def _add_lines(self, records: Sequence[tuple[int, str]], ends: Sequence[int]) -> None:
        batch = self._current()
        events = batch.events
        last, size = self.last_ts, batch.size
        for (ts, line), end in zip(records, ends, strict=True):
            length = len(line) if line.isascii() else len(line.encode("utf-8"))
            pieces = [line] if length <= MAX_EVENT_BYTES else split_message(line)
            for piece in pieces:
                piece_size = length if len(pieces) == 1 else len(piece.encode("utf-8"))
                ts = max(ts, last)  # kept in file order even if the clock stepped back
                if (
                    len(events) >= MAX_BATCH_EVENTS
                    or size + piece_size + EVENT_OVERHEAD > MAX_BATCH_BYTES
                    or (events and ts - events[0][0] > MAX_BATCH_SPAN_MS)
                ):
                    batch.size, batch.last_ts = size, last
                    batch = self._new_batch(batch.commit, last)
                    events, size = batch.events, 0
                events.append((ts, piece))
                size += piece_size + EVENT_OVERHEAD
                last = ts
            batch.commit = end
        batch.size, batch.last_ts = size, last
        self.last_ts, self.commit = last, batch.commit

    def _add_multiline(self, pattern: re.Pattern[str], records: Sequence[tuple[int, str]], ends: Sequence[int]) -> None:
        for (ts, line), end in zip(records, ends, strict=True):
            size = len(line.encode("utf-8"))
            starts_event = pattern.search(line) is not None
            if self._pending and (starts_event or self._pending_bytes + size > MAX_EVENT_BYTES):
                keep_ts = self._pending_ts
                self._emit_pending()
                if not starts_event:
                    # The parts of an event split for its size keep the time of its first line (Docker).
                    self._pending_ts = keep_ts
            if not self._pending and (starts_event or not self._pending_ts):
                self._pending_ts = ts
            text = line + "\n" if size < MAX_EVENT_BYTES else line
            self._pending.append(text)
            self._pending_bytes += size + (1 if size < MAX_EVENT_BYTES else 0)
            self._pending_end = end

    def _emit_pending(self) -> None:
        if not self._pending:
            return
        message = "".join(self._pending)
        ts = max(self._pending_ts, self.last_ts)
        self._pending, self._pending_bytes, self._pending_ts = [], 0, 0
        batch = self._current()
        for piece in split_message(message):
            size = len(piece.encode("utf-8"))
            if (
                len(batch.events) >= MAX_BATCH_EVENTS
                or batch.size + size + EVENT_OVERHEAD > MAX_BATCH_BYTES
                or (batch.events and ts - batch.events[0][0] > MAX_BATCH_SPAN_MS)
            ):
                batch = self._new_batch(batch.commit, batch.last_ts)
            batch.events.append((ts, piece))
            batch.size += size + EVENT_OVERHEAD
            batch.last_ts = ts
        batch.commit = self._pending_end
        self.last_ts, self.commit = ts, batch.commit

    def _current(self) -> Batch:
        if not self._batches or self._batches[-1].full:
            self._batches.append(Batch(commit=self.commit, last_ts=self.last_ts))
        return self._batches[-1]

    def _new_batch(self, commit: int, last_ts: int) -> Batch:
        batch = Batch(commit=commit, last_ts=last_ts)
        self._batches.append(batch)
        return batch
