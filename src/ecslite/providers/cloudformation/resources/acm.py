"""AWS::CertificateManager::Certificate: ``Ref`` is the certificate's ARN (the type has no
``Fn::GetAtt`` attributes).

ecslite's ACM issues a requested certificate at once from its local authority, so the wait
CloudFormation makes for ``ISSUED`` is over at the first look. Only ``Tags`` change in place.
Deleting waits while HTTPS listeners still serve the certificate (they go first in a stack's
deletion, but a listener of another stack may hold it: then the delete fails after the wait).
"""

from __future__ import annotations

from ecslite.providers.cloudformation.resources.base import (
    Doc,
    Physical,
    ResourceContext,
    ResourceFailed,
    ResourceHandler,
    register,
)
from ecslite.providers.cloudformation.resources.common import pairs, remove, tag_changes, tag_list
from ecslite.providers.cloudformation.resources.properties import api_params

_OWN = ("Tags", "CertificateTransparencyLoggingPreference")


@register
class Certificate(ResourceHandler):
    type_name = "AWS::CertificateManager::Certificate"
    stack_tags = True
    replace_always = False
    replace_on = frozenset(
        {
            "CertificateAuthorityArn",
            "CertificateTransparencyLoggingPreference",
            "DomainName",
            "DomainValidationOptions",
            "KeyAlgorithm",
            "SubjectAlternativeNames",
            "ValidationMethod",
        }
    )

    async def create(self, rc: ResourceContext, props: Doc) -> Physical:
        params = api_params("acm", "RequestCertificate", props, exclude=_OWN)
        if props.get("CertificateTransparencyLoggingPreference"):
            preference = str(props["CertificateTransparencyLoggingPreference"])
            params["Options"] = {"CertificateTransparencyLoggingPreference": preference}
        tags = tag_list(rc, props)
        if tags:
            params["Tags"] = tags
        arn = str((await rc.call("acm", "RequestCertificate", params))["CertificateArn"])

        async def settled() -> str | None:
            shown = (await rc.call("acm", "DescribeCertificate", {"CertificateArn": arn}))["Certificate"]
            status = str(shown["Status"])
            return None if status == "PENDING_VALIDATION" else status

        async with self.finishing(rc, arn, props):
            status = await rc.poll(settled)
            if status != "ISSUED":
                raise ResourceFailed(f"Certificate {arn} is {status}")
        return Physical(arn)

    async def update(self, rc: ResourceContext, current: Physical, old: Doc, new: Doc) -> Physical:
        put, drop = tag_changes(old.get("Tags"), new.get("Tags"))
        target = {"CertificateArn": current.physical_id}
        if drop:
            await rc.call("acm", "RemoveTagsFromCertificate", {**target, "Tags": [{"Key": k} for k in drop]})
        if put:
            await rc.call("acm", "AddTagsToCertificate", {**target, "Tags": pairs(put)})
        return current

    async def delete(self, rc: ResourceContext, current: Physical, props: Doc) -> None:
        params = {"CertificateArn": current.physical_id}
        await remove(
            rc,
            "acm",
            "DeleteCertificate",
            params,
            gone=("ResourceNotFoundException",),
            busy=("ResourceInUseException",),
        )
