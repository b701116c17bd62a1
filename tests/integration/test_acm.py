"""ACM through boto3 against the real server: imported certificates checked as ACM checks them,
requested ones issued by ecslite's local CA (``<data dir>/tls``), listing, tags, and keys that never
come back through the API."""

from __future__ import annotations

import datetime
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.conftest import RunningServer, make_client
from tests.integration.test_elbv2_api import error_of

BAD_ARN = "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000"


@dataclass
class Made:
    certificate: bytes
    key: bytes
    chain: bytes


def _pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _cert(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


class TestCa:
    """A certificate authority made by the test, independent of ecslite's."""

    __test__ = False

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test root")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, names: Sequence[str], rsa_key: bool = True) -> Made:
        key: Any = rsa.generate_private_key(65537, 2048) if rsa_key else ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return Made(cert.public_bytes(serialization.Encoding.PEM), _pem(key), self.pem)


@pytest.fixture(scope="module")
def test_ca() -> TestCa:
    return TestCa()


@pytest.fixture
def acm(endpoint: str) -> Any:
    return make_client("acm", endpoint)


def import_made(acm: Any, made: Made, **extra: Any) -> str:
    answer = acm.import_certificate(
        Certificate=made.certificate, PrivateKey=made.key, CertificateChain=made.chain, **extra
    )
    return str(answer["CertificateArn"])


def test_import_certificate_describes_it_and_never_returns_the_key(acm: Any, test_ca: TestCa) -> None:
    made = test_ca.issue(["shop.test", "www.shop.test"])
    arn = import_made(acm, made, Tags=[{"Key": "team", "Value": "web"}])
    assert arn.startswith("arn:aws:acm:us-east-1:000000000000:certificate/")
    shown = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert shown["DomainName"] == "shop.test"
    assert shown["SubjectAlternativeNames"] == ["shop.test", "www.shop.test"]
    assert (shown["Type"], shown["Status"], shown["KeyAlgorithm"]) == ("IMPORTED", "ISSUED", "RSA-2048")
    assert shown["Issuer"] == "test root" and shown["InUseBy"] == []
    assert shown["Serial"].replace(":", "") == f"{_cert(made.certificate).serial_number:x}".zfill(
        len(shown["Serial"].replace(":", ""))
    )
    got = acm.get_certificate(CertificateArn=arn)
    assert got["Certificate"].strip() == made.certificate.decode().strip()
    assert got["CertificateChain"].strip() == made.chain.decode().strip()
    assert "PRIVATE KEY" not in str(got) + str(shown)
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "team", "Value": "web"}]
    # Re-import under the same ARN: new contents, same ARN and tags.
    again = test_ca.issue(["shop.test", "api.shop.test"])
    assert import_made(acm, again, CertificateArn=arn) == arn
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["SubjectAlternativeNames"][1] == "api.shop.test"
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "team", "Value": "web"}]


def test_import_certificate_refuses_bad_material(acm: Any, test_ca: TestCa) -> None:
    made = test_ca.issue(["shop.test"])
    other = test_ca.issue(["other.test"])
    assert error_of(acm.import_certificate, Certificate=made.certificate, PrivateKey=other.key) == (
        "ValidationException",
        "The private key does not match the public key in the certificate.",
    )
    assert error_of(acm.import_certificate, Certificate=made.certificate + other.certificate, PrivateKey=made.key) == (
        "ValidationException",
        "The certificate field contains more than one certificate. You can specify only one certificate in this field.",
    )
    code, _ = error_of(acm.import_certificate, Certificate=b"not a certificate", PrivateKey=made.key)
    assert code == "ValidationException"
    code, _ = error_of(
        acm.import_certificate, Certificate=made.certificate, PrivateKey=b"-----BEGIN PRIVATE KEY-----\nxx"
    )
    assert code == "ValidationException"
    assert acm.list_certificates()["CertificateSummaryList"] == []


def test_request_certificate_is_issued_by_the_local_ca(acm: Any, server: RunningServer) -> None:
    arn = acm.request_certificate(
        DomainName="app.test", SubjectAlternativeNames=["*.app.test"], ValidationMethod="DNS", IdempotencyToken="t1"
    )["CertificateArn"]
    assert (
        acm.request_certificate(DomainName="app.test", ValidationMethod="DNS", IdempotencyToken="t1")["CertificateArn"]
        == arn
    )
    shown = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert (shown["Type"], shown["Status"]) == ("AMAZON_ISSUED", "ISSUED")
    assert shown["SubjectAlternativeNames"] == ["app.test", "*.app.test"]
    options = shown["DomainValidationOptions"]
    assert [o["DomainName"] for o in options] == ["app.test", "*.app.test"]
    for option in options:
        assert option["ValidationStatus"] == "SUCCESS" and option["ValidationMethod"] == "DNS"
        record = option["ResourceRecord"]
        assert record["Type"] == "CNAME" and record["Name"].endswith(".app.test.")
        assert record["Value"].endswith(".acm-validations.aws.")
    got = acm.get_certificate(CertificateArn=arn)
    ca_file = server.data_dir / "tls" / "ca.pem"
    assert server.health()["localCa"] == str(ca_file)
    ca = _cert(ca_file.read_bytes())
    _cert(got["Certificate"].encode()).verify_directly_issued_by(ca)
    assert _cert(got["CertificateChain"].encode()) == ca
    assert stat.S_IMODE((server.data_dir / "tls" / "ca-key.pem").stat().st_mode) == 0o600
    email = acm.request_certificate(DomainName="mail.test", ValidationMethod="EMAIL")["CertificateArn"]
    option = acm.describe_certificate(CertificateArn=email)["Certificate"]["DomainValidationOptions"][0]
    assert "admin@mail.test" in option["ValidationEmails"] and "ResourceRecord" not in option


def test_list_certificates_filters_and_pages(acm: Any, test_ca: TestCa) -> None:
    first = import_made(acm, test_ca.issue(["one.test"]))
    second = acm.request_certificate(DomainName="two.test", ValidationMethod="DNS")["CertificateArn"]
    ec_cert = import_made(acm, test_ca.issue(["ec.test"], rsa_key=False))
    listed = acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"]
    # Without an Includes.keyTypes filter ACM lists RSA certificates only.
    assert [c["CertificateArn"] for c in listed] == [first, second]
    assert listed[0]["DomainName"] == "one.test" and listed[0]["InUse"] is False
    every = acm.list_certificates(Includes={"keyTypes": ["RSA_2048", "EC_prime256v1"]})["CertificateSummaryList"]
    assert [c["CertificateArn"] for c in every] == [first, second, ec_cert]
    assert acm.list_certificates(CertificateStatuses=["PENDING_VALIDATION"])["CertificateSummaryList"] == []
    page = acm.list_certificates(MaxItems=1)
    assert [c["CertificateArn"] for c in page["CertificateSummaryList"]] == [first]
    rest = acm.list_certificates(MaxItems=1, NextToken=page["NextToken"])
    assert [c["CertificateArn"] for c in rest["CertificateSummaryList"]] == [second] and "NextToken" not in rest


def test_tags_and_deletion(acm: Any, test_ca: TestCa) -> None:
    arn = import_made(acm, test_ca.issue(["tags.test"]))
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "a", "Value": "other"}, {"Key": "b"}])
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "a", "Value": "1"}]
    acm.delete_certificate(CertificateArn=arn)
    assert error_of(acm.describe_certificate, CertificateArn=arn) == (
        "ResourceNotFoundException",
        f"Could not find certificate {arn}.",
    )
    assert error_of(acm.delete_certificate, CertificateArn=BAD_ARN)[0] == "ResourceNotFoundException"
    # Outside the model's ARN pattern: the edge's validation error; inside it but no certificate ARN: ACM's.
    assert (
        error_of(acm.describe_certificate, CertificateArn="arn:aws:s3:::bucket-name-here")[0] == "ValidationException"
    )
    odd = "arn:aws:acm:us-east-1:000000000000:notacert/x"
    assert error_of(acm.describe_certificate, CertificateArn=odd) == (
        "InvalidArnException",
        f"String '{odd}' is not a valid ARN.",
    )
