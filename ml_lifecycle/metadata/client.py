"""`MetadataClient`: the one read API over a pipeline's ML Metadata store.

The CLI (`lifecycle runs | artifacts | lineage | diff | drift`) and the notebooks use this and
nothing else; results are dataclasses, not MLMD protos. It only reads: it works while no pipeline
runs, and names a missing or locked store instead of failing inside MLMD.

    from ml_lifecycle.metadata.client import MetadataClient
    client = MetadataClient.from_config(load_config("lifecycle.yaml"))
    client.runs()[0].status, client.lineage("1795812682").tree_lines()
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from ml_lifecycle.base.contracts import ComponentId, Prop
from ml_lifecycle.base.errors import LifecycleError
from ml_lifecycle.base.text import ascii_digits
from ml_lifecycle.metadata.diff import RunDiff, diff_runs
from ml_lifecycle.metadata.drift import (
    ConceptRecord,
    DriftRecord,
    concept_history,
    concept_reports_by_span,
    drift_history,
    drift_reports_by_span,
)
from ml_lifecycle.metadata.lineage import (
    ArtifactNotFoundError,
    Direction,
    LineageGraph,
    execution_component_ids,
    lineage,
)
from ml_lifecycle.metadata.runs import RunReport, describe_run
from ml_lifecycle.store.connection import open_store
from ml_lifecycle.store.queries import (
    PIPELINE_RUN_CONTEXT,
    ArtifactRecord,
    PushedModelRecord,
    RunNotFoundError,
    artifact_record,
    execution_state,
    outputs_by_key,
    pushed_models,
)


class UnknownArtifactTypeError(LifecycleError, ValueError):
    """An artifact type no run of this store has produced (a typo in `--type`)."""


@dataclass(frozen=True)
class ComponentState:
    component_id: str
    state: str  # COMPLETE, CACHED, FAILED, RUNNING, ...
    seconds: float
    execution_id: int

    @property
    def cached(self) -> bool:
        return self.state == "CACHED"


@dataclass
class RunSummary:
    run_id: str
    span: int | None
    started: datetime.datetime
    ended: datetime.datetime
    status: str  # COMPLETE, FAILED or RUNNING (some component not finished)
    components: list[ComponentState] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return (self.ended - self.started).total_seconds()

    @property
    def cache_hits(self) -> int:
        return sum(c.cached for c in self.components)

    @property
    def failed_component(self) -> str | None:
        return next((c.component_id for c in self.components if c.state == "FAILED"), None)


@dataclass(frozen=True)
class ArtifactEntry:
    """An artifact with where it came from: the component, run and span that produced it."""

    artifact: ArtifactRecord
    component_id: str | None
    run_id: str | None
    span: int | None
    created: datetime.datetime

    @property
    def id(self) -> int:
        return self.artifact.id

    @property
    def type(self) -> str:
        return self.artifact.type

    @property
    def uri(self) -> str:
        return self.artifact.uri


def _time(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)


_RUN_FINISHED = {"COMPLETE", "CACHED"}


class MetadataClient:
    """Read access to one pipeline's runs, artifacts, lineage and drift in an MLMD store."""

    def __init__(self, store: metadata_store.MetadataStore, pipeline_name: str):
        self.store = store
        self.pipeline_name = pipeline_name
        self._index: _RunIndex | None = None

    @classmethod
    def from_config(cls, config) -> MetadataClient:
        """From a `ml_lifecycle.config.project.PipelineConfig` (SQLite or MySQL, as the config says)."""
        return cls(open_store(config.metadata_connection_config()), config.pipeline_name)

    @classmethod
    def from_path(cls, path: str | Path, pipeline_name: str = "ml-lifecycle") -> MetadataClient:
        """From a SQLite file."""
        return cls(open_store(path), pipeline_name)

    # Runs -------------------------------------------------------------------------------

    def runs(self) -> list[RunSummary]:
        """Every run of the pipeline, newest first."""
        return sorted(self._runs().values(), key=lambda r: r.started, reverse=True)

    def run(self, run_id: str, component_ids: Sequence[str] | None = None) -> RunReport:
        """What one run did: components, rows per split, anomalies, drift, metrics, push.

        By default the report lists the components the run executed. With `component_ids` (e.g.
        `base.contracts.COMPONENT_IDS`, the whole pipeline) it lists those, in that order, the
        ones the run did not execute as NOT RUN.
        """
        if component_ids is None:
            summary = self._runs().get(run_id)
            if summary is None:
                raise RunNotFoundError(
                    f"no pipeline run {run_id!r} in the metadata store (see `lifecycle runs`)"
                )
            component_ids = [c.component_id for c in summary.components]
        return describe_run(self.store, self.pipeline_name, run_id, list(component_ids))

    def resolve_run(self, text: str) -> str:
        """A run id from the id itself or a unique prefix of it (`span-2-2026` is enough)."""
        runs = self._runs()
        if text in runs:
            return text
        matches = sorted(run_id for run_id in runs if run_id.startswith(text))
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunNotFoundError(f"no pipeline run {text!r} in the metadata store (see `lifecycle runs`)")
        raise RunNotFoundError(
            f"{text!r} matches {len(matches)} runs: {', '.join(matches)}; give more of the id"
        )

    def diff(self, run_a: str, run_b: str, gate_metric: str | None = None) -> RunDiff:
        """What changed from run A to run B (ids or unique prefixes, see `resolve_run`);
        `gate_metric` (a listed name, `metric_names.gate_metric_name`) leads the metrics."""
        run_a, run_b = self.resolve_run(run_a), self.resolve_run(run_b)
        runs = self._runs()
        ids = {c.component_id for run_id in (run_a, run_b) for c in runs[run_id].components}
        return diff_runs(self.store, self.pipeline_name, run_a, run_b, sorted(ids), gate_metric)

    # Artifacts --------------------------------------------------------------------------

    def artifact_types(self) -> list[str]:
        return sorted(t.name for t in self.store.get_artifact_types())

    def artifacts(self, type_name: str | None = None, span: int | None = None) -> list[ArtifactEntry]:
        """Artifacts (of one type, of one span), newest first."""
        types = {t.id: t.name for t in self.store.get_artifact_types()}
        if type_name is not None and type_name not in types.values():
            raise UnknownArtifactTypeError(
                f"no artifact type {type_name!r}; known types: {', '.join(sorted(types.values()))}"
            )
        raw = self.store.get_artifacts_by_type(type_name) if type_name else self.store.get_artifacts()
        index = self._run_index()
        entries = []
        for artifact in raw:
            record = artifact_record(artifact, types.get(artifact.type_id, "?"))
            producer = index.producer.get(artifact.id)
            run_id = index.run_of_execution.get(producer) if producer else None
            own_span = record.properties.get(Prop.SPAN) if record.type == "Examples" else None
            entry_span = int(own_span) if own_span is not None else index.span_of_run.get(run_id)
            if span is not None and entry_span != span:
                continue
            entries.append(
                ArtifactEntry(
                    record,
                    index.component_of_execution.get(producer) if producer else None,
                    run_id,
                    entry_span,
                    _time(artifact.create_time_since_epoch),
                )
            )
        return sorted(entries, key=lambda e: e.id, reverse=True)

    def latest_artifact(self, type_name: str, span: int | None = None) -> ArtifactEntry | None:
        found = self.artifacts(type_name, span)
        return found[0] if found else None

    def pushed_model_artifacts(self) -> list[ArtifactEntry]:
        """PushedModel artifacts of pushes that happened (Pusher also records skipped pushes)."""
        if "PushedModel" not in self.artifact_types():
            return []
        return [e for e in self.artifacts("PushedModel") if e.artifact.properties.get(Prop.PUSHED) == 1]

    def pushed_models(self) -> list[PushedModelRecord]:
        """Every model actually pushed, oldest first, with its training span."""
        return pushed_models(self.store, self.pipeline_name)

    # Lineage ----------------------------------------------------------------------------

    def resolve_artifact(self, reference: str | int) -> int:
        """An artifact id from an id or a pushed model version (`lifecycle lineage 1795812682`)."""
        text = str(reference).strip()
        for model in pushed_models(self.store, self.pipeline_name):
            if model.version == text:
                return model.pushed_model_id
        if ascii_digits(text) and self.store.get_artifacts_by_id([int(text)]):
            return int(text)
        raise ArtifactNotFoundError(
            f"{text!r} is neither a pushed model version nor an artifact id in the metadata store "
            "(see `lifecycle artifacts --type PushedModel`)"
        )

    def lineage(
        self, reference: str | int, direction: Direction = "upstream", max_hops: int = 20
    ) -> LineageGraph:
        return lineage(self.store, self.resolve_artifact(reference), self.pipeline_name, direction, max_hops)

    # Data evolution ---------------------------------------------------------------------

    def drift_history(self) -> list[DriftRecord]:
        """The pipeline's newest DriftReport of each span, in span order."""
        return drift_history(self.store, self.pipeline_name)

    def concept_history(self) -> list[ConceptRecord]:
        """The pipeline's newest ConceptDriftReport of each span, in span order."""
        return concept_history(self.store, self.pipeline_name)

    def drift_reports_by_span(self, artifact_by_span: dict[int, int]) -> list[DriftRecord]:
        """Given DriftReports (span -> artifact id) under the span the caller's lineage gives them."""
        return drift_reports_by_span(self.store, artifact_by_span)

    def concept_reports_by_span(self, artifact_by_span: dict[int, int]) -> list[ConceptRecord]:
        """Given ConceptDriftReports (span -> artifact id), as `drift_reports_by_span` reads them."""
        return concept_reports_by_span(self.store, artifact_by_span)

    # Internals --------------------------------------------------------------------------

    def _run_index(self) -> _RunIndex:
        if self._index is None:
            self._index = _RunIndex.build(self.store, self.pipeline_name)
        return self._index

    def _runs(self) -> dict[str, RunSummary]:
        return self._run_index().runs


@dataclass
class _RunIndex:
    """Which run and component produced each execution/artifact, and each run's span."""

    runs: dict[str, RunSummary]
    component_of_execution: dict[int, str]
    run_of_execution: dict[int, str]
    span_of_run: dict[str, int]
    producer: dict[int, int]  # artifact id -> the execution that output it (first, by id)

    @classmethod
    def build(cls, store: metadata_store.MetadataStore, pipeline_name: str) -> _RunIndex:
        pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
        components = execution_component_ids(store, pipeline_name)
        run_of_execution: dict[int, str] = {}
        runs: dict[str, RunSummary] = {}
        span_of_run: dict[str, int] = {}
        producer: dict[int, int] = {}
        run_contexts = store.get_contexts_by_type(PIPELINE_RUN_CONTEXT) if pipeline else []
        for context in run_contexts:
            executions = sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)
            executions = [e for e in executions if e.id in components]
            if not executions:
                continue
            states = []
            for execution in executions:
                run_of_execution.setdefault(execution.id, context.name)
                states.append(
                    ComponentState(components[execution.id], *execution_state(execution), execution.id)
                )
            if any(s.state == "FAILED" for s in states):
                status = "FAILED"
            elif all(s.state in _RUN_FINISHED for s in states):
                status = "COMPLETE"
            else:
                status = "RUNNING"
            runs[context.name] = RunSummary(
                context.name,
                None,
                _time(min(e.create_time_since_epoch for e in executions)),
                _time(max(e.last_update_time_since_epoch for e in executions)),
                status,
                states,
            )
        executions_by_id = sorted(run_of_execution)
        for event in store.get_events_by_execution_ids(executions_by_id) if executions_by_id else []:
            if event.type == metadata_store_pb2.Event.OUTPUT:
                previous = producer.get(event.artifact_id)
                if previous is None or event.execution_id < previous:
                    producer[event.artifact_id] = event.execution_id
        for run_id, summary in runs.items():
            example_gen = next(
                (c for c in summary.components if c.component_id == ComponentId.EXAMPLE_GEN), None
            )
            examples = (
                outputs_by_key(store, example_gen.execution_id).get("examples") if example_gen else None
            )
            if examples:
                [artifact] = store.get_artifacts_by_id(examples[:1])
                span = artifact.custom_properties.get(Prop.SPAN)
                if span is not None:
                    span_of_run[run_id] = span.int_value
                    runs[run_id] = dataclasses.replace(summary, span=span.int_value)
        return cls(runs, components, run_of_execution, span_of_run, producer)
