"""X.509 certificates as ACM holds them: checking imported material, what DescribeCertificate shows
of a certificate, issuing one from a certificate authority, and which certificate serves a name.

Pure functions over PEM bytes (the ``cryptography`` package); no store, no files.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# ACM's KeyAlgorithm spellings (the API's enum) for the keys ecslite makes or accepts.
RSA_2048, EC_P256, EC_P384 = "RSA_2048", "EC_prime256v1", "EC_secp384r1"
_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "TLS_WEB_SERVER_AUTHENTICATION",
    ExtendedKeyUsageOID.CLIENT_AUTH: "TLS_WEB_CLIENT_AUTHENTICATION",
    ExtendedKeyUsageOID.CODE_SIGNING: "CODE_SIGNING",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "EMAIL_PROTECTION",
    ExtendedKeyUsageOID.TIME_STAMPING: "TIME_STAMPING",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSP_SIGNING",
}
_KEY_USAGES = (
    ("digital_signature", "DIGITAL_SIGNATURE"),
    ("content_commitment", "NON_REPUDIATION"),
    ("key_encipherment", "KEY_ENCIPHERMENT"),
    ("data_encipherment", "DATA_ENCIPHERMENT"),
    ("key_agreement", "KEY_AGREEMENT"),
    ("key_cert_sign", "CERTIFICATE_SIGNING"),
    ("crl_sign", "CRL_SIGNING"),
)


class BadMaterial(Exception):
    """Imported material that ACM refuses; ``reason`` picks the message (``providers.acm.errors``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Material:
    """A certificate with its private key and chain, all PEM."""

    certificate: bytes
    private_key: bytes
    chain: bytes = b""


def check_import(certificate: bytes, private_key: bytes, chain: bytes | None) -> Material:
    """The material of an ImportCertificate call, or :class:`BadMaterial` naming what is wrong."""
    try:
        certs = x509.load_pem_x509_certificates(certificate)
    except ValueError:
        raise BadMaterial("certificate") from None
    if len(certs) != 1:
        raise BadMaterial("more-than-one")
    try:
        key = serialization.load_pem_private_key(private_key, password=None)
    except TypeError:  # encrypted: ACM takes only plaintext keys
        raise BadMaterial("key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise BadMaterial("key") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise BadMaterial("key-type")
    if _public_bytes(key.public_key()) != _public_bytes(certs[0].public_key()):
        raise BadMaterial("mismatch")
    if chain:
        try:
            x509.load_pem_x509_certificates(chain)
        except ValueError:
            raise BadMaterial("chain") from None
    return Material(certificate, private_key, chain or b"")


def _public_bytes(key: Any) -> bytes:
    return bytes(
        key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
    )


def key_algorithm(key: Any) -> str:
    """ACM's KeyAlgorithm of a public or private key (``RSA-2048``, ``EC-prime256v1``, …)."""
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return f"RSA-{key.key_size}"
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        # ACM names P-256 by its OpenSSL name (``EC-prime256v1``); the others by their SEC names.
        return f"EC-{'prime256v1' if key.curve.name == 'secp256r1' else key.curve.name}"
    return "UNKNOWN"


def dns_names(cert: x509.Certificate) -> list[str]:
    """The certificate's names: the subject CN first, then its DNS subject alternative names."""
    names: list[str] = []
    for attribute in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        names.append(str(attribute.value))
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return names
    for name in san.get_values_for_type(x509.DNSName):
        if name not in names:
            names.append(name)
    return names


def describe(pem: bytes) -> dict[str, Any]:
    """What DescribeCertificate shows of a certificate's contents (the caller adds ARN, status, dates
    of import or issue)."""
    cert = x509.load_pem_x509_certificate(pem)
    names = dns_names(cert)
    doc: dict[str, Any] = {
        "DomainName": names[0] if names else "",
        "SubjectAlternativeNames": names,
        "Serial": ":".join(f"{b:02x}" for b in cert.serial_number.to_bytes(20, "big").lstrip(b"\0")),
        "Subject": cert.subject.rfc4514_string(),
        "Issuer": _issuer_name(cert),
        "NotBefore": cert.not_valid_before_utc.timestamp(),
        "NotAfter": cert.not_valid_after_utc.timestamp(),
        "KeyAlgorithm": key_algorithm(cert.public_key()),
        "SignatureAlgorithm": _signature_algorithm(cert),
        "KeyUsages": [{"Name": name} for name in key_usages(cert)],
        "ExtendedKeyUsages": [{"Name": name, "OID": oid} for name, oid in extended_key_usages(cert)],
    }
    return doc


def _issuer_name(cert: x509.Certificate) -> str:
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        found = cert.issuer.get_attributes_for_oid(oid)
        if found:
            return str(found[0].value)
    return cert.issuer.rfc4514_string()


def _signature_algorithm(cert: x509.Certificate) -> str:
    digest = cert.signature_hash_algorithm.name.upper() if cert.signature_hash_algorithm else "NONE"
    key = cert.public_key()
    kind = "RSA" if isinstance(key, rsa.RSAPublicKey) else "ECDSA"
    return f"{digest}WITH{kind}"


def key_usages(cert: x509.Certificate) -> list[str]:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return []
    out = []
    for attribute, name in _KEY_USAGES:
        if getattr(usage, attribute):
            out.append(name)
    return out


def extended_key_usages(cert: x509.Certificate) -> list[tuple[str, str]]:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return [(_EKU_NAMES.get(oid, "CUSTOM"), oid.dotted_string) for oid in usage]


# -- issuing -----------------------------------------------------------------------------------------


def new_key(algorithm: str = RSA_2048) -> PrivateKeyTypes:
    if algorithm == EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == EC_P384:
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def new_ca(common_name: str, now: datetime.datetime, days: int = 3650) -> Material:
    """A self-signed certificate authority (EC P-256: small and quick to make)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ecslite"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Material(cert.public_bytes(serialization.Encoding.PEM), key_pem(key))


def issue(ca: Material, names: Sequence[str], now: datetime.datetime, days: int, algorithm: str = RSA_2048) -> Material:
    """A server certificate for ``names`` (the first is the subject CN) signed by ``ca``; the chain
    is the CA certificate."""
    ca_cert = x509.load_pem_x509_certificate(ca.certificate)
    ca_key = serialization.load_pem_private_key(ca.private_key, password=None)
    assert isinstance(ca_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))
    signer: CertificateIssuerPrivateKeyTypes = ca_key
    key = new_key(algorithm)
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(
            x509.KeyUsage(True, False, isinstance(key, rsa.RSAPrivateKey), False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(signer, hashes.SHA256())
    )
    return Material(cert.public_bytes(serialization.Encoding.PEM), key_pem(key), ca.certificate)


# -- serving -----------------------------------------------------------------------------------------


def name_matches(pattern: str, host: str) -> bool:
    """Whether a certificate name (``example.com``, ``*.example.com``) covers ``host``: a wildcard
    stands for exactly one leftmost label, as TLS clients check."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def pick(host: str | None, candidates: Sequence[tuple[str, Sequence[str]]]) -> str | None:
    """Of ``(key, names)`` pairs, the key whose names cover ``host``, an exact name before a
    wildcard; ``None`` when none does (the listener's default certificate serves)."""
    if not host:
        return None
    for key, names in candidates:
        if any(not name.startswith("*.") and name_matches(name, host) for name in names):
            return key
    for key, names in candidates:
        if any(name_matches(name, host) for name in names):
            return key
    return None
