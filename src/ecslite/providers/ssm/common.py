"""State and helpers shared by Parameter Store's operations: lookups by reference, versions, views.

A ``SecureString`` value is returned in clear only with ``WithDecryption``; without it the caller
gets the stored ciphertext in base64, as Parameter Store returns the KMS ciphertext.
"""

from __future__ import annotations

import base64
from typing import Any

from ecslite.clock import Clock
from ecslite.providers.base import RequestContext
from ecslite.providers.ssm import errors
from ecslite.providers.ssm.names import Reference, arn_for, parse_reference
from ecslite.store import parameters as parameter_store
from ecslite.store.db import Database

Found = tuple[parameter_store.Parameter, parameter_store.ParameterVersion]


class SsmBase:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def now(self) -> float:
        return round(self.clock.now(), 3)

    # -- lookups -----------------------------------------------------------------------------------

    def reference(self, ctx: RequestContext, text: str) -> Reference:
        ref = parse_reference(text, ctx.account, ctx.region)
        if ref is None:
            if text.startswith("arn:"):
                raise errors.parameter_not_found(text)
            raise errors.ValidationException(errors.INVALID_NAME)
        return ref

    def parameter(self, ctx: RequestContext, ref: Reference) -> parameter_store.Parameter:
        for name in ref.names:
            found = parameter_store.get(self.db, ctx.account, ctx.region, name)
            if found is not None:
                return found
        raise errors.parameter_not_found(ref.text)

    def lookup(self, ctx: RequestContext, text: str) -> Found:
        """The parameter and the version a reference (name or ARN, with a selector) names."""
        ref = self.reference(ctx, text)
        parameter = self.parameter(ctx, ref)
        return parameter, self.select(parameter, ref)

    def select(self, parameter: parameter_store.Parameter, ref: Reference) -> parameter_store.ParameterVersion:
        if ref.selector is None:
            latest = parameter_store.version(self.db, parameter, parameter.version)
            assert latest is not None
            return latest
        if ref.version is not None:
            found = parameter_store.version(self.db, parameter, ref.version)
        else:
            found = next((v for v in parameter_store.versions(self.db, parameter) if ref.label in v.labels), None)
        if found is None:
            raise errors.version_not_found(ref.selector, parameter.name)
        return found

    # -- views -------------------------------------------------------------------------------------

    def value(
        self, parameter: parameter_store.Parameter, version: parameter_store.ParameterVersion, clear: bool
    ) -> str:
        if version.doc["Type"] == "SecureString" and not clear:
            sealed = parameter_store.sealed_value(self.db, parameter, version.version)
            return base64.b64encode(sealed).decode("ascii")
        return parameter_store.value_of(self.db, parameter, version.version)

    def parameter_view(
        self,
        parameter: parameter_store.Parameter,
        version: parameter_store.ParameterVersion,
        clear: bool,
        selector: str | None = None,
    ) -> dict[str, Any]:
        """A parameter as GetParameter, GetParameters and GetParametersByPath show it."""
        view = {
            "Name": parameter.name,
            "Type": version.doc["Type"],
            "Value": self.value(parameter, version, clear),
            "Version": version.version,
            "LastModifiedDate": version.doc["LastModifiedDate"],
            "ARN": arn_for(parameter.region, parameter.account, parameter.name),
            "DataType": version.doc["DataType"],
        }
        if selector is not None:
            view["Selector"] = f":{selector}"
        return view

    @staticmethod
    def metadata_view(
        parameter: parameter_store.Parameter, version: parameter_store.ParameterVersion
    ) -> dict[str, Any]:
        """A version's metadata as DescribeParameters and GetParameterHistory show it."""
        view: dict[str, Any] = {"Name": parameter.name}
        for key in (
            "Type",
            "KeyId",
            "LastModifiedDate",
            "LastModifiedUser",
            "Description",
            "AllowedPattern",
            "Tier",
            "Policies",
            "DataType",
        ):
            if version.doc.get(key) is not None:
                view[key] = version.doc[key]
        view["Version"] = version.version
        return view
