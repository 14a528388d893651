"""Data- and concept-drift history of a pipeline, read from MLMD custom properties alone (no
artifact files).

A shared store (MySQL) holds several pipelines' reports; with a `pipeline_name` only the ones
attributed to that pipeline's context are read, as `store.queries.pushed_models` does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from ml_lifecycle.base.contracts import (
    CONCEPT_DRIFT_REPORT_TYPE,
    DRIFT_REPORT_TYPE,
    ConceptVerdict,
    FeatureScore,
    Prop,
    decode_feature_scores,
)
from ml_lifecycle.store.queries import artifact_properties, pipeline_artifacts, property_value


@dataclass
class DriftRecord:
    span: int
    verdict: str  # a DriftVerdict value
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
    verdict: str  # a ConceptVerdict value
    metric: str = ""
    blessed_value: float | None = None
    current_value: float | None = None
    drop: float | None = None
    artifact_id: int = 0
    # The artifact id the check scored (a Model or PushedModel id, as the check recorded it).
    pushed_model_id: int | None = None

    @property
    def drifted(self) -> bool:
        return self.verdict == ConceptVerdict.CONCEPT_DRIFT


Record = TypeVar("Record", DriftRecord, ConceptRecord)


def _span(artifact: metadata_store_pb2.Artifact) -> object:
    value = artifact.custom_properties.get(Prop.SPAN)
    return None if value is None else property_value(value)


def _latest_per_span(artifacts) -> list[metadata_store_pb2.Artifact]:
    latest = {}
    for artifact in sorted(artifacts, key=lambda a: a.id):
        span = _span(artifact)
        if span is not None:
            latest[int(span)] = artifact
    return [latest[span] for span in sorted(latest)]


def drift_record(artifact: metadata_store_pb2.Artifact) -> DriftRecord:
    """One DriftReport artifact (it must have a span property) as a record."""
    p = artifact_properties(artifact)
    return DriftRecord(
        span=int(p[Prop.SPAN]),
        verdict=str(p.get(Prop.VERDICT, "")),
        policy=str(p.get(Prop.POLICY, "")),
        baseline_span=int(p[Prop.BASELINE_SPAN]) if Prop.BASELINE_SPAN in p else None,
        drifted_feature_count=int(p.get(Prop.DRIFTED_FEATURE_COUNT, 0)),
        max_score=float(p.get(Prop.MAX_SCORE, 0.0)),
        dataset_drift=bool(p.get(Prop.DATASET_DRIFT, 0)),
        example_count_ratio=p.get(Prop.EXAMPLE_COUNT_RATIO),
        features=decode_feature_scores(p.get(Prop.FEATURE_SCORES)),
        artifact_id=artifact.id,
    )


def concept_record(artifact: metadata_store_pb2.Artifact) -> ConceptRecord:
    """One ConceptDriftReport artifact (it must have a span property) as a record."""
    p = artifact_properties(artifact)
    pushed_model_id = p.get(Prop.PUSHED_MODEL_ID)
    return ConceptRecord(
        span=int(p[Prop.SPAN]),
        verdict=str(p.get(Prop.VERDICT, "")),
        metric=str(p.get(Prop.METRIC, "")),
        blessed_value=p.get(Prop.BLESSED_VALUE),
        current_value=p.get(Prop.CURRENT_VALUE),
        drop=p.get(Prop.DROP),
        artifact_id=artifact.id,
        pushed_model_id=None if pushed_model_id is None else int(pushed_model_id),
    )


def drift_history(store: metadata_store.MetadataStore, pipeline_name: str | None = None) -> list[DriftRecord]:
    """The newest DriftReport of each span, in span order (of one pipeline, given its name)."""
    artifacts = pipeline_artifacts(store, DRIFT_REPORT_TYPE, pipeline_name)
    return [drift_record(a) for a in _latest_per_span(artifacts)]


def concept_history(
    store: metadata_store.MetadataStore, pipeline_name: str | None = None
) -> list[ConceptRecord]:
    """The newest ConceptDriftReport of each span, in span order (of one pipeline, given its name)."""
    artifacts = pipeline_artifacts(store, CONCEPT_DRIFT_REPORT_TYPE, pipeline_name)
    return [concept_record(a) for a in _latest_per_span(artifacts)]


def _records_by_span(
    store: metadata_store.MetadataStore,
    artifact_by_span: dict[int, int],
    parse: Callable[[metadata_store_pb2.Artifact], Record],
) -> list[Record]:
    artifacts = {a.id: a for a in store.get_artifacts_by_id(list(artifact_by_span.values()))}
    records = []
    for span in sorted(artifact_by_span):
        artifact = artifacts.get(artifact_by_span[span])
        if artifact is not None and _span(artifact) is not None:
            records.append(dataclasses.replace(parse(artifact), span=span))
    return records


def drift_reports_by_span(
    store: metadata_store.MetadataStore, artifact_by_span: dict[int, int]
) -> list[DriftRecord]:
    """The given DriftReports (span -> artifact id), each under the span given for it, in span order.

    The components stamp `span` from their input artifacts' span property, which is not always
    set (it then reads 0); the run's Examples always know their span, so the caller's lineage
    decides. Reports without a span property at all are left out, as in `drift_history`.
    """
    return _records_by_span(store, artifact_by_span, drift_record)


def concept_reports_by_span(
    store: metadata_store.MetadataStore, artifact_by_span: dict[int, int]
) -> list[ConceptRecord]:
    """The given ConceptDriftReports (span -> artifact id), as `drift_reports_by_span` reads them."""
    return _records_by_span(store, artifact_by_span, concept_record)
