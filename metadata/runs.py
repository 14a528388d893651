"""What one pipeline run did, read back from MLMD and the artifacts it points to.

Used for the summary `lifecycle run` prints after each span: rows, anomalies, metrics against
the baseline, blessing, model check and the pushed version.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ml_metadata import metadata_store

from metadata.store import ArtifactRecord, ComponentRun, component_runs

OVERALL = "overall"


@dataclass
class MetricComparison:
    name: str
    candidate: float
    baseline: float | None = None

    @property
    def change(self) -> float | None:
        return None if self.baseline is None else self.candidate - self.baseline


@dataclass
class RunReport:
    run_id: str
    components: list[ComponentRun]
    span: int | None = None
    examples_per_split: dict[str, int] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)
    metrics: list[MetricComparison] = field(default_factory=list)
    blessed: bool | None = None
    model_check_passed: bool | None = None
    model_check_reason: str = ""
    pushed_version: str | None = None
    pushed_path: str | None = None
    drift: dict[str, object] = field(default_factory=dict)  # DriftReport custom properties
    concept_drift: dict[str, object] = field(default_factory=dict)

    def component(self, component_id: str) -> ComponentRun | None:
        return next((c for c in self.components if c.component_id == component_id), None)

    @property
    def cached_components(self) -> list[str]:
        return [c.component_id for c in self.components if c.state == "CACHED"]


def _first(component: ComponentRun | None, key: str, side: str = "outputs") -> ArtifactRecord | None:
    if component is None:
        return None
    records = getattr(component, side).get(key) or []
    return records[0] if records else None


def _split_names(artifact: ArtifactRecord) -> list[str]:
    return json.loads(str(artifact.properties.get("split_names") or "[]"))


def examples_per_split(statistics: ArtifactRecord) -> dict[str, int]:
    from tfx.components.statistics_gen import stats_artifact_utils
    from tfx.types import standard_artifacts

    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = statistics.uri
    artifact.split_names = str(statistics.properties.get("split_names"))
    counts = {}
    for split in _split_names(statistics):
        view = stats_artifact_utils.load_statistics(artifact, split)
        counts[split] = sum(d.num_examples for d in view.proto().datasets)
    return counts


def statistics_protos(record: ArtifactRecord) -> dict[str, object]:
    """Each split's DatasetFeatureStatisticsList of an ExampleStatistics artifact."""
    from tfx.components.statistics_gen import stats_artifact_utils
    from tfx.types import standard_artifacts

    split_names = str(record.properties.get("split_names") or "[]")
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = record.uri
    artifact.split_names = split_names
    return {
        split: stats_artifact_utils.load_statistics(artifact, split).proto()
        for split in json.loads(split_names)
    }


def anomaly_lines(anomalies: ArtifactRecord) -> list[str]:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    from components.anomaly_gate.core import feature_anomalies

    lines = []
    for split in _split_names(anomalies):
        path = os.path.join(anomalies.uri, f"Split-{split}", "SchemaDiff.pb")
        if not os.path.exists(path):
            continue
        proto = anomalies_pb2.Anomalies()
        with open(path, "rb") as handle:
            proto.ParseFromString(handle.read())
        lines += [f"[{a.split}] {a.feature}: {a.description}" for a in feature_anomalies(split, proto)]
    return lines


def overall_metrics(evaluation: ArtifactRecord) -> list[MetricComparison]:
    """Overall-slice metrics of the candidate, with the baseline's where one was evaluated."""
    import tensorflow_model_analysis as tfma

    values: dict[tuple[str, str], float] = {}
    for metrics in tfma.load_metrics(evaluation.uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for entry in metrics.metric_keys_and_values:
            if entry.key.is_diff:
                continue
            if entry.value.WhichOneof("type") != "double_value":
                continue
            values[(entry.key.model_name or "candidate", entry.key.name)] = entry.value.double_value.value
    names = sorted({name for model, name in values if model == "candidate"})
    return [
        MetricComparison(name, values[("candidate", name)], values.get(("baseline", name))) for name in names
    ]


def describe_run(
    store: metadata_store.MetadataStore,
    pipeline_name: str,
    run_id: str,
    component_ids: tuple[str, ...] | list[str],
) -> RunReport:
    """Gathers a run's facts. Component ids follow the pipeline's stable ids."""
    components = component_runs(store, pipeline_name, run_id, component_ids)
    report = RunReport(run_id=run_id, components=components)
    by_id = {c.component_id: c for c in components}

    examples = _first(by_id.get("example_gen"), "examples")
    if examples is not None:
        span = examples.properties.get("span")
        report.span = int(span) if span is not None else None
    statistics = _first(by_id.get("statistics_gen"), "statistics")
    if statistics is not None:
        report.examples_per_split = examples_per_split(statistics)
    anomalies = _first(by_id.get("example_validator"), "anomalies")
    if anomalies is not None:
        report.anomalies = anomaly_lines(anomalies)
    evaluation = _first(by_id.get("evaluator"), "evaluation")
    if evaluation is not None:
        report.metrics = overall_metrics(evaluation)
    blessing = _first(by_id.get("evaluator"), "blessing")
    if blessing is not None:
        report.blessed = blessing.properties.get("blessed") == 1
    check = _first(by_id.get("model_check"), "blessing")
    if check is not None:
        report.model_check_passed = check.properties.get("blessed") == 1
        report.model_check_reason = str(check.properties.get("reason") or "")
    drift = _first(by_id.get("drift_validator"), "report")
    if drift is not None:
        report.drift = dict(drift.properties)
    concept = _first(by_id.get("concept_drift_check"), "report")
    if concept is not None:
        report.concept_drift = dict(concept.properties)
    pushed = _first(by_id.get("pusher"), "pushed_model")
    if pushed is not None and pushed.properties.get("pushed") == 1:
        report.pushed_version = str(pushed.properties.get("pushed_version"))
        report.pushed_path = str(pushed.properties.get("pushed_destination"))
    return report
