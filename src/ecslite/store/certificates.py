"""ACM certificates (``acm_certificates``), and the local certificate authority that issues the
certificates RequestCertificate asks for.

Invariants:
- One row per certificate, unique by ARN within every partition. ``doc`` is the certificate as
  DescribeCertificate shows it, minus what is derived on read (``InUseBy``: the load balancers whose
  listeners use it). ``certificate`` and ``chain`` are PEM; the private key is sealed with the data
  directory's value cipher (``store/secrets.py``), bound to the ARN, and leaves this module only
  for the local ALB, which serves it.
- ``token`` is RequestCertificate's IdempotencyToken (NULL for imports).
- Every write records a change (kind ``acm-certificate``, keyed by the ARN), so the local ALB picks
  up a re-imported certificate for new connections.
- The local CA lives in ``<data dir>/tls``: ``ca.pem`` (the certificate users trust) and
  ``ca-key.pem`` (mode 0600, in a 0700 directory), made once and kept across restarts and resets.
"""

from __future__ import annotations

import datetime
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecslite.model.certificates import Material, new_ca
from ecslite.store import tags as tag_store
from ecslite.store.db import Database, dumps, loads
from ecslite.store.secrets import cipher_for

KIND = "acm-certificate"
CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CA_NAME = "ecslite local CA"

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CertificateRow:
    rid: int
    account: str
    region: str
    doc: Doc


def _row(row: Any) -> CertificateRow:
    return CertificateRow(row["rid"], row["account"], row["region"], loads(row["doc"]))


def insert(db: Database, account: str, region: str, doc: Doc, material: Material, token: str | None = None) -> None:
    arn = doc["CertificateArn"]
    db.execute(
        "INSERT INTO acm_certificates (account, region, arn, status, token, doc, certificate, chain, private_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (account, region, arn, doc["Status"], token, dumps(doc), *_material_columns(db, arn, material)),
    )
    db.changed(KIND, arn)


def replace(db: Database, doc: Doc, material: Material) -> None:
    """A re-import: new contents under the same ARN (tags and uses stay)."""
    arn = doc["CertificateArn"]
    db.execute(
        "UPDATE acm_certificates SET status=?, doc=?, certificate=?, chain=?, private_key=? WHERE arn=?",
        (doc["Status"], dumps(doc), *_material_columns(db, arn, material), arn),
    )
    db.changed(KIND, arn)


def _material_columns(db: Database, arn: str, material: Material) -> tuple[str, str, bytes]:
    sealed = cipher_for(db).seal(material.private_key, f"acm:{arn}")
    return material.certificate.decode("ascii"), material.chain.decode("ascii"), sealed


def get(db: Database, arn: str) -> CertificateRow | None:
    row = db.query_one("SELECT rid, account, region, doc FROM acm_certificates WHERE arn=?", (arn,))
    return None if row is None else _row(row)


def by_token(db: Database, account: str, region: str, token: str) -> CertificateRow | None:
    row = db.query_one(
        "SELECT rid, account, region, doc FROM acm_certificates WHERE account=? AND region=? AND token=?"
        " ORDER BY rid DESC LIMIT 1",
        (account, region, token),
    )
    return None if row is None else _row(row)


def listing(db: Database, account: str, region: str) -> list[CertificateRow]:
    rows = db.query(
        "SELECT rid, account, region, doc FROM acm_certificates WHERE account=? AND region=? ORDER BY rid",
        (account, region),
    )
    return [_row(row) for row in rows]


def pem(db: Database, arn: str) -> tuple[str, str] | None:
    """The certificate and its chain, PEM (GetCertificate)."""
    row = db.query_one("SELECT certificate, chain FROM acm_certificates WHERE arn=?", (arn,))
    return None if row is None else (str(row["certificate"]), str(row["chain"]))


def material(db: Database, arn: str) -> Material | None:
    """Everything a TLS server needs, the private key opened: for the local ALB only."""
    row = db.query_one("SELECT certificate, chain, private_key FROM acm_certificates WHERE arn=?", (arn,))
    if row is None:
        return None
    key = cipher_for(db).open(bytes(row["private_key"]), f"acm:{arn}")
    return Material(str(row["certificate"]).encode(), key, str(row["chain"]).encode())


def delete(db: Database, arn: str) -> None:
    db.execute("DELETE FROM acm_certificates WHERE arn=?", (arn,))
    tag_store.remove(db, arn, [key for key, _ in tag_store.get(db, arn)])
    db.changed(KIND, arn)


def users(db: Database, arn: str) -> list[tuple[str, str]]:
    """``(listener ARN, load balancer ARN)`` of every listener that serves the certificate, as its
    default or as one of its listener certificates."""
    rows = db.query("SELECT arn, doc FROM elb_listeners WHERE doc LIKE ?", (f"%{arn}%",))
    out: list[tuple[str, str]] = []
    for row in rows:
        doc = loads(row["doc"])
        held = [
            c.get("CertificateArn")
            for c in [*(doc.get("Certificates") or []), *(doc.get("ListenerCertificates") or [])]
        ]
        if arn in held:
            out.append((str(row["arn"]), str(doc["LoadBalancerArn"])))
    return out


# -- the local certificate authority ---------------------------------------------------------------

_CA_LOCK = threading.Lock()


def ca_directory(data_dir: Path) -> Path:
    return data_dir / "tls"


def local_ca(data_dir: Path, now: datetime.datetime) -> Material:
    """The data directory's CA, made the first time it is needed."""
    directory = ca_directory(data_dir)
    cert_path, key_path = directory / CA_FILE, directory / CA_KEY_FILE
    with _CA_LOCK:
        if cert_path.exists() and key_path.exists():
            return Material(cert_path.read_bytes(), key_path.read_bytes())
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        made = new_ca(CA_NAME, now)
        _write(key_path, made.private_key, 0o600)
        _write(cert_path, made.certificate, 0o644)
        return made


def _write(path: Path, data: bytes, mode: int) -> None:
    partial = path.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(partial, path)
