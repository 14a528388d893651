"""ml-lifecycle: the whole ML lifecycle as one TFX pipeline kit, under one import namespace.

Importing any `ml_lifecycle.<area>` runs this file first, which makes it the one place every
entry point goes through (the `lifecycle` command, notebooks, benchmarks, tests, TFX's own
imports of `ml_lifecycle.models.*` by dotted path): it selects tf-keras (Keras 2), because
Keras 3 breaks TFX 1.16's trainers and TensorFlow reads the choice when it first loads Keras.

The custom artifact types are importable as `ml_lifecycle.<Class>`: a Kubeflow Pipelines v2
spec names a custom type `<package>.<Class>` (one dot), and the cluster's container imports it
from there. They load lazily, so importing a pure core does not import TFX.
"""

from __future__ import annotations

import importlib
import os

# What TensorFlow must see before it loads Keras; child processes that run TFX code without
# importing this package first (benchmarks' reference pipeline) are given the same.
TENSORFLOW_ENV = {"TF_USE_LEGACY_KERAS": "1"}
for _name, _value in TENSORFLOW_ENV.items():
    os.environ.setdefault(_name, _value)

_ARTIFACT_TYPES = {
    "DriftReport": "ml_lifecycle.components.artifacts",
    "ConceptDriftReport": "ml_lifecycle.components.artifacts",
}


def __getattr__(name: str):
    if name in _ARTIFACT_TYPES:
        return getattr(importlib.import_module(_ARTIFACT_TYPES[name]), name)
    raise AttributeError(f"module 'ml_lifecycle' has no attribute {name!r}")
