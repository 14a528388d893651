"""The one codec between tf.Examples, the signatures' dense columns and rows of raw values.

A row is what a client sent for one example: feature name -> a Python value, None where the value
is missing. Every place that turns one into the other goes through here: the warmup (tf.Examples ->
the raw signature's columns), the monitor and the review queue (a request's tf.Examples -> rows),
the prediction log (a classify request's rows -> tf.Examples; logged tf.Examples -> span rows).

Floats: a tf.Example (and the signatures) hold float32, which turns the client's 41.9 into
41.900001525878906. Decoded floats are the shortest decimal that rounds to the same float32
(41.9), so rows hold what the client sent and write the same span text on every path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from tensorflow.core.example import example_pb2

from ml_lifecycle.datasets.span_files import cell
from ml_lifecycle.serving.inference.signatures import InputSpec

INT64_RANGE = (-(2**63), 2**63 - 1)


def float32_value(value: float) -> float:
    """The shortest decimal that rounds to the same float32 as `value` (41.900001525... -> 41.9)."""
    return float(str(np.float32(value)))


def text_value(value: bytes) -> str | bytes:
    """UTF-8 text as str; bytes that are not UTF-8 (binary values) stay bytes."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def feature_values(feature: example_pb2.Feature) -> list:
    """A tf.Example feature's values: text decoded, floats as their float32 decimal."""
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value) if kind else []
    if kind == "bytes_list":
        return [text_value(v) for v in values]
    if kind == "float_list":
        return [float32_value(v) for v in values]
    return values


def feature_cell(feature: example_pb2.Feature) -> object:
    """A tf.Example feature as its cell: `cell(feature_values(feature))`, with the common single
    value decoded directly (this runs per feature of every {"b64": ...} request the hooks see)."""
    kind = feature.WhichOneof("kind")
    values = getattr(feature, kind).value if kind else ()
    if len(values) != 1:
        return cell(feature_values(feature))
    value = values[0]
    if kind == "float_list":
        return None if math.isnan(value) else float32_value(value)
    if kind == "bytes_list":
        return None if value == b"" else text_value(value)
    return value


def example_row(example: example_pb2.Example, names: Iterable[str] | None = None) -> dict[str, object]:
    """One tf.Example as a row of cells. With `names`, exactly those features (None where absent);
    without, the features the example holds."""
    features = example.features.feature
    if names is None:
        return {name: feature_cell(feature) for name, feature in features.items()}
    row: dict[str, object] = {}
    for name in names:
        feature = features.get(name)
        row[name] = None if feature is None else feature_cell(feature)
    return row


def example_rows(
    serialized_examples: Iterable[bytes], names: Iterable[str] | None = None
) -> list[dict[str, object]]:
    """Serialized tf.Examples as rows (see `example_row`)."""
    names = None if names is None else list(names)
    return [
        example_row(example_pb2.Example.FromString(serialized), names) for serialized in serialized_examples
    ]


def serialized_examples(values: Mapping[str, list], kinds: Mapping[str, str], rows: int) -> list[bytes]:
    """Columnar raw values (None: missing, left out) as serialized tf.Examples, one per row; each
    feature typed by its input's dtype kind: "f" float_list, "i" int64_list, else bytes_list."""
    examples = [example_pb2.Example() for _ in range(rows)]
    for name, column in values.items():
        kind = kinds[name]
        for example, value in zip(examples, column, strict=True):
            if value is None:
                continue
            feature = example.features.feature[name]
            if kind == "f":
                feature.float_list.value.append(float(value))
            elif kind == "i":
                feature.int64_list.value.append(int(value))
            else:
                feature.bytes_list.value.append(value.encode() if isinstance(value, str) else value)
    return [example.SerializeToString() for example in examples]


def dense_column(values: list, spec: InputSpec) -> np.ndarray:
    """Checked values (None: missing) -> the signature's dense column, a missing value -> the fill value."""
    if spec.dtype.kind == "f":
        # None becomes NaN (JSON has no NaN, so every NaN here was a None). Straight to the input
        # dtype: rounding a Python float to float32 once equals rounding it via float64.
        column = np.array(values, dtype=spec.dtype)
        if None in values:
            column[np.isnan(column)] = 0.0
        return column
    if None in values:
        fill = spec.fill_value
        values = [fill if value is None else value for value in values]
    # Text stays str: TensorFlow encodes str objects of an object array as UTF-8.
    return np.array(values, dtype=spec.dtype)


def rows_to_columns(rows: list[dict[str, object]], inputs: dict[str, InputSpec]) -> dict[str, np.ndarray]:
    """Rows (None = missing) as the raw signature's dense columns, missing -> fill value, text as
    bytes. `inputs` is by column (`signatures.column_inputs`); the columns come out by argument."""
    columns = {}
    for name, spec in inputs.items():
        values = [row.get(name) for row in rows]
        if spec.dtype == np.object_:
            values = [value.encode() if isinstance(value, str) else value for value in values]
        columns[spec.name] = dense_column(values, spec)
    return columns
