"""ECR's registry (the OCI Distribution API under /v2/) through plain HTTP, and what ECR's API shows of
the images pushed through it; skopeo and docker (a private dockerd) as registry clients."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx
import pytest

from tests.conftest import REGION, make_client, start_server, stop_server
from tests.fixtures.aws_cli import run_aws
from tests.fixtures.capability import missing
from tests.fixtures.dockerd import DockerDaemon, dockerd  # noqa: F401 - fixture
from tests.fixtures.oci_push import OCI_INDEX, OCI_MANIFEST, Image, RegistryClient, digest, layer, write_layout

ACCOUNT = "000000000000"


@pytest.fixture
def ecr(endpoint: str) -> Any:
    return make_client("ecr", endpoint)


def password_of(ecr: Any) -> str:
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    return base64.b64decode(token).decode().partition(":")[2]


@pytest.fixture
def registry(ecr: Any, endpoint: str) -> Iterator[RegistryClient]:
    client = RegistryClient(endpoint, password_of(ecr))
    yield client
    client.close()


def small_image(text: str = "hello") -> Image:
    return Image([layer({"app/hello.txt": text})], {"Cmd": ["cat", "/app/hello.txt"]})


def test_v2_asks_for_basic_credentials_and_accepts_the_ecr_password(ecr: Any, endpoint: str) -> None:
    anonymous = httpx.get(f"{endpoint}/v2/")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith('Basic realm="')
    assert anonymous.json()["errors"][0]["code"] == "UNAUTHORIZED"
    forged = base64.b64encode(b"AWS:made-up.password").decode()
    assert httpx.get(f"{endpoint}/v2/", headers={"Authorization": f"Basic {forged}"}).status_code == 401
    wrong_user = base64.b64encode(f"admin:{password_of(ecr)}".encode()).decode()
    assert httpx.get(f"{endpoint}/v2/", headers={"Authorization": f"Basic {wrong_user}"}).status_code == 401
    good = base64.b64encode(f"AWS:{password_of(ecr)}".encode()).decode()
    answer = httpx.get(f"{endpoint}/v2/", headers={"Authorization": f"Basic {good}"})
    assert answer.status_code == 200
    assert answer.headers["docker-distribution-api-version"] == "registry/2.0"


def test_push_then_pull_by_tag_and_digest(ecr: Any, registry: RegistryClient) -> None:
    ecr.create_repository(repositoryName="team/app")
    image = small_image()
    pushed = registry.push("team/app", "v1", image)
    assert pushed == digest(image.manifest())
    by_tag = registry.http.get("/v2/team/app/manifests/v1", headers={"Accept": image.media_type})
    assert by_tag.status_code == 200
    assert by_tag.content == image.manifest()  # byte for byte, so the digest holds
    assert by_tag.headers["docker-content-digest"] == pushed
    assert by_tag.headers["content-type"] == image.media_type
    head = registry.http.head(f"/v2/team/app/manifests/{pushed}")
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(image.manifest())
    blob = registry.http.get(f"/v2/team/app/blobs/{digest(image.layers[0])}")
    assert blob.content == image.layers[0]
    assert registry.http.get("/v2/team/app/tags/list").json() == {"name": "team/app", "tags": ["v1"]}


def test_chunked_upload_verifies_the_digest(ecr: Any, registry: RegistryClient) -> None:
    ecr.create_repository(repositoryName="chunks")
    data = os.urandom(300_000)
    assert registry.push_blob("chunks", data, chunk=64 * 1024) == digest(data)
    assert registry.http.get(f"/v2/chunks/blobs/{digest(data)}").content == data
    started = registry.http.post("/v2/chunks/blobs/uploads/")
    location = started.headers["location"]
    registry.http.patch(location, content=b"some bytes")
    status = registry.http.get(location)
    assert status.status_code == 204 and status.headers["range"] == "0-9"
    wrong = registry.http.put(location, params={"digest": digest(b"other bytes")})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert registry.http.head(f"/v2/chunks/blobs/{digest(b'other bytes')}").status_code == 404
    assert registry.http.head(f"/v2/chunks/blobs/{digest(b'some bytes')}").status_code == 404
    out_of_order = registry.http.post("/v2/chunks/blobs/uploads/").headers["location"]
    skipped = registry.http.patch(out_of_order, content=b"x", headers={"Content-Range": "5-5"})
    assert skipped.status_code == 416


def test_monolithic_upload_and_cross_repository_mount(ecr: Any, registry: RegistryClient) -> None:
    for name in ("source", "target"):
        ecr.create_repository(repositoryName=name)
    data = b"a layer"
    done = registry.http.post("/v2/source/blobs/uploads/", params={"digest": digest(data)}, content=data)
    assert done.status_code == 201 and done.headers["location"] == f"/v2/source/blobs/{digest(data)}"
    assert registry.http.head(f"/v2/target/blobs/{digest(data)}").status_code == 404
    mounted = registry.http.post("/v2/target/blobs/uploads/", params={"mount": digest(data), "from": "source"})
    assert mounted.status_code == 201
    assert registry.http.get(f"/v2/target/blobs/{digest(data)}").content == data
    # A blob the other repository does not hold starts an ordinary upload instead.
    missing = registry.http.post("/v2/target/blobs/uploads/", params={"mount": digest(b"nope"), "from": "source"})
    assert missing.status_code == 202


def test_manifest_needs_its_blobs_and_the_repository(ecr: Any, registry: RegistryClient) -> None:
    ecr.create_repository(repositoryName="strict")
    image = small_image()
    refused = registry.http.put(
        "/v2/strict/manifests/v1", content=image.manifest(), headers={"Content-Type": image.media_type}
    )
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    unknown = registry.http.get("/v2/nowhere/manifests/latest")
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    missing = registry.http.get("/v2/strict/manifests/latest")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    pushed = registry.push("strict", "v1", image)
    wrong = registry.http.put(
        f"/v2/strict/manifests/sha256:{'0' * 64}", content=image.manifest(), headers={"Content-Type": image.media_type}
    )
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert pushed == digest(image.manifest())
    bad_tag = registry.http.put(
        "/v2/strict/manifests/.hidden", content=image.manifest(), headers={"Content-Type": image.media_type}
    )
    assert bad_tag.status_code == 400 and bad_tag.json()["errors"][0]["code"] == "TAG_INVALID"


def test_pushed_images_show_in_the_ecr_api(ecr: Any, registry: RegistryClient) -> None:
    ecr.create_repository(repositoryName="shown")
    first = registry.push("shown", "v1", small_image("one"))
    second = registry.push("shown", "v2", Image([layer({"x": "two"})], media_type=OCI_MANIFEST))
    registry.push("shown", "latest", Image([layer({"x": "two"})], media_type=OCI_MANIFEST))
    details = {d["imageDigest"]: d for d in ecr.describe_images(repositoryName="shown")["imageDetails"]}
    assert set(details) == {first, second}
    assert sorted(details[second]["imageTags"]) == ["latest", "v2"]
    assert details[first]["imageManifestMediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert details[first]["artifactMediaType"] == "application/vnd.docker.container.image.v1+json"
    assert details[first]["imageSizeInBytes"] == sum(
        x["size"]
        for x in [
            json.loads(small_image("one").manifest())["config"],
            *json.loads(small_image("one").manifest())["layers"],
        ]
    )
    got = ecr.batch_get_image(repositoryName="shown", imageIds=[{"imageTag": "v1"}])["images"][0]
    assert got["imageManifest"] == small_image("one").manifest().decode()
    assert got["imageId"] == {"imageDigest": first, "imageTag": "v1"}
    listed = ecr.list_images(repositoryName="shown", filter={"tagStatus": "TAGGED"})["imageIds"]
    assert {(i["imageDigest"], i["imageTag"]) for i in listed} == {(first, "v1"), (second, "v2"), (second, "latest")}
    # Moving a tag leaves the image it left untagged; deleting the last tag deletes the image.
    registry.push("shown", "v1", Image([layer({"x": "two"})], media_type=OCI_MANIFEST))
    untagged = ecr.describe_images(repositoryName="shown", filter={"tagStatus": "UNTAGGED"})["imageDetails"]
    assert [d["imageDigest"] for d in untagged] == [first]
    deleted = ecr.batch_delete_image(repositoryName="shown", imageIds=[{"imageTag": "v2"}])
    assert deleted["imageIds"] == [{"imageDigest": second, "imageTag": "v2"}] and deleted["failures"] == []
    assert registry.http.get("/v2/shown/tags/list").json()["tags"] == ["latest", "v1"]
    gone = ecr.batch_delete_image(repositoryName="shown", imageIds=[{"imageDigest": second}])["imageIds"]
    assert sorted(i["imageTag"] for i in gone) == ["latest", "v1"]
    assert ecr.describe_images(repositoryName="shown")["imageDetails"][0]["imageDigest"] == first


def test_immutable_tags_refuse_a_new_image(ecr: Any, registry: RegistryClient) -> None:
    ecr.create_repository(repositoryName="fixed", imageTagMutability="IMMUTABLE")
    registry.push("fixed", "v1", small_image("one"))
    image = small_image("two")
    for blob in [image.config_blob(), *image.layers]:
        registry.push_blob("fixed", blob)
    answer = registry.http.put(
        "/v2/fixed/manifests/v1", content=image.manifest(), headers={"Content-Type": image.media_type}
    )
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "TAG_INVALID"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecr.put_image(repositoryName="fixed", imageManifest=image.manifest().decode(), imageTag="v1")
    assert caught.value.response["Error"]["Code"] == "ImageTagAlreadyExistsException"
    # PutImage of the same manifest under its own tag again is refused too, as ECR does.
    ecr.put_image(repositoryName="fixed", imageManifest=image.manifest().decode(), imageTag="v2")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecr.put_image(repositoryName="fixed", imageManifest=image.manifest().decode(), imageTag="v2")
    assert caught.value.response["Error"]["Code"] == "ImageAlreadyExistsException"


def test_index_needs_its_manifests_and_shields_them_from_deletion(ecr: Any, registry: RegistryClient) -> None:
    ecr.create_repository(repositoryName="multi")
    child = registry.push("multi", "amd64", small_image())
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "digest": child,
                    "size": 1,
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()
    put = registry.http.put("/v2/multi/manifests/latest", content=index, headers={"Content-Type": OCI_INDEX})
    assert put.status_code == 201
    failures = ecr.batch_delete_image(repositoryName="multi", imageIds=[{"imageDigest": child}])["failures"]
    assert failures[0]["failureCode"] == "ImageReferencedByManifestList"
    orphan = index.replace(child.encode(), b"sha256:" + b"1" * 64)
    refused = registry.http.put("/v2/multi/manifests/other", content=orphan, headers={"Content-Type": OCI_INDEX})
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_delete_manifest_and_repository(ecr: Any, registry: RegistryClient, server: Any) -> None:
    ecr.create_repository(repositoryName="bye")
    pushed = registry.push("bye", "v1", small_image("bye"))
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecr.delete_repository(repositoryName="bye")
    assert caught.value.response["Error"] == {
        "Code": "RepositoryNotEmptyException",
        "Message": f"The repository with name 'bye' in registry with id '{ACCOUNT}' cannot be deleted because it "
        "still contains images",
    }
    assert registry.http.delete(f"/v2/bye/manifests/{pushed}").status_code == 202
    assert registry.http.get("/v2/bye/manifests/v1").status_code == 404
    registry.push("bye", "v2", small_image("bye"))
    blob = (
        Path(server.data_dir)
        / "ecr"
        / "blobs"
        / "sha256"
        / digest(small_image("bye").layers[0]).removeprefix("sha256:")
    )
    assert blob.is_file()
    ecr.delete_repository(repositoryName="bye", force=True)
    assert not blob.exists()  # no other repository held it


def test_a_password_reaches_its_own_region_only(endpoint: str) -> None:
    east, west = make_client("ecr", endpoint), make_client("ecr", endpoint, region="us-west-2")
    east.create_repository(repositoryName="where")
    client = RegistryClient(endpoint, password_of(west))
    try:
        assert client.http.get("/v2/where/tags/list").status_code == 404
    finally:
        client.close()
    client = RegistryClient(endpoint, password_of(east))
    try:
        assert client.http.get("/v2/where/tags/list").json() == {"name": "where", "tags": []}
    finally:
        client.close()


def test_get_login_password_through_the_aws_cli(ecr: Any, endpoint: str, tmp_path: Path) -> None:
    ecr.create_repository(repositoryName="cli")
    password = run_aws(endpoint, tmp_path, "ecr", "get-login-password", region=REGION)
    client = RegistryClient(endpoint, password.strip())
    try:
        assert client.http.get("/v2/").status_code == 200
        client.push("cli", "v1", small_image())
    finally:
        client.close()


def test_skopeo_pushes_inspects_and_pulls(ecr: Any, endpoint: str, tmp_path: Path) -> None:
    """A registry client that is not ours: skopeo (containers/image) copies an OCI layout in and out."""
    if shutil.which("skopeo") is None:
        missing("skopeo is not installed (./dev test installs it)")
    ecr.create_repository(repositoryName="tools/skopeo")
    image = Image([layer({"a.txt": "a"}), layer({"b.txt": "b"})], {"Cmd": ["/a"]}, media_type=OCI_MANIFEST)
    write_layout(image, tmp_path / "layout", "v1")
    host, creds = endpoint.removeprefix("http://"), f"AWS:{password_of(ecr)}"
    target = f"docker://{host}/tools/skopeo"

    def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HOME": str(tmp_path)}
        return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120, env=env)

    for tag in ("v1", "v2"):  # the second push finds every blob already there
        pushed = skopeo(
            "copy", "--dest-tls-verify=false", "--dest-creds", creds, f"oci:{tmp_path / 'layout'}:v1", f"{target}:{tag}"
        )
        assert pushed.returncode == 0, pushed.stderr
    inspected = skopeo("inspect", "--tls-verify=false", "--creds", creds, f"{target}:v1")
    assert inspected.returncode == 0, inspected.stderr
    shown = json.loads(inspected.stdout)
    assert shown["Digest"] == digest(image.manifest())
    assert shown["RepoTags"] == ["v1", "v2"]
    assert shown["Layers"] == [digest(x) for x in image.layers]
    pulled = skopeo(
        "copy", "--src-tls-verify=false", "--src-creds", creds, f"{target}:v2", f"oci:{tmp_path / 'back'}:v2"
    )
    assert pulled.returncode == 0, pulled.stderr
    for blob in image.layers:
        assert (tmp_path / "back" / "blobs" / "sha256" / digest(blob).removeprefix("sha256:")).read_bytes() == blob
    refused = skopeo("inspect", "--tls-verify=false", f"{target}:v1")
    assert refused.returncode != 0 and "authentication required" in refused.stderr
    assert [d["imageTags"] for d in ecr.describe_images(repositoryName="tools/skopeo")["imageDetails"]] == [
        ["v1", "v2"]
    ]


def test_docker_login_push_and_pull(
    ecr: Any,
    endpoint: str,
    dockerd: DockerDaemon,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """Docker's own registry client (a private dockerd, tests/fixtures/dockerd.py) logs in with the
    password the AWS CLI gives, pushes an image built here, and pulls it back after removing it."""
    # Docker speaks plain HTTP only to insecure registries, and 127.0.0.0/8 is one by default.
    insecure = dockerd.docker("info", "--format", "{{json .RegistryConfig.InsecureRegistryCIDRs}}")
    assert "127.0.0.0/8" in json.loads(insecure.stdout), insecure.stdout
    ecr.create_repository(repositoryName="docker-app")
    host = endpoint.removeprefix("http://")
    refused = dockerd.docker("login", "-u", "AWS", "--password-stdin", host, input="not-the-password")
    assert refused.returncode != 0
    password = run_aws(endpoint, tmp_path, "ecr", "get-login-password", region=REGION).strip()
    login = dockerd.docker("login", "-u", "AWS", "--password-stdin", host, input=password)
    assert login.returncode == 0, login.stderr
    # FROM scratch: nothing is pulled from anywhere.
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "hello.txt").write_text("hello\n")
    (context / "Dockerfile").write_text('FROM scratch\nCOPY hello.txt /\nCMD ["/hello.txt"]\n')
    tag = f"{host}/docker-app:v1"

    def image_id() -> str:
        inspected = dockerd.docker("image", "inspect", "--format", "{{.Id}}", tag)
        return inspected.stdout.strip() if inspected.returncode == 0 else ""

    for command in (["build", "-t", tag, str(context)], ["push", tag]):
        done = dockerd.docker(*command, timeout=300)
        assert done.returncode == 0, done.stderr
    built = image_id()
    assert built.startswith("sha256:")
    described = ecr.describe_images(repositoryName="docker-app")["imageDetails"]
    assert [(d["imageTags"], d["imageManifestMediaType"]) for d in described] == [
        (["v1"], "application/vnd.docker.distribution.manifest.v2+json")
    ]
    pushed = described[0]["imageDigest"]
    assert f"v1: digest: {pushed} " in done.stdout  # what docker push reports is what ECR stored
    removed = dockerd.docker("rmi", tag)
    assert removed.returncode == 0, removed.stderr
    assert image_id() == ""  # so the pull below must fetch it
    pulled = dockerd.docker("pull", tag, timeout=300)
    assert pulled.returncode == 0, pulled.stderr
    assert f"Digest: {pushed}" in pulled.stdout
    assert image_id() == built  # the same config, hence the same image
    repo_digests = dockerd.docker("image", "inspect", "--format", "{{json .RepoDigests}}", tag)
    assert json.loads(repo_digests.stdout) == [f"{host}/docker-app@{pushed}"]
    assert ecr.list_images(repositoryName="docker-app")["imageIds"][0]["imageTag"] == "v1"


def test_repositories_images_and_passwords_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data, ephemeral=False)
    try:
        ecr = make_client("ecr", first.endpoint)
        ecr.create_repository(repositoryName="kept")
        password = password_of(ecr)
        client = RegistryClient(first.endpoint, password)
        pushed = client.push("kept", "v1", small_image("kept"))
        client.close()
    finally:
        stop_server(first)
    second = start_server(data, ephemeral=False)
    try:
        ecr = make_client("ecr", second.endpoint)
        assert ecr.describe_images(repositoryName="kept")["imageDetails"][0]["imageDigest"] == pushed
        client = RegistryClient(second.endpoint, password)  # the password given before the restart
        try:
            manifest = client.http.get("/v2/kept/manifests/v1")
            assert manifest.status_code == 200 and manifest.content == small_image("kept").manifest()
            layer_blob = small_image("kept").layers[0]
            assert client.http.get(f"/v2/kept/blobs/{digest(layer_blob)}").content == layer_blob
        finally:
            client.close()
    finally:
        stop_server(second)
