"""The ACM provider (JSON 1.1, ``CertificateManager.<Op>``): imported certificates, and requested ones
that ecslite's local certificate authority issues.

- ImportCertificate checks the material as ACM does (one PEM certificate, an unencrypted RSA or EC
  key that matches it, a parseable chain); re-importing under ``CertificateArn`` replaces the
  contents and keeps the ARN, tags and uses.
- RequestCertificate: real ACM leaves a new certificate ``PENDING_VALIDATION`` until the DNS record
  it asks for (or the email) proves control of each name, which needs the public DNS. Here there is
  none, so ecslite's choice is to validate at once: the certificate is ``ISSUED`` by the local CA
  (``<data dir>/tls/ca.pem``, which users trust to reach HTTPS listeners), and each name's
  ``DomainValidationOptions`` shows the CNAME record ACM would have asked for with
  ``ValidationStatus: SUCCESS`` (email validation: the five addresses ACM writes to). The same
  IdempotencyToken within an hour returns the same certificate, as on ACM.
- Private keys never leave through the API (ExportCertificate is not served: ACM exports only
  certificates issued with export enabled); the local ALB alone reads them from the store.
- ``InUseBy`` lists the load balancers whose HTTPS listeners serve the certificate; DeleteCertificate
  refuses while it is non-empty.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
import uuid
from typing import Any

from ecslite.clock import Clock
from ecslite.config import Settings
from ecslite.model import certificates as certs
from ecslite.providers.acm import errors
from ecslite.providers.base import Params, RequestContext
from ecslite.providers.pagination import decode_token, encode_token
from ecslite.store import certificates as store
from ecslite.store import tags as tag_store
from ecslite.store.db import Database

Doc = dict[str, Any]

IDEMPOTENCY_SECONDS = 3600.0
# Public certificates' lifetime: the CA/Browser Forum's 200-day limit from March 2026 (ACM's exact
# figure unverified).
ISSUED_DAYS = 198
MAX_NAMES = 10
MAX_TAGS = 50
DEFAULT_KEY_TYPES = ("RSA_1024", "RSA_2048")  # ListCertificates without an Includes.keyTypes filter
_ARN = re.compile(r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+")
_DOMAIN = re.compile(r"(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{1,63}\.?|localhost")
_EMAIL_USERS = ("admin", "administrator", "hostmaster", "postmaster", "webmaster")


class AcmProvider:
    """AWS Certificate Manager."""

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings

    def now(self) -> float:
        return round(self.clock.now(), 3)

    # -- import and request -------------------------------------------------------------------

    def import_certificate(self, ctx: RequestContext, params: Params) -> Doc:
        try:
            material = certs.check_import(params["Certificate"], params["PrivateKey"], params.get("CertificateChain"))
        except certs.BadMaterial as bad:
            raise errors.ValidationException(errors.MATERIAL_MESSAGES[bad.reason]) from None
        now = self.now()
        shown = certs.describe(material.certificate)
        if not shown["NotBefore"] <= now <= shown["NotAfter"]:
            raise errors.ValidationException(errors.EXPIRED)
        arn = params.get("CertificateArn")
        tags = _tags(params.get("Tags"))
        if arn:
            if tags:  # ACM takes tags only with a new import
                raise errors.ValidationException("Tags can only be added when importing a new certificate.")
            row = self._row(ctx, arn)
            doc = {**row.doc, **shown, "ImportedAt": now}
            with self.db.transaction():
                store.replace(self.db, doc, material)
            return {"CertificateArn": arn}
        arn = f"arn:aws:acm:{ctx.region}:{ctx.account}:certificate/{uuid.uuid4()}"
        doc = {
            "CertificateArn": arn,
            **shown,
            "CreatedAt": now,
            "ImportedAt": now,
            "Status": "ISSUED",
            "Type": "IMPORTED",
            "RenewalEligibility": "INELIGIBLE",
        }
        with self.db.transaction():
            store.insert(self.db, ctx.account, ctx.region, doc, material)
            tag_store.put(self.db, arn, tags)
        return {"CertificateArn": arn}

    def request_certificate(self, ctx: RequestContext, params: Params) -> Doc:
        names = list(dict.fromkeys([params["DomainName"], *(params.get("SubjectAlternativeNames") or [])]))
        for name in names:
            if not _DOMAIN.fullmatch(name) or len(name) > 253:
                raise errors.InvalidParameterException(errors.BAD_DOMAIN.format(name=name))
        if len(names) > MAX_NAMES:
            raise errors.LimitExceededException(errors.TOO_MANY_NAMES)
        now = self.now()
        token = params.get("IdempotencyToken")
        if token:
            earlier = store.by_token(self.db, ctx.account, ctx.region, token)
            if earlier is not None and now - earlier.doc["CreatedAt"] < IDEMPOTENCY_SECONDS:
                return {"CertificateArn": earlier.doc["CertificateArn"]}
        algorithm = params.get("KeyAlgorithm") or certs.RSA_2048
        moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
        ca = store.local_ca(self.settings.data_dir, moment)
        material = certs.issue(ca, names, moment, ISSUED_DAYS, algorithm)
        arn = f"arn:aws:acm:{ctx.region}:{ctx.account}:certificate/{uuid.uuid4()}"
        method = params.get("ValidationMethod") or "EMAIL"
        domains = {o["DomainName"]: o.get("ValidationDomain") for o in params.get("DomainValidationOptions") or []}
        doc = {
            "CertificateArn": arn,
            **certs.describe(material.certificate),
            "DomainName": names[0],
            "SubjectAlternativeNames": names,
            "DomainValidationOptions": [_validation(name, domains.get(name), method) for name in names],
            "CreatedAt": now,
            "IssuedAt": now,
            "Status": "ISSUED",
            "Type": "AMAZON_ISSUED",
            "RenewalEligibility": "INELIGIBLE",
            "Options": {
                "CertificateTransparencyLoggingPreference": (params.get("Options") or {}).get(
                    "CertificateTransparencyLoggingPreference", "ENABLED"
                ),
                "Export": (params.get("Options") or {}).get("Export", "DISABLED"),
            },
        }
        with self.db.transaction():
            store.insert(self.db, ctx.account, ctx.region, doc, material, token)
            tag_store.put(self.db, arn, _tags(params.get("Tags")))
        return {"CertificateArn": arn}

    # -- reading ---------------------------------------------------------------------------------

    def describe_certificate(self, ctx: RequestContext, params: Params) -> Doc:
        row = self._row(ctx, params["CertificateArn"])
        return {"Certificate": self._view(row.doc)}

    def get_certificate(self, ctx: RequestContext, params: Params) -> Doc:
        row = self._row(ctx, params["CertificateArn"])
        found = store.pem(self.db, row.doc["CertificateArn"])
        assert found is not None
        certificate, chain = found
        return {"Certificate": certificate, "CertificateChain": chain} if chain else {"Certificate": certificate}

    def list_certificates(self, ctx: RequestContext, params: Params) -> Doc:
        statuses = set(params.get("CertificateStatuses") or [])
        includes = params.get("Includes") or {}
        key_types = set(includes.get("keyTypes") or DEFAULT_KEY_TYPES)
        token = params.get("NextToken")
        after = decode_token(token, lambda _: errors.InvalidArgsException(errors.BAD_NEXT_TOKEN.format(token=token)))
        rows = [
            row
            for row in store.listing(self.db, ctx.account, ctx.region)
            if (after is None or row.rid > after)
            and (not statuses or self._status(row.doc) in statuses)
            and row.doc["KeyAlgorithm"].replace("-", "_") in key_types
        ]
        if params.get("SortBy") == "CREATED_AT" and params.get("SortOrder") == "DESCENDING":
            rows.reverse()
        limit = int(params.get("MaxItems") or 1000)
        shown = rows[:limit]
        out: Doc = {"CertificateSummaryList": [self._summary(row.doc) for row in shown]}
        if len(rows) > limit:
            out["NextToken"] = encode_token(shown[-1].rid)
        return out

    # -- deleting --------------------------------------------------------------------------------

    def delete_certificate(self, ctx: RequestContext, params: Params) -> Doc:
        row = self._row(ctx, params["CertificateArn"])
        arn = row.doc["CertificateArn"]
        with self.db.transaction():
            if store.users(self.db, arn):
                raise errors.ResourceInUseException(arn, ctx.account)
            store.delete(self.db, arn)
        return {}

    # -- tags ------------------------------------------------------------------------------------

    def add_tags_to_certificate(self, ctx: RequestContext, params: Params) -> Doc:
        arn = self._row(ctx, params["CertificateArn"]).doc["CertificateArn"]
        tags = _tags(params["Tags"])
        if tag_store.count_after(self.db, arn, [key for key, _ in tags]) > MAX_TAGS:
            raise errors.TooManyTagsException()
        with self.db.transaction():
            tag_store.put(self.db, arn, tags)
        return {}

    def list_tags_for_certificate(self, ctx: RequestContext, params: Params) -> Doc:
        arn = self._row(ctx, params["CertificateArn"]).doc["CertificateArn"]
        return {"Tags": [_tag(key, value) for key, value in tag_store.get(self.db, arn)]}

    def remove_tags_from_certificate(self, ctx: RequestContext, params: Params) -> Doc:
        arn = self._row(ctx, params["CertificateArn"]).doc["CertificateArn"]
        held = dict(tag_store.get(self.db, arn))
        # A tag given with a value is removed only where the value matches; without one, whatever it holds.
        keys = [
            tag["Key"]
            for tag in params["Tags"]
            if tag["Key"] in held and ("Value" not in tag or held[tag["Key"]] == tag["Value"])
        ]
        with self.db.transaction():
            tag_store.remove(self.db, arn, keys)
        return {}

    # -- helpers ---------------------------------------------------------------------------------

    def _row(self, ctx: RequestContext, arn: str) -> store.CertificateRow:
        if not _ARN.fullmatch(arn):
            raise errors.InvalidArnException(arn)
        row = store.get(self.db, arn)
        if row is None or (row.account, row.region) != (ctx.account, ctx.region):
            raise errors.ResourceNotFoundException(arn)
        return row

    def _status(self, doc: Doc) -> str:
        status = str(doc["Status"])
        return "EXPIRED" if status == "ISSUED" and doc["NotAfter"] < self.now() else status

    def _view(self, doc: Doc) -> Doc:
        users = store.users(self.db, doc["CertificateArn"])
        return {**doc, "Status": self._status(doc), "InUseBy": sorted({lb for _, lb in users})}

    def _summary(self, doc: Doc) -> Doc:
        names = doc.get("SubjectAlternativeNames") or []
        out: Doc = {
            "CertificateArn": doc["CertificateArn"],
            "DomainName": doc["DomainName"],
            "SubjectAlternativeNameSummaries": names,
            "HasAdditionalSubjectAlternativeNames": False,
            "Status": self._status(doc),
            "Type": doc["Type"],
            "KeyAlgorithm": doc["KeyAlgorithm"],
            "KeyUsages": [usage["Name"] for usage in doc.get("KeyUsages") or []],
            "ExtendedKeyUsages": [usage["Name"] for usage in doc.get("ExtendedKeyUsages") or []],
            "InUse": bool(store.users(self.db, doc["CertificateArn"])),
            "RenewalEligibility": doc["RenewalEligibility"],
            "NotBefore": doc["NotBefore"],
            "NotAfter": doc["NotAfter"],
            "CreatedAt": doc["CreatedAt"],
        }
        for key in ("IssuedAt", "ImportedAt"):
            if key in doc:
                out[key] = doc[key]
        return out


def _validation(name: str, validation_domain: str | None, method: str) -> Doc:
    domain = validation_domain or name.removeprefix("*.")
    out: Doc = {
        "DomainName": name,
        "ValidationDomain": domain,
        "ValidationStatus": "SUCCESS",
        "ValidationMethod": method,
    }
    if method == "DNS":
        label = hashlib.md5(name.removeprefix("*.").encode(), usedforsecurity=False).hexdigest()
        out["ResourceRecord"] = {
            "Name": f"_{label}.{name.removeprefix('*.')}.",
            "Type": "CNAME",
            "Value": f"_{secrets.token_hex(16)}.{secrets.token_hex(5)}.acm-validations.aws.",
        }
    else:
        out["ValidationEmails"] = [f"{user}@{domain}" for user in _EMAIL_USERS]
    return out


def _tags(tags: list[Doc] | None) -> list[tuple[str, str]]:
    return [(tag["Key"], tag.get("Value", "")) for tag in tags or []]


def _tag(key: str, value: str) -> Doc:
    return {"Key": key, "Value": value} if value else {"Key": key}
