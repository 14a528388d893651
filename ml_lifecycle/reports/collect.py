"""Everything the HTML report shows, read from MLMD and the artifact files it points to.

The result is plain dataclasses (`ReportData`), so that rendering (`reports.html`) is a pure
function that tests can feed by hand.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field

from ml_lifecycle.metadata.drift import ConceptRecord, DriftRecord
from ml_lifecycle.metadata.runs import statistics_protos
from ml_lifecycle.store.queries import PushedModelRecord


@dataclass(frozen=True)
class RunPoint:
    """One pipeline run, in run order: its span, the candidate's overall metrics, the outcome."""

    run_id: str
    span: int | None
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. auc, binary_accuracy
    blessed: bool | None = None  # None: the Evaluator did not run
    pushed_version: str | None = None
    failed_component: str | None = None  # the first component that FAILED, if any


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
    """Everything the page shows; `reports.html.render_report` turns it into HTML."""

    pipeline_name: str
    generated_at: str = ""
    metadata_file: str = ""
    dataset_name: str = ""
    drift_baseline: str = ""  # the baseline strategy: pushed | previous | pinned
    drift_policy: str = ""
    concept_max_drop: float | None = None
    runs: list[RunPoint] = field(default_factory=list)
    spans: list[SpanStats] = field(default_factory=list)
    drift: list[DriftRecord] = field(default_factory=list)
    concept: list[ConceptRecord] = field(default_factory=list)
    # Span -> version of the pushed model its concept-drift check evaluated.
    concept_versions: dict[int, str] = field(default_factory=dict)
    pushed: list[PushedModelRecord] = field(default_factory=list)
    # What could not be read (deleted artifact files, a run the report could not describe).
    notes: list[str] = field(default_factory=list)


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

    def add(self, report) -> None:
        """Records a RunReport's artifacts under its span (the span of the Examples it read)."""
        if report.span is None:
            return
        by_id = {c.component_id: c for c in report.components}

        def first(component_id: str, key: str, side: str = "outputs"):
            component = by_id.get(component_id)
            records = getattr(component, side).get(key) if component else None
            return records[0] if records else None

        statistics = first("statistics_gen", "statistics")
        if statistics is not None:
            self.statistics[report.span] = statistics
            self.statistics_span[statistics.id] = report.span
        drift = first("drift_validator", "report")
        if drift is not None:
            self.drift[report.span] = drift.id
            baseline = first("drift_validator", "baseline_statistics", "inputs")
            if baseline is not None:
                self.drift_baseline_statistics[report.span] = baseline.id
            else:
                self.drift_baseline_statistics.pop(report.span, None)
        concept = first("concept_drift_check", "report")
        if concept is not None:
            self.concept[report.span] = concept.id


class _OneArtifactStore:
    """Just enough of a MetadataStore for metadata.drift to parse the given artifacts."""

    def __init__(self, artifacts):
        self._artifacts = list(artifacts)

    def get_artifacts_by_type(self, type_name: str):
        return self._artifacts


def _span_records(store, history, artifact_by_span: dict[int, int]) -> list:
    """history(store) records for the given artifacts, each under the span of the run that wrote it.

    The components stamp `span` from their input artifacts' span property, which is not always
    set (it then reads 0); the run's Examples always know their span, so lineage decides.
    """
    artifacts = {a.id: a for a in store.get_artifacts_by_id(list(artifact_by_span.values()))}
    records = []
    for span in sorted(artifact_by_span):
        artifact = artifacts.get(artifact_by_span[span])
        if artifact is None:
            continue
        parsed = history(_OneArtifactStore([artifact]))
        if parsed:
            records.append(dataclasses.replace(parsed[0], span=span))
    return records


def _span_statistics(store, lineage: _RunLineage, notes: list[str]) -> list[SpanStats]:
    """The newest statistics of each span: from the runs, else from the artifacts' span property."""
    from ml_lifecycle.store.queries import artifact_record, property_value

    chosen = dict(lineage.statistics)
    if not chosen:
        for artifact in sorted(store.get_artifacts_by_type("ExampleStatistics"), key=lambda a: a.id):
            if "span" in artifact.properties:
                chosen[int(property_value(artifact.properties["span"]))] = artifact_record(
                    artifact, "ExampleStatistics"
                )
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


def _run_point(report) -> RunPoint:
    failed = next((c.component_id for c in report.components if c.state == "FAILED"), None)
    return RunPoint(
        run_id=report.run_id,
        span=report.span,
        metrics={m.name: m.candidate for m in report.metrics},
        blessed=report.blessed,
        pushed_version=report.pushed_version,
        failed_component=failed,
    )


def _concept_versions(store, concept: list[ConceptRecord], pushed: list[PushedModelRecord]) -> dict[int, str]:
    """Span -> version of the pushed model its concept check scored (the check records the Model id)."""
    from ml_lifecycle.store.queries import property_value

    by_model = {p.model_id: p.version for p in pushed if p.model_id is not None}
    by_pushed = {p.pushed_model_id: p.version for p in pushed}
    by_id = {a.id: a for a in store.get_artifacts_by_id([c.artifact_id for c in concept if c.artifact_id])}
    result = {}
    for record in concept:
        artifact = by_id.get(record.artifact_id)
        if artifact is None or "pushed_model_id" not in artifact.custom_properties:
            continue
        model_id = int(property_value(artifact.custom_properties["pushed_model_id"]))
        version = by_model.get(model_id, by_pushed.get(model_id))
        if version is not None:
            result[record.span] = version
    return result


def collect_report(config) -> ReportData:
    """Reads the report's data for a PipelineConfig from its metadata store and artifacts.

    Raises store.connection.StoreNotFoundError when the pipeline has never run.
    """
    from ml_lifecycle.metadata.drift import concept_history, drift_history
    from ml_lifecycle.metadata.runs import describe_run
    from ml_lifecycle.pipeline.pipeline import COMPONENT_IDS
    from ml_lifecycle.store.connection import open_store
    from ml_lifecycle.store.queries import list_run_ids, pushed_models

    store = open_store(config.metadata_connection_config())
    data = ReportData(
        pipeline_name=config.pipeline_name,
        generated_at=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        metadata_file=config.metadata.describe(config.metadata_file),
        dataset_name=config.dataset.name,
        drift_baseline=config.drift.baseline,
        drift_policy=config.drift.policy,
        concept_max_drop=config.drift.concept_max_drop,
    )
    lineage = _RunLineage()
    for run_id in list_run_ids(store, config.pipeline_name):
        try:
            report = describe_run(store, config.pipeline_name, run_id, COMPONENT_IDS)
        except Exception as error:  # e.g. a run whose evaluation files were deleted
            data.notes.append(f"run {run_id}: could not be described ({error})")
            continue
        data.runs.append(_run_point(report))
        lineage.add(report)

    data.spans = _span_statistics(store, lineage, data.notes)
    if lineage.drift:
        data.drift = _span_records(store, drift_history, lineage.drift)
        for record in data.drift:
            baseline = lineage.statistics_span.get(lineage.drift_baseline_statistics.get(record.span, -1))
            if baseline is not None:
                record.baseline_span = baseline
    else:
        data.drift = drift_history(store)
    data.concept = (
        _span_records(store, concept_history, lineage.concept) if lineage.concept else concept_history(store)
    )
    data.pushed = pushed_models(store, config.pipeline_name)
    data.concept_versions = _concept_versions(store, data.concept, data.pushed)
    return data
