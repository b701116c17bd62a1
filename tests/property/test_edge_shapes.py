"""Every ECS operation, fed inputs drawn from its botocore input shape, never fails on the server side.

For each operation in the installed model (operations land here as they are implemented), with
inputs drawn from the shape and with mutations of known-good requests: the answer is never a 5xx;
an error comes back as ``{"__type", "message"}``; a success parses with botocore's own response
parser against the output shape; and a rejected request leaves the store exactly as it was, with
no transaction left open.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from botocore.model import OperationModel
from botocore.parsers import create_parser
from botocore.validate import validate_parameters
from hypothesis import given
from hypothesis import strategies as st

from ecslite.protocol.models import operation_model, service_model
from ecslite.protocol.validate import violations
from tests.property.conftest import NAMES, SCOPES, ecs_headers, property_settings
from tests.property.examples import EXAMPLES
from tests.property.harness import EdgeHarness
from tests.property.shapes import mutation_of, request_for

ECS_OPERATIONS = sorted(service_model("ecs").operation_names)

PROPERTY = property_settings(20)
MUTATIONS = property_settings(25)


@pytest.mark.parametrize("operation", ECS_OPERATIONS)
@PROPERTY
@given(data=st.data())
def test_ecs_operation_answers_without_server_fault_for_model_shaped_input(
    edge: EdgeHarness, operation: str, data: st.DataObject
) -> None:
    model = operation_model("ecs", operation)
    assert model is not None
    params = data.draw(request_for(model.input_shape, NAMES), label="params") if model.input_shape else {}
    scope = data.draw(st.sampled_from((None, *SCOPES)), label="scope")
    exchange = edge.send(headers=ecs_headers(operation, scope), content=json.dumps(params).encode())
    check_success_parses(model, edge.check_json_exchange(exchange), exchange.response)


def check_success_parses(model: OperationModel, body: dict[str, Any], response: httpx.Response) -> None:
    """A success is something botocore can read: every member it sent comes back parsed."""
    if response.status_code != 200 or model.output_shape is None:
        return
    parsed = create_parser("json").parse(
        {"status_code": 200, "headers": dict(response.headers), "body": response.content}, model.output_shape
    )
    assert set(parsed) - {"ResponseMetadata"} == set(body)


SEEDED = sorted((operation, i) for operation, seeds in EXAMPLES.items() for i in range(len(seeds)))


def test_seed_requests_keep_to_the_model() -> None:
    for operation, seeds in EXAMPLES.items():
        model = operation_model("ecs", operation)
        assert model is not None, operation
        for seed in seeds:
            validate_parameters(seed, model.input_shape)
            assert violations(model.input_shape, seed) == [], (operation, seed)


@pytest.mark.parametrize(("operation", "index"), SEEDED)
@MUTATIONS
@given(data=st.data())
def test_ecs_operation_answers_without_server_fault_for_mutated_good_input(
    edge: EdgeHarness, operation: str, index: int, data: st.DataObject
) -> None:
    model = operation_model("ecs", operation)
    assert model is not None
    params = data.draw(mutation_of(model.input_shape, EXAMPLES[operation][index], NAMES), label="params")
    exchange = edge.send(headers=ecs_headers(operation), content=json.dumps(params).encode())
    check_success_parses(model, edge.check_json_exchange(exchange), exchange.response)
