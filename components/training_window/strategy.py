"""TFX wrapper: a ResolverStrategy that applies `pick_training_window` to example_gen's outputs in MLMD,
counting an earlier span's Examples only where the anomaly gate passed them."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import ml_metadata as mlmd
from absl import logging
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.compiler import constants
from tfx.dsl.components.common import resolver
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs

from ml_lifecycle.base.contracts import ComponentId
from ml_lifecycle.components.spans import artifact_span
from ml_lifecycle.components.training_window.core import (
    SpanExamples,
    describe_window,
    first_window_span,
    pick_training_window,
    window_warning,
)
from ml_lifecycle.store.queries import OUTPUT_EVENTS, event_key

# A gate that ran and did not raise: COMPLETE, or CACHED (TFX caches successful executions only,
# so a cache hit repeats a pass on the same inputs).
GATE_PASSED_STATES = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)


class TrainingWindowStrategy(resolver.ResolverStrategy):
    """The Examples of spans `span-window_spans+1 .. span` that this pipeline's example_gen wrote,
    one per span (the latest that qualifies, see core), in span order, under the Resolver's one
    input key.

    Candidates are read from the store, not from the input channel: the outputs under key
    `examples` of the executions in both this pipeline's context and its `example_gen` node
    context, LIVE only (as TFX resolves a channel). Other pipelines sharing the store, and other
    Examples of this one (Transform's transformed_examples), are never candidates. What the
    channel holds does not matter, so `example_gen.outputs["examples"]` (this run's artifact)
    and `Channel(type=Examples, producer_component_id=...)` (all of them) resolve the same.

    - An earlier span's Examples qualify only if a pipeline run that output them (a new or a
      CACHED example_gen execution) also holds a COMPLETE or CACHED `anomaly_gate` execution
      (`gate_passed_examples`). A span none of whose Examples qualify is left out and named in
      the WARNING with the command that reruns it.
    - The current span: the Resolver runs after example_gen, whose execution in this run (new or
      CACHED) is the newest output of that span, so this run's artifact is the one taken; its
      gate runs before Transform in this run, so it is not asked about. Without it the resolver
      was wired before example_gen or for another pipeline: a RuntimeError (TFX then records the
      resolver's execution as FAILED).
    - A span of the window that was never ingested: the model trains on the spans the store
      holds; the WARNING names the missing spans and the `lifecycle run --spans a:b` commands
      that would ingest them. Never an error: the first runs of a project have fewer spans than
      the window.
    - A rerun of an older span S: the window is S-N+1 .. S, not the latest N spans in the store,
      so a rerun trains on the same spans as the first run of S (their latest ingestion).
    """

    def __init__(self, span: int, window_spans: int, pipeline_name: str):
        self.span = span
        self.window_spans = window_spans
        self.pipeline_name = pipeline_name

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        if len(input_dict) != 1:
            raise ValueError(
                f"{type(self).__name__} resolves one Examples channel, got inputs {sorted(input_dict)}"
            )
        [key] = input_dict
        outputs = example_gen_examples(store, self.pipeline_name)
        first = first_window_span(self.span, self.window_spans)
        earlier = {
            c.artifact_id: outputs.output_executions[c.artifact_id]
            for c in outputs.candidates
            if first <= c.span < self.span
        }
        passed_gate = gate_passed_examples(store, self.pipeline_name, earlier)
        window = pick_training_window(outputs.candidates, self.span, self.window_spans, passed_gate)
        if self.span not in window.trained_spans:
            raise RuntimeError(
                f"training window of span {self.span}: pipeline {self.pipeline_name!r} has no Examples of "
                f"span {self.span} from {ComponentId.EXAMPLE_GEN.value} in the metadata store; the "
                f"resolver must run after {ComponentId.EXAMPLE_GEN.value} in the same pipeline"
            )
        warning = window_warning(window, self.pipeline_name)
        if warning:
            logging.warning(warning)
        logging.info(describe_window(window, self.pipeline_name))
        return {key: [outputs.artifacts[c.artifact_id] for c in window.chosen]}


@dataclass(frozen=True)
class ExampleGenOutputs:
    """The LIVE Examples a pipeline's example_gen output: as candidates (span, version, latest
    output), as TFX artifacts by id, and the example_gen executions that output each."""

    candidates: list[SpanExamples]
    artifacts: dict[int, types.Artifact]
    output_executions: dict[int, set[int]]


def example_gen_examples(store: mlmd.MetadataStore, pipeline_name: str) -> ExampleGenOutputs:
    """Every LIVE Examples artifact `<pipeline_name>.example_gen` output."""
    nothing = ExampleGenOutputs([], {}, {})
    pipeline = store.get_context_by_type_and_name(constants.PIPELINE_CONTEXT_TYPE_NAME, pipeline_name)
    node = _node_context(store, pipeline_name, ComponentId.EXAMPLE_GEN)
    if pipeline is None or node is None:
        return nothing
    in_pipeline = {e.id for e in store.get_executions_by_context(pipeline.id)}
    executions = {e.id: e for e in store.get_executions_by_context(node.id) if e.id in in_pipeline}
    if not executions:
        return nothing
    # A cached execution outputs an existing artifact again: keep each artifact's latest output,
    # and every execution that output it (each belongs to a run whose gate may have passed it).
    last_output: dict[int, tuple[int, int]] = {}
    output_executions: dict[int, set[int]] = {}
    for event in store.get_events_by_execution_ids(list(executions)):
        if event.type not in OUTPUT_EVENTS or event_key(event) != standard_component_specs.EXAMPLES_KEY:
            continue
        execution = executions[event.execution_id]
        when = (execution.create_time_since_epoch, execution.id)
        last_output[event.artifact_id] = max(when, last_output.get(event.artifact_id, when))
        output_executions.setdefault(event.artifact_id, set()).add(execution.id)
    live = [
        a for a in store.get_artifacts_by_id(list(last_output)) if a.state == metadata_store_pb2.Artifact.LIVE
    ]
    types_by_id = {t.id: t for t in store.get_artifact_types_by_id(list({a.type_id for a in live}))}
    candidates, artifacts = [], {}
    for mlmd_artifact in live:
        artifact_type = types_by_id[mlmd_artifact.type_id]
        if artifact_type.name != standard_artifacts.Examples.TYPE_NAME:
            continue
        artifact = artifact_utils.deserialize_artifact(artifact_type, mlmd_artifact)
        version_name = example_gen_utils.VERSION_PROPERTY_NAME
        output_ms, execution_id = last_output[artifact.id]
        candidates.append(
            SpanExamples(
                span=artifact_span(artifact),
                artifact_id=artifact.id,
                output_ms=output_ms,
                execution_id=execution_id,
                version=(
                    artifact.get_int_custom_property(version_name)
                    if artifact.has_custom_property(version_name)
                    else None
                ),
            )
        )
        artifacts[artifact.id] = artifact
    return ExampleGenOutputs(candidates, artifacts, {a: output_executions[a] for a in artifacts})


def gate_passed_examples(
    store: mlmd.MetadataStore, pipeline_name: str, output_executions: Mapping[int, Collection[int]]
) -> set[int]:
    """The ids among `output_executions` (artifact id -> the example_gen executions that output it)
    of the artifacts the anomaly gate passed: some pipeline run holds both one of those executions
    and a COMPLETE or CACHED execution of `<pipeline_name>.anomaly_gate`.

    TFX attaches every execution of a run, cached ones included, to that run's `pipeline_run`
    context (named by the run id), so the run is where an example_gen output meets its gate (the
    gate has no output artifact to follow). A run that failed at the gate has a FAILED execution
    there; one that stopped earlier has none.
    """
    gate = _node_context(store, pipeline_name, ComponentId.ANOMALY_GATE)
    if gate is None or not output_executions:
        return set()
    passed_gates = {
        e.id for e in store.get_executions_by_context(gate.id) if e.last_known_state in GATE_PASSED_STATES
    }
    if not passed_gates:
        return set()
    # Asked per run of a window span, not per gate execution in the store: the window bounds it.
    run_passed: dict[int, bool] = {}

    def passed_in_a_run_of(execution_id: int) -> bool:
        for context in store.get_contexts_by_execution(execution_id):
            if context.type != constants.PIPELINE_RUN_CONTEXT_TYPE_NAME:
                continue
            if context.id not in run_passed:
                run_passed[context.id] = any(
                    e.id in passed_gates for e in store.get_executions_by_context(context.id)
                )
            if run_passed[context.id]:
                return True
        return False

    return {
        artifact_id
        for artifact_id, executions in output_executions.items()
        if any(passed_in_a_run_of(e) for e in sorted(executions))
    }


def _node_context(
    store: mlmd.MetadataStore, pipeline_name: str, node: ComponentId
) -> metadata_store_pb2.Context | None:
    # TFX names a node's context "<pipeline name>.<node id>".
    return store.get_context_by_type_and_name(
        constants.NODE_CONTEXT_TYPE_NAME, f"{pipeline_name}.{node.value}"
    )
