"""The project's custom TFX artifact types, shared by the components that write and read them.

Their TYPE_NAMEs are the MLMD type names in every existing store (see base.contracts), so they
never change; on Kubeflow they are importable as `ml_lifecycle.<Class>` (ml_lifecycle/__init__.py).
"""

from tfx.types.artifact import Artifact

from ml_lifecycle.base.contracts import CONCEPT_DRIFT_REPORT_TYPE, DRIFT_REPORT_TYPE


class DriftReport(Artifact):
    """Per-feature drift scores of a span against its baseline span, with the verdict."""

    TYPE_NAME = DRIFT_REPORT_TYPE


class ConceptDriftReport(Artifact):
    """The pushed model's metric at blessing vs on a new span; `verdict` says which."""

    TYPE_NAME = CONCEPT_DRIFT_REPORT_TYPE
