"""S3 through boto3 against the server: buckets, objects, ranges, conditions, listings, copies,
tags, stored bucket configurations, multipart uploads, errors and presigned URLs."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from tests.conftest import RunningServer, make_client, start_server, stop_server


@pytest.fixture
def s3(endpoint: str) -> Any:
    return make_client("s3", endpoint)


def error_of(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call(*args, **kwargs)
    response: dict[str, Any] = raised.value.response
    return response


def test_object_round_trip_lands_in_the_s3_directory(s3: Any, server: RunningServer) -> None:
    s3.create_bucket(Bucket="configs")
    put = s3.put_object(
        Bucket="configs", Key="app/prod.env", Body=b"A=1\n", ContentType="text/plain", Metadata={"owner": "ops"}
    )
    assert put["ETag"] == '"' + hashlib.md5(b"A=1\n").hexdigest() + '"'
    got = s3.get_object(Bucket="configs", Key="app/prod.env")
    assert got["Body"].read() == b"A=1\n"
    assert (got["ContentType"], got["Metadata"], got["ContentLength"], got["ETag"]) == (
        "text/plain",
        {"owner": "ops"},
        4,
        put["ETag"],
    )
    head = s3.head_object(Bucket="configs", Key="app/prod.env")
    assert head["ContentLength"] == 4 and head["LastModified"] == got["LastModified"]
    assert (server.data_dir / "s3" / "configs" / "app" / "prod.env").read_bytes() == b"A=1\n"


def test_buckets_are_listed_located_and_deleted(s3: Any) -> None:
    s3.create_bucket(Bucket="alpha")
    s3.create_bucket(Bucket="beta")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["alpha", "beta"]
    assert s3.get_bucket_location(Bucket="alpha")["LocationConstraint"] is None
    s3.head_bucket(Bucket="alpha")
    s3.delete_bucket(Bucket="alpha")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["beta"]
    assert error_of(s3.head_bucket, Bucket="alpha")["Error"]["Code"] == "404"


def test_location_constraint_is_kept(endpoint: str) -> None:
    west = make_client("s3", endpoint, region="eu-west-1")
    west.create_bucket(Bucket="west-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert west.get_bucket_location(Bucket="west-bucket")["LocationConstraint"] == "eu-west-1"
    assert west.head_bucket(Bucket="west-bucket")["BucketRegion"] == "eu-west-1"


def test_bucket_errors_have_s3_codes(s3: Any) -> None:
    s3.create_bucket(Bucket="taken")
    again = error_of(s3.create_bucket, Bucket="taken")
    assert again["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 409
    bad = error_of(s3.create_bucket, Bucket="Bad_Name")
    assert (bad["Error"]["Code"], bad["Error"]["Message"]) == (
        "InvalidBucketName",
        "The specified bucket is not valid.",
    )
    missing = error_of(s3.list_objects_v2, Bucket="nowhere")
    assert missing["Error"] == {
        "Code": "NoSuchBucket",
        "Message": "The specified bucket does not exist",
        "BucketName": "nowhere",
    }
    assert missing["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.put_object(Bucket="taken", Key="k", Body=b"x")
    full = error_of(s3.delete_bucket, Bucket="taken")
    assert (full["Error"]["Code"], full["ResponseMetadata"]["HTTPStatusCode"]) == ("BucketNotEmpty", 409)
    no_key = error_of(s3.get_object, Bucket="taken", Key="absent")
    assert no_key["Error"] == {"Code": "NoSuchKey", "Message": "The specified key does not exist.", "Key": "absent"}


def test_ranges_and_conditional_gets(s3: Any) -> None:
    s3.create_bucket(Bucket="ranges")
    data = bytes(range(256)) * 4
    etag = s3.put_object(Bucket="ranges", Key="blob", Body=data)["ETag"]
    part = s3.get_object(Bucket="ranges", Key="blob", Range="bytes=10-19")
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert part["Body"].read() == data[10:20] and part["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert s3.get_object(Bucket="ranges", Key="blob", Range="bytes=-5")["Body"].read() == data[-5:]
    assert s3.get_object(Bucket="ranges", Key="blob", Range="bytes=1000-")["Body"].read() == data[1000:]
    beyond = error_of(s3.get_object, Bucket="ranges", Key="blob", Range="bytes=5000-")
    assert (beyond["Error"]["Code"], beyond["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidRange", 416)
    unchanged = error_of(s3.get_object, Bucket="ranges", Key="blob", IfNoneMatch=etag)
    assert unchanged["ResponseMetadata"]["HTTPStatusCode"] == 304
    later = s3.head_object(Bucket="ranges", Key="blob")["LastModified"]
    assert error_of(s3.get_object, Bucket="ranges", Key="blob", IfModifiedSince=later)["Error"]["Code"] == "304"
    failed = error_of(s3.get_object, Bucket="ranges", Key="blob", IfMatch='"0000"')
    assert (failed["Error"]["Code"], failed["ResponseMetadata"]["HTTPStatusCode"]) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket="ranges", Key="blob", IfMatch=etag)["Body"].read() == data
    earlier = later - datetime.timedelta(seconds=5)
    stale = error_of(s3.get_object, Bucket="ranges", Key="blob", IfUnmodifiedSince=earlier)
    assert stale["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket="ranges", Key="blob", IfUnmodifiedSince=later)["ContentLength"] == len(data)


def test_listing_with_delimiter_and_pagination(s3: Any) -> None:
    s3.create_bucket(Bucket="listing")
    keys = ["a.txt", "dir/one", "dir/two", "dir/sub/three", "other/x", "z+plus y.txt"]
    for key in keys:
        s3.put_object(Bucket="listing", Key=key, Body=key.encode())
    top = s3.list_objects_v2(Bucket="listing", Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["a.txt", "z+plus y.txt"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir/", "other/"]
    assert top["KeyCount"] == 4
    inside = s3.list_objects_v2(Bucket="listing", Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in inside["Contents"]] == ["dir/one", "dir/two"]
    assert [p["Prefix"] for p in inside["CommonPrefixes"]] == ["dir/sub/"]
    seen, token, pages = [], None, 0
    while True:
        extra = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket="listing", MaxKeys=2, **extra)
        pages += 1
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(keys) and pages == 3
    after = s3.list_objects_v2(Bucket="listing", StartAfter="dir/two")
    assert [o["Key"] for o in after["Contents"]] == ["other/x", "z+plus y.txt"]
    paginator = s3.get_paginator("list_objects_v2")
    rolled = [
        p["Prefix"]
        for page in paginator.paginate(Bucket="listing", Delimiter="/", PaginationConfig={"PageSize": 1})
        for p in page.get("CommonPrefixes", [])
    ]
    assert rolled == ["dir/", "other/"]
    v1 = s3.list_objects(Bucket="listing", MaxKeys=3, Delimiter="/")
    assert v1["IsTruncated"] and v1["NextMarker"] == "other/"
    rest = s3.list_objects(Bucket="listing", Marker=v1["NextMarker"], Delimiter="/")
    assert [o["Key"] for o in rest["Contents"]] == ["z+plus y.txt"] and not rest["IsTruncated"]


def test_copy_keeps_or_replaces_metadata(s3: Any) -> None:
    s3.create_bucket(Bucket="src")
    s3.create_bucket(Bucket="dst")
    s3.put_object(Bucket="src", Key="orig", Body=b"payload", ContentType="text/x", Metadata={"a": "1"})
    copied = s3.copy_object(Bucket="dst", Key="copy", CopySource={"Bucket": "src", "Key": "orig"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"payload").hexdigest()}"'
    head = s3.head_object(Bucket="dst", Key="copy")
    assert (head["ContentType"], head["Metadata"]) == ("text/x", {"a": "1"})
    s3.copy_object(Bucket="src", Key="orig", CopySource="src/orig", MetadataDirective="REPLACE", Metadata={"b": "2"})
    assert s3.head_object(Bucket="src", Key="orig")["Metadata"] == {"b": "2"}
    itself = error_of(s3.copy_object, Bucket="src", Key="orig", CopySource="src/orig")
    assert itself["Error"]["Code"] == "InvalidRequest"
    assert s3.get_object(Bucket="dst", Key="copy")["Body"].read() == b"payload"


def test_delete_objects_and_delete_object(s3: Any) -> None:
    s3.create_bucket(Bucket="deletes")
    for key in ("a", "b", "c/d"):
        s3.put_object(Bucket="deletes", Key=key, Body=b"1")
    result = s3.delete_objects(Bucket="deletes", Delete={"Objects": [{"Key": "a"}, {"Key": "c/d"}, {"Key": "zz"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "c/d", "zz"]
    s3.delete_object(Bucket="deletes", Key="b")
    s3.delete_object(Bucket="deletes", Key="b")  # deleting what is gone succeeds, as in S3
    assert s3.list_objects_v2(Bucket="deletes")["KeyCount"] == 0
    s3.delete_bucket(Bucket="deletes")


def test_object_and_bucket_tags(s3: Any) -> None:
    s3.create_bucket(Bucket="tags")
    s3.put_object(Bucket="tags", Key="k", Body=b"v", Tagging="team=web&tier=1")
    assert s3.get_object_tagging(Bucket="tags", Key="k")["TagSet"] == [
        {"Key": "team", "Value": "web"},
        {"Key": "tier", "Value": "1"},
    ]
    s3.put_object_tagging(Bucket="tags", Key="k", Tagging={"TagSet": [{"Key": "x", "Value": "y"}]})
    assert s3.get_object_tagging(Bucket="tags", Key="k")["TagSet"] == [{"Key": "x", "Value": "y"}]
    s3.delete_object_tagging(Bucket="tags", Key="k")
    assert s3.get_object_tagging(Bucket="tags", Key="k")["TagSet"] == []
    assert error_of(s3.get_bucket_tagging, Bucket="tags")["Error"]["Code"] == "NoSuchTagSet"
    s3.put_bucket_tagging(Bucket="tags", Tagging={"TagSet": [{"Key": "env", "Value": "dev"}]})
    assert s3.get_bucket_tagging(Bucket="tags")["TagSet"] == [{"Key": "env", "Value": "dev"}]
    s3.delete_bucket_tagging(Bucket="tags")
    assert error_of(s3.get_bucket_tagging, Bucket="tags")["Error"]["Code"] == "NoSuchTagSet"


def test_bucket_configurations_are_stored_and_returned(s3: Any) -> None:
    s3.create_bucket(Bucket="cdk-assets")
    policy = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*"}]}
    )
    s3.put_bucket_policy(Bucket="cdk-assets", Policy=policy)
    assert s3.get_bucket_policy(Bucket="cdk-assets")["Policy"] == policy
    s3.put_bucket_versioning(Bucket="cdk-assets", VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket="cdk-assets")["Status"] == "Enabled"
    encryption = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}
    s3.put_bucket_encryption(Bucket="cdk-assets", ServerSideEncryptionConfiguration=encryption)
    got = s3.get_bucket_encryption(Bucket="cdk-assets")["ServerSideEncryptionConfiguration"]
    assert got["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = {k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}
    s3.put_public_access_block(Bucket="cdk-assets", PublicAccessBlockConfiguration=block)
    assert s3.get_public_access_block(Bucket="cdk-assets")["PublicAccessBlockConfiguration"] == block
    rules = [
        {
            "ID": "expire",
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        }
    ]
    s3.put_bucket_lifecycle_configuration(Bucket="cdk-assets", LifecycleConfiguration={"Rules": rules})
    stored = s3.get_bucket_lifecycle_configuration(Bucket="cdk-assets")["Rules"]
    assert stored[0]["ID"] == "expire" and stored[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    s3.delete_bucket_policy(Bucket="cdk-assets")
    assert error_of(s3.get_bucket_policy, Bucket="cdk-assets")["Error"]["Code"] == "NoSuchBucketPolicy"
    s3.delete_bucket_encryption(Bucket="cdk-assets")
    gone = error_of(s3.get_bucket_encryption, Bucket="cdk-assets")["Error"]["Code"]
    assert gone == "ServerSideEncryptionConfigurationNotFoundError"


def test_multipart_upload_of_20_mib_round_trips(s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="big")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(20 * 1024 * 1024))
    config = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)
    s3.upload_file(str(source), "big", "data/big.bin", Config=config)
    head = s3.head_object(Bucket="big", Key="data/big.bin")
    assert head["ContentLength"] == 20 * 1024 * 1024 and head["ETag"].endswith('-3"')
    target = tmp_path / "back.bin"
    s3.download_file("big", "data/big.bin", str(target), Config=config)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    assert s3.list_multipart_uploads(Bucket="big").get("Uploads") is None


def test_multipart_listing_abort_and_part_errors(s3: Any) -> None:
    s3.create_bucket(Bucket="parts")
    upload = s3.create_multipart_upload(Bucket="parts", Key="obj")["UploadId"]
    first = s3.upload_part(Bucket="parts", Key="obj", UploadId=upload, PartNumber=1, Body=b"a" * 10)
    s3.upload_part(Bucket="parts", Key="obj", UploadId=upload, PartNumber=2, Body=b"b" * 10)
    listed = s3.list_parts(Bucket="parts", Key="obj", UploadId=upload)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 10), (2, 10)]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="parts")["Uploads"]] == [upload]
    small = error_of(
        s3.complete_multipart_upload,
        Bucket="parts",
        Key="obj",
        UploadId=upload,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": listed["Parts"][1]["ETag"]}]
        },
    )
    assert small["Error"]["Code"] == "EntityTooSmall"
    wrong = error_of(
        s3.complete_multipart_upload,
        Bucket="parts",
        Key="obj",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"ffff"'}]},
    )
    assert wrong["Error"]["Code"] == "InvalidPart"
    single = s3.complete_multipart_upload(
        Bucket="parts",
        Key="obj",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": first["ETag"]}]},
    )
    assert single["ETag"].endswith('-1"')
    assert s3.get_object(Bucket="parts", Key="obj")["Body"].read() == b"a" * 10
    other = s3.create_multipart_upload(Bucket="parts", Key="gone")["UploadId"]
    s3.abort_multipart_upload(Bucket="parts", Key="gone", UploadId=other)
    missing = error_of(s3.list_parts, Bucket="parts", Key="gone", UploadId=other)
    assert (missing["Error"]["Code"], missing["Error"]["UploadId"]) == ("NoSuchUpload", other)


@pytest.mark.parametrize("signature", ["s3", "s3v4"])
def test_presigned_urls_work_with_a_plain_http_client(endpoint: str, signature: str) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(signature_version=signature),
    )
    s3.create_bucket(Bucket="shared")
    s3.put_object(Bucket="shared", Key="file name.txt", Body=b"shared bytes")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "shared", "Key": "file name.txt"}, ExpiresIn=60)
    assert ("X-Amz-Credential=" in url) == (signature == "s3v4")
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200 and response.content == b"shared bytes"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "shared", "Key": "up.txt"}, ExpiresIn=60)
    assert httpx.put(put_url, content=b"uploaded", timeout=10).status_code == 200
    assert s3.get_object(Bucket="shared", Key="up.txt")["Body"].read() == b"uploaded"
    missing = httpx.get(s3.generate_presigned_url("get_object", Params={"Bucket": "shared", "Key": "nope"}), timeout=10)
    assert missing.status_code == 404 and b"<Code>NoSuchKey</Code>" in missing.content


def test_unsigned_requests_keep_ecslite_routes(s3: Any, endpoint: str) -> None:
    # A bucket may share its name with one of ecslite's own mount points: only signed requests see it.
    s3.create_bucket(Bucket="loki")
    s3.put_object(Bucket="loki", Key="api/v1/labels", Body=b"bucket content")
    assert s3.get_object(Bucket="loki", Key="api/v1/labels")["Body"].read() == b"bucket content"
    unsigned = httpx.get(f"{endpoint}/loki/api/v1/labels", timeout=5)
    assert unsigned.status_code == 200 and unsigned.json()["status"] == "success"


def test_checksums_are_checked_and_returned(s3: Any, endpoint: str) -> None:
    s3.create_bucket(Bucket="sums")
    put = s3.put_object(Bucket="sums", Key="k", Body=b"checked", ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"checked").digest()).decode()
    got = s3.get_object(Bucket="sums", Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumSHA256"] == put["ChecksumSHA256"] and got["Body"].read() == b"checked"
    bad = error_of(s3.put_object, Bucket="sums", Key="k2", Body=b"x", ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert bad["Error"]["Code"] == "BadDigest"
    wrong_sum = error_of(s3.put_object, Bucket="sums", Key="k3", Body=b"x", ChecksumCRC32="AAAAAA==")
    assert (wrong_sum["Error"]["Code"], wrong_sum["Error"]["Message"]) == (
        "BadDigest",
        "The CRC32 you specified did not match the calculated checksum.",
    )
    assert s3.list_objects_v2(Bucket="sums")["KeyCount"] == 1


def _chunked(payload: bytes, size: int, trailer: bytes = b"", signature: str = "") -> bytes:
    out = b""
    for at in range(0, len(payload), size):
        piece = payload[at : at + size]
        out += f"{len(piece):x}{signature}\r\n".encode() + piece + b"\r\n"
    return out + f"0{signature}\r\n".encode() + trailer + b"\r\n"


def _signed(endpoint: str, **headers: str) -> dict[str, str]:
    return {
        "authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=00",
        **headers,
    }


def test_aws_chunked_uploads_are_decoded_and_their_trailer_checked(s3: Any, endpoint: str) -> None:
    # What botocore sends over HTTPS (STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer), and
    # SigV4 streaming with chunk signatures; sent by hand as the endpoint here is plain HTTP.
    s3.create_bucket(Bucket="chunked")
    payload = os.urandom(200_000)
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    trailer_headers = _signed(
        endpoint,
        **{
            "content-encoding": "aws-chunked",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-trailer": "x-amz-checksum-crc32",
            "x-amz-decoded-content-length": str(len(payload)),
        },
    )
    body = _chunked(payload, 65536, f"x-amz-checksum-crc32:{crc}\r\n".encode())
    put = httpx.put(f"{endpoint}/chunked/trailer.bin", content=body, headers=trailer_headers, timeout=10)
    assert put.status_code == 200 and put.headers["x-amz-checksum-crc32"] == crc
    got = s3.get_object(Bucket="chunked", Key="trailer.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == payload and got["ChecksumCRC32"] == crc
    sigv4 = _signed(
        endpoint,
        **{
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "x-amz-decoded-content-length": str(len(payload)),
        },
    )
    body = _chunked(payload, 8192, signature=";chunk-signature=" + "0" * 64)
    assert httpx.put(f"{endpoint}/chunked/signed.bin", content=body, headers=sigv4, timeout=10).status_code == 200
    assert s3.get_object(Bucket="chunked", Key="signed.bin")["Body"].read() == payload
    wrong = _chunked(payload, 65536, b"x-amz-checksum-crc32:AAAAAA==\r\n")
    refused = httpx.put(f"{endpoint}/chunked/bad.bin", content=wrong, headers=trailer_headers, timeout=10)
    assert refused.status_code == 400 and b"<Code>BadDigest</Code>" in refused.content
    short = _signed(endpoint, **{**trailer_headers, "x-amz-decoded-content-length": str(len(payload) + 1)})
    cut = httpx.put(f"{endpoint}/chunked/short.bin", content=body, headers=short, timeout=10)
    assert cut.status_code == 400 and b"<Code>IncompleteBody</Code>" in cut.content
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="chunked")["Contents"]] == ["signed.bin", "trailer.bin"]


def test_objects_and_their_metadata_survive_a_restart(tmp_path: Path) -> None:
    running = start_server(tmp_path / "data", ephemeral=False)
    try:
        s3 = make_client("s3", running.endpoint)
        s3.create_bucket(Bucket="durable")
        s3.put_object(Bucket="durable", Key="k", Body=b"kept", ContentType="text/plain", Metadata={"m": "1"})
        s3.put_object_tagging(Bucket="durable", Key="k", Tagging={"TagSet": [{"Key": "t", "Value": "v"}]})
        etag = s3.head_object(Bucket="durable", Key="k")["ETag"]
    finally:
        stop_server(running)
    running = start_server(tmp_path / "data", ephemeral=False)
    try:
        s3 = make_client("s3", running.endpoint)
        got = s3.get_object(Bucket="durable", Key="k")
        assert (got["Body"].read(), got["ETag"], got["ContentType"], got["Metadata"]) == (
            b"kept",
            etag,
            "text/plain",
            {"m": "1"},
        )
        assert s3.get_object_tagging(Bucket="durable", Key="k")["TagSet"] == [{"Key": "t", "Value": "v"}]
    finally:
        stop_server(running)


def test_conditional_writes(s3: Any) -> None:
    s3.create_bucket(Bucket="cond")
    first = s3.put_object(Bucket="cond", Key="lock", Body=b"1", IfNoneMatch="*")
    taken = error_of(s3.put_object, Bucket="cond", Key="lock", Body=b"2", IfNoneMatch="*")
    assert (taken["Error"]["Code"], taken["ResponseMetadata"]["HTTPStatusCode"]) == ("PreconditionFailed", 412)
    # Refused before its body was read, the last request must not leave bytes that the client's
    # next request on the same connection would be taken to start with.
    stale = error_of(s3.put_object, Bucket="cond", Key="lock", Body=b"3", IfMatch='"0123"')
    assert stale["Error"]["Code"] == "PreconditionFailed"
    s3.put_object(Bucket="cond", Key="lock", Body=b"4", IfMatch=first["ETag"])
    assert s3.get_object(Bucket="cond", Key="lock")["Body"].read() == b"4"
    assert s3.list_objects_v2(Bucket="cond")["KeyCount"] == 1
