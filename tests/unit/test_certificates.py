"""Certificates as ACM and the local ALB see them (``model.certificates``): import checks, the
names a certificate covers, and which certificate serves an SNI name."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509

from ecslite.model import certificates as certs

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def ca() -> certs.Material:
    return certs.new_ca("unit CA", NOW)


def test_issued_certificate_is_signed_by_the_ca_and_names_every_domain(ca: certs.Material) -> None:
    made = certs.issue(ca, ["app.test", "*.app.test", "127.0.0.1"], NOW, 30, certs.EC_P256)
    leaf = x509.load_pem_x509_certificate(made.certificate)
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.certificate))
    assert certs.dns_names(leaf) == ["app.test", "*.app.test"]
    shown = certs.describe(made.certificate)
    assert (shown["DomainName"], shown["KeyAlgorithm"], shown["Issuer"]) == ("app.test", "EC-prime256v1", "ecslite")
    assert shown["NotAfter"] - shown["NotBefore"] == pytest.approx(30 * 86400 + 300)
    assert certs.check_import(made.certificate, made.private_key, made.chain) == made


@pytest.mark.parametrize(
    ("reason", "build"),
    [
        ("certificate", lambda a, b: (b"junk", a.private_key)),
        ("more-than-one", lambda a, b: (a.certificate + b.certificate, a.private_key)),
        ("key", lambda a, b: (a.certificate, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")),
        ("mismatch", lambda a, b: (a.certificate, b.private_key)),
    ],
)
def test_check_import_names_what_is_wrong(ca: certs.Material, reason: str, build: object) -> None:
    a = certs.issue(ca, ["a.test"], NOW, 30, certs.EC_P256)
    b = certs.issue(ca, ["b.test"], NOW, 30, certs.EC_P256)
    certificate, key = build(a, b)  # type: ignore[operator]
    with pytest.raises(certs.BadMaterial) as caught:
        certs.check_import(certificate, key, None)
    assert caught.value.reason == reason


def test_wildcards_cover_one_label_and_exact_names_win() -> None:
    assert certs.name_matches("*.api.test", "v1.api.test")
    assert not certs.name_matches("*.api.test", "api.test")
    assert not certs.name_matches("*.api.test", "a.v1.api.test")
    assert certs.name_matches("Shop.Test.", "shop.test")
    candidates = [("wild", ["*.shop.test"]), ("exact", ["www.shop.test"]), ("apex", ["shop.test"])]
    assert certs.pick("www.shop.test", candidates) == "exact"
    assert certs.pick("cart.shop.test", candidates) == "wild"
    assert certs.pick("shop.test", candidates) == "apex"
    assert certs.pick("other.test", candidates) is None
    assert certs.pick(None, candidates) is None
