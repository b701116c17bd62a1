"""``TemplateURL``: a template read from ecslite's own S3.

CloudFormation takes the URL of an S3 object, path-style (``https://s3.<region>.amazonaws.com/<bucket>/
<key>``, or ecslite's own endpoint: ``aws cloudformation deploy --s3-bucket`` and ``package`` write
URLs on the endpoint they uploaded to) or virtual-hosted (``https://<bucket>.s3.<region>.amazonaws.com/
<key>``). The object is read from the ``s3`` provider of the same account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import regex

from ecslite.protocol.errors import AwsError
from ecslite.providers.base import RequestContext
from ecslite.providers.cloudformation import errors

# CloudFormation's limit for a template given by URL.
MAX_BYTES = 1_048_576
_VIRTUAL_HOST = regex.compile(r"(?P<bucket>.+)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?")
# (unverified) CloudFormation's texts.
BAD_URL = "TemplateURL must be a supported URL."
TOO_LARGE = "Template may not exceed 1048576 bytes in size."


def location(url: str) -> tuple[str, str]:
    """The (bucket, key) a TemplateURL names; ValidationError for one that names no S3 object."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.ValidationError(BAD_URL)
    path = unquote(parts.path)
    hosted = _VIRTUAL_HOST.fullmatch(parts.hostname)
    if hosted:
        bucket, key = hosted["bucket"], path.lstrip("/")
    else:
        bucket, _, key = path.lstrip("/").partition("/")
    if not bucket or not key:
        raise errors.ValidationError(BAD_URL)
    return bucket, key


def read(providers: Mapping[str, object], ctx: RequestContext, url: str) -> str:
    """The template body at ``url``."""
    bucket, key = location(url)
    s3: Any = providers.get("s3")
    if s3 is None:
        raise errors.ValidationError(errors.TEMPLATE_URL)
    s3_ctx = RequestContext(ctx.account, ctx.region, ctx.request_id, "s3", "GetObject", ctx.access_key)
    try:
        found = s3.get_object(s3_ctx, {"Bucket": bucket, "Key": key})
    except AwsError as error:
        raise errors.ValidationError(f"S3 error: {error.message}") from None
    body = found["Body"]
    if body.length > MAX_BYTES:
        raise errors.ValidationError(TOO_LARGE)
    with open(body.path, "rb") as handle:
        handle.seek(body.offset)
        data: bytes = handle.read(body.length)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.ValidationError("Template format error: the template is not UTF-8 text.") from None  # unverified
