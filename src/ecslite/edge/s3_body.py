"""S3 request bodies: streamed from the ASGI ``receive`` channel, aws-chunked decoded, and checked.

What is checked once the body has ended: its length against ``x-amz-decoded-content-length``
(aws-chunked), ``Content-MD5``, and the ``x-amz-checksum-<algorithm>`` value from a header or from
the aws-chunked trailer. The checksum of the algorithm the client named is computed even when it
sent no value (``x-amz-sdk-checksum-algorithm``), so the object can return it later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ecslite.protocol import checksums
from ecslite.protocol.aws_chunked import AwsChunkedDecoder, ChunkedError, is_aws_chunked
from ecslite.providers.s3 import errors
from ecslite.providers.s3.objects import check_content_md5

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


def incomplete_body() -> errors.S3Error:
    return errors.S3Error(
        "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header"
    )


def _checksum_request(headers: dict[str, str]) -> tuple[str | None, str | None, bool]:
    """(algorithm, value from a header, value expected in the trailer)."""
    for algorithm in checksums.ALGORITHMS:
        value = headers.get(checksums.header_name(algorithm))
        if value is not None:
            return algorithm, value, False
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    for algorithm in checksums.ALGORITHMS:
        if trailer == checksums.header_name(algorithm):
            return algorithm, None, True
    named = headers.get("x-amz-sdk-checksum-algorithm", "").upper()
    return (named if named in checksums.ALGORITHMS else None), None, False


class Digests:
    """MD5 and the requested checksum of a body, fed in pieces, and the checks made at its end."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0
        self.algorithm, self.expected, self.in_trailer = _checksum_request(headers)
        self.hasher = checksums.hasher(self.algorithm) if self.algorithm else None
        self.content_md5 = headers.get("content-md5")
        self.value: str | None = None

    def update(self, data: bytes) -> None:
        self.md5.update(data)
        self.size += len(data)
        if self.hasher is not None:
            self.hasher.update(data)

    def finish(self, trailers: dict[str, str]) -> None:
        check_content_md5(self.content_md5, self.md5.hexdigest())
        if self.algorithm is None or self.hasher is None:
            return
        self.value = checksums.encode(self.hasher.digest())
        expected = self.expected
        if self.in_trailer:
            expected = trailers.get(checksums.header_name(self.algorithm))
        if expected is not None and expected != self.value:
            raise errors.bad_digest(self.algorithm)


def check_body(headers: dict[str, str], body: bytes) -> bytes:
    """A body read whole (XML operations): decoded if aws-chunked, and its digests checked."""
    trailers: dict[str, str] = {}
    if is_aws_chunked(headers):
        decoder = AwsChunkedDecoder()
        try:
            body = decoder.feed(body)
            decoder.close()
        except ChunkedError as error:
            raise _chunked_error(error) from None
        trailers = decoder.trailers
    digests = Digests(headers)
    digests.update(body)
    digests.finish(trailers)
    return body


def _chunked_error(error: ChunkedError) -> errors.S3Error:
    if error.incomplete:
        return incomplete_body()
    return errors.S3Error("InvalidRequest", f"The aws-chunked body is malformed: {error}")


class StreamingBody:
    """A PutObject/UploadPart body read from the connection as the provider writes it out."""

    def __init__(self, receive: Receive, headers: dict[str, str]) -> None:
        self._receive = receive
        self._decoder = AwsChunkedDecoder() if is_aws_chunked(headers) else None
        self._digests = Digests(headers)
        declared = headers.get("x-amz-decoded-content-length") if self._decoder else headers.get("content-length")
        self._declared = int(declared) if declared and declared.isdigit() else None
        self._ended = False
        self._finished = False

    async def read(self) -> bytes:
        while not self._ended:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise incomplete_body()
            chunk = message.get("body", b"")
            self._ended = not message.get("more_body", False)
            data = self._decode(chunk)
            if data:
                self._digests.update(data)
                return data
        if not self._finished:
            self._finished = True
            if self._declared is not None and self._declared != self._digests.size:
                raise incomplete_body()
            self._digests.finish(self._decoder.trailers if self._decoder else {})
        return b""

    def _decode(self, chunk: bytes) -> bytes:
        if self._decoder is None:
            return chunk
        try:
            data = self._decoder.feed(chunk)
            if self._ended:
                self._decoder.close()
        except ChunkedError as error:
            raise _chunked_error(error) from None
        return data

    @property
    def size(self) -> int:
        return self._digests.size

    @property
    def md5_hex(self) -> str:
        return self._digests.md5.hexdigest()

    @property
    def checksum(self) -> tuple[str, str] | None:
        if self._digests.algorithm is None or self._digests.value is None:
            return None
        return self._digests.algorithm, self._digests.value
