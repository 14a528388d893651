"""Everything the HTML report shows, read through `metadata.client.MetadataClient` (MLMD) and the
artifact files it points to (`metadata.runs`).

The result is plain dataclasses (`ReportData`), so that rendering (`reports.render.page`) is a
pure function that tests can feed by hand.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from ml_lifecycle.base.contracts import ComponentId, Prop, Task
from ml_lifecycle.metadata.client import MetadataClient, PushedModelRecord
from ml_lifecycle.metadata.drift import ConceptRecord, DriftRecord
from ml_lifecycle.metadata.metric_names import class_named, gate_metric_name
from ml_lifecycle.metadata.runs import RunReport, statistics_protos


@dataclass(frozen=True)
class RunPoint:
    """One pipeline run, in run order: its span, the candidate's overall metrics, the outcome."""

    run_id: str
    span: int | None
    # TFMA's names (metadata.runs.metric_name), per-class ones by class value: auc, f1_score[macro],
    # recall[Gentoo].
    metrics: dict[str, float] = field(default_factory=dict)
    blessed: bool | None = None  # None: the Evaluator did not run
    pushed_version: str | None = None
    failed_component: str | None = None  # the first component that FAILED, if any
    task: Task | None = None  # the run's model's (None: nothing trained or evaluated)
    classes: tuple[str, ...] = ()  # multiclass: the model's class values, by class index


@dataclass(frozen=True)
class SpanStats:
    """One span's statistics (the newest ExampleStatistics of that span)."""

    span: int
    examples_per_split: dict[str, int] = field(default_factory=dict)
    # Feature -> share of the span's examples (all splits) in which the feature has no value.
    missing_fraction: dict[str, float] = field(default_factory=dict)

    @property
    def examples(self) -> int:
        return sum(self.examples_per_split.values())


@dataclass
class ReportData:
    """Everything the page shows; `reports.render.page.render_report` turns it into HTML."""

    pipeline_name: str
    generated_at: str = ""
    metadata_file: str = ""
    dataset_name: str = ""
    drift_baseline: str = ""  # the baseline strategy: pushed | previous | pinned
    drift_policy: str = ""
    concept_max_drop: float | None = None  # scores (auc, accuracy): how far the value may fall
    # Errors (rmse, mae): how much the value may grow, as a fraction of the value at blessing.
    concept_max_relative_increase: float | None = None
    task: Task = Task.BINARY  # the dataset's label.task; a run's own model's task wins (`model_task`)
    # The configured gate's metric as TFMA lists it (`gate_metric_name`): the models section's
    # first metric; None: the task's default gate.
    gate_metric: str | None = None
    runs: list[RunPoint] = field(default_factory=list)
    spans: list[SpanStats] = field(default_factory=list)
    drift: list[DriftRecord] = field(default_factory=list)
    concept: list[ConceptRecord] = field(default_factory=list)
    # Span -> version of the pushed model its concept-drift check evaluated.
    concept_versions: dict[int, str] = field(default_factory=dict)
    pushed: list[PushedModelRecord] = field(default_factory=list)
    # What could not be read (deleted artifact files, a run the report could not describe).
    notes: list[str] = field(default_factory=list)

    @property
    def model_task(self) -> Task:
        """The task of the newest run that trained or evaluated a model, else the dataset's."""
        return next((r.task for r in reversed(self.runs) if r.task is not None), self.task)


def _common_stats(feature):
    kind = feature.WhichOneof("stats")
    if kind is None:
        return None
    return getattr(feature, kind).common_stats


def _feature_name(feature) -> str:
    return ".".join(feature.path.step) if feature.path.step else feature.name


def missing_counts(dataset) -> dict[str, tuple[int, int]]:
    """Feature -> (examples without a value, examples) in one DatasetFeatureStatistics.

    An example lacks a value either when the feature is absent (`num_missing`) or when it is
    present with zero values, which is how CsvExampleGen encodes an empty CSV cell. For a
    feature with at most one value per example the zero-valued count is exact:
    num_non_missing - tot_num_values. Otherwise it comes from the num_values histogram's
    buckets that end at 0 (TFDV's quantiles, so approximate).
    """
    counts = {}
    for feature in dataset.features:
        common = _common_stats(feature)
        if common is None:
            continue
        total = int(common.num_missing + common.num_non_missing)
        if total == 0:
            total = int(dataset.num_examples)
        zero_valued = 0
        if common.num_non_missing and common.min_num_values == 0:
            if common.max_num_values <= 1:
                zero_valued = int(common.num_non_missing - common.tot_num_values)
            else:
                zero_valued = int(
                    round(
                        sum(b.sample_count for b in common.num_values_histogram.buckets if b.high_value <= 0)
                    )
                )
        counts[_feature_name(feature)] = (int(common.num_missing) + max(zero_valued, 0), total)
    return counts


def span_stats(span: int, protos_by_split: dict[str, object]) -> SpanStats:
    """SpanStats from {split: DatasetFeatureStatisticsList}, missing shares over all splits."""
    examples: dict[str, int] = {}
    missing: dict[str, int] = {}
    totals: dict[str, int] = {}
    for split, proto in protos_by_split.items():
        examples[split] = sum(int(d.num_examples) for d in proto.datasets)
        for dataset in proto.datasets:
            for name, (lacking, total) in missing_counts(dataset).items():
                missing[name] = missing.get(name, 0) + lacking
                totals[name] = totals.get(name, 0) + total
    fractions = {name: missing[name] / totals[name] for name in sorted(missing) if totals[name]}
    return SpanStats(span, examples, fractions)


@dataclass
class _RunLineage:
    """Which artifacts each span's runs produced, newest run last: span -> artifact record."""

    statistics: dict[int, object] = field(default_factory=dict)
    statistics_span: dict[int, int] = field(default_factory=dict)  # every ExampleStatistics id -> span
    drift: dict[int, int] = field(default_factory=dict)  # span -> DriftReport id
    drift_baseline_statistics: dict[int, int] = field(default_factory=dict)  # span -> ExampleStatistics id
    concept: dict[int, int] = field(default_factory=dict)  # span -> ConceptDriftReport id

    def add(self, report: RunReport) -> None:
        """Records a RunReport's artifacts under its span (the span of the Examples it read)."""
        if report.span is None:
            return
        statistics = report.first_artifact(ComponentId.STATISTICS_GEN, "statistics")
        if statistics is not None:
            self.statistics[report.span] = statistics
            self.statistics_span[statistics.id] = report.span
        drift = report.first_artifact(ComponentId.DRIFT_VALIDATOR, "report")
        if drift is not None:
            self.drift[report.span] = drift.id
            baseline = report.first_artifact(ComponentId.DRIFT_VALIDATOR, "baseline_statistics", "inputs")
            if baseline is not None:
                self.drift_baseline_statistics[report.span] = baseline.id
            else:
                self.drift_baseline_statistics.pop(report.span, None)
        concept = report.first_artifact(ComponentId.CONCEPT_DRIFT_CHECK, "report")
        if concept is not None:
            self.concept[report.span] = concept.id


def _span_statistics(client: MetadataClient, lineage: _RunLineage, notes: list[str]) -> list[SpanStats]:
    """The newest statistics of each span: from the runs, else from the artifacts' span property."""
    chosen = dict(lineage.statistics)
    if not chosen and "ExampleStatistics" in client.artifact_types():
        # Oldest first, so that the newest of a span is the one kept.
        for entry in reversed(client.artifacts("ExampleStatistics")):
            span = entry.artifact.properties.get(Prop.SPAN)
            if span is not None:
                chosen[int(span)] = entry.artifact
    result = []
    for span in sorted(chosen):
        record = chosen[span]
        try:
            protos = statistics_protos(record)
        except Exception as error:  # a deleted artifact must not sink the report
            notes.append(f"span {span}: statistics at {record.uri} unreadable ({error})")
            continue
        result.append(span_stats(span, protos))
    return result


def _run_point(report: RunReport) -> RunPoint:
    failed = next((c.component_id for c in report.components if c.state == "FAILED"), None)
    return RunPoint(
        run_id=report.run_id,
        span=report.span,
        metrics={class_named(m.name, report.classes): m.candidate for m in report.metrics},
        blessed=report.blessed,
        pushed_version=report.pushed_version,
        failed_component=failed,
        task=report.task,
        classes=report.classes,
    )


def concept_versions(concept: list[ConceptRecord], pushed: list[PushedModelRecord]) -> dict[int, str]:
    """Span -> version of the pushed model its concept check scored (the check records the Model id)."""
    by_model = {p.model_id: p.version for p in pushed if p.model_id is not None}
    by_pushed = {p.pushed_model_id: p.version for p in pushed}
    result = {}
    for record in concept:
        if record.pushed_model_id is None:
            continue
        version = by_model.get(record.pushed_model_id, by_pushed.get(record.pushed_model_id))
        if version is not None:
            result[record.span] = version
    return result


def collect_report(config) -> ReportData:
    """Reads the report's data for a PipelineConfig from its metadata store and artifacts.

    Raises store.connection.StoreNotFoundError when the pipeline has never run.
    """
    client = MetadataClient.from_config(config)
    data = ReportData(
        pipeline_name=config.pipeline_name,
        generated_at=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        metadata_file=config.metadata.describe(config.metadata_file),
        dataset_name=config.dataset.name,
        drift_baseline=config.drift.baseline,
        drift_policy=config.drift.policy,
        concept_max_drop=config.drift.concept_max_drop,
        concept_max_relative_increase=config.drift.concept_max_relative_increase,
        task=config.task,
        gate_metric=gate_metric_name(config.gate.metric),
    )
    lineage = _RunLineage()
    for run in reversed(client.runs()):  # oldest first: a span's newest run wins
        try:
            report = client.run(run.run_id, config.component_ids)
        except Exception as error:  # e.g. a run whose evaluation files were deleted
            data.notes.append(f"run {run.run_id}: could not be described ({error})")
            continue
        data.runs.append(_run_point(report))
        lineage.add(report)

    data.spans = _span_statistics(client, lineage, data.notes)
    if lineage.drift:
        data.drift = client.drift_reports_by_span(lineage.drift)
        for record in data.drift:
            baseline = lineage.statistics_span.get(lineage.drift_baseline_statistics.get(record.span, -1))
            if baseline is not None:
                record.baseline_span = baseline
    else:
        data.drift = client.drift_history()
    data.concept = (
        client.concept_reports_by_span(lineage.concept) if lineage.concept else client.concept_history()
    )
    data.pushed = client.pushed_models()
    data.concept_versions = concept_versions(data.concept, data.pushed)
    return data
