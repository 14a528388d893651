"""Logged columns as TensorProtos and back: what a PredictionLog record's inputs and outputs hold.

A request column (a flat list of JSON scalars, None for missing) or an output array becomes one
TensorProto typed from its values; reading one back undoes float32 rounding and decodes text
with the codec's rules, so logged rows equal the rows the codec decodes from tf.Examples.
"""

from __future__ import annotations

import math

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

from ml_lifecycle.serving.inference.codec import INT64_RANGE, float32_value, text_value


def tensor_proto(values: list) -> tensor_pb2.TensorProto:
    """A TensorProto of a rectangular nested list (or numpy array).

    Types: text/bytes -> DT_STRING (None -> b""); booleans -> DT_BOOL; integers -> DT_INT64;
    any float -> DT_FLOAT, the dtype of the exported signatures' raw numeric inputs. A missing
    value (None) in a numeric column is NaN, which makes an integer column DT_FLOAT: a
    TensorProto has no null, and NaN reads back as missing (`rows_from_prediction_logs`).
    """
    proto = tensor_pb2.TensorProto()
    fill_tensor(proto, values)
    return proto


_INTEGER_TYPES = (int, np.integer)
_TEXT_TYPES = (str, bytes)


def fill_tensor(proto: tensor_pb2.TensorProto, values) -> None:
    """`tensor_proto(values)`, written into an existing (empty) TensorProto field."""
    # Filled in place (no CopyFrom): the writer thread converts every record, and each copy of
    # a request's tensors costs GIL time the request threads want.
    if type(values) is list and _fill_flat_column(proto, values):
        return
    if _fill_homogeneous(proto, values):
        return
    shape, leaves = _shape_and_leaves(values)
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    kinds = {type(v) for v in leaves}
    if any(issubclass(kind, _TEXT_TYPES) for kind in kinds):
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(
            v if isinstance(v, bytes) else b"" if v is None else str(v).encode("utf-8") for v in leaves
        )
    elif kinds and all(issubclass(kind, (bool, np.bool_)) for kind in kinds):
        proto.dtype = types_pb2.DT_BOOL
        proto.bool_val.extend(bool(v) for v in leaves)
    elif kinds and all(issubclass(kind, _INTEGER_TYPES) and kind is not bool for kind in kinds):
        proto.dtype = types_pb2.DT_INT64
        proto.int64_val.extend(int(v) for v in leaves)
    else:
        proto.dtype = types_pb2.DT_FLOAT
        proto.float_val.extend(math.nan if v is None else float(v) for v in leaves)


_NONE = type(None)
_NUMBERS = frozenset({int, float, _NONE})
_TEXT = frozenset({str, _NONE})
_INTS = frozenset({int})
_INT64_MIN, _INT64_MAX = INT64_RANGE


def _fill_flat_column(proto: tensor_pb2.TensorProto, values: list) -> bool:
    """A request column as the server logs it: a flat list of JSON scalars with None for missing.
    Same tensor as the general path, typed from the set of value types instead of value by value
    (measured on a 256-row x 15-feature record with missing values: 0.8 ms -> 0.2 ms)."""
    if not values:
        return False
    kinds = set(map(type, values))
    if kinds == _INTS:
        if not _INT64_MIN <= min(values) <= max(values) <= _INT64_MAX:
            return False  # the other paths decide what an out-of-range integer becomes
        proto.dtype = types_pb2.DT_INT64
        proto.int64_val.extend(values)
    elif kinds <= _NUMBERS:
        proto.dtype = types_pb2.DT_FLOAT
        # None becomes NaN in a float64 array (as float(v) would round).
        _extend_floats(proto, np.array(values, dtype=np.float64))
    elif kinds <= _TEXT:
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend([b"" if v is None else v.encode("utf-8") for v in values])
    else:
        return False
    proto.tensor_shape.dim.add(size=len(values))
    return True


_FLOAT_VAL_TAG = b"\x2a"  # TensorProto.float_val: field 5, length-delimited (packed)


def _extend_floats(proto: tensor_pb2.TensorProto, array: np.ndarray) -> None:
    """`proto.float_val.extend(array.tolist())` without a Python float per value: the packed
    field's wire bytes (little-endian float32) are merged in, the same proto and serialization."""
    if array.dtype == np.float32:
        payload = array.astype("<f4").tobytes()
    else:
        with np.errstate(over="ignore"):  # beyond float32's range is inf, as protobuf rounds it
            payload = array.astype("<f4").tobytes()
    proto.MergeFromString(_FLOAT_VAL_TAG + _varint(len(payload)) + payload)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _fill_homogeneous(proto: tensor_pb2.TensorProto, values) -> bool:
    """The common case at C speed: a rectangular column of one numeric or text type, no None.
    Measured on a 256-row x 15-feature record (convert + serialize): 1.17 ms value by value in
    Python, 0.43 ms this way."""
    try:
        array = values if isinstance(values, np.ndarray) else np.asarray(values)
    except ValueError:  # ragged: the general path names the problem
        return False
    kind = array.dtype.kind
    # "S" (bytes) is left to the general path: numpy strips trailing NUL bytes, which a
    # serialized tf.Example may end with.
    if kind not in "fiub" and kind != "U":
        return False
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if kind == "f":
        proto.dtype = types_pb2.DT_FLOAT
        _extend_floats(proto, array.ravel())
        return True
    flat = array.ravel().tolist()
    if kind in "iu":
        proto.dtype = types_pb2.DT_INT64
        proto.int64_val.extend(flat)
    elif kind == "b":
        proto.dtype = types_pb2.DT_BOOL
        proto.bool_val.extend(flat)
    else:
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend([text.encode("utf-8") for text in flat])
    return True


def _shape_and_leaves(values) -> tuple[list[int], list]:
    if isinstance(values, np.ndarray):
        return list(values.shape), values.ravel().tolist()
    if not isinstance(values, (list, tuple)):
        return [], [values]
    if not values:
        return [0], []
    if not any(isinstance(v, (list, tuple, np.ndarray)) for v in values):
        return [len(values)], list(values)
    shapes_and_leaves = [_shape_and_leaves(v) for v in values]
    inner = shapes_and_leaves[0][0]
    if any(shape != inner for shape, _ in shapes_and_leaves):
        raise ValueError("ragged values cannot be logged as a tensor")
    return [len(values)] + inner, [leaf for _, leaves in shapes_and_leaves for leaf in leaves]


def tensor_values(proto: tensor_pb2.TensorProto) -> list:
    """The nested list a `tensor_proto()` was built from: text decoded, float32 rounding undone."""
    import tensorflow as tf

    array = tf.make_ndarray(proto)
    if array.dtype == np.float32:
        # float32 holds 41.9 as 41.900001525...; its shortest repr is what the client sent.
        return _map_nested(array.tolist(), float32_value)
    if array.dtype == object:
        return _map_nested(array.tolist(), text_value)
    return array.tolist()


def _map_nested(values, function):
    if isinstance(values, list):
        return [_map_nested(v, function) for v in values]
    return function(values)
