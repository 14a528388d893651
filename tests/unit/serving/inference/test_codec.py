"""The one tf.Example <-> row codec: decoding, dense columns, encoding back, float32 text."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ml_lifecycle.serving.inference.codec import (
    cell,
    dense_column,
    example_rows,
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
