"""TLS for one HTTPS listener of the local ALB: the listener's default certificate, its other
certificates chosen by SNI, and its security policy.

The listening sockets keep one server context for their lifetime (``front``), made for the
listener's security policy: protocol versions and ciphers are settled on it, since OpenSSL keeps
them from the context a connection starts with (a policy change rebinds the listener). It holds no
certificate itself, and its SNI callback, which OpenSSL runs on every ClientHello (with ``None``
when the client names no server), hands the connection to the context of the certificate that
covers the name: an exact name before a wildcard, the default certificate when none covers it (as
an ALB does). :meth:`ListenerTls.update` swaps those contexts, so a changed certificate serves from
the next connection on while open ones keep theirs.

Keys reach ``ssl`` through a file (its only way in): written 0600 into a private temporary
directory and removed as soon as it is loaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from ecslite.model.certificates import Material, dns_names, pick
from ecslite.model.ssl_policies import SslPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Served:
    arn: str
    context: ssl.SSLContext
    names: tuple[str, ...]


def signature(certificates: Sequence[tuple[str, Material]]) -> tuple[object, ...]:
    """What the certificates' contexts are built from: rebuilt only when it changes."""
    return tuple((arn, hashlib.sha256(m.certificate + m.chain).hexdigest()) for arn, m in certificates)


class ListenerTls:
    def __init__(self, policy: SslPolicy) -> None:
        self.policy = policy
        self.front = _base_context(policy)
        self.front.sni_callback = self._choose
        self.signature: tuple[object, ...] | None = None
        self._default: _Served | None = None
        self._others: list[_Served] = []

    def update(self, certificates: Sequence[tuple[str, Material]]) -> None:
        """Serve ``certificates`` (the default first) from the next handshake on."""
        wanted = signature(certificates)
        if wanted == self.signature:
            return
        served = [_load(arn, material, self.policy) for arn, material in certificates]
        self._default = served[0] if served else None
        self._others = served
        self.signature = wanted

    @property
    def serving(self) -> list[str]:
        return [served.arn for served in self._others]

    def _choose(self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> int | None:
        candidates = [(str(i), served.names) for i, served in enumerate(self._others)]
        found = pick(server_name, candidates)
        chosen = self._others[int(found)] if found is not None else self._default
        if chosen is None:
            return ssl.ALERT_DESCRIPTION_HANDSHAKE_FAILURE
        connection.context = chosen.context
        return None


def _base_context(policy: SslPolicy) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3 if policy.tls13_only else ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    if policy.tls12_ciphers:
        try:
            context.set_ciphers(":".join(policy.tls12_ciphers))
        except ssl.SSLError:
            log.warning("TLS 1.2 ciphers of the security policy not available here", extra={"policy": policy.name})
    return context


def _load(arn: str, material: Material, policy: SslPolicy) -> _Served:
    context = _base_context(policy)
    with tempfile.TemporaryDirectory(prefix="ecslite-tls-") as directory:
        path = os.path.join(directory, "listener.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(material.certificate.rstrip() + b"\n")
            if material.chain.strip():
                out.write(material.chain.rstrip() + b"\n")
            out.write(material.private_key)
        context.load_cert_chain(path)
    names = tuple(dns_names(x509.load_pem_x509_certificate(material.certificate)))
    return _Served(arn, context, names)
