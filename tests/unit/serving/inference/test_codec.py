"""The one tf.Example <-> row codec: decoding, dense columns, encoding back, float32 text."""

from __future__ import annotations

import random

import numpy as np
import tensorflow as tf

from ml_lifecycle.datasets.span_files import cell
from ml_lifecycle.serving.inference.codec import (
    dense_column,
    example_row,
    example_rows,
    feature_values,
    float32_value,
    rows_to_columns,
    serialized_examples,
)
from ml_lifecycle.serving.inference.signatures import InputSpec


def test_example_rows_and_columns_fill_missing_values_like_the_transform():
    example = tf.train.Example()
    example.features.feature["fare"].float_list.value.append(2.5)
    example.features.feature["company"].bytes_list.value.append(b"Flash Cab")
    rows = example_rows([example.SerializeToString()], ["fare", "hour", "company"])
    assert rows == [{"fare": 2.5, "hour": None, "company": "Flash Cab"}]
    assert example_rows([example.SerializeToString()]) == [{"fare": 2.5, "company": "Flash Cab"}]
    inputs = {
        "fare": InputSpec("fare", np.dtype(np.float32)),
        "hour": InputSpec("hour", np.dtype(np.int64)),
        "company": InputSpec("company", np.dtype(object)),
    }
    columns = rows_to_columns(rows + [{"fare": None, "hour": 7, "company": None}], inputs)
    assert columns["fare"].tolist() == [2.5, 0.0]
    assert columns["hour"].tolist() == [0, 7] and columns["hour"].dtype == np.int64
    assert columns["company"].tolist() == [b"Flash Cab", b""]


def _example(**features) -> bytes:
    example = tf.train.Example()
    for name, values in features.items():
        feature = example.features.feature[name]
        for value in values:
            if isinstance(value, float):
                feature.float_list.value.append(value)
            elif isinstance(value, int):
                feature.int64_list.value.append(value)
            else:
                feature.bytes_list.value.append(value)
    return example.SerializeToString()


def test_floats_decode_as_the_decimal_the_client_sent_not_float32_noise():
    (row,) = example_rows([_example(fare=[41.9], tips=[0.1])])
    assert row == {"fare": 41.9, "tips": 0.1}
    assert float32_value(np.float32(41.9)) == 41.9
    assert np.float32(float32_value(np.float32(1 / 3))) == np.float32(1 / 3)  # the same float32


def test_cells_follow_the_span_csv_rules():
    (row,) = example_rows([_example(empty=[b""], none=[], nan=[float("nan")], many=[1, 2], binary=[b"\xff"])])
    assert row == {"empty": None, "none": None, "nan": None, "many": [1, 2], "binary": b"\xff"}
    assert cell([[3]]) == 3 and cell([]) is None and cell("") is None and cell("x") == "x"


# Values a tf.Example feature may hold, with the edge cases of the span cell rules.
_VALUE_POOLS = {
    "float_list": [0.0, -0.0, 41.9, 1 / 3, 1e-45, 3.4e38, float("nan"), float("inf"), -float("inf")],
    "int64_list": [0, -1, 7, -(2**63), 2**63 - 1],
    "bytes_list": [b"", b"x", b"Flash Cab", "caf\u00e9".encode(), b"\xff", b"\x00"],
}


def _random_feature(feature: tf.train.Feature, rng: random.Random) -> None:
    kind = rng.choice([*_VALUE_POOLS, None])
    if kind is None:
        return  # no kind set: a feature with no values at all
    values = getattr(feature, kind)
    values.SetInParent()  # the kind is set even with 0 values (an empty span CSV cell)
    for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
        if kind == "float_list" and rng.random() < 0.3:
            values.value.append(rng.uniform(-1e6, 1e6))
        else:
            values.value.append(rng.choice(_VALUE_POOLS[kind]))


def test_the_single_value_fast_path_decodes_exactly_as_the_general_path():
    rng = random.Random(20240611)
    for _ in range(300):
        example = tf.train.Example()
        for index in range(rng.randint(0, 6)):
            _random_feature(example.features.feature[f"f{index}"], rng)
        features = example.features.feature
        general = {name: cell(feature_values(feature)) for name, feature in features.items()}
        names = [f"f{index}" for index in range(7)]
        general_named = {
            name: cell(feature_values(features[name])) if name in features else None for name in names
        }
        # repr: NaN inside a list, int vs float, str vs bytes and -0.0 must all match too.
        assert repr(example_row(example)) == repr(general)
        assert repr(example_row(example, names)) == repr(general_named)


def test_columns_encode_back_to_the_examples_they_decode_from():
    values = {"fare": [2.5, None], "hour": [7, 8], "company": ["Flash Cab", None]}
    examples = serialized_examples(values, {"fare": "f", "hour": "i", "company": "O"}, rows=2)
    assert example_rows(examples, ["fare", "hour", "company"]) == [
        {"fare": 2.5, "hour": 7, "company": "Flash Cab"},
        {"fare": None, "hour": 8, "company": None},
    ]


def test_dense_columns_fill_missing_values_and_keep_text_as_str():
    spec = InputSpec("fare", np.dtype(np.float32))
    assert dense_column([1.5, None], spec).tolist() == [1.5, 0.0]
    assert dense_column(["a", None], InputSpec("company", np.dtype(object))).tolist() == ["a", b""]
    assert dense_column([None, 3], InputSpec("hour", np.dtype(np.int64))).tolist() == [0, 3]
