"""The registry: the OCI Distribution API (Docker Registry HTTP API v2) under ``/v2/`` for ECR's
repositories, so ``docker push``/``docker pull``, skopeo and crane work against ecslite.

Every request needs the ``AWS`` user and a password from GetAuthorizationToken (``docker login -u AWS
-p $(aws ecr get-login-password)``): it names the account and region whose repositories the
request reaches, as the registry host does on ECR. Anything else is answered 401 with a Basic
challenge. Blobs are streamed to and from files and their digests verified before they are kept;
manifests go through the same checks as PutImage (``images.put``).
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse

import orjson

from ecslite.clock import Clock
from ecslite.edge.asgi import Headers, Receive, Scope, Send, read_body, respond
from ecslite.protocol.errors import AwsError
from ecslite.providers.ecr import errors, images
from ecslite.providers.ecr.auth import Grant, TokenSigner
from ecslite.providers.ecr.blobs import CHUNK, DIGEST, BlobStore, Upload
from ecslite.store import ecr as store
from ecslite.store.db import Database

MAX_MANIFEST = 4 * 1024 * 1024
# The distribution spec's tag grammar.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_NAME = r"(?P<name>[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*)"
_ROUTES = [
    (re.compile(rf"/v2/{_NAME}/blobs/uploads/?"), "uploads"),
    (re.compile(rf"/v2/{_NAME}/blobs/uploads/(?P<id>[A-Za-z0-9-]+)"), "upload"),
    (re.compile(rf"/v2/{_NAME}/blobs/(?P<digest>[^/]+)"), "blob"),
    (re.compile(rf"/v2/{_NAME}/manifests/(?P<reference>[^/]+)"), "manifest"),
    (re.compile(rf"/v2/{_NAME}/tags/list"), "tags"),
]


def is_registry_path(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


class RegistryError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or []


class Registry:
    def __init__(self, db: Database, clock: Clock, blobs: BlobStore, signer: TokenSigner) -> None:
        self.db, self.clock, self.blobs, self.signer = db, clock, blobs, signer

    async def handle(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        try:
            grant = self.signer.check(headers.get("authorization"), self.clock.now())
            if grant is None:
                realm = f"{scope.get('scheme', 'http')}://{headers.get('host', 'localhost')}/"
                challenge = f'Basic realm="{realm}",service="ecr.amazonaws.com"'.encode()
                raise RegistryError(401, "UNAUTHORIZED", "authentication required", [(b"www-authenticate", challenge)])
            await self._route(scope, receive, send, headers, grant)
        except RegistryError as error:
            body = orjson.dumps({"errors": [{"code": error.code, "message": error.message, "detail": {}}]})
            await _respond(send, error.status, body, [(b"content-type", b"application/json"), *error.headers])

    async def _route(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str], grant: Grant) -> None:
        path, method = scope["path"], scope["method"]
        query = dict(urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if path in ("/v2", "/v2/"):
            await _respond(send, 200, b"{}", [(b"content-type", b"application/json")])
            return
        for pattern, kind in _ROUTES:
            found = pattern.fullmatch(path)
            if found is None:
                continue
            repo = store.Repo(grant.account, grant.region, found["name"])
            if store.get_repository(self.db, repo) is None:
                raise RegistryError(
                    404, "NAME_UNKNOWN", str(errors.repository_not_found(repo.name, repo.account).message)
                )
            args = found.groupdict()
            if kind == "uploads" and method == "POST":
                await self._start_upload(repo, query, receive, send)
            elif kind == "upload":
                await self._upload(repo, args["id"], method, query, headers, receive, send)
            elif kind == "blob" and method in ("GET", "HEAD"):
                await self._blob(repo, args["digest"], method, send)
            elif kind == "manifest" and method in ("GET", "HEAD", "PUT", "DELETE"):
                await self._manifest(repo, args["reference"], method, headers, receive, send)
            elif kind == "tags" and method == "GET":
                await self._tags(repo, query, send)
            else:
                raise RegistryError(405, "UNSUPPORTED", f"{method} is not supported here")
            return
        raise RegistryError(404, "NAME_INVALID", f"invalid repository name or path: {path}")

    # -- blobs -------------------------------------------------------------------------------------

    async def _blob(self, repo: store.Repo, digest: str, method: str, send: Send) -> None:
        if not DIGEST.fullmatch(digest):
            raise RegistryError(400, "DIGEST_INVALID", f"invalid digest {digest}")
        if not store.has_layer(self.db, repo, digest) or not self.blobs.exists(digest):
            raise RegistryError(404, "BLOB_UNKNOWN", f"blob {digest} not found in repository {repo.name}")
        path = self.blobs.path(digest)
        size = path.stat().st_size
        head: Headers = [
            (b"content-type", b"application/octet-stream"),
            (b"docker-content-digest", digest.encode()),
            (b"content-length", str(size).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        if method == "HEAD":
            await send({"type": "http.response.body", "body": b""})
            return
        with path.open("rb") as data:
            while True:
                chunk = await asyncio.to_thread(data.read, CHUNK)
                more = len(chunk) == CHUNK
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
                if not more:
                    return

    async def _start_upload(self, repo: store.Repo, query: dict[str, str], receive: Receive, send: Send) -> None:
        mount, source = query.get("mount"), query.get("from")
        if mount and source:
            # Cross-repository mount: the blob joins this repository without being sent again.
            origin = store.Repo(repo.account, repo.region, source)
            size = store.layer_size(self.db, origin, mount)
            if size is not None and self.blobs.exists(mount):
                with self.db.transaction():
                    store.add_layer(self.db, repo, mount, size)
                await self._created(send, repo, mount)
                return
        upload = self.blobs.start(repo.account, repo.region, repo.name)
        digest = query.get("digest")
        if digest:
            # Monolithic upload: the whole blob in this one request.
            await _append(upload, receive)
            await self._finish(repo, upload, digest, send)
            return
        await _drain(receive)
        await self._accepted(send, repo, upload, 202)

    async def _upload(
        self,
        repo: store.Repo,
        upload_id: str,
        method: str,
        query: dict[str, str],
        headers: dict[str, str],
        receive: Receive,
        send: Send,
    ) -> None:
        upload = self.blobs.upload(upload_id)
        if upload is None or (upload.account, upload.region, upload.repository) != (
            repo.account,
            repo.region,
            repo.name,
        ):
            raise RegistryError(404, "BLOB_UPLOAD_UNKNOWN", f"upload {upload_id} not found")
        if method == "GET":
            await self._accepted(send, repo, upload, 204)
        elif method == "DELETE":
            self.blobs.cancel(upload)
            await _respond(send, 204, b"", [])
        elif method in ("PATCH", "PUT"):
            content_range = headers.get("content-range")
            if content_range and method == "PATCH":
                start = content_range.partition("-")[0].strip().removeprefix("bytes=").removeprefix("bytes ")
                if not start.isdigit() or int(start) != upload.size:
                    raise RegistryError(
                        416,
                        "BLOB_UPLOAD_INVALID",
                        f"chunk starts at {start}, upload has {upload.size} bytes",
                        [(b"range", _range(upload.size)), (b"location", _upload_location(repo, upload))],
                    )
            await _append(upload, receive)
            if method == "PATCH":
                await self._accepted(send, repo, upload, 202)
            else:
                await self._finish(repo, upload, query.get("digest", ""), send)
        else:
            raise RegistryError(405, "UNSUPPORTED", f"{method} is not supported on an upload")

    async def _finish(self, repo: store.Repo, upload: Upload, digest: str, send: Send) -> None:
        if not DIGEST.fullmatch(digest):
            self.blobs.cancel(upload)
            raise RegistryError(400, "DIGEST_INVALID", f"invalid or unsupported digest {digest!r}")
        size = await asyncio.to_thread(self.blobs.commit, upload, digest)
        if size is None:
            self.blobs.cancel(upload)
            raise RegistryError(400, "DIGEST_INVALID", f"the uploaded content does not match digest {digest}")
        with self.db.transaction():
            store.add_layer(self.db, repo, digest, size)
        await self._created(send, repo, digest)

    async def _created(self, send: Send, repo: store.Repo, digest: str) -> None:
        location = f"/v2/{repo.name}/blobs/{digest}".encode()
        await _respond(send, 201, b"", [(b"location", location), (b"docker-content-digest", digest.encode())])

    async def _accepted(self, send: Send, repo: store.Repo, upload: Upload, status: int) -> None:
        head = [
            (b"location", _upload_location(repo, upload)),
            (b"range", _range(upload.size)),
            (b"docker-upload-uuid", upload.upload_id.encode()),
        ]
        await _respond(send, status, b"", head)

    # -- manifests and tags ------------------------------------------------------------------------

    async def _manifest(
        self, repo: store.Repo, reference: str, method: str, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        if method == "PUT":
            await self._put_manifest(repo, reference, headers, receive, send)
            return
        image = images.resolve(self.db, repo, reference)
        if image is None:
            raise RegistryError(404, "MANIFEST_UNKNOWN", f"manifest {reference} not found in repository {repo.name}")
        digest = image["imageDigest"]
        if method == "DELETE":
            with self.db.transaction():
                if reference.startswith("sha256:"):
                    store.delete_image(self.db, repo, digest)
                else:
                    store.remove_tag(self.db, repo, reference)
                    if not store.tags_by_digest(self.db, repo).get(digest):
                        store.delete_image(self.db, repo, digest)
            await _respond(send, 202, b"", [])
            return
        body = image["imageManifest"].encode("utf-8")
        head: Headers = [
            (b"content-type", image["imageManifestMediaType"].encode()),
            (b"docker-content-digest", digest.encode()),
        ]
        await _respond(send, 200, b"" if method == "HEAD" else body, head, length=len(body))

    async def _put_manifest(
        self, repo: store.Repo, reference: str, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        data = await read_body(receive, MAX_MANIFEST)
        if data is None:
            raise RegistryError(413, "SIZE_INVALID", f"a manifest is limited to {MAX_MANIFEST} bytes")
        is_digest = reference.startswith("sha256:")
        if not is_digest and not _TAG.fullmatch(reference):
            raise RegistryError(400, "TAG_INVALID", f"invalid tag {reference!r}")
        try:
            manifest = images.parse(data, headers.get("content-type", "").partition(";")[0].strip() or None)
            if is_digest and manifest.digest != reference:
                raise RegistryError(400, "DIGEST_INVALID", f"the manifest's digest is {manifest.digest}")
            tag = None if is_digest else reference
            # On the event loop's thread, as every write: the store's one connection is not for
            # transactions from two threads at once.
            images.put(self.db, repo, manifest, tag, round(self.clock.now(), 3), refuse_repeat=False)
        except errors.LayersNotFoundException as missing:
            raise RegistryError(400, "MANIFEST_BLOB_UNKNOWN", missing.message) from None
        except errors.ReferencedImagesNotFoundException as missing:
            raise RegistryError(400, "MANIFEST_UNKNOWN", missing.message) from None
        except errors.ImageTagAlreadyExistsException as taken:
            raise RegistryError(400, "TAG_INVALID", taken.message) from None
        except AwsError as error:
            raise RegistryError(400, "MANIFEST_INVALID", error.message) from None
        location = f"/v2/{repo.name}/manifests/{manifest.digest}".encode()
        await _respond(send, 201, b"", [(b"location", location), (b"docker-content-digest", manifest.digest.encode())])

    async def _tags(self, repo: store.Repo, query: dict[str, str], send: Send) -> None:
        tags = sorted(t for found in store.tags_by_digest(self.db, repo).values() for t in found)
        last = query.get("last")
        if last:
            tags = [t for t in tags if t > last]
        head: Headers = [(b"content-type", b"application/json")]
        count = query.get("n")
        if count is not None and count.isdigit():
            shown = tags[: int(count)]
            if len(shown) < len(tags) and shown:
                link = f'</v2/{repo.name}/tags/list?n={count}&last={urllib.parse.quote(shown[-1])}>; rel="next"'
                head.append((b"link", link.encode()))
            tags = shown
        await _respond(send, 200, orjson.dumps({"name": repo.name, "tags": tags}), head)


def _upload_location(repo: store.Repo, upload: Upload) -> bytes:
    return f"/v2/{repo.name}/blobs/uploads/{upload.upload_id}".encode()


def _range(size: int) -> bytes:
    # The bytes received so far, inclusive; "0-0" also stands for an empty upload (as in distribution).
    return f"0-{max(size - 1, 0)}".encode()


async def _append(upload: Upload, receive: Receive) -> None:
    with upload.path.open("ab") as out:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if chunk:
                out.write(chunk)
            if not message.get("more_body", False):
                return


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return


async def _respond(send: Send, status: int, body: bytes, headers: Headers, *, length: int | None = None) -> None:
    await respond(send, status, [*headers, (b"docker-distribution-api-version", b"registry/2.0")], body, length=length)
