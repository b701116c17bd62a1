"""S3's errors: codes, statuses, messages and the extra elements S3 puts beside them."""

from __future__ import annotations

from typing import Any

from ecslite.protocol.errors import AwsError


class S3Error(AwsError):
    def __init__(self, code: str, message: str, status: int = 400, **fields: Any) -> None:
        super().__init__(code, message, status)
        self.fields = {k: v for k, v in fields.items() if v is not None}


def no_such_bucket(name: str) -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=name)


def no_such_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted"
        " or completed.",
        404,
        UploadId=upload_id,
    )


def invalid_bucket_name(name: str) -> S3Error:
    return S3Error("InvalidBucketName", "The specified bucket is not valid.", BucketName=name)


def owned_by_you(name: str) -> S3Error:
    return S3Error(
        "BucketAlreadyOwnedByYou",
        "Your previous request to create the named bucket succeeded and you already own it.",
        409,
        BucketName=name,
    )


def already_exists(name: str) -> S3Error:
    return S3Error(
        "BucketAlreadyExists",
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system."
        " Please select a different name and try again.",
        409,
        BucketName=name,
    )


def not_empty(name: str) -> S3Error:
    return S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty", 409, BucketName=name)


def invalid_argument(message: str, name: str | None = None, value: str | None = None) -> S3Error:
    return S3Error("InvalidArgument", message, ArgumentName=name, ArgumentValue=value)


def invalid_request(message: str) -> S3Error:
    return S3Error("InvalidRequest", message)


def bad_digest(what: str = "Content-MD5") -> S3Error:
    if what == "Content-MD5":
        return S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.")
    return S3Error("BadDigest", f"The {what} you specified did not match the calculated checksum.")


def invalid_digest() -> S3Error:
    return S3Error("InvalidDigest", "The Content-MD5 you specified is not valid.")


def invalid_range(requested: str, size: int) -> S3Error:
    return S3Error(
        "InvalidRange", "The requested range is not satisfiable", 416, RangeRequested=requested, ActualObjectSize=size
    )


def precondition_failed(condition: str) -> S3Error:
    return S3Error(
        "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412, Condition=condition
    )


def not_modified() -> S3Error:
    return S3Error("NotModified", "Not Modified", 304)


def invalid_part() -> S3Error:
    return S3Error(
        "InvalidPart",
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the"
        " specified entity tag may not match the part's entity tag.",
    )


def invalid_part_order() -> S3Error:
    return S3Error(
        "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number."
    )


def entity_too_small() -> S3Error:
    return S3Error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")


def key_too_long() -> S3Error:
    return S3Error("KeyTooLongError", "Your key is too long")


def not_found_config(code: str, message: str, bucket: str) -> S3Error:
    return S3Error(code, message, 404, BucketName=bucket)


def invalid_location(constraint: str) -> S3Error:
    return S3Error(
        "InvalidLocationConstraint", "The specified location-constraint is not valid", LocationConstraint=constraint
    )


def illegal_location(constraint: str | None) -> S3Error:
    named = constraint or "unspecified"
    return S3Error(
        "IllegalLocationConstraintException",
        f"The {named} location constraint is incompatible for the region specific endpoint this request was sent to.",
    )


def key_not_storable(key: str) -> S3Error:
    # A deliberate difference from S3 (the files are the objects): noted in the docs.
    return S3Error("InvalidArgument", "ecslite cannot store this key as a file.", ArgumentName="key", ArgumentValue=key)
