"""The S3 request path: a request signed for ``s3`` (its SigV4 credential scope, in the
``Authorization`` header or a presigned URL's ``X-Amz-Credential``) is S3's, whatever its path;
an unsigned one never is, so ecslite's own routes stay where they are.

Unlike the other services, S3 bodies are streamed both ways: PutObject and UploadPart bodies go
from the connection to disk as they arrive (aws-chunked decoded), and GetObject bodies from disk to
the connection, so a large object is never held in memory. Other S3 bodies (XML documents) are read
whole, up to :data:`MAX_XML_BODY`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any
from urllib.parse import parse_qs

from ecslite.edge.asgi import Headers, Message, Receive, Send, read_body, respond
from ecslite.edge.auth import AccessKeyResolver, account_for, credential_scope
from ecslite.edge.s3_body import StreamingBody, check_body
from ecslite.protocol import rest_xml
from ecslite.protocol.errors import AwsError
from ecslite.protocol.models import operation_model
from ecslite.protocol.validate import validate
from ecslite.providers.base import RequestContext, call_handler, find_handler
from ecslite.providers.s3.files import READ_CHUNK, FileBody

log = logging.getLogger(__name__)

MAX_XML_BODY = 16 * 1024 * 1024


def is_s3_request(headers: dict[str, str], query_string: str) -> bool:
    """Signed for S3: a SigV4 scope naming ``s3``, or S3's own legacy signature (``Authorization: AWS
    <key>:<sig>``, or a presigned URL's ``AWSAccessKeyId`` and ``Signature``, which botocore still
    makes by default), which no other service ecslite serves uses."""
    scope = credential_scope(headers, query_string)
    if scope is not None:
        return scope.service == "s3"
    if headers.get("authorization", "").startswith("AWS "):
        return True
    return "AWSAccessKeyId=" in query_string and "Signature=" in query_string


def _legacy_access_key(headers: dict[str, str], query_string: str) -> str | None:
    authorization = headers.get("authorization", "")
    if authorization.startswith("AWS "):
        return authorization[4:].split(":", 1)[0].strip() or None
    values = parse_qs(query_string).get("AWSAccessKeyId")
    return values[0] if values else None


def internal_error() -> AwsError:
    return AwsError("InternalError", "We encountered an internal error. Please try again.", 500, sender_fault=False)


class S3Edge:
    def __init__(
        self,
        provider: object,
        account_id: str,
        region: str,
        account_resolver: AccessKeyResolver | None = None,
    ) -> None:
        self.provider = provider
        self.account_id = account_id
        self.region = region
        self.account_resolver = account_resolver

    async def handle(self, scope: Message, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        request_id = uuid.uuid4().hex[:16].upper()
        method = str(scope["method"])
        query_string = scope.get("query_string", b"").decode("latin-1")
        tracked = _TrackedReceive(receive)
        closing = _CloseUnlessRead(send, tracked)
        try:
            status, extra, body = await self._answer(scope, tracked, headers, query_string, request_id)
        except AwsError as error:
            await self._send_error(closing, error, request_id, method)
            return
        except Exception:
            log.exception("request failed", extra={"request_id": request_id, "service": "s3"})
            await self._send_error(closing, internal_error(), request_id, method)
            return
        await self._send(closing, status, extra, body, request_id, method)

    async def _answer(
        self, scope: Message, receive: Receive, headers: dict[str, str], query_string: str, request_id: str
    ) -> tuple[int, Headers, Any]:
        method = str(scope["method"])
        raw_path = scope.get("raw_path") or str(scope["path"]).encode()
        target = rest_xml.split_path(raw_path.decode("latin-1"))
        query = parse_qs(query_string, keep_blank_values=True)
        op = operation_model("s3", rest_xml.route(method, target, query, headers))
        assert op is not None  # routes come from the model's operations
        streaming = rest_xml.streaming_payload(op)
        body = b"" if streaming else check_body(headers, await _read_whole(receive))
        params = rest_xml.parse_request(op, target, query, headers, body)
        validate(op.input_shape, params, "InvalidArgument")
        if streaming:
            params[streaming] = StreamingBody(receive, headers)
        handler = find_handler(self.provider, op.name)
        if handler is None:
            raise AwsError("NotImplemented", "A header you provided implies functionality that is not implemented", 501)
        signed = credential_scope(headers, query_string)
        access_key = signed.access_key if signed else _legacy_access_key(headers, query_string)
        ctx = RequestContext(
            account=account_for(access_key, self.account_id, self.account_resolver),
            region=signed.region if signed else self.region,
            request_id=request_id,
            service="s3",
            operation=op.name,
            access_key=access_key,
        )
        result = await call_handler(handler, ctx, params)
        status, extra, payload = rest_xml.serialize_response(op, result)
        if op.name == "GetObject" and result and "ContentRange" in result:
            status = 206
        return status, extra, payload

    async def _send(self, send: Send, status: int, extra: Headers, body: Any, request_id: str, method: str) -> None:
        headers = [*_request_headers(request_id), *extra]
        if isinstance(body, FileBody):
            await _send_file(send, status, headers, body, method, request_id)
            return
        names = {name for name, _ in extra}
        if body and b"content-type" not in names:
            headers.append((b"content-type", rest_xml.CONTENT_TYPE.encode()))
        # A HEAD answer states the size its operation gave (HeadObject's object size), else 0.
        stated = next((int(v) for k, v in headers if k == b"content-length"), 0)
        sized = [h for h in headers if h[0] != b"content-length"]
        if method == "HEAD":
            await respond(send, status, sized, b"", length=stated)
        else:
            await respond(send, status, sized, body)

    async def _send_error(self, send: Send, error: AwsError, request_id: str, method: str) -> None:
        # HEAD answers and 304 carry no body: botocore names the error from the status alone.
        bare = method == "HEAD" or error.status == 304
        body = b"" if bare else rest_xml.serialize_error(error, request_id)
        headers = _request_headers(request_id)
        if body:
            headers.append((b"content-type", rest_xml.CONTENT_TYPE.encode()))
        await respond(send, error.status, headers, body)


class _TrackedReceive:
    """``receive`` that notes whether the request body has been read to its end."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.finished = False

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            self.finished = True
        return message


class _CloseUnlessRead:
    """``send`` that closes the connection after a response given before the body was read (an
    error found first): the unread bytes must not be taken for the client's next request."""

    def __init__(self, send: Send, receive: _TrackedReceive) -> None:
        self._send = send
        self._receive = receive

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not self._receive.finished:
            message = {**message, "headers": [*message["headers"], (b"connection", b"close")]}
        await self._send(message)


def _request_headers(request_id: str) -> Headers:
    return [(b"x-amz-request-id", request_id.encode()), (b"x-amz-id-2", request_id.encode())]


async def _read_whole(receive: Receive) -> bytes:
    body = await read_body(receive, MAX_XML_BODY)
    if body is None:
        raise AwsError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    return body


async def _send_file(send: Send, status: int, headers: Headers, body: FileBody, method: str, request_id: str) -> None:
    try:
        handle = await asyncio.to_thread(open, body.path, "rb")
    except OSError:
        # The file was removed by hand behind the store's back: the object is gone.
        log.warning("object file missing", extra={"path": str(body.path)})
        error = AwsError("NoSuchKey", "The specified key does not exist.", 404)
        body_bytes = rest_xml.serialize_error(error, request_id)
        await respond(send, 404, _request_headers(request_id), body_bytes)
        return
    try:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if method == "HEAD" or body.length == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        await asyncio.to_thread(handle.seek, body.offset)
        remaining = body.length
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(READ_CHUNK, remaining))
            if not chunk:
                break  # the file shrank behind the store's back: the response ends short
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        if remaining > 0:
            await send({"type": "http.response.body", "body": b""})
    finally:
        await asyncio.to_thread(handle.close)
