"""TFX wrapper: a ResolverStrategy that applies `pick_training_window` to example_gen's outputs in MLMD."""

from __future__ import annotations

import ml_metadata as mlmd
from absl import logging
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.components.common import resolver
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs

from ml_lifecycle.base.contracts import ComponentId
from ml_lifecycle.components.spans import artifact_span
from ml_lifecycle.components.training_window.core import (
    SpanExamples,
    describe_window,
    missing_spans_warning,
    pick_training_window,
)
from ml_lifecycle.store.queries import OUTPUT_EVENTS, event_key

# MLMD context types TFX writes (REFERENCES: pipeline, pipeline_run, node "<pipeline>.<node id>").
PIPELINE_CONTEXT = "pipeline"
NODE_CONTEXT = "node"


class TrainingWindowStrategy(resolver.ResolverStrategy):
    """The Examples of spans `span-window_spans+1 .. span` that this pipeline's example_gen wrote,
    one per span (the latest, see core), in span order, under the Resolver's one input key.

    Candidates are read from the store, not from the input channel: the outputs under key
    `examples` of the executions in both this pipeline's context and its `example_gen` node
    context, LIVE only (as TFX resolves a channel). Other pipelines sharing the store, and other
    Examples of this one (Transform's transformed_examples), are never candidates. What the
    channel holds does not matter, so `example_gen.outputs["examples"]` (this run's artifact)
    and `Channel(type=Examples, producer_component_id=...)` (all of them) resolve the same.

    - The current span: the Resolver runs after example_gen, whose execution in this run (new or
      CACHED) is the newest output of that span, so this run's artifact is the one taken. Without
      it the resolver was wired before example_gen or for another pipeline: a RuntimeError (TFX
      then records the resolver's execution as FAILED).
    - A span of the window that was never ingested: the model trains on the spans the store
      holds; a WARNING in the run log names the missing spans and the `lifecycle run --spans a:b`
      commands that would ingest them. Never an error: the first runs of a project have fewer
      spans than the window.
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
        candidates, artifacts = example_gen_examples(store, self.pipeline_name)
        window = pick_training_window(candidates, self.span, self.window_spans)
        if self.span not in window.trained_spans:
            raise RuntimeError(
                f"training window of span {self.span}: pipeline {self.pipeline_name!r} has no Examples of "
                f"span {self.span} from {ComponentId.EXAMPLE_GEN.value} in the metadata store; the "
                f"resolver must run after {ComponentId.EXAMPLE_GEN.value} in the same pipeline"
            )
        warning = missing_spans_warning(window, self.pipeline_name)
        if warning:
            logging.warning(warning)
        logging.info(describe_window(window, self.pipeline_name))
        return {key: [artifacts[c.artifact_id] for c in window.chosen]}


def example_gen_examples(
    store: mlmd.MetadataStore, pipeline_name: str
) -> tuple[list[SpanExamples], dict[int, types.Artifact]]:
    """Every LIVE Examples artifact `<pipeline_name>.example_gen` output, as candidates (span,
    version, latest output) and as TFX artifacts by id."""
    pipeline = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
    node = store.get_context_by_type_and_name(
        NODE_CONTEXT, f"{pipeline_name}.{ComponentId.EXAMPLE_GEN.value}"
    )
    if pipeline is None or node is None:
        return [], {}
    in_pipeline = {e.id for e in store.get_executions_by_context(pipeline.id)}
    executions = {e.id: e for e in store.get_executions_by_context(node.id) if e.id in in_pipeline}
    if not executions:
        return [], {}
    # A cached execution outputs an existing artifact again: keep each artifact's latest output.
    last_output: dict[int, tuple[int, int]] = {}
    for event in store.get_events_by_execution_ids(list(executions)):
        if event.type not in OUTPUT_EVENTS or event_key(event) != standard_component_specs.EXAMPLES_KEY:
            continue
        execution = executions[event.execution_id]
        when = (execution.create_time_since_epoch, execution.id)
        last_output[event.artifact_id] = max(when, last_output.get(event.artifact_id, when))
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
    return candidates, artifacts
