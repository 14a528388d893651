"""Stand-ins the serving tests share: a model version's signatures without a model, a
serialized tf.Example from a row, a prediction-log writer that stalls on its first record."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np
from tensorflow.core.example import example_pb2

from ml_lifecycle.base.model_description import ModelDescription
from ml_lifecycle.serving.inference.signatures import InputSpec, SignatureInfo, column_inputs
from ml_lifecycle.serving.observability.log_records import LoggedPrediction
from ml_lifecycle.serving.observability.prediction_log import PredictionLogWriter


class SignaturesOnly:
    """A version's `serving_raw` (`raw_inputs`) and `serving_default` (serialized examples)
    signatures, read as a binary classifier's whose arguments are its columns (no model
    description: older pushes). Subclasses add `run`."""

    def __init__(self, raw_inputs: Mapping[str, InputSpec], version: int = 1) -> None:
        self.version = version
        self.signatures = {
            "serving_raw": SignatureInfo("serving_raw", dict(raw_inputs), ["outputs"]),
            "serving_default": SignatureInfo(
                "serving_default", {"examples": InputSpec("examples", np.dtype(object))}, ["outputs"]
            ),
        }
        self.description = ModelDescription()
        self.request_inputs = {
            name: column_inputs(info, self.description) for name, info in self.signatures.items()
        }
        self.signature_def_json = {"serving_default": {"method_name": "tensorflow/serving/predict"}}


def serialized_example(row: Mapping[str, object], ints_as_int64: bool = True) -> bytes:
    """`row` as a tf.Example: text as bytes, ints as int64 (or float), other numbers as float."""
    example = example_pb2.Example()
    for name, value in row.items():
        feature = example.features.feature[name]
        if isinstance(value, str):
            feature.bytes_list.value.append(value.encode())
        elif isinstance(value, int) and ints_as_int64:
            feature.int64_list.value.append(value)
        else:
            feature.float_list.value.append(value)
    return example.SerializeToString()


class StalledWriter(PredictionLogWriter):
    """A writer thread that blocks on its first record until the test lets it go."""

    def __init__(self, *args, **kwargs) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        super().__init__(*args, **kwargs)

    def _write(self, record: LoggedPrediction) -> None:
        self.started.set()
        self.release.wait(timeout=30)
        super()._write(record)
