"""One loaded SavedModel version: its signatures, and what it predicts (its model description)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from ml_lifecycle.base.model_description import ModelDescription, load_model_ops, read_model_description
from ml_lifecycle.serving.inference.answers import check_description
from ml_lifecycle.serving.inference.signatures import (
    InputSpec,
    column_inputs,
    signature_def_json,
    signature_info,
)


class ServableVersion:
    """One loaded SavedModel version; `run` is safe to call from many threads at once.

    `description` says the task (which routes it answers, how its outputs read) and how its raw
    signature names the columns; `request_inputs[signature]` is that signature's inputs by column,
    as requests name them. A version without a description file is a binary classifier whose
    arguments are its columns (pushed before the file existed).
    """

    def __init__(self, model_name: str, version: int, path: Path) -> None:
        self.model_name = model_name
        self.version = version
        self.path = path
        self.description: ModelDescription = read_model_description(path)
        load_model_ops(self.description)
        self._loaded = tf.saved_model.load(str(path))
        self._functions = dict(self._loaded.signatures)
        self.signatures = {name: signature_info(name, fn) for name, fn in self._functions.items()}
        # A description that does not fit the signatures fails the load: the version never serves.
        check_description(self.description, self.signatures)
        self.request_inputs: dict[str, dict[str, InputSpec]] = {
            name: column_inputs(info, self.description) for name, info in self.signatures.items()
        }
        self.signature_def_json = signature_def_json(path)

    def run(self, signature_name: str, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs a signature on dense columns keyed by its arguments."""
        function = self._functions[signature_name]
        outputs = function(**{name: tf.constant(value) for name, value in columns.items()})
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def function(self, signature_name: str):
        return self._functions[signature_name]
