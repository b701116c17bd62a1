"""S3's REST-XML request matching, request parsing and response serialization from the botocore
model, and the aws-chunked decoder on the bodies botocore and SigV4 streaming send."""

from __future__ import annotations

import base64

import pytest

from ecslite.protocol import checksums, rest_xml
from ecslite.protocol.aws_chunked import AwsChunkedDecoder, ChunkedError, is_aws_chunked
from ecslite.protocol.errors import AwsError
from ecslite.protocol.models import operation_model


def route(method: str, path: str, query: dict[str, list[str]] | None = None, **headers: str) -> str:
    lowered = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    return rest_xml.route(method, rest_xml.split_path(path), query or {}, lowered)


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "operation"),
    [
        ("GET", "/", {}, {}, "ListBuckets"),
        ("PUT", "/b", {}, {}, "CreateBucket"),
        ("HEAD", "/b", {}, {}, "HeadBucket"),
        ("GET", "/b", {}, {}, "ListObjects"),
        ("GET", "/b", {"list-type": ["2"], "prefix": ["a"]}, {}, "ListObjectsV2"),
        ("GET", "/b", {"location": [""]}, {}, "GetBucketLocation"),
        ("GET", "/b", {"lifecycle": [""]}, {}, "GetBucketLifecycleConfiguration"),
        ("GET", "/b", {"uploads": [""]}, {}, "ListMultipartUploads"),
        ("POST", "/b", {"delete": [""]}, {}, "DeleteObjects"),
        ("PUT", "/b/k", {}, {}, "PutObject"),
        ("PUT", "/b/k", {}, {"x_amz_copy_source": "/a/b"}, "CopyObject"),
        ("PUT", "/b/k", {"partNumber": ["1"], "uploadId": ["u"]}, {}, "UploadPart"),
        ("PUT", "/b/k", {"partNumber": ["1"], "uploadId": ["u"]}, {"x_amz_copy_source": "/a/b"}, "UploadPartCopy"),
        ("PUT", "/b/k", {"tagging": [""]}, {}, "PutObjectTagging"),
        ("GET", "/b/dir/k", {}, {}, "GetObject"),
        ("GET", "/b/k", {"uploadId": ["u"]}, {}, "ListParts"),
        ("POST", "/b/k", {"uploads": [""]}, {}, "CreateMultipartUpload"),
        ("POST", "/b/k", {"uploadId": ["u"]}, {}, "CompleteMultipartUpload"),
        ("DELETE", "/b/k", {}, {}, "DeleteObject"),
        ("DELETE", "/b/k", {"uploadId": ["u"]}, {}, "AbortMultipartUpload"),
        ("GET", "/b/k", {"X-Amz-Credential": ["x"], "X-Amz-Signature": ["s"]}, {}, "GetObject"),
    ],
)
def test_requests_match_the_model_operation(
    method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], operation: str
) -> None:
    assert route(method, path, query, **headers) == operation


def test_a_request_no_operation_takes_is_method_not_allowed() -> None:
    with pytest.raises(AwsError) as raised:
        route("POST", "/b/k")
    assert (raised.value.code, raised.value.status) == ("MethodNotAllowed", 405)
    with pytest.raises(AwsError):
        route("PATCH", "/")


def test_paths_split_into_bucket_and_decoded_key() -> None:
    assert rest_xml.split_path("/bucket/a%20b/c%2Bd.txt") == rest_xml.Target("bucket", "a b/c+d.txt")
    assert rest_xml.split_path("/bucket/") == rest_xml.Target("bucket", None)
    assert rest_xml.split_path("/") == rest_xml.Target(None, None)


def test_request_members_come_from_path_query_headers_and_xml_body() -> None:
    op = operation_model("s3", "CompleteMultipartUpload")
    assert op is not None
    body = (
        b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Part><ETag>&quot;e1&quot;</ETag><PartNumber>1</PartNumber></Part>"
        b"<Part><ETag>e2</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>"
    )
    params = rest_xml.parse_request(op, rest_xml.Target("b", "k/x"), {"uploadId": ["u1"]}, {}, body)
    assert params == {
        "Bucket": "b",
        "Key": "k/x",
        "UploadId": "u1",
        "MultipartUpload": {"Parts": [{"ETag": '"e1"', "PartNumber": 1}, {"ETag": "e2", "PartNumber": 2}]},
    }
    put = operation_model("s3", "PutObject")
    assert put is not None
    headers = {"content-type": "text/plain", "x-amz-meta-owner": "ops", "content-length": "3"}
    params = rest_xml.parse_request(put, rest_xml.Target("b", "k"), {}, headers, b"")
    assert params == {
        "Bucket": "b",
        "Key": "k",
        "ContentType": "text/plain",
        "Metadata": {"owner": "ops"},
        "ContentLength": 3,
    }


@pytest.mark.parametrize(
    "body", [b"<not xml", b"<!DOCTYPE x [<!ENTITY a 'b'>]><Delete/>", b"<Delete><Quiet>maybe</Quiet></Delete>"]
)
def test_bad_xml_bodies_are_malformed_xml(body: bytes) -> None:
    op = operation_model("s3", "DeleteObjects")
    assert op is not None
    with pytest.raises(AwsError) as raised:
        rest_xml.parse_request(op, rest_xml.Target("b", None), {"delete": [""]}, {}, body)
    assert raised.value.code == "MalformedXML"


def test_bad_header_numbers_are_invalid_argument() -> None:
    op = operation_model("s3", "ListObjectsV2")
    assert op is not None
    with pytest.raises(AwsError) as raised:
        rest_xml.parse_request(op, rest_xml.Target("b", None), {"list-type": ["2"], "max-keys": ["many"]}, {}, b"")
    assert raised.value.code == "InvalidArgument"


def test_listing_serializes_flattened_contents_and_headers() -> None:
    op = operation_model("s3", "ListObjectsV2")
    assert op is not None
    status, headers, body = rest_xml.serialize_response(
        op,
        {
            "Name": "b",
            "KeyCount": 1,
            "IsTruncated": False,
            "Contents": [{"Key": "k", "Size": 3, "LastModified": 0.5, "ETag": '"e"'}],
            "CommonPrefixes": [{"Prefix": "d/"}],
        },
    )
    assert status == 200 and headers == []
    assert body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    )
    assert b"<Contents><Key>k</Key><LastModified>1970-01-01T00:00:00.500Z</LastModified>" in body
    assert (
        b"<CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes>" in body and b"<IsTruncated>false</IsTruncated>" in body
    )


def test_header_members_and_metadata_become_headers() -> None:
    op = operation_model("s3", "HeadObject")
    assert op is not None
    _, headers, body = rest_xml.serialize_response(
        op, {"ETag": '"e"', "ContentLength": 5, "LastModified": 0, "Metadata": {"Owner": "ops"}}
    )
    assert dict(headers) == {
        b"etag": b'"e"',
        b"content-length": b"5",
        b"last-modified": b"Thu, 01 Jan 1970 00:00:00 GMT",
        b"x-amz-meta-owner": b"ops",
    }
    assert body == b""


def test_errors_are_s3_error_documents() -> None:
    error = AwsError("NoSuchKey", "The specified key does not exist.", 404)
    error.fields = {"Key": "a&b"}
    assert rest_xml.serialize_error(error, "REQ") == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
        b"<Message>The specified key does not exist.</Message><Key>a&amp;b</Key><RequestId>REQ</RequestId></Error>"
    )


# -- aws-chunked ---------------------------------------------------------------------------------


def encode(payload: bytes, sizes: list[int], trailer: str = "", signed: bool = False) -> bytes:
    out, at = b"", 0
    for size in [*sizes, 0]:
        chunk = payload[at : at + size] if size else b""
        at += size
        extension = ";chunk-signature=" + "0" * 64 if signed else ""
        out += f"{len(chunk):x}{extension}\r\n".encode() + (chunk + b"\r\n" if chunk else b"")
    return out + trailer.encode() + b"\r\n"


def test_unsigned_trailer_body_as_botocore_sends_it() -> None:
    payload = b"hello world" * 100
    value = checksums.compute("CRC32", payload)
    body = encode(payload, [600, 500], f"x-amz-checksum-crc32:{value}\r\n")
    decoder = AwsChunkedDecoder()
    assert b"".join(decoder.feed(body[i : i + 7]) for i in range(0, len(body), 7)) == payload
    decoder.close()
    assert decoder.trailers == {"x-amz-checksum-crc32": value}


def test_sigv4_streaming_body_with_chunk_signatures() -> None:
    decoder = AwsChunkedDecoder()
    assert decoder.feed(encode(b"abc" * 10, [16, 14], signed=True)) == b"abc" * 10
    decoder.close()
    assert decoder.trailers == {}


@pytest.mark.parametrize(
    ("body", "incomplete"),
    [
        (b"zz\r\n", False),
        (b"3\r\nabcdef\r\n0\r\n\r\n", False),
        (b"3\r\nab", True),
        (b"0\r\nnot a trailer\r\n\r\n", False),
        (b"0\r\n\r\nextra", False),
        (b"1" * 5000, False),
    ],
)
def test_malformed_chunked_bodies_are_chunked_errors(body: bytes, incomplete: bool) -> None:
    decoder = AwsChunkedDecoder()
    with pytest.raises(ChunkedError) as raised:
        decoder.feed(body)
        decoder.close()
    assert raised.value.incomplete == incomplete


def test_chunked_bodies_are_recognised_by_encoding_or_payload_hash() -> None:
    assert is_aws_chunked({"content-encoding": "gzip, aws-chunked"})
    assert is_aws_chunked({"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
    assert not is_aws_chunked({"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})


@pytest.mark.parametrize(
    ("algorithm", "check"),
    [("CRC32", "cbf43926"), ("CRC32C", "e3069283"), ("CRC64NVME", "ae8b14860a799888")],
)
def test_crcs_match_the_catalogue_check_values(algorithm: str, check: str) -> None:
    # The "check" of each CRC in the CRC catalogue: the CRC of the ASCII string "123456789".
    assert checksums.compute(algorithm, b"123456789") == base64.b64encode(bytes.fromhex(check)).decode()
