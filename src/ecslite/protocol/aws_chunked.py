"""Decoding the ``aws-chunked`` content encoding S3 clients stream uploads in.

A body is a sequence of chunks ``<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n``, ended by a
zero-size chunk, then optional trailer lines ``name:value\\r\\n`` and an empty line. botocore ≥ 1.36
sends ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` bodies whose trailer carries the checksum
(``x-amz-checksum-crc32:…``); SigV4 streaming (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) signs every
chunk. Chunk signatures are not checked (the edge checks no signatures).

The decoder is incremental: fed any slicing of the encoded bytes it yields the same payload, and on
malformed input it raises :class:`ChunkedError` and nothing else. Its buffer stays bounded: a size or
trailer line longer than :data:`MAX_LINE` is an error, not a reason to keep reading.
"""

from __future__ import annotations

MAX_LINE = 4096
_HEX = frozenset(b"0123456789abcdefABCDEF")


class ChunkedError(ValueError):
    """The body is not valid aws-chunked encoding (``incomplete`` when it merely ended too soon)."""

    def __init__(self, message: str, *, incomplete: bool = False) -> None:
        super().__init__(message)
        self.incomplete = incomplete


def is_aws_chunked(headers: dict[str, str]) -> bool:
    """Whether a request's body is aws-chunked: said by Content-Encoding or the streaming payload hash."""
    encodings = [e.strip().lower() for e in headers.get("content-encoding", "").split(",")]
    return "aws-chunked" in encodings or headers.get("x-amz-content-sha256", "").startswith("STREAMING-")


class AwsChunkedDecoder:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._state = "size"  # size → data → crlf → size … → trailer → done
        self._remaining = 0
        self.trailers: dict[str, str] = {}

    @property
    def done(self) -> bool:
        return self._state == "done"

    def feed(self, data: bytes) -> bytes:
        """The payload bytes ``data`` completes; raises :class:`ChunkedError` on malformed input."""
        self._buffer += data
        out = bytearray()
        while self._step(out):
            pass
        return bytes(out)

    def close(self) -> None:
        """Checks that the body ended where the encoding says it ends."""
        if self._state != "done":
            raise ChunkedError("The request body ended before the last aws-chunked chunk.", incomplete=True)

    def _step(self, out: bytearray) -> bool:
        state, buffer = self._state, self._buffer
        if state == "data":
            if not buffer:
                return False
            take = min(self._remaining, len(buffer))
            out += buffer[:take]
            del buffer[:take]
            self._remaining -= take
            if not self._remaining:
                self._state = "crlf"
            return True
        if state == "crlf":
            if len(buffer) < 2:
                return False
            if buffer[:2] != b"\r\n":
                raise ChunkedError("An aws-chunked chunk is longer than its size says.")
            del buffer[:2]
            self._state = "size"
            return True
        if state == "done":
            # Some clients end the body with one more CRLF; anything else is not part of it.
            if buffer.strip(b"\r\n"):
                raise ChunkedError("The request body goes on after the last aws-chunked chunk.")
            buffer.clear()
            return False
        line = self._line()
        if line is None:
            return False
        if state == "size":
            self._size_line(line)
        else:
            self._trailer_line(line)
        return True

    def _line(self) -> bytes | None:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > MAX_LINE:
                raise ChunkedError("An aws-chunked header line is too long.")
            return None
        if end > MAX_LINE:
            raise ChunkedError("An aws-chunked header line is too long.")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def _size_line(self, line: bytes) -> None:
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 16 or not set(size_text) <= _HEX:
            raise ChunkedError("An aws-chunked chunk size is not a hexadecimal number.")
        size = int(size_text, 16)
        if size:
            self._remaining, self._state = size, "data"
        else:
            self._state = "trailer"

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            self._state = "done"
            return
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise ChunkedError("An aws-chunked trailer line is not 'name:value'.")
        try:
            self.trailers[name.strip().decode("ascii").lower()] = value.strip().decode("ascii")
        except UnicodeDecodeError:
            raise ChunkedError("An aws-chunked trailer is not ASCII.") from None
