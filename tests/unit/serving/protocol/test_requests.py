"""The row cap (`serving.max_rows_per_request`): a request of more rows is a 413 naming the count
and the limit, refused on its row count before any value is checked or converted."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from ml_lifecycle.config.serving import ServingConfig
from ml_lifecycle.serving.inference.signatures import InputSpec
from ml_lifecycle.serving.protocol import requests, values
from ml_lifecycle.serving.protocol.errors import ApiError
from ml_lifecycle.serving.protocol.methods import Method
from ml_lifecycle.serving.protocol.requests import decode_examples, decode_predict
from ml_lifecycle.serving.protocol.values import FeatureRules
from tests.unit.serving.fakes import SignaturesOnly

RAW_INPUTS = {
    "fare": InputSpec("fare", np.dtype(np.float32)),
    "payment": InputSpec("payment", np.dtype(object)),
}


ROW = {"fare": 10.0, "payment": "Cash"}
EXAMPLE = {"b64": base64.b64encode(b"not parsed here").decode()}

# Each way a request carries rows: its body for `rows` rows, and the decoder.
SHAPES = {
    "instances": (lambda rows: {"instances": [ROW] * rows}, decode_predict),
    "inputs columns": (
        lambda rows: {"inputs": {"fare": [1.0] * rows, "payment": ["Cash"] * rows}},
        decode_predict,
    ),
    "instances of examples": (lambda rows: {"instances": [EXAMPLE] * rows}, decode_predict),
    "inputs of examples": (lambda rows: {"inputs": [EXAMPLE] * rows}, decode_predict),
    "inputs {examples}": (lambda rows: {"inputs": {"examples": [EXAMPLE] * rows}}, decode_predict),
    "classify examples": (lambda rows: {"examples": [ROW] * rows}, decode_examples),
    "regress examples with context": (
        lambda rows: {"examples": [{"fare": 1.0}] * rows, "context": {"payment": "Card"}},
        lambda payload, servable, rules: decode_examples(payload, servable, rules, Method.REGRESS),
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_exactly_the_limit_passes_and_one_more_is_413_naming_both(shape):
    body, decode = SHAPES[shape]
    rules = FeatureRules(max_rows=7)
    assert decode(body(7), SignaturesOnly(RAW_INPUTS), rules).rows == 7
    with pytest.raises(ApiError) as refused:
        decode(body(8), SignaturesOnly(RAW_INPUTS), rules)
    assert refused.value.status == 413
    assert (
        "8 rows, more than the 7 a request may carry (serving.max_rows_per_request)" in refused.value.message
    )


class _Untouchable(dict):
    """A row whose keys must not be read: merging it with a context would read them."""

    def keys(self):
        raise AssertionError("the request's rows were read")

    __iter__ = keys


@pytest.fixture
def no_conversion(monkeypatch):
    """Every converter of values into checked columns, dense arrays or example bytes fails."""

    def fail(*args, **kwargs):
        raise AssertionError("a row of the request was converted")

    for module, name in [
        (requests, "rows_to_values"),
        (requests, "dense_column"),
        (requests, "_example_bytes"),
        (values, "_checked_column"),
    ]:
        monkeypatch.setattr(module, name, fail)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_huge_request_is_refused_before_any_row_is_converted(shape, no_conversion):
    body, decode = SHAPES[shape]
    payload = body(2_000_000)
    if "examples" in payload and "context" in payload:
        payload["examples"] = [_Untouchable(fare=1.0)] * 2_000_000
    with pytest.raises(ApiError, match="2000000 rows, more than the 10000") as refused:
        decode(payload, SignaturesOnly(RAW_INPUTS), FeatureRules())
    assert refused.value.status == 413


@pytest.mark.parametrize("shape", SHAPES)
def test_the_converters_do_run_under_the_limit(shape, no_conversion):
    # The other side of the test above: its converters are the ones a request under the limit uses.
    body, decode = SHAPES[shape]
    payload = body(3)
    if "examples" in payload and "context" in payload:
        payload["examples"] = [_Untouchable(fare=1.0)] * 3
    with pytest.raises(AssertionError, match="were read|was converted"):
        decode(payload, SignaturesOnly(RAW_INPUTS), FeatureRules())


def test_the_default_limit_is_the_configs():
    assert FeatureRules().max_rows == ServingConfig().max_rows_per_request == 10_000
