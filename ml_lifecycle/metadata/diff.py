"""What changed between two pipeline runs: data, schema, statistics drift, training, metrics, push.

The pure comparisons (`schema_changes`, `parameter_changes`, `metric_changes`, `run_metrics`)
take values, so they are tested on tiny fixtures; `diff_runs` reads the two runs' artifacts and
calls them. Metrics are the task's headline metrics first, then the rest by name; per-class
entries are named by class value, so two runs whose models order their classes differently
still compare a class with itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from ml_metadata import metadata_store
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.base.contracts import ArtifactFile, ComponentId, Task
from ml_lifecycle.base.errors import DataError
from ml_lifecycle.metadata.metric_names import class_named, headline_names
from ml_lifecycle.metadata.runs import RunReport, describe_run, schema_proto, statistics_protos
from ml_lifecycle.store.queries import property_value


@dataclass(frozen=True)
class Change:
    """One difference: `name` changed from `before` to `after` (None = absent on that side)."""

    name: str
    before: object
    after: object

    def describe(self) -> str:
        if self.before is None:
            return f"{self.name}: added ({self.after})"
        if self.after is None:
            return f"{self.name}: removed (was {self.before})"
        return f"{self.name}: {self.before} -> {self.after}"


@dataclass(frozen=True)
class FeatureDriftChange:
    feature: str
    measure: str
    score: float
    threshold: float
    drifted: bool


@dataclass
class RunDiff:
    run_a: str
    run_b: str
    span: Change
    examples_per_split: list[Change] = field(default_factory=list)
    schema: list[Change] = field(default_factory=list)
    drift: list[FeatureDriftChange] = field(default_factory=list)  # B's train split vs A's
    drift_note: str = ""
    training: list[Change] = field(default_factory=list)
    task: Task | None = None  # run B's (else A's): whose headline metrics `metrics` starts with
    metrics: list[Change] = field(default_factory=list)
    headline_count: int = 0  # how many of `metrics`, from the first, are headline metrics
    blessed: Change | None = None
    pushed_version: Change | None = None

    @property
    def drifted_features(self) -> list[str]:
        return sorted({d.feature for d in self.drift if d.drifted})


def _domain(feature: schema_pb2.Feature, schema: schema_pb2.Schema) -> object:
    kind = feature.WhichOneof("domain_info")
    if kind == "domain":
        named = next((d for d in schema.string_domain if d.name == feature.domain), None)
        return sorted(named.value) if named else feature.domain
    if kind == "string_domain":
        return sorted(feature.string_domain.value)
    if kind == "int_domain":
        d = feature.int_domain
        return (d.min if d.HasField("min") else None, d.max if d.HasField("max") else None)
    if kind == "float_domain":
        d = feature.float_domain
        return (d.min if d.HasField("min") else None, d.max if d.HasField("max") else None)
    return None


def schema_changes(before: schema_pb2.Schema, after: schema_pb2.Schema) -> list[Change]:
    """Features added or removed, and changed type, presence or domain."""
    a = {f.name: f for f in before.feature}
    b = {f.name: f for f in after.feature}
    changes = []
    for name in sorted(a.keys() | b.keys()):
        if name not in b:
            changes.append(Change(f"feature {name}", schema_pb2.FeatureType.Name(a[name].type), None))
            continue
        if name not in a:
            changes.append(Change(f"feature {name}", None, schema_pb2.FeatureType.Name(b[name].type)))
            continue
        fa, fb = a[name], b[name]
        if fa.type != fb.type:
            changes.append(
                Change(
                    f"{name}.type", schema_pb2.FeatureType.Name(fa.type), schema_pb2.FeatureType.Name(fb.type)
                )
            )
        if fa.presence.min_fraction != fb.presence.min_fraction:
            changes.append(
                Change(f"{name}.presence.min_fraction", fa.presence.min_fraction, fb.presence.min_fraction)
            )
        domain_a, domain_b = _domain(fa, before), _domain(fb, after)
        if domain_a != domain_b:
            if isinstance(domain_a, list) and isinstance(domain_b, list):
                added = sorted(set(domain_b) - set(domain_a))
                removed = sorted(set(domain_a) - set(domain_b))
                changes.append(
                    Change(f"{name}.domain", f"-{removed}" if removed else "", f"+{added}" if added else "")
                )
            else:
                changes.append(Change(f"{name}.domain", domain_a, domain_b))
    return changes


def _flatten(prefix: str, value: object, out: dict[str, object]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value


def parameter_changes(before: dict[str, object], after: dict[str, object]) -> list[Change]:
    """Changed leaves of two nested parameter dicts (JSON strings are parsed first)."""
    flat_a: dict[str, object] = {}
    flat_b: dict[str, object] = {}
    for source, flat in ((before, flat_a), (after, flat_b)):
        for key, value in source.items():
            if isinstance(value, str) and value[:1] in "{[":
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    pass
            _flatten(key, value, flat)
    return [
        Change(key, flat_a.get(key), flat_b.get(key))
        for key in sorted(flat_a.keys() | flat_b.keys())
        if flat_a.get(key) != flat_b.get(key)
    ]


def metric_changes(
    before: dict[str, float], after: dict[str, float], first: Sequence[str] = ()
) -> list[Change]:
    """Every metric either side holds: those named in `first` in that order, then the rest by name."""
    names = before.keys() | after.keys()
    order = [name for name in first if name in names] + sorted(names - set(first))
    return [Change(name, before.get(name), after.get(name)) for name in order]


def run_metrics(report: RunReport) -> dict[str, float]:
    """The candidate's overall metrics, per-class ones named by the class's value (`recall[Gentoo]`)."""
    return {class_named(m.name, report.classes): m.candidate for m in report.metrics}


def _load_schema(report: RunReport) -> schema_pb2.Schema | None:
    record = report.first_artifact(ComponentId.SCHEMA, "schema")
    if record is None or not os.path.exists(os.path.join(record.uri, ArtifactFile.SCHEMA)):
        return None
    return schema_proto(record)


def _training_parameters(store: metadata_store.MetadataStore, report: RunReport) -> dict[str, object]:
    component = report.component(ComponentId.TRAINER)
    if component is None or component.execution_id is None:
        return {}
    [execution] = store.get_executions_by_id([component.execution_id])
    keep = ("train_args", "eval_args", "custom_config", "run_fn", "module_path")
    values = {k: property_value(v) for k, v in execution.custom_properties.items() if k in keep}
    values.update({k: property_value(v) for k, v in execution.properties.items() if k in keep})
    return values


def _statistics_drift(
    report_a: RunReport, report_b: RunReport, schema: schema_pb2.Schema | None, diff: RunDiff
):
    from ml_lifecycle.components.drift_validator.core import compute_drift

    stats_a = report_a.first_artifact(ComponentId.STATISTICS_GEN, "statistics")
    stats_b = report_b.first_artifact(ComponentId.STATISTICS_GEN, "statistics")
    if stats_a is None or stats_b is None or schema is None:
        diff.drift_note = "statistics or schema missing in one of the runs"
        return
    if stats_a.id == stats_b.id:
        diff.drift_note = "both runs share the same statistics artifact"
        return
    train_a, train_b = statistics_protos(stats_a).get("train"), statistics_protos(stats_b).get("train")
    if train_a is None or train_b is None:
        diff.drift_note = "no train split statistics in one of the runs"
        return
    try:
        result = compute_drift(train_b, train_a, schema)
    except ValueError as error:  # DriftInputError, or TFDV refusing the stored statistics or schema
        raise DataError(
            f"runs {report_a.run_id} -> {report_b.run_id}: cannot compare the train split statistics "
            f"{stats_b.uri} with {stats_a.uri} under run {report_b.run_id}'s schema: {error}"
        ) from error
    diff.drift = [
        FeatureDriftChange(item.feature, item.measure, item.score, item.threshold, item.flagged)
        for item in result.features
    ]


def diff_runs(
    store: metadata_store.MetadataStore,
    pipeline_name: str,
    run_a: str,
    run_b: str,
    component_ids: list[str],
    gate_metric: str | None = None,
) -> RunDiff:
    """Compares run B with run A (A is the reference: 'before'); `gate_metric` (a listed name)
    leads the headline metrics when the project's gate is not the task's default."""
    report_a = describe_run(store, pipeline_name, run_a, component_ids)
    report_b = describe_run(store, pipeline_name, run_b, component_ids)
    diff = RunDiff(run_a, run_b, Change("span", report_a.span, report_b.span))
    splits = sorted(report_a.examples_per_split.keys() | report_b.examples_per_split.keys())
    diff.examples_per_split = [
        Change(split, report_a.examples_per_split.get(split), report_b.examples_per_split.get(split))
        for split in splits
    ]
    schema_a, schema_b = _load_schema(report_a), _load_schema(report_b)
    if schema_a is not None and schema_b is not None:
        diff.schema = schema_changes(schema_a, schema_b)
    _statistics_drift(report_a, report_b, schema_b, diff)
    diff.training = parameter_changes(
        _training_parameters(store, report_a), _training_parameters(store, report_b)
    )
    diff.task = report_b.task or report_a.task
    metrics_a, metrics_b = run_metrics(report_a), run_metrics(report_b)
    headline = headline_names(diff.task, metrics_a.keys() | metrics_b.keys(), gate_metric)
    diff.metrics = metric_changes(metrics_a, metrics_b, headline)
    diff.headline_count = len(headline)
    diff.blessed = Change("blessed", report_a.blessed, report_b.blessed)
    diff.pushed_version = Change("pushed_version", report_a.pushed_version, report_b.pushed_version)
    return diff
