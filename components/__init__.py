"""Custom TFX components: each a pure core plus a thin TFX wrapper.

The custom artifact types are importable as `components.<Class>`: a Kubeflow Pipelines v2 spec
names them by that path (`<package>.<Class>`), and the cluster's container imports them from it.
They load lazily, so importing a pure core does not import TFX.
"""

from __future__ import annotations

import importlib

_ARTIFACT_TYPES = {
    "DriftReport": "components.drift_validator.component",
    "ConceptDriftReport": "components.concept_drift.component",
}


def __getattr__(name: str):
    if name in _ARTIFACT_TYPES:
        return getattr(importlib.import_module(_ARTIFACT_TYPES[name]), name)
    raise AttributeError(f"module 'components' has no attribute {name!r}")
