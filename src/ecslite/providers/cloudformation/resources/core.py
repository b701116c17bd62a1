"""CloudFormation's own bookkeeping types (the handlers' shared helpers are in ``common``).

``AWS::CDK::Metadata`` (the CDK adds one to every stack it synthesizes, carrying its analytics) and
``AWS::CloudFormation::WaitConditionHandle`` make nothing: they only need a physical id.
"""

from __future__ import annotations

import secrets
import string
import uuid
from urllib.parse import quote

from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceHandler,
    register,
)


@register
class CdkMetadata(ResourceHandler):
    """The CDK's analytics record: nothing to make, and any change is made in place."""

    type_name = "AWS::CDK::Metadata"
    replace_always = False

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        return Physical(str(uuid.uuid4()))

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        return None


_SIGNATURE_ALPHABET = string.ascii_lowercase + string.digits


@register
class WaitConditionHandle(ResourceHandler):
    """A wait condition's handle: its Ref is the pre-signed URL a signal would be sent to. Nothing
    listens there in ecslite (a WaitCondition is not a supported type), so it is only a name."""

    type_name = "AWS::CloudFormation::WaitConditionHandle"

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        # CloudFormation's form: an S3 URL whose key is the stack's ARN and the logical id, signed.
        key = quote(f"{rc.stack_id}/{rc.logical_id}", safe="")
        signature = "".join(secrets.choice(_SIGNATURE_ALPHABET) for _ in range(64))
        url = (
            f"https://cloudformation-waitcondition-{rc.region}.s3.amazonaws.com/{key}"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=86399&X-Amz-SignedHeaders=host"
            f"&X-Amz-Signature={signature}"
        )
        return Physical(url)

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        return None
