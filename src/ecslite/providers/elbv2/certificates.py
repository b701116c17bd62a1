"""HTTPS listeners' certificates and security policies (§7.3).

- A listener's default certificate is ``Certificates[0]`` of its doc, as DescribeListeners shows it;
  the further certificates AddListenerCertificates gives it (chosen by SNI) are kept beside, in the
  doc's ``ListenerCertificates`` (not a Listener member, so never shown there).
  DescribeListenerCertificates lists the default with ``IsDefault: true`` first, then the others.
- A certificate must exist in ecslite's ACM, in the caller's account and region: otherwise
  ``CertificateNotFound`` with ELBv2's text (verified). IAM server certificates are not served.
- ``SslPolicy`` must name one of the predefined policies (``model.ssl_policies``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ecslite.model import ssl_policies
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.elbv2 import errors
from ecslite.providers.elbv2.common import Doc, ElbBase, in_partition, paged
from ecslite.store import certificates as acm_store
from ecslite.store import elbv2 as store

# Verified.
CERTIFICATE_NOT_FOUND = "Certificate '{arn}' not found"
# Unverified wording (the codes are the model's).
SSL_POLICY_NOT_FOUND = "SSL policy '{name}' not found"
DEFAULT_NOT_REMOVABLE = "The default certificate cannot be removed from a listener"
NOT_HTTPS = "Certificates can only be added to HTTPS listeners"
CERTIFICATE_REQUIRED = "A certificate must be specified for HTTPS listeners"
ONE_DEFAULT = "A listener can have only one default certificate"
MAX_LISTENER_CERTIFICATES = 25  # ALB's quota of certificates per load balancer, the default excluded


def certificate_not_found(arn: str) -> errors.ElbError:
    return errors.ElbError("CertificateNotFound", CERTIFICATE_NOT_FOUND.format(arn=arn))


class CertificateOps(ElbBase):
    def check_certificates(self, ctx: RequestContext, certificates: Sequence[Doc]) -> list[Doc]:
        """``[{"CertificateArn": …}]`` of certificates that exist in the caller's partition."""
        out: list[Doc] = []
        for certificate in certificates:
            arn = certificate.get("CertificateArn") or ""
            row = acm_store.get(self.db, arn) if in_partition(ctx, arn) else None
            if row is None or (row.account, row.region) != (ctx.account, ctx.region):
                raise certificate_not_found(arn)
            out.append({"CertificateArn": arn})
        return out

    def check_ssl_policy(self, name: str | None) -> str:
        if name is None:
            return ssl_policies.DEFAULT_POLICY
        if name not in ssl_policies.POLICIES:
            raise errors.ElbError("SSLPolicyNotFound", SSL_POLICY_NOT_FOUND.format(name=name))
        return name

    def default_certificate(self, ctx: RequestContext, certificates: Sequence[Doc] | None) -> list[Doc]:
        """The one default certificate CreateListener/ModifyListener takes for HTTPS."""
        if not certificates:
            raise errors.ElbError("CertificateNotFound", CERTIFICATE_REQUIRED)
        if len(certificates) > 1:
            raise errors.validation(ONE_DEFAULT)
        return self.check_certificates(ctx, certificates)

    # -- listener certificates -------------------------------------------------------------------

    def add_listener_certificates(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.listener(ctx, params["ListenerArn"])
        if doc.get("Protocol") != "HTTPS":
            raise errors.validation(NOT_HTTPS)
        added = self.check_certificates(ctx, params["Certificates"])
        held = list(doc.get("ListenerCertificates") or [])
        arns = {c["CertificateArn"] for c in held} | {c["CertificateArn"] for c in doc.get("Certificates") or []}
        held += [c for c in added if c["CertificateArn"] not in arns]
        if len(held) > MAX_LISTENER_CERTIFICATES:
            raise errors.ElbError("TooManyCertificates", "You've reached the limit on the number of certificates")
        with self.db.transaction():
            store.put_listener(self.db, {**doc, "ListenerCertificates": held})
        return {"Certificates": [{**c, "IsDefault": False} for c in added]}

    def remove_listener_certificates(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.listener(ctx, params["ListenerArn"])
        gone = {c.get("CertificateArn") for c in params["Certificates"]}
        if gone & {c["CertificateArn"] for c in doc.get("Certificates") or []}:
            raise errors.ElbError("OperationNotPermitted", DEFAULT_NOT_REMOVABLE)
        held = [c for c in doc.get("ListenerCertificates") or [] if c["CertificateArn"] not in gone]
        with self.db.transaction():
            store.put_listener(self.db, {**doc, "ListenerCertificates": held})
        return {}

    def describe_listener_certificates(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.listener(ctx, params["ListenerArn"])
        shown = [{**c, "IsDefault": True} for c in doc.get("Certificates") or []]
        shown += [{**c, "IsDefault": False} for c in doc.get("ListenerCertificates") or []]
        return paged("Certificates", params, list(enumerate(shown)), lambda c: c)

    def describe_ssl_policies(self, ctx: RequestContext, params: Params) -> Doc:
        names = params.get("Names")
        if names:
            for name in names:
                self.check_ssl_policy(name)
            chosen = [ssl_policies.POLICIES[name] for name in dict.fromkeys(names)]
        else:
            chosen = list(ssl_policies.POLICIES.values())
        docs: list[Doc] = [
            {
                "Name": p.name,
                "SslProtocols": list(p.protocols),
                "Ciphers": [{"Name": c, "Priority": i + 1} for i, c in enumerate(p.ciphers)],
                "SupportedLoadBalancerTypes": ["application", "network"],
            }
            for p in chosen
        ]
        return paged("SslPolicies", params, list(enumerate(docs)), lambda d: d)
