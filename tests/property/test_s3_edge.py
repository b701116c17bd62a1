"""Property tests of S3's edge: the aws-chunked decoder gives the payload back whatever the chunk
sizes and however the bytes arrive, and fails only with ChunkedError on garbage; whatever request
reaches the S3 edge (random methods, paths, sub-resources, headers and bodies), the answer is S3's
XML error or a success, never a 5xx (501 for an operation ecslite does not serve)."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecslite.clock import SystemClock
from ecslite.edge.s3 import S3Edge
from ecslite.protocol.aws_chunked import AwsChunkedDecoder, ChunkedError
from ecslite.providers.s3.provider import S3Provider
from tests.property.conftest import authorization, property_settings
from tests.property.harness import EdgePart

PROPERTY = property_settings(200)


def _encode(pieces: list[bytes], trailers: dict[str, str], signed: bool) -> bytes:
    out = b""
    for piece in [*pieces, b""]:
        extension = b";chunk-signature=abc" if signed else b""
        out += f"{len(piece):x}".encode() + extension + b"\r\n" + (piece + b"\r\n" if piece else b"")
    return out + b"".join(f"{k}:{v}\r\n".encode() for k, v in trailers.items()) + b"\r\n"


_TRAILER_NAMES = st.text(st.characters(codec="ascii", categories=("Ll", "Nd")), min_size=1, max_size=12).map(
    lambda name: "x-" + name
)
_TRAILER_VALUES = st.text(st.characters(codec="ascii", categories=("L", "N")), max_size=20)


@PROPERTY
@given(
    pieces=st.lists(st.binary(min_size=1, max_size=300), max_size=6),
    trailers=st.dictionaries(_TRAILER_NAMES, _TRAILER_VALUES, max_size=3),
    signed=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=8),
)
def test_decoding_gives_the_payload_back_however_it_is_split(
    pieces: list[bytes], trailers: dict[str, str], signed: bool, cuts: list[int]
) -> None:
    body = _encode(pieces, trailers, signed)
    points = sorted({min(c, len(body)) for c in cuts} | {0, len(body)})
    decoder = AwsChunkedDecoder()
    decoded = b"".join(decoder.feed(body[a:b]) for a, b in itertools.pairwise(points))
    decoder.close()
    assert decoded == b"".join(pieces)
    assert decoder.trailers == trailers


@PROPERTY
@given(st.lists(st.binary(max_size=200) | st.sampled_from([b"\r\n", b"0\r\n", b"a;x\r\n", b":\r\n"]), max_size=8))
def test_garbage_fails_only_as_chunked_error(parts: list[bytes]) -> None:
    decoder = AwsChunkedDecoder()
    try:
        for part in parts:
            decoder.feed(part)
        decoder.close()
    except ChunkedError:
        pass


# -- the edge ------------------------------------------------------------------------------------


class _Edge(EdgePart):
    base_url = "http://s3.local"

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.provider = S3Provider(self.db, SystemClock(), root)
        self.part = S3Edge(self.provider, "000000000000", "us-east-1")


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Edge]:
    harness = _Edge(tmp_path_factory.mktemp("s3"))
    signed = {"authorization": authorization("test", "us-east-1", "s3")}
    assert harness.send("PUT", "/seed", signed, b"").status_code == 200
    assert harness.send("PUT", "/seed/dir/key", signed, b"0123456789").status_code == 200
    yield harness
    harness.close()


_SUBRESOURCES = [
    "",
    "?list-type=2",
    "?uploads",
    "?uploadId=x",
    "?uploadId=x&partNumber=1",
    "?partNumber=99999&uploadId=y",
    "?tagging",
    "?delete",
    "?location",
    "?policy",
    "?versioning",
    "?encryption",
    "?publicAccessBlock",
    "?lifecycle",
    "?cors",
    "?max-keys=abc",
    "?continuation-token=%%%",
    "?list-type=2&continuation-token=!!",
]
_SEGMENTS = st.sampled_from(["seed", "dir", "key", "..", ".", "%2F", "%FF", "a b", "", "UPPER", "x" * 70, "%00"])
_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "content-md5",
            "x-amz-copy-source",
            "range",
            "if-match",
            "if-none-match",
            "if-modified-since",
            "x-amz-checksum-crc32",
            "x-amz-checksum-sha256",
            "x-amz-content-sha256",
            "content-encoding",
            "x-amz-trailer",
            "x-amz-decoded-content-length",
            "x-amz-tagging",
            "x-amz-metadata-directive",
            "x-amz-sdk-checksum-algorithm",
        ]
    ),
    _HEADER_TEXT | st.sampled_from(["aws-chunked", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "seed/dir/key", "bytes=1-3"]),
    max_size=4,
)
_BODIES = st.binary(max_size=200) | st.sampled_from(
    [b"<Delete><Object><Key>dir/key</Key></Object></Delete>", b"<CompleteMultipartUpload/>", b"5\r\nabc\r\n0\r\n\r\n"]
)


@PROPERTY
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]),
    segments=st.lists(_SEGMENTS, max_size=4),
    sub=st.sampled_from(_SUBRESOURCES),
    headers=_HEADERS,
    body=_BODIES,
)
def test_any_request_gets_an_s3_answer_never_a_server_error(
    edge: _Edge, method: str, segments: list[str], sub: str, headers: dict[str, str], body: bytes
) -> None:
    url = "/" + "/".join(segments) + sub
    signed = {**headers, "authorization": authorization("test", "us-east-1", "s3")}
    response = edge.send(method, url, signed, body)
    assert response.status_code < 500 or response.status_code == 501, response.text
    if response.status_code >= 400 and method != "HEAD":
        root = ET.fromstring(response.content)
        assert root.tag == "Error" and root.findtext("Code") and root.findtext("RequestId")
