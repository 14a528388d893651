"""What one pipeline run did, read back from MLMD and the artifacts it points to.

Used for the summary `lifecycle run` prints after each span: rows, anomalies, metrics against
the baseline, blessing, model check and the pushed version.

TFMA metrics are listed by the names `metadata.metric_names` gives them (`recall[class 1]`,
`f1_score[macro]`); `headline_names` picks the task's headline metrics among them.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ml_metadata import metadata_store

from ml_lifecycle.base.contracts import ArtifactFile, ComponentId, Prop, Task
from ml_lifecycle.base.model_description import ModelDescription, read_model_description
from ml_lifecycle.datasets.schema_file import read_schema
from ml_lifecycle.metadata.metric_names import headline_names, metric_name, task_of_metrics
from ml_lifecycle.store.queries import ArtifactRecord, ComponentRun, component_runs

OVERALL = "overall"
# Where the Trainer exports the serving model inside a Model artifact: TFX's
# `path_constants.SERVING_MODEL_DIR`, what `path_utils.serving_model_dir(uri)` joins to the uri
# (only artifacts older than TFX 0.29, `is_old_artifact=True`, used `serving_model_dir`).
SERVING_MODEL_DIR = "Format-Serving"


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
    # What the Trainer's model predicts (its ml_lifecycle_model.json); None: no model to read.
    model_description: ModelDescription | None = None

    @property
    def task(self) -> Task | None:
        """The model's task, else the one whose gating metric the evaluation holds (a model
        directory since deleted); None when the run trained and evaluated nothing."""
        if self.model_description is not None:
            return self.model_description.task
        return task_of_metrics(m.name for m in self.metrics)

    @property
    def classes(self) -> tuple[str, ...]:
        """Multiclass: the class values by class index (TFMA's `class_id`)."""
        return self.model_description.classes if self.model_description is not None else ()

    def headline_metrics(self, gate_metric: str | None = None) -> list[MetricComparison]:
        """The task's headline metrics the evaluation holds, gating metric first: `gate_metric`
        (the configured gate's listed name) when evaluated, else the task's default."""
        by_name = {m.name: m for m in self.metrics}
        return [by_name[name] for name in headline_names(self.task, by_name, gate_metric)]

    def component(self, component_id: str) -> ComponentRun | None:
        return next((c for c in self.components if c.component_id == component_id), None)

    def first_artifact(
        self, component_id: str, key: str, side: Literal["inputs", "outputs"] = "outputs"
    ) -> ArtifactRecord | None:
        """The first artifact the component read (`inputs`) or wrote (`outputs`) under `key`."""
        component = self.component(component_id)
        records = getattr(component, side).get(key) if component else None
        return records[0] if records else None

    @property
    def cached_components(self) -> list[str]:
        return [c.component_id for c in self.components if c.state == "CACHED"]


def _split_names(artifact: ArtifactRecord) -> list[str]:
    return json.loads(str(artifact.properties.get(Prop.SPLIT_NAMES) or "[]"))


def examples_per_split(statistics: ArtifactRecord) -> dict[str, int]:
    return {
        split: sum(d.num_examples for d in proto.datasets)
        for split, proto in statistics_protos(statistics).items()
    }


def statistics_protos(record: ArtifactRecord) -> dict[str, object]:
    """Each split's DatasetFeatureStatisticsList of an ExampleStatistics artifact.

    StatisticsGen's binary `Split-<name>/FeatureStats.pb` is parsed here directly: TFX's reader
    imports TensorFlow, which would be most of the cost of a run summary (`lifecycle run` on an
    up-to-date span). Other layouts (older artifact versions, remote URIs) go through TFX's reader.
    """
    from tensorflow_metadata.proto.v0 import statistics_pb2

    splits = json.loads(str(record.properties.get(Prop.SPLIT_NAMES) or "[]"))
    paths = {split: Path(record.uri) / f"Split-{split}" / ArtifactFile.STATISTICS for split in splits}
    if all(path.is_file() for path in paths.values()):
        protos = {}
        for split, path in paths.items():
            proto = statistics_pb2.DatasetFeatureStatisticsList()
            proto.ParseFromString(path.read_bytes())
            protos[split] = proto
        return protos
    return _statistics_protos_through_tfx(record)


def _statistics_protos_through_tfx(record: ArtifactRecord) -> dict[str, object]:
    from tfx.components.statistics_gen import stats_artifact_utils
    from tfx.types import standard_artifacts

    split_names = str(record.properties.get(Prop.SPLIT_NAMES) or "[]")
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = record.uri
    artifact.split_names = split_names
    return {
        split: stats_artifact_utils.load_statistics(artifact, split).proto()
        for split in json.loads(split_names)
    }


def schema_proto(record: ArtifactRecord):
    """The `schema_pb2.Schema` of a Schema artifact (its `schema.pbtxt`)."""
    return read_schema(Path(record.uri) / ArtifactFile.SCHEMA)


def anomalies_protos(anomalies: ArtifactRecord) -> dict[str, object]:
    """Split -> `anomalies_pb2.Anomalies` of an ExampleAnomalies artifact (splits with no file left out)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    protos = {}
    for split in _split_names(anomalies):
        path = os.path.join(anomalies.uri, f"Split-{split}", ArtifactFile.SCHEMA_DIFF)
        if not os.path.exists(path):
            continue
        proto = anomalies_pb2.Anomalies()
        with open(path, "rb") as handle:
            proto.ParseFromString(handle.read())
        protos[split] = proto
    return protos


def anomaly_lines(anomalies: ArtifactRecord) -> list[str]:
    from ml_lifecycle.components.anomaly_gate.core import feature_anomalies

    lines = []
    for split, proto in anomalies_protos(anomalies).items():
        lines += [f"[{a.split}] {a.feature}: {a.description}" for a in feature_anomalies(split, proto)]
    return lines


@dataclass(frozen=True)
class SliceMetrics:
    """One TFMA slice of a ModelEvaluation: the candidate's metrics and the baseline's, if evaluated."""

    slice: dict[str, object]  # {} is the overall slice; {"trip_start_hour": 7} one feature value
    candidate: dict[str, float]
    baseline: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.slice.items()) or OVERALL

    @property
    def single_class(self) -> bool:
        """A binary slice whose labels are all one class: its AUC is undefined (TFMA reports 0 or
        NaN). Only an evaluation with an AUC has 0/1 labels; a regression's mean label says nothing."""
        mean_label = self.candidate.get("mean_label")
        return "auc" in self.candidate and mean_label is not None and (mean_label <= 0.0 or mean_label >= 1.0)


def slice_metrics(evaluation: ArtifactRecord) -> list[SliceMetrics]:
    """Every slice's scalar metrics of a ModelEvaluation (TFMA's `load_metrics`), overall first.

    Diffs against the baseline are left out (candidate minus baseline, computable from both).
    """
    import tensorflow_model_analysis as tfma

    slices = []
    for metrics in tfma.load_metrics(evaluation.uri):
        key = {}
        for single in metrics.slice_key.single_slice_keys:
            kind = single.WhichOneof("kind")
            key[single.column] = getattr(single, kind) if kind else None
            if isinstance(key[single.column], bytes):
                key[single.column] = key[single.column].decode("utf-8", "replace")
        values: dict[str, dict[str, float]] = {"candidate": {}, "baseline": {}}
        for entry in metrics.metric_keys_and_values:
            if entry.key.is_diff or entry.value.WhichOneof("type") != "double_value":
                continue
            values.setdefault(entry.key.model_name or "candidate", {})[metric_name(entry.key)] = (
                entry.value.double_value.value
            )
        slices.append(SliceMetrics(key, values["candidate"], values["baseline"]))
    return sorted(slices, key=_slice_order)


def _slice_order(metrics: SliceMetrics) -> tuple:
    """Overall first, then by column, numbers in numeric order (hour 9 before hour 10)."""
    values = tuple(
        (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)) for v in metrics.slice.values()
    )
    return (len(metrics.slice), tuple(metrics.slice), values)


def overall_metrics(evaluation: ArtifactRecord) -> list[MetricComparison]:
    """Overall-slice metrics of the candidate, with the baseline's where one was evaluated."""
    overall = next((s for s in slice_metrics(evaluation) if not s.slice), None)
    if overall is None:
        return []
    return [
        MetricComparison(name, overall.candidate[name], overall.baseline.get(name))
        for name in sorted(overall.candidate)
    ]


def validation_failures(evaluation: ArtifactRecord) -> list[str]:
    """Why the Evaluator did not bless: TFMA's threshold failures, one line per slice and metric.

    Empty when validation passed (or the evaluation wrote no validation result).
    """
    import tensorflow_model_analysis as tfma
    from google.protobuf import text_format

    if not glob.glob(os.path.join(evaluation.uri, "validations*")):
        return []
    result = tfma.load_validation_result(evaluation.uri)
    lines = []
    for per_slice in result.metric_validations_per_slice:
        slice_name = (
            ", ".join(
                f"{k.column}={getattr(k, k.WhichOneof('kind'))}"
                for k in per_slice.slice_key.single_slice_keys
            )
            or OVERALL
        )
        for failure in per_slice.failures:
            value = failure.metric_value
            shown = f" = {value.double_value.value:.4f}" if value.WhichOneof("type") == "double_value" else ""
            lines.append(f"{slice_name}: {failure.metric_key.name}{shown}: {failure.message}")
    if result.missing_thresholds:
        # TFX drops change thresholds while there is no blessed baseline; with no value threshold
        # left TFMA validates nothing and does not bless.
        lines.append("no threshold applied (TFMA: missing_thresholds)")
    for spec in result.missing_slices:
        lines.append(f"slice {text_format.MessageToString(spec, as_one_line=True) or OVERALL}: not evaluated")
    return lines


def model_description(model: ArtifactRecord) -> ModelDescription | None:
    """The description of a Trainer's Model artifact (binary for models exported before it was
    written), or None when the model's serving directory is gone."""
    # Joined here rather than through `tfx.utils.path_utils`, whose import loads TensorFlow
    # (about 1.75 s) for every run summary, evaluated or not.
    serving_dir = os.path.join(model.uri, SERVING_MODEL_DIR)
    return read_model_description(serving_dir) if os.path.isdir(serving_dir) else None


def evaluation_record(report: RunReport) -> ArtifactRecord | None:
    """The run's ModelEvaluation (TFMA output), or None when its Evaluator did not run."""
    return report.first_artifact(ComponentId.EVALUATOR, "evaluation")


def not_pushed_reason(report: RunReport) -> str:
    """Why the run's candidate was not pushed ("" when it was): the failed component, TFMA's
    threshold failures, or the model check's reason."""
    if report.pushed_version:
        return ""
    failed = next((c.component_id for c in report.components if c.state == "FAILED"), None)
    if failed:
        return f"run failed in {failed}"
    if report.blessed is None:
        return "not evaluated"
    if not report.blessed:
        evaluation = evaluation_record(report)
        failures = validation_failures(evaluation) if evaluation else []
        return "not blessed: " + ("; ".join(failures) or "below the evaluation thresholds")
    if report.model_check_passed is False:
        return f"model check failed: {report.model_check_reason or 'no reason recorded'}"
    return "blessed, but the Pusher did not push"


def describe_run(
    store: metadata_store.MetadataStore,
    pipeline_name: str,
    run_id: str,
    component_ids: tuple[str, ...] | list[str],
) -> RunReport:
    """Gathers a run's facts. Component ids follow the pipeline's stable ids."""
    components = component_runs(store, pipeline_name, run_id, component_ids)
    report = RunReport(run_id=run_id, components=components)

    examples = report.first_artifact(ComponentId.EXAMPLE_GEN, "examples")
    if examples is not None:
        span = examples.properties.get(Prop.SPAN)
        report.span = int(span) if span is not None else None
    statistics = report.first_artifact(ComponentId.STATISTICS_GEN, "statistics")
    if statistics is not None:
        report.examples_per_split = examples_per_split(statistics)
    anomalies = report.first_artifact(ComponentId.EXAMPLE_VALIDATOR, "anomalies")
    if anomalies is not None:
        report.anomalies = anomaly_lines(anomalies)
    model = report.first_artifact(ComponentId.TRAINER, "model")
    if model is not None:
        report.model_description = model_description(model)
    evaluation = report.first_artifact(ComponentId.EVALUATOR, "evaluation")
    if evaluation is not None:
        report.metrics = overall_metrics(evaluation)
    blessing = report.first_artifact(ComponentId.EVALUATOR, "blessing")
    if blessing is not None:
        report.blessed = blessing.properties.get(Prop.BLESSED) == 1
    check = report.first_artifact(ComponentId.MODEL_CHECK, "blessing")
    if check is not None:
        report.model_check_passed = check.properties.get(Prop.BLESSED) == 1
        report.model_check_reason = str(check.properties.get(Prop.REASON) or "")
    drift = report.first_artifact(ComponentId.DRIFT_VALIDATOR, "report")
    if drift is not None:
        report.drift = dict(drift.properties)
    concept = report.first_artifact(ComponentId.CONCEPT_DRIFT_CHECK, "report")
    if concept is not None:
        report.concept_drift = dict(concept.properties)
    pushed = report.first_artifact(ComponentId.PUSHER, "pushed_model")
    if pushed is not None and pushed.properties.get(Prop.PUSHED) == 1:
        report.pushed_version = str(pushed.properties.get(Prop.PUSHED_VERSION))
        report.pushed_path = str(pushed.properties.get(Prop.PUSHED_DESTINATION))
    return report
