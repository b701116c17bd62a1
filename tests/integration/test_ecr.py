"""ECR's control plane through boto3 and the AWS CLI: repositories, policies, tags, passwords, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from tests.conftest import REGION, AwsCliError, make_client

ACCOUNT = "000000000000"
LIFECYCLE = json.dumps(
    {
        "rules": [
            {
                "rulePriority": 1,
                "description": "keep ten",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10},
                "action": {"type": "expire"},
            }
        ]
    }
)
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "pull", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage"]}],
    }
)


@pytest.fixture
def ecr(endpoint: str) -> Any:
    return make_client("ecr", endpoint)


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response["Error"]
    return err["Code"], err["Message"]


def test_create_repository_shows_uri_arn_and_defaults(ecr: Any) -> None:
    repository = ecr.create_repository(repositoryName="team/web-app")["repository"]
    assert repository["repositoryArn"] == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/team/web-app"
    assert repository["repositoryUri"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/web-app"
    assert repository["registryId"] == ACCOUNT
    assert repository["imageTagMutability"] == "MUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": False}
    assert repository["encryptionConfiguration"] == {"encryptionType": "AES256"}
    described = ecr.describe_repositories(repositoryNames=["team/web-app"])["repositories"]
    assert described == [repository]


def test_create_repository_settings_and_tags(ecr: Any) -> None:
    repository = ecr.create_repository(
        repositoryName="api",
        imageTagMutability="IMMUTABLE",
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "KMS"},
        tags=[{"Key": "team", "Value": "core"}],
    )["repository"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository["encryptionConfiguration"] == {
        "encryptionType": "KMS",
        "kmsKey": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/ecr",
    }
    tags = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
    assert tags == [{"Key": "team", "Value": "core"}]


def test_repository_names_follow_ecr_rules(ecr: Any) -> None:
    for bad in ("Upper", "trailing-", "-leading", "a//b", "x/"):
        code, message = error_of(ecr.create_repository, repositoryName=bad)
        assert code == "InvalidParameterException", bad
        assert message == (
            "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression "
            "'(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''"
        )
    for good in ("ab", "a__b", "a---b", "a.b_c/d-e"):
        assert ecr.create_repository(repositoryName=good)["repository"]["repositoryName"] == good


def test_repository_already_exists_and_not_found(ecr: Any) -> None:
    ecr.create_repository(repositoryName="dup")
    assert error_of(ecr.create_repository, repositoryName="dup") == (
        "RepositoryAlreadyExistsException",
        f"The repository with name 'dup' already exists in the registry with id '{ACCOUNT}'",
    )
    missing = (
        "RepositoryNotFoundException",
        f"The repository with name 'nope' does not exist in the registry with id '{ACCOUNT}'",
    )
    assert error_of(ecr.describe_repositories, repositoryNames=["nope"]) == missing
    assert error_of(ecr.delete_repository, repositoryName="nope") == missing
    assert error_of(ecr.list_images, repositoryName="nope") == missing


def test_describe_repositories_pages_in_name_order(ecr: Any) -> None:
    for name in ("c-repo", "a-repo", "b-repo"):
        ecr.create_repository(repositoryName=name)
    first = ecr.describe_repositories(maxResults=2)
    assert [r["repositoryName"] for r in first["repositories"]] == ["a-repo", "b-repo"]
    second = ecr.describe_repositories(maxResults=2, nextToken=first["nextToken"])
    assert [r["repositoryName"] for r in second["repositories"]] == ["c-repo"]
    assert "nextToken" not in second
    paged = ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 1})
    assert [r["repositoryName"] for page in paged for r in page["repositories"]] == ["a-repo", "b-repo", "c-repo"]


def test_repositories_are_per_region(endpoint: str) -> None:
    east, west = make_client("ecr", endpoint), make_client("ecr", endpoint, region="us-west-2")
    east.create_repository(repositoryName="regional")
    assert west.describe_repositories()["repositories"] == []
    uri = west.create_repository(repositoryName="regional")["repository"]["repositoryUri"]
    assert uri == f"{ACCOUNT}.dkr.ecr.us-west-2.amazonaws.com/regional"


def test_lifecycle_policy_round_trip(ecr: Any) -> None:
    ecr.create_repository(repositoryName="life")
    assert error_of(ecr.get_lifecycle_policy, repositoryName="life") == (
        "LifecyclePolicyNotFoundException",
        f"Lifecycle policy does not exist for the repository with name 'life' in the registry with id '{ACCOUNT}'",
    )
    put = ecr.put_lifecycle_policy(repositoryName="life", lifecyclePolicyText=LIFECYCLE)
    assert put["lifecyclePolicyText"] == LIFECYCLE and put["repositoryName"] == "life"
    got = ecr.get_lifecycle_policy(repositoryName="life")
    assert json.loads(got["lifecyclePolicyText"]) == json.loads(LIFECYCLE)
    assert got["registryId"] == ACCOUNT
    deleted = ecr.delete_lifecycle_policy(repositoryName="life")
    assert deleted["lifecyclePolicyText"] == LIFECYCLE
    assert error_of(ecr.delete_lifecycle_policy, repositoryName="life")[0] == "LifecyclePolicyNotFoundException"
    code, _ = error_of(ecr.put_lifecycle_policy, repositoryName="life", lifecyclePolicyText="x" * 100)
    assert code == "InvalidParameterException"


def test_repository_policy_round_trip(ecr: Any) -> None:
    ecr.create_repository(repositoryName="pol")
    assert error_of(ecr.get_repository_policy, repositoryName="pol") == (
        "RepositoryPolicyNotFoundException",
        f"Repository policy does not exist for the repository with name 'pol' in the registry with id '{ACCOUNT}'",
    )
    assert ecr.set_repository_policy(repositoryName="pol", policyText=POLICY)["policyText"] == POLICY
    assert ecr.get_repository_policy(repositoryName="pol")["policyText"] == POLICY
    assert ecr.delete_repository_policy(repositoryName="pol")["policyText"] == POLICY
    assert error_of(ecr.get_repository_policy, repositoryName="pol")[0] == "RepositoryPolicyNotFoundException"
    assert error_of(ecr.set_repository_policy, repositoryName="pol", policyText="{}")[0] == "InvalidParameterException"


def test_mutability_and_scanning_updates_show_in_describe(ecr: Any) -> None:
    ecr.create_repository(repositoryName="conf")
    answer = ecr.put_image_tag_mutability(repositoryName="conf", imageTagMutability="IMMUTABLE")
    assert answer["imageTagMutability"] == "IMMUTABLE"
    scanning = ecr.put_image_scanning_configuration(
        repositoryName="conf", imageScanningConfiguration={"scanOnPush": True}
    )
    assert scanning["imageScanningConfiguration"] == {"scanOnPush": True}
    repository = ecr.describe_repositories(repositoryNames=["conf"])["repositories"][0]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}


def test_tag_and_untag_repository(ecr: Any) -> None:
    arn = ecr.create_repository(repositoryName="tagged")["repository"]["repositoryArn"]
    ecr.tag_resource(resourceArn=arn, tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    ecr.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "2"}]
    code, _ = error_of(ecr.tag_resource, resourceArn=arn, tags=[{"Key": f"k{i}", "Value": ""} for i in range(50)])
    assert code == "TooManyTagsException"
    missing = arn.replace("tagged", "gone")
    assert error_of(ecr.list_tags_for_resource, resourceArn=missing)[0] == "RepositoryNotFoundException"
    ecr.delete_repository(repositoryName="tagged")
    ecr.create_repository(repositoryName="tagged")
    assert ecr.list_tags_for_resource(resourceArn=arn)["tags"] == []


def test_delete_repository(ecr: Any) -> None:
    created = ecr.create_repository(repositoryName="gone")["repository"]
    assert ecr.delete_repository(repositoryName="gone")["repository"] == created
    assert ecr.describe_repositories()["repositories"] == []


def test_authorization_token_is_aws_and_a_password_for_the_local_registry(ecr: Any, endpoint: str) -> None:
    data = ecr.get_authorization_token()["authorizationData"]
    assert len(data) == 1
    user, _, password = base64.b64decode(data[0]["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and len(password) > 20
    assert data[0]["proxyEndpoint"] == endpoint
    hours = (data[0]["expiresAt"].timestamp() - time.time()) / 3600
    assert 11.9 < hours <= 12


def test_put_image_needs_its_layers_and_images_start_empty(ecr: Any) -> None:
    ecr.create_repository(repositoryName="imgs")
    assert ecr.list_images(repositoryName="imgs")["imageIds"] == []
    assert ecr.describe_images(repositoryName="imgs")["imageDetails"] == []
    layer = "sha256:" + "ab" * 32
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": layer, "size": 2},
            "layers": [],
        }
    )
    code, message = error_of(ecr.put_image, repositoryName="imgs", imageManifest=manifest, imageTag="v1")
    assert code == "LayersNotFoundException"
    assert layer in message
    assert error_of(ecr.describe_images, repositoryName="imgs", imageIds=[{"imageTag": "v1"}]) == (
        "ImageNotFoundException",
        "The image with imageId {imageDigest:'null', imageTag:'v1'} does not exist within the repository with name "
        f"'imgs' in the registry with id '{ACCOUNT}'",
    )
    failures = ecr.batch_get_image(repositoryName="imgs", imageIds=[{"imageTag": "v1"}])["failures"]
    assert failures == [
        {"imageId": {"imageTag": "v1"}, "failureCode": "ImageNotFound", "failureReason": "Requested image not found"}
    ]


def test_describe_registry(ecr: Any) -> None:
    assert ecr.describe_registry()["registryId"] == ACCOUNT


def test_aws_cli_repositories_and_errors(aws: Callable[..., Any]) -> None:
    created = aws("ecr", "create-repository", "--repository-name", "cli-repo", "--image-tag-mutability", "IMMUTABLE")
    assert created["repository"]["repositoryUri"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/cli-repo"
    listed = aws("ecr", "describe-repositories")["repositories"]
    assert [r["repositoryName"] for r in listed] == ["cli-repo"]
    with pytest.raises(AwsCliError) as caught:
        aws("ecr", "create-repository", "--repository-name", "cli-repo")
    assert "RepositoryAlreadyExistsException" in caught.value.stderr
    with pytest.raises(AwsCliError) as caught:
        aws("ecr", "describe-repositories", "--repository-names", "missing")
    assert "RepositoryNotFoundException" in caught.value.stderr
    with pytest.raises(AwsCliError) as caught:
        aws("ecr", "create-repository", "--repository-name", "CLI")
    assert "InvalidParameterException" in caught.value.stderr
    aws("ecr", "delete-repository", "--repository-name", "cli-repo")
    assert aws("ecr", "describe-repositories")["repositories"] == []


def upload_layer(ecr: Any, repository: str, data: bytes, part: int) -> str:
    upload_id = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    for first in range(0, len(data), part):
        piece = data[first : first + part]
        answer = ecr.upload_layer_part(
            repositoryName=repository,
            uploadId=upload_id,
            partFirstByte=first,
            partLastByte=first + len(piece) - 1,
            layerPartBlob=piece,
        )
        assert answer["lastByteReceived"] == first + len(piece) - 1
    layer_digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = ecr.complete_layer_upload(repositoryName=repository, uploadId=upload_id, layerDigests=[layer_digest])
    assert done["layerDigest"] == layer_digest
    return layer_digest


def test_layer_api_uploads_then_put_image(ecr: Any) -> None:
    ecr.create_repository(repositoryName="parts")
    layer, config = os.urandom(5000), b'{"architecture":"amd64","os":"linux","config":{}}'
    layer_digest = upload_layer(ecr, "parts", layer, part=2048)
    config_digest = upload_layer(ecr, "parts", config, part=1 << 20)
    checked = ecr.batch_check_layer_availability(
        repositoryName="parts", layerDigests=[layer_digest, "sha256:" + "0" * 64]
    )
    assert checked["layers"] == [{"layerDigest": layer_digest, "layerAvailability": "AVAILABLE", "layerSize": 5000}]
    assert checked["failures"][0]["failureCode"] == "MissingLayerDigest"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": config_digest,
            },
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 5000, "digest": layer_digest}
            ],
        }
    )
    image = ecr.put_image(repositoryName="parts", imageManifest=manifest, imageTag="v1")["image"]
    expected = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    assert image["imageId"] == {"imageDigest": expected, "imageTag": "v1"}
    detail = ecr.describe_images(repositoryName="parts")["imageDetails"][0]
    assert detail["imageSizeInBytes"] == 5000 + len(config) and detail["imageTags"] == ["v1"]
    code, _ = error_of(ecr.put_image, repositoryName="parts", imageManifest=manifest, imageTag="v1")
    assert code == "ImageAlreadyExistsException"
    code, _ = error_of(
        ecr.complete_layer_upload,
        repositoryName="parts",
        uploadId=ecr.initiate_layer_upload(repositoryName="parts")["uploadId"],
        layerDigests=[layer_digest],
    )
    assert code == "EmptyUploadException"


def test_layer_api_errors(ecr: Any) -> None:
    ecr.create_repository(repositoryName="bad-parts")
    upload_id = ecr.initiate_layer_upload(repositoryName="bad-parts")["uploadId"]
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        ecr.upload_layer_part(
            repositoryName="bad-parts", uploadId=upload_id, partFirstByte=10, partLastByte=12, layerPartBlob=b"abc"
        )
    assert caught.value.response["Error"]["Code"] == "InvalidLayerPartException"
    assert caught.value.response["lastValidByteReceived"] == -1
    ecr.upload_layer_part(
        repositoryName="bad-parts", uploadId=upload_id, partFirstByte=0, partLastByte=2, layerPartBlob=b"abc"
    )
    code, _ = error_of(
        ecr.complete_layer_upload, repositoryName="bad-parts", uploadId=upload_id, layerDigests=["sha256:" + "1" * 64]
    )
    assert code == "InvalidLayerException"
    missing = "00000000-0000-0000-0000-000000000000"
    code, _ = error_of(
        ecr.upload_layer_part,
        repositoryName="bad-parts",
        uploadId=missing,
        partFirstByte=0,
        partLastByte=0,
        layerPartBlob=b"a",
    )
    assert code == "UploadNotFoundException"
    layer_digest = upload_layer(ecr, "bad-parts", b"data", part=4)
    upload_id = ecr.initiate_layer_upload(repositoryName="bad-parts")["uploadId"]
    ecr.upload_layer_part(
        repositoryName="bad-parts", uploadId=upload_id, partFirstByte=0, partLastByte=3, layerPartBlob=b"data"
    )
    code, _ = error_of(
        ecr.complete_layer_upload, repositoryName="bad-parts", uploadId=upload_id, layerDigests=[layer_digest]
    )
    assert code == "LayerAlreadyExistsException"
