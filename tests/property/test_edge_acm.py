"""Every ACM operation ecslite serves, fed inputs drawn from its botocore input shape, never fails on
the server side: errors come back as ``{"__type", "message"}``, and a rejected request leaves the
store as it was (the shared checks of ``EdgeHarness``)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecslite.protocol.models import operation_model
from tests.property.conftest import NAMES, SCOPES, authorization, property_settings
from tests.property.harness import EdgeHarness
from tests.property.shapes import request_for
from tests.property.test_edge_shapes import check_success_parses

SERVED = (
    "AddTagsToCertificate",
    "DeleteCertificate",
    "DescribeCertificate",
    "GetCertificate",
    "ImportCertificate",
    "ListCertificates",
    "ListTagsForCertificate",
    "RemoveTagsFromCertificate",
    "RequestCertificate",
)


@pytest.mark.parametrize("operation", SERVED)
@property_settings(15)
@given(data=st.data())
def test_acm_operation_answers_without_server_fault(edge: EdgeHarness, operation: str, data: st.DataObject) -> None:
    model = operation_model("acm", operation)
    assert model is not None
    params = data.draw(request_for(model.input_shape, NAMES), label="params") if model.input_shape else {}
    scope = data.draw(st.sampled_from((None, *SCOPES)), label="scope")
    headers = {"content-type": "application/x-amz-json-1.1", "x-amz-target": f"CertificateManager.{operation}"}
    if scope is not None:
        headers["authorization"] = authorization(*scope, service="acm")
    exchange = edge.send(headers=headers, content=json.dumps(params).encode())
    check_success_parses(model, edge.check_json_exchange(exchange), exchange.response)
