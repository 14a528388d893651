"""One loaded SavedModel version and its signatures: what a request runs against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from ml_lifecycle.serving.inference.signatures import signature_def_json, signature_info


class ServableVersion:
    """One loaded SavedModel version; `run` is safe to call from many threads at once."""

    def __init__(self, model_name: str, version: int, path: Path) -> None:
        self.model_name = model_name
        self.version = version
        self.path = path
        self._loaded = tf.saved_model.load(str(path))
        self._functions = dict(self._loaded.signatures)
        self.signatures = {name: signature_info(name, fn) for name, fn in self._functions.items()}
        self.signature_def_json = signature_def_json(path)

    def run(self, signature_name: str, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        function = self._functions[signature_name]
        outputs = function(**{name: tf.constant(value) for name, value in columns.items()})
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def function(self, signature_name: str):
        return self._functions[signature_name]
