"""CloudFormation's S3 and ECR resource handlers on an in-process server, driven as the stack engine
drives them: the CDK bootstrap template's bucket (encryption, versioning, public access block,
lifecycle rules in CloudFormation's shape), its bucket policy and its container repository, read back
through S3's and ECR's own operations; changes in place; deletes that can be repeated."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ecslite.providers.cloudformation.resources import ecr, s3  # noqa: F401 - registers the types
from ecslite.providers.s3.files import BytesPayload
from tests.unit.test_cfn_resources_net import REGION, STACK, Driver, refused, running

LIFECYCLE = {
    "Rules": [
        {"Id": "CleanupOldVersions", "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 30}},
        {"Id": "Logs", "Status": "Enabled", "Prefix": "logs/", "ExpirationInDays": "7"},
    ]
}
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::x/*"}],
}


def test_bucket_with_the_bootstrap_templates_settings(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            buckets = Driver(call, clock, "AWS::S3::Bucket")
            props = {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {"BlockPublicAcls": "true", "BlockPublicPolicy": True},
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": LIFECYCLE,
                "Tags": [{"Key": "team", "Value": "web"}],
            }
            bucket = await buckets.create("StagingBucket", props)
            name = bucket.physical_id
            # CloudFormation's generated name: lowercase, at most 63 characters, from stack and logical id.
            assert len(name) <= 63 and name == name.lower() and name.startswith(f"{STACK}-stagingbucket"[:50])
            assert bucket.attributes["Arn"] == f"arn:aws:s3:::{name}"
            assert bucket.attributes["RegionalDomainName"] == f"{name}.s3.{REGION}.amazonaws.com"
            assert set(bucket.attributes) == buckets.handler.attributes
            encryption = await call("s3", "GetBucketEncryption", {"Bucket": name})
            assert encryption["ServerSideEncryptionConfiguration"]["Rules"] == [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}
            ]
            block = (await call("s3", "GetPublicAccessBlock", {"Bucket": name}))["PublicAccessBlockConfiguration"]
            assert block == {"BlockPublicAcls": True, "BlockPublicPolicy": True}
            assert (await call("s3", "GetBucketVersioning", {"Bucket": name}))["Status"] == "Enabled"
            rules = (await call("s3", "GetBucketLifecycleConfiguration", {"Bucket": name}))["Rules"]
            assert rules[0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
            assert rules[1]["Expiration"] == {"Days": 7} and rules[1]["Filter"] == {"Prefix": "logs/"}
            tags = {t["Key"]: t["Value"] for t in (await call("s3", "GetBucketTagging", {"Bucket": name}))["TagSet"]}
            assert tags["team"] == "web" and tags["aws:cloudformation:logical-id"] == "StagingBucket"

            # Settings change in place: versioning suspended when dropped, the lifecycle taken off.
            new = {k: v for k, v in props.items() if k not in ("VersioningConfiguration", "LifecycleConfiguration")}
            await buckets.update("StagingBucket", bucket, props, new)
            assert (await call("s3", "GetBucketVersioning", {"Bucket": name}))["Status"] == "Suspended"
            assert (await refused(call("s3", "GetBucketLifecycleConfiguration", {"Bucket": name}))).code == (
                "NoSuchLifecycleConfiguration"
            )
            assert buckets.handler.needs_replacement(props, {**props, "BucketName": "other"})

            # A bucket holding objects is not deleted (as in CloudFormation); an empty one is, repeatably.
            await call("s3", "PutObject", {"Bucket": name, "Key": "a.txt", "Body": BytesPayload(b"x")})
            assert (await refused(buckets.delete("StagingBucket", bucket, new))).code == "BucketNotEmpty"
            await call("s3", "DeleteObject", {"Bucket": name, "Key": "a.txt"})
            await buckets.delete("StagingBucket", bucket, new)
            await buckets.delete("StagingBucket", bucket, new)
            assert (await refused(call("s3", "HeadBucket", {"Bucket": name}))).code == "NoSuchBucket"

            named = await buckets.create("Named", {"BucketName": "my-named-bucket"})
            assert named.physical_id == "my-named-bucket"
            policies = Driver(call, clock, "AWS::S3::BucketPolicy")
            policy_props = {"Bucket": "my-named-bucket", "PolicyDocument": POLICY}
            policy = await policies.create("Policy", policy_props)
            assert policy.physical_id == "my-named-bucket"
            assert json.loads((await call("s3", "GetBucketPolicy", {"Bucket": "my-named-bucket"}))["Policy"]) == POLICY
            allow = {**POLICY, "Statement": [{**POLICY["Statement"][0], "Effect": "Allow"}]}
            await policies.update("Policy", policy, policy_props, {**policy_props, "PolicyDocument": allow})
            assert json.loads((await call("s3", "GetBucketPolicy", {"Bucket": "my-named-bucket"}))["Policy"]) == allow
            await policies.delete("Policy", policy, policy_props)
            assert (await refused(call("s3", "GetBucketPolicy", {"Bucket": "my-named-bucket"}))).code == (
                "NoSuchBucketPolicy"
            )

    asyncio.run(scenario())


def test_repository_with_policies_tags_and_empty_on_delete(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(tmp_path) as (clock, call):
            repos = Driver(call, clock, "AWS::ECR::Repository")
            lifecycle = {
                "rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged"}, "action": {"type": "expire"}}]
            }
            props = {
                "ImageTagMutability": "IMMUTABLE",
                "LifecyclePolicy": {"LifecyclePolicyText": json.dumps(lifecycle)},
                "RepositoryPolicyText": {"Version": "2012-10-17", "Statement": []},
                "Tags": [{"Key": "team", "Value": "web"}],
            }
            repo = await repos.create("ContainerAssets", props)
            name = repo.physical_id
            assert name == name.lower() and name.startswith(f"{STACK}-containerassets")
            [shown] = (await call("ecr", "DescribeRepositories", {"repositoryNames": [name]}))["repositories"]
            assert repo.attributes == {"Arn": shown["repositoryArn"], "RepositoryUri": shown["repositoryUri"]}
            assert shown["imageTagMutability"] == "IMMUTABLE"
            text = (await call("ecr", "GetLifecyclePolicy", {"repositoryName": name}))["lifecyclePolicyText"]
            assert json.loads(text) == lifecycle
            assert (await call("ecr", "GetRepositoryPolicy", {"repositoryName": name}))["policyText"]
            tags = (await call("ecr", "ListTagsForResource", {"resourceArn": shown["repositoryArn"]}))["tags"]
            # ECR refuses aws: keys from callers: the stack's own tags are left out.
            assert tags == [{"Key": "team", "Value": "web"}]

            new = {"ImageTagMutability": "MUTABLE", "Tags": [{"Key": "tier", "Value": "1"}], "EmptyOnDelete": True}
            await repos.update("ContainerAssets", repo, props, new)
            [shown] = (await call("ecr", "DescribeRepositories", {"repositoryNames": [name]}))["repositories"]
            assert shown["imageTagMutability"] == "MUTABLE"
            assert (await refused(call("ecr", "GetLifecyclePolicy", {"repositoryName": name}))).code == (
                "LifecyclePolicyNotFoundException"
            )
            tags = (await call("ecr", "ListTagsForResource", {"resourceArn": shown["repositoryArn"]}))["tags"]
            assert tags == [{"Key": "tier", "Value": "1"}]
            assert repos.handler.needs_replacement(new, {**new, "RepositoryName": "other"})

            await repos.delete("ContainerAssets", repo, new)
            await repos.delete("ContainerAssets", repo, new)
            assert (await refused(call("ecr", "DescribeRepositories", {"repositoryNames": [name]}))).code == (
                "RepositoryNotFoundException"
            )

    asyncio.run(scenario())
