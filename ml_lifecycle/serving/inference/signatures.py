"""What a loaded signature takes and returns, as the decoder and the codec need to know it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype

    @property
    def fill_value(self) -> object:
        """What an absent tf.Example feature becomes in the Transform graph (`fill_in_missing`)."""
        return b"" if self.dtype == np.object_ else self.dtype.type(0)


@dataclass(frozen=True)
class SignatureInfo:
    name: str
    inputs: dict[str, InputSpec]
    outputs: list[str]


def signature_info(name: str, function) -> SignatureInfo:
    """The inputs (name, dtype) and output names of a loaded concrete signature function."""
    _, input_specs = function.structured_input_signature
    inputs = {
        key: InputSpec(
            key, np.dtype(object) if spec.dtype == tf.string else np.dtype(spec.dtype.as_numpy_dtype)
        )
        for key, spec in sorted(input_specs.items())
    }
    return SignatureInfo(name, inputs, sorted(function.structured_outputs))


def signature_def_json(path: Path) -> dict:
    """The SignatureDefMap as TF Serving's metadata endpoint prints it (proto field names)."""
    saved_model = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    signature_defs = saved_model.meta_graphs[0].signature_def
    return {
        name: json_format.MessageToDict(signature_def, preserving_proto_field_name=True)
        for name, signature_def in signature_defs.items()
    }
