"""What a loaded signature takes and returns, as the decoder and the codec need to know it.

A signature's arguments are the columns' internal names (`base.names.internal_name`); requests,
logs and error messages use the columns' own names. `column_inputs` is the one place that maps
one to the other: column -> the argument's `InputSpec` (whose `name` is the argument).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from ml_lifecycle.base.model_description import ModelDescription


@dataclass(frozen=True)
class InputSpec:
    name: str  # the signature's argument
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
    # Output -> its last dimension where the signature fixes it ([None, 3] -> 3), else None.
    output_widths: dict[str, int | None] = field(default_factory=dict)


def signature_info(name: str, function) -> SignatureInfo:
    """The inputs (name, dtype), output names and widths of a loaded concrete signature function."""
    _, input_specs = function.structured_input_signature
    inputs = {
        key: InputSpec(
            key, np.dtype(object) if spec.dtype == tf.string else np.dtype(spec.dtype.as_numpy_dtype)
        )
        for key, spec in sorted(input_specs.items())
    }
    widths = {
        key: (int(spec.shape[-1]) if spec.shape.rank == 2 and spec.shape[-1] is not None else None)
        for key, spec in function.structured_outputs.items()
    }
    return SignatureInfo(name, inputs, sorted(function.structured_outputs), widths)


def column_inputs(info: SignatureInfo, description: ModelDescription) -> dict[str, InputSpec]:
    """Column -> its argument's spec, for requests that name columns as the users' data does.

    Arguments the description does not rename are their own columns (older models, plain names);
    serving_default's one argument, `examples`, is never renamed. A description that renames a
    column to an argument the raw signature lacks is a broken export: the version does not load.
    """
    if set(info.inputs) == {"examples"}:
        return dict(info.inputs)
    for column, argument in sorted(description.input_names.items()):
        if argument not in info.inputs:
            raise ValueError(
                f"the model description maps column {column!r} to argument {argument!r}, which "
                f"signature {info.name!r} does not take (it takes {sorted(info.inputs)})"
            )
    column_of = description.column_of()
    return {column_of.get(argument, argument): spec for argument, spec in info.inputs.items()}


def signature_def_json(path: Path) -> dict:
    """The SignatureDefMap as TF Serving's metadata endpoint prints it (proto field names)."""
    saved_model = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    signature_defs = saved_model.meta_graphs[0].signature_def
    return {
        name: json_format.MessageToDict(signature_def, preserving_proto_field_name=True)
        for name, signature_def in signature_defs.items()
    }
