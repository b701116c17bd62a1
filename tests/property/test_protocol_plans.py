"""The compiled readers, writers and checkers of the protocol layer answer as the plain walks do.

For operations of every service ecslite answers for, values drawn from the input shapes (strict
and loose) are read and checked by both; values drawn from the output shapes are written by both.
Same results, same errors with the same messages.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecslite.protocol import json_rpc, validate
from ecslite.protocol.errors import SerializationError
from ecslite.protocol.models import SERVICES, operation_model, service_model
from tests.property import reference
from tests.property.conftest import NAMES, property_settings
from tests.property.shapes import request_for

OPERATIONS = sorted((s.name, op) for s in SERVICES for op in service_model(s.name).operation_names)


def outcome(function: Any, *args: Any) -> tuple[str, Any]:
    """What a call did: ``("ok", result)`` or the kind of error and its message."""
    try:
        return "ok", function(*args)
    except SerializationError as error:
        return "SerializationError", error.message
    except (TypeError, ValueError, AttributeError, OverflowError) as error:
        return type(error).__name__, None


def same(ours: tuple[str, Any], plain: tuple[str, Any]) -> bool:
    """Equal outcomes; compared by ``repr`` so that a NaN equals a NaN."""
    return ours[0] == plain[0] and repr(ours[1]) == repr(plain[1])


@property_settings(400)
@given(data=st.data(), operation=st.sampled_from(OPERATIONS))
def test_compiled_read_and_check_match_the_plain_walk(data: st.DataObject, operation: tuple[str, str]) -> None:
    model = operation_model(*operation)
    assert model is not None
    if model.input_shape is None:
        return
    value = data.draw(request_for(model.input_shape, NAMES), label="input")
    read = outcome(json_rpc.read_value, model.input_shape, value, "")
    assert same(read, outcome(reference.read_value, model.input_shape, value, ""))
    if read[0] == "ok":
        assert validate.violations(model.input_shape, read[1]) == reference.violations(model.input_shape, read[1])


@property_settings(400)
@given(data=st.data(), operation=st.sampled_from(OPERATIONS))
def test_compiled_write_matches_the_plain_walk(data: st.DataObject, operation: tuple[str, str]) -> None:
    model = operation_model(*operation)
    assert model is not None
    if model.output_shape is None:
        return
    value = data.draw(request_for(model.output_shape, NAMES), label="output")
    if not isinstance(value, dict):
        return
    value = {**value, "notModelled": "dropped", "unset": None}
    assert same(
        outcome(json_rpc.write_value, model.output_shape, value),
        outcome(reference.write_value, model.output_shape, value),
    )


@pytest.mark.parametrize("service", sorted(s.name for s in SERVICES))
def test_every_shape_of_every_service_compiles(service: str) -> None:
    for name in service_model(service).operation_names:
        model = operation_model(service, name)
        assert model is not None
        for shape in (model.input_shape, model.output_shape):
            if shape is not None:
                json_rpc.write_value(shape, {})
                assert validate.violations(shape, {}) == reference.violations(shape, {})
