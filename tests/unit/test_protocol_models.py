"""The routing table of served services agrees with the installed botocore models."""

from __future__ import annotations

import pytest

from ecslite.protocol.models import SERVICES, error_codes, operation_model, service_model


@pytest.mark.parametrize("spec", SERVICES, ids=lambda s: s.name)
def test_service_table_matches_the_botocore_model(spec: object) -> None:
    model = service_model(spec.name)  # type: ignore[attr-defined]
    assert spec.target_prefix == model.metadata.get("targetPrefix")  # type: ignore[attr-defined]
    assert spec.signing_name == (model.signing_name or model.endpoint_prefix)  # type: ignore[attr-defined]
    assert spec.protocol in model.metadata.get("protocols", [model.protocol])  # type: ignore[attr-defined]


def test_validation_error_codes_are_declared_by_their_services() -> None:
    for spec in SERVICES:
        if spec.protocol == "json" and spec.name != "application-autoscaling":
            assert spec.validation_error in error_codes(spec.name) or spec.validation_error == "ValidationException"


def test_unknown_operation_has_no_model() -> None:
    assert operation_model("ecs", "NoSuchOperation") is None
    assert operation_model("ecs", "RunTask") is not None
