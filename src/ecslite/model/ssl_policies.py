"""ELB's predefined security policies for HTTPS listeners: what DescribeSSLPolicies shows, and what the
local ALB negotiates under each.

The policies listed are the common ones of the Elastic Load Balancing documentation's policy table
(the FIPS and post-quantum variants are not); their cipher lists follow that table but have not
been checked against it line by line (unverified). A listener created through the API without
``SslPolicy`` gets ``ELBSecurityPolicy-2016-08``, as ELBv2 does for the CLI, SDKs, CloudFormation
and CDK (the console picks a TLS 1.3 policy: ``ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09`` in
the current guide).

The local ALB serves TLS 1.2 and 1.3 only, whatever the policy allows below 1.2 (Python's ``ssl``
on current OpenSSL refuses TLS 1.0/1.1 anyway); a TLS 1.3-only policy serves TLS 1.3 only, and
the TLS 1.2 ciphers are the policy's.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_POLICY = "ELBSecurityPolicy-2016-08"

TLS13_CIPHERS = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
_ECDHE_GCM = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
)
_ECDHE_SHA2 = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
)
_RSA_SHA2 = ("AES128-GCM-SHA256", "AES128-SHA256", "AES256-GCM-SHA384", "AES256-SHA256")
_2016_08 = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES128-SHA256",
    "AES128-SHA",
    "AES256-GCM-SHA384",
    "AES256-SHA256",
    "AES256-SHA",
)


@dataclass(frozen=True, slots=True)
class SslPolicy:
    name: str
    protocols: tuple[str, ...]
    ciphers: tuple[str, ...]  # in priority order; TLS 1.3 suites first where the policy has them

    @property
    def tls13_only(self) -> bool:
        return self.protocols == ("TLSv1.3",)

    @property
    def tls12_ciphers(self) -> tuple[str, ...]:
        return tuple(c for c in self.ciphers if not c.startswith("TLS_"))


POLICIES: dict[str, SslPolicy] = {
    p.name: p
    for p in (
        SslPolicy("ELBSecurityPolicy-TLS13-1-2-2021-06", ("TLSv1.2", "TLSv1.3"), TLS13_CIPHERS + _ECDHE_SHA2),
        SslPolicy("ELBSecurityPolicy-TLS13-1-2-Res-2021-06", ("TLSv1.2", "TLSv1.3"), TLS13_CIPHERS + _ECDHE_GCM),
        SslPolicy(
            "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", ("TLSv1.2", "TLSv1.3"), TLS13_CIPHERS + _ECDHE_SHA2 + _RSA_SHA2
        ),
        SslPolicy("ELBSecurityPolicy-TLS13-1-3-2021-06", ("TLSv1.3",), TLS13_CIPHERS),
        SslPolicy(
            "ELBSecurityPolicy-TLS13-1-0-2021-06", ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"), TLS13_CIPHERS + _2016_08
        ),
        SslPolicy("ELBSecurityPolicy-2016-08", ("TLSv1", "TLSv1.1", "TLSv1.2"), _2016_08),
        SslPolicy("ELBSecurityPolicy-TLS-1-2-2017-01", ("TLSv1.2",), _ECDHE_SHA2 + _RSA_SHA2),
        SslPolicy("ELBSecurityPolicy-TLS-1-2-Ext-2018-06", ("TLSv1.2",), _2016_08),
        SslPolicy("ELBSecurityPolicy-FS-1-2-Res-2020-10", ("TLSv1.2",), _ECDHE_GCM),
    )
}


def policy(name: str | None) -> SslPolicy:
    """The named policy (the default for ``None`` or a name no longer known)."""
    return POLICIES.get(name or DEFAULT_POLICY) or POLICIES[DEFAULT_POLICY]
