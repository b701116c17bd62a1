"""HTTPS listeners through boto3 and the local ALB: certificates from ecslite's ACM checked by
CreateListener/ModifyListener and the listener-certificate operations, security policies, and TLS
served on 127.0.0.1 with the default certificate or the one SNI names, X-Forwarded-Proto https, and
WebSocket over TLS (wss) to a target."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.sync.client import connect
from websockets.sync.server import ServerConnection, serve

from tests.conftest import RunningServer, make_client
from tests.fixtures.ports import free_port
from tests.integration.test_acm import Made, TestCa, import_made
from tests.integration.test_elbv2_api import default_network, error_of, forward, make_lb
from tests.integration.test_elbv2_health import wait_for
from tests.integration.test_elbv2_lb_attributes import EchoBackend

MISSING = "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def test_ca() -> TestCa:
    return TestCa()


@pytest.fixture
def acm(endpoint: str) -> Any:
    return make_client("acm", endpoint)


@pytest.fixture
def backend() -> Iterator[EchoBackend]:
    running = EchoBackend()
    yield running
    running.close()


def echo_group(elbv2: Any, ec2: Any, backend: EchoBackend | WebSocketEcho) -> str:
    vpc, _ = default_network(ec2)
    group = elbv2.create_target_group(
        Name="echo", Protocol="HTTP", Port=backend.port, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "i-0123456789abcdef0"}])
    return str(group)


def https_listener(elbv2: Any, lb: str, port: int, certificate: str, group: str, **extra: Any) -> str:
    return str(
        elbv2.create_listener(
            LoadBalancerArn=lb,
            Protocol="HTTPS",
            Port=port,
            Certificates=[{"CertificateArn": certificate}],
            DefaultActions=forward(group),
            **extra,
        )["Listeners"][0]["ListenerArn"]
    )


def fetch(
    port: int, server_name: str, cadata: str, *, maximum: ssl.TLSVersion | None = None, check_name: bool = True
) -> tuple[str, int, dict[str, str], str] | None:
    """GET / over TLS, verifying the chain against ``cadata`` and the name against ``server_name``:
    (certificate CN, status, headers the target saw, TLS version), or None while nothing answers."""
    context = ssl.create_default_context(cadata=cadata)
    context.check_hostname = check_name
    if maximum is not None:
        context.maximum_version = maximum
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            request = f"GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n"
            tls.sendall(request.encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
            peer = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
            version = tls.version() or ""
    except ConnectionRefusedError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    seen = {k.lower(): v for k, v in json.loads(body)} if status == 200 else {}
    cn = str(peer.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value)
    return cn, status, seen, version


def test_https_listener_serves_an_imported_certificate(
    acm: Any, elbv2: Any, ec2: Any, backend: EchoBackend, test_ca: TestCa
) -> None:
    shop = import_made(acm, test_ca.issue(["shop.test"]))
    lb = make_lb(elbv2, ec2)["LoadBalancerArn"]
    port = free_port()
    listener = https_listener(elbv2, lb, port, shop, echo_group(elbv2, ec2, backend))
    shown = elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0]
    assert shown["Certificates"] == [{"CertificateArn": shop}] and shown["SslPolicy"] == "ELBSecurityPolicy-2016-08"
    answer = wait_for(lambda: fetch(port, "shop.test", test_ca.pem.decode()))
    assert answer is not None
    cn, status, seen, version = answer
    assert (cn, status, version) == ("shop.test", 200, "TLSv1.3")
    assert seen["x-forwarded-proto"] == "https" and seen["x-forwarded-port"] == str(port)
    assert acm.describe_certificate(CertificateArn=shop)["Certificate"]["InUseBy"] == [lb]
    # An untrusted chain is refused by the client: the listener serves the test CA's certificate, not another.
    with pytest.raises(ssl.SSLCertVerificationError):
        fetch(port, "shop.test", TestCa().pem.decode())
    # A re-import under the same ARN serves from the next connection on.
    import_made(acm, test_ca.issue(["www.shop.test", "shop.test"]), CertificateArn=shop)
    assert wait_for(lambda: served_name(port, "shop.test", test_ca.pem.decode()) == "www.shop.test")


def test_sni_picks_the_listener_certificate_and_changes_apply_to_new_connections(
    acm: Any, elbv2: Any, ec2: Any, backend: EchoBackend, test_ca: TestCa
) -> None:
    shop = import_made(acm, test_ca.issue(["shop.test"]))
    api = import_made(acm, test_ca.issue(["*.api.test"]))
    lb = make_lb(elbv2, ec2)["LoadBalancerArn"]
    port = free_port()
    listener = https_listener(elbv2, lb, port, shop, echo_group(elbv2, ec2, backend))
    added = elbv2.add_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": api}])
    assert added["Certificates"] == [{"CertificateArn": api, "IsDefault": False}]
    assert elbv2.describe_listener_certificates(ListenerArn=listener)["Certificates"] == [
        {"CertificateArn": shop, "IsDefault": True},
        {"CertificateArn": api, "IsDefault": False},
    ]
    cadata = test_ca.pem.decode()
    assert wait_for(lambda: served_name(port, "v1.api.test", cadata) == "*.api.test")
    assert fetch(port, "v1.api.test", cadata) is not None  # the name check passes too
    assert fetch(port, "shop.test", cadata) is not None
    # A name no certificate covers, or none at all, gets the default one.
    assert served_name(port, "other.test", cadata) == "shop.test"
    with pytest.raises(ssl.SSLCertVerificationError, match=r"not valid for 'other\.test'"):
        fetch(port, "other.test", cadata)
    assert (
        error_of(elbv2.remove_listener_certificates, ListenerArn=listener, Certificates=[{"CertificateArn": shop}])[0]
        == "OperationNotPermitted"
    )
    elbv2.remove_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": api}])
    assert wait_for(lambda: served_name(port, "v1.api.test", cadata) == "shop.test")
    # A new default certificate serves the next connection.
    elbv2.modify_listener(ListenerArn=listener, Certificates=[{"CertificateArn": api}])
    assert wait_for(lambda: served_name(port, "v1.api.test", cadata) == "*.api.test")
    assert fetch(port, "v1.api.test", cadata) is not None  # the name check passes too


def served_name(port: int, name: str, cadata: str) -> str | None:
    """The CN of the certificate served for SNI ``name`` (chain verified, name not checked)."""
    got = fetch(port, name, cadata, check_name=False)
    return None if got is None else got[0]


def test_requested_certificate_verifies_with_the_local_ca(
    acm: Any, elbv2: Any, ec2: Any, backend: EchoBackend, server: RunningServer
) -> None:
    arn = acm.request_certificate(DomainName="app.test", ValidationMethod="DNS")["CertificateArn"]
    lb = make_lb(elbv2, ec2)["LoadBalancerArn"]
    port = free_port()
    https_listener(
        elbv2, lb, port, arn, echo_group(elbv2, ec2, backend), SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06"
    )
    cadata = Path(server.data_dir / "tls" / "ca.pem").read_text()
    answer = wait_for(lambda: fetch(port, "app.test", cadata, maximum=ssl.TLSVersion.TLSv1_2))
    assert answer is not None and answer[:2] == ("app.test", 200) and answer[3] == "TLSv1.2"
    assert answer[2]["x-forwarded-proto"] == "https"


def test_tls13_only_policy_refuses_tls12(acm: Any, elbv2: Any, ec2: Any, backend: EchoBackend, test_ca: TestCa) -> None:
    shop = import_made(acm, test_ca.issue(["shop.test"]))
    lb = make_lb(elbv2, ec2)["LoadBalancerArn"]
    port = free_port()
    group = echo_group(elbv2, ec2, backend)
    https_listener(elbv2, lb, port, shop, group, SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06")
    cadata = test_ca.pem.decode()
    assert wait_for(lambda: fetch(port, "shop.test", cadata)) is not None
    with pytest.raises(ssl.SSLError):
        fetch(port, "shop.test", cadata, maximum=ssl.TLSVersion.TLSv1_2)


def test_listener_certificates_and_policies_are_checked(
    acm: Any, elbv2: Any, ec2: Any, backend: EchoBackend, test_ca: TestCa
) -> None:
    lb = make_lb(elbv2, ec2)["LoadBalancerArn"]
    group = echo_group(elbv2, ec2, backend)
    port = free_port()
    assert error_of(https_listener, elbv2=elbv2, lb=lb, port=port, certificate=MISSING, group=group) == (
        "CertificateNotFound",
        f"Certificate '{MISSING}' not found",
    )
    shop = import_made(acm, test_ca.issue(["shop.test"]))
    code, _ = error_of(
        https_listener, elbv2=elbv2, lb=lb, port=port, certificate=shop, group=group, SslPolicy="ELBSecurityPolicy-X"
    )
    assert code == "SSLPolicyNotFound"
    assert elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"] == []
    listener = https_listener(elbv2, lb, port, shop, group)
    assert error_of(elbv2.modify_listener, ListenerArn=listener, Certificates=[{"CertificateArn": MISSING}])[0] == (
        "CertificateNotFound"
    )
    assert error_of(
        elbv2.add_listener_certificates, ListenerArn=listener, Certificates=[{"CertificateArn": MISSING}]
    ) == ("CertificateNotFound", f"Certificate '{MISSING}' not found")
    policies = elbv2.describe_ssl_policies(Names=["ELBSecurityPolicy-TLS13-1-2-2021-06"])["SslPolicies"]
    assert policies[0]["SslProtocols"] == ["TLSv1.2", "TLSv1.3"]
    assert policies[0]["Ciphers"][0] == {"Name": "TLS_AES_128_GCM_SHA256", "Priority": 1}
    # ACM refuses to delete a certificate a listener serves, until the listener goes.
    assert error_of(acm.delete_certificate, CertificateArn=shop) == (
        "ResourceInUseException",
        f"Certificate {shop} in account 000000000000 is in use.",
    )
    elbv2.delete_listener(ListenerArn=listener)
    acm.delete_certificate(CertificateArn=shop)


def test_http_listener_redirects_to_https(
    acm: Any, elbv2: Any, ec2: Any, backend: EchoBackend, test_ca: TestCa
) -> None:
    shop = import_made(acm, test_ca.issue(["shop.test"]))
    lb = make_lb(elbv2, ec2)["LoadBalancerArn"]
    http_port, https_port = free_port(), free_port()
    https_listener(elbv2, lb, https_port, shop, echo_group(elbv2, ec2, backend))
    redirect = {"Protocol": "HTTPS", "Port": str(https_port), "StatusCode": "HTTP_301"}
    elbv2.create_listener(
        LoadBalancerArn=lb,
        Protocol="HTTP",
        Port=http_port,
        DefaultActions=[{"Type": "redirect", "RedirectConfig": redirect}],
    )

    def location() -> str | None:
        try:
            with socket.create_connection(("127.0.0.1", http_port), timeout=5) as raw:
                raw.sendall(b"GET /cart?id=1 HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n")
                head = raw.recv(65536).decode()
        except ConnectionRefusedError:
            return None
        return next(
            (line.split(": ", 1)[1] for line in head.split("\r\n") if line.lower().startswith("location")), None
        )

    assert wait_for(location) == f"https://shop.test:{https_port}/cart?id=1"
    assert wait_for(lambda: fetch(https_port, "shop.test", test_ca.pem.decode())) is not None


def test_cli_imports_a_certificate_and_creates_an_https_listener(
    aws: Any, elbv2: Any, ec2: Any, backend: EchoBackend, test_ca: TestCa, tmp_path: Path
) -> None:
    made: Made = test_ca.issue(["cli.test"])
    for name, data in (("cert.pem", made.certificate), ("key.pem", made.key), ("chain.pem", made.chain)):
        (tmp_path / name).write_bytes(data)
    arn = aws(
        "acm",
        "import-certificate",
        "--certificate",
        "fileb://cert.pem",
        "--private-key",
        "fileb://key.pem",
        "--certificate-chain",
        "fileb://chain.pem",
    )["CertificateArn"]
    lb = make_lb(elbv2, ec2)["LoadBalancerArn"]
    port = free_port()
    group = echo_group(elbv2, ec2, backend)
    created = aws(
        "elbv2",
        "create-listener",
        "--load-balancer-arn",
        lb,
        "--protocol",
        "HTTPS",
        "--port",
        str(port),
        "--certificates",
        f"CertificateArn={arn}",
        "--ssl-policy",
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        "--default-actions",
        f"Type=forward,TargetGroupArn={group}",
    )["Listeners"][0]
    assert created["Protocol"] == "HTTPS" and created["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
    answer = wait_for(lambda: fetch(port, "cli.test", test_ca.pem.decode()))
    assert answer is not None and answer[:2] == ("cli.test", 200)


class WebSocketEcho:
    """A WebSocket server echoing messages, on a thread; plain requests (health checks) get 200."""

    def __init__(self) -> None:
        self.headers: list[Headers] = []
        self.closed: list[int | None] = []

        def plain(connection: ServerConnection, request: Request) -> Response | None:
            if request.headers.get("Upgrade", "").lower() != "websocket":
                return connection.respond(200, "ok")
            return None

        self.server = serve(self.echo, "127.0.0.1", 0, process_request=plain)
        self.port = int(self.server.socket.getsockname()[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def echo(self, connection: ServerConnection) -> None:
        self.headers.append(connection.request.headers if connection.request else Headers())
        for message in connection:
            connection.send(message)
        self.closed.append(connection.close_code)

    def close(self) -> None:
        self.server.shutdown()


def test_websocket_over_an_https_listener(acm: Any, elbv2: Any, ec2: Any, test_ca: TestCa) -> None:
    target = WebSocketEcho()
    try:
        shop = import_made(acm, test_ca.issue(["shop.test"]))
        lb = make_lb(elbv2, ec2)["LoadBalancerArn"]
        port = free_port()
        https_listener(elbv2, lb, port, shop, echo_group(elbv2, ec2, target))
        context = ssl.create_default_context(cadata=test_ca.pem.decode())

        def opened() -> Any:
            try:
                return connect(f"wss://127.0.0.1:{port}/live", ssl=context, server_hostname="shop.test")
            except OSError:
                return None

        ws = wait_for(opened)
        assert ws is not None
        with ws:
            for message in ("over tls", b"\xff" * 100_000):
                ws.send(message)
                assert ws.recv(timeout=10) == message
        assert wait_for(lambda: target.closed) == [1000]
        seen = target.headers[0]
        assert seen["X-Forwarded-Proto"] == "https" and seen["X-Forwarded-Port"] == str(port)
        assert seen["Upgrade"] == "websocket" and "Sec-WebSocket-Key" in seen
    finally:
        target.close()
