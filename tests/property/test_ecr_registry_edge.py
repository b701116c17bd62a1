"""Property test of ECR's registry: whatever request reaches ``/v2/`` (random methods, repository
paths, references, query strings, headers and bodies, with and without a password), the answer is a
success or the distribution API's JSON error, never a 5xx, and what is stored stays consistent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecslite.clock import SystemClock
from ecslite.providers.base import RequestContext
from ecslite.providers.ecr.provider import EcrProvider
from ecslite.providers.ecr.registry import Registry
from tests.fixtures.oci_push import Image, digest, layer
from tests.property.conftest import property_settings
from tests.property.harness import EdgePart

PROPERTY = property_settings(200)
ACCOUNT, REGION = "000000000000", "us-east-1"


class _Registry(EdgePart):
    base_url = "http://registry.local"

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.provider = EcrProvider(self.db, SystemClock(), root)
        self.part = Registry(self.db, SystemClock(), self.provider.blobs, self.provider.signer)
        ctx = RequestContext(ACCOUNT, REGION, "r", "ecr", "CreateRepository")
        self.provider.create_repository(ctx, {"repositoryName": "seed"})
        token = self.provider.get_authorization_token(ctx, {})["authorizationData"][0]["authorizationToken"]
        self.auth = {"authorization": f"Basic {token}"}


IMAGE = Image([layer({"f": "x"})])


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Registry]:
    harness = _Registry(tmp_path_factory.mktemp("ecr"))
    for blob in [IMAGE.config_blob(), *IMAGE.layers]:
        answer = harness.send("POST", f"/v2/seed/blobs/uploads/?digest={digest(blob)}", harness.auth, blob)
        assert answer.status_code == 201
    put = harness.send(
        "PUT", "/v2/seed/manifests/v1", {**harness.auth, "content-type": IMAGE.media_type}, IMAGE.manifest()
    )
    assert put.status_code == 201
    yield harness
    harness.close()


_SEGMENTS = st.sampled_from(
    ["seed", "blobs", "uploads", "manifests", "tags", "list", "v1", digest(b"x"), "sha256:zz", "..", "%00", "UP", ""]
)
_QUERIES = st.sampled_from(
    [
        "",
        "?digest=" + digest(b"body"),
        "?digest=sha256:nothex",
        "?mount=" + digest(IMAGE.layers[0]) + "&from=seed",
        "?mount=x&from=..",
        "?n=abc",
        "?n=1&last=v0",
        "?digest=",
    ]
)
_HEADERS = st.dictionaries(
    st.sampled_from(["content-range", "content-type", "accept", "range"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
    | st.sampled_from(["0-0", "5-9", "application/vnd.oci.image.index.v1+json", "bytes=0-3"]),
    max_size=3,
)
_BODIES = st.binary(max_size=200) | st.sampled_from(
    [b"body", IMAGE.manifest(), b'{"schemaVersion": 2, "manifests": [{"digest": 5}]}', b'{"schemaVersion": 2}']
)


@PROPERTY
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"]),
    segments=st.lists(_SEGMENTS, max_size=5),
    query=_QUERIES,
    headers=_HEADERS,
    body=_BODIES,
    signed=st.booleans(),
)
def test_any_request_gets_a_registry_answer_never_a_server_error(
    registry: _Registry,
    method: str,
    segments: list[str],
    query: str,
    headers: dict[str, str],
    body: bytes,
    signed: bool,
) -> None:
    url = "/v2/" + "/".join(segments) + query
    sent = {**headers, **(registry.auth if signed else {})}
    response = registry.send(method, url, sent, body)
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and method != "HEAD":
        errors = response.json()["errors"]
        assert errors and errors[0]["code"] and errors[0]["message"]
    if not signed:
        assert response.status_code == 401
    # Every blob a repository holds is a file with that digest.
    for row in registry.db.query("SELECT digest FROM ecr_layers"):
        path = registry.provider.blobs.path(row["digest"])
        assert digest(path.read_bytes()) == row["digest"]
