"""Data- and concept-drift history, read from MLMD custom properties alone (no artifact files)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ml_metadata import metadata_store

from ml_lifecycle.store.queries import property_value


@dataclass(frozen=True)
class FeatureScore:
    score: float
    threshold: float
    drifted: bool
    psi: float | None


@dataclass
class DriftRecord:
    span: int
    verdict: str  # no_baseline | ok | drift
    policy: str
    baseline_span: int | None = None
    drifted_feature_count: int = 0
    max_score: float = 0.0
    dataset_drift: bool = False
    example_count_ratio: float | None = None
    features: dict[str, FeatureScore] = field(default_factory=dict)
    artifact_id: int = 0


@dataclass
class ConceptRecord:
    span: int
    verdict: str  # no_pushed_model | ok | concept_drift
    metric: str = ""
    blessed_value: float | None = None
    current_value: float | None = None
    drop: float | None = None
    artifact_id: int = 0

    @property
    def drifted(self) -> bool:
        return self.verdict == "concept_drift"


def _properties(artifact) -> dict:
    return {k: property_value(v) for k, v in artifact.custom_properties.items()}


def _latest_per_span(artifacts) -> list:
    latest = {}
    for artifact in sorted(artifacts, key=lambda a: a.id):
        span = (
            property_value(artifact.custom_properties["span"])
            if "span" in artifact.custom_properties
            else None
        )
        if span is not None:
            latest[int(span)] = artifact
    return [latest[span] for span in sorted(latest)]


def drift_history(store: metadata_store.MetadataStore) -> list[DriftRecord]:
    """The newest DriftReport of each span, in span order."""
    records = []
    for artifact in _latest_per_span(store.get_artifacts_by_type("DriftReport")):
        p = _properties(artifact)
        scores = json.loads(p.get("feature_scores") or "{}")
        records.append(
            DriftRecord(
                span=int(p["span"]),
                verdict=str(p.get("verdict", "")),
                policy=str(p.get("policy", "")),
                baseline_span=int(p["baseline_span"]) if "baseline_span" in p else None,
                drifted_feature_count=int(p.get("drifted_feature_count", 0)),
                max_score=float(p.get("max_score", 0.0)),
                dataset_drift=bool(p.get("dataset_drift", 0)),
                example_count_ratio=p.get("example_count_ratio"),
                features={
                    name: FeatureScore(float(v[0]), float(v[1]), bool(v[2]), v[3])
                    for name, v in scores.items()
                },
                artifact_id=artifact.id,
            )
        )
    return records


def concept_history(store: metadata_store.MetadataStore) -> list[ConceptRecord]:
    """The newest ConceptDriftReport of each span, in span order."""
    records = []
    for artifact in _latest_per_span(store.get_artifacts_by_type("ConceptDriftReport")):
        p = _properties(artifact)
        records.append(
            ConceptRecord(
                span=int(p["span"]),
                verdict=str(p.get("verdict", "")),
                metric=str(p.get("metric", "")),
                blessed_value=p.get("blessed_value"),
                current_value=p.get("current_value"),
                drop=p.get("drop"),
                artifact_id=artifact.id,
            )
        )
    return records
