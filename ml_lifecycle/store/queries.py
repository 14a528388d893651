"""Queries over an open ML Metadata store: typed records of runs, executions and artifacts.

Only the public `ml_metadata` API is used. Results are dataclasses, not protos, so callers
never need MLMD's event and context model. The baseline resolvers (components) and the
metadata read API (metadata) both build on these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from ml_lifecycle.base.contracts import Prop
from ml_lifecycle.base.errors import LifecycleError

EXECUTION_STATES = {v: k.replace("_", " ") for k, v in metadata_store_pb2.Execution.State.items()}
OUTPUT_EVENTS = (
    metadata_store_pb2.Event.OUTPUT,
    metadata_store_pb2.Event.DECLARED_OUTPUT,
)
INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)
# The context type TFX gives each pipeline run (its name is the run id).
PIPELINE_RUN_CONTEXT = "pipeline_run"


class RunNotFoundError(LifecycleError, LookupError):
    """No pipeline run with that id is recorded."""


@dataclass(frozen=True)
class ArtifactRecord:
    id: int
    type: str
    uri: str
    properties: dict[str, object]


@dataclass
class ComponentRun:
    component_id: str
    state: str  # COMPLETE, CACHED, FAILED, RUNNING, ... or NOT RUN
    seconds: float
    execution_id: int | None = None
    inputs: dict[str, list[ArtifactRecord]] = field(default_factory=dict)
    outputs: dict[str, list[ArtifactRecord]] = field(default_factory=dict)


def property_value(value: metadata_store_pb2.Value) -> object:
    kind = value.WhichOneof("value")
    if kind == "struct_value":
        # TFX stores dict properties as a Struct wrapping {"__value__": json}.
        from google.protobuf import json_format

        plain = json_format.MessageToDict(value.struct_value)
        inner = plain.get("__value__") if set(plain) == {"__value__"} else None
        return json.loads(inner) if isinstance(inner, str) else plain
    if kind == "proto_value":
        return str(value.proto_value.type_url)
    return getattr(value, kind) if kind else None


def artifact_properties(artifact: metadata_store_pb2.Artifact) -> dict[str, object]:
    """An artifact's properties and custom properties in one dict (a custom one wins a clash)."""
    properties = {k: property_value(v) for k, v in artifact.properties.items()}
    properties.update({k: property_value(v) for k, v in artifact.custom_properties.items()})
    return properties


def artifact_record(artifact: metadata_store_pb2.Artifact, type_name: str) -> ArtifactRecord:
    return ArtifactRecord(artifact.id, type_name, artifact.uri, artifact_properties(artifact))


def event_key(event: metadata_store_pb2.Event) -> str:
    for step in event.path.steps:
        if step.HasField("key"):
            return step.key
    return ""


def list_run_ids(store: metadata_store.MetadataStore, pipeline_name: str) -> list[str]:
    """Run ids of a pipeline, oldest first."""
    if store.get_context_by_type_and_name("pipeline", pipeline_name) is None:
        return []
    runs = sorted(store.get_contexts_by_type(PIPELINE_RUN_CONTEXT), key=lambda c: c.create_time_since_epoch)
    return [c.name for c in runs]


def execution_state(execution: metadata_store_pb2.Execution) -> tuple[str, float]:
    """An execution's state name (COMPLETE, CACHED, FAILED, ...) and its seconds in MLMD."""
    seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
    return EXECUTION_STATES.get(execution.last_known_state, "UNKNOWN"), seconds


def component_runs(
    store: metadata_store.MetadataStore,
    pipeline_name: str,
    run_id: str,
    component_ids: tuple[str, ...] | list[str],
) -> list[ComponentRun]:
    """Each component's execution in one run, with its input and output artifacts."""
    run = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    if run is None:
        raise RunNotFoundError(f"no pipeline run {run_id!r} in the metadata store")
    in_run = {e.id: e for e in store.get_executions_by_context(run.id)}
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    result = []
    for component_id in component_ids:
        node = store.get_context_by_type_and_name("node", f"{pipeline_name}.{component_id}")
        executions = [e for e in store.get_executions_by_context(node.id) if e.id in in_run] if node else []
        if not executions:
            result.append(ComponentRun(component_id, "NOT RUN", 0.0))
            continue
        execution = max(executions, key=lambda e: e.id)
        entry = ComponentRun(component_id, *execution_state(execution), execution.id)
        events = store.get_events_by_execution_ids([execution.id])
        artifacts = {a.id: a for a in store.get_artifacts_by_id(list({e.artifact_id for e in events}))}
        for event in events:
            artifact = artifacts.get(event.artifact_id)
            if artifact is None:
                continue
            record = artifact_record(artifact, type_names.get(artifact.type_id, "?"))
            side = entry.outputs if event.type in OUTPUT_EVENTS else entry.inputs
            side.setdefault(event_key(event), []).append(record)
        result.append(entry)
    return result


def upstream_artifacts(
    store: metadata_store.MetadataStore, artifact_id: int, max_hops: int = 20
) -> list[ArtifactRecord]:
    """Every artifact the given one was derived from, walking executions' input events."""
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    seen: set[int] = {artifact_id}
    frontier = [artifact_id]
    found: list[ArtifactRecord] = []
    for _ in range(max_hops):
        if not frontier:
            break
        producing = {
            e.execution_id for e in store.get_events_by_artifact_ids(frontier) if e.type in OUTPUT_EVENTS
        }
        frontier = []
        if not producing:
            break
        for event in store.get_events_by_execution_ids(list(producing)):
            if event.type in INPUT_EVENTS and event.artifact_id not in seen:
                seen.add(event.artifact_id)
                frontier.append(event.artifact_id)
        for artifact in store.get_artifacts_by_id(frontier):
            found.append(artifact_record(artifact, type_names.get(artifact.type_id, "?")))
    return found


@dataclass(frozen=True)
class PushedModelRecord:
    pushed_model_id: int
    version: str
    path: str
    span: int | None  # the span the model was trained on
    model_id: int | None  # the Trainer's Model artifact
    created_ms: int


def producing_execution(store: metadata_store.MetadataStore, artifact_id: int) -> int | None:
    outputs = [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in OUTPUT_EVENTS]
    return outputs[0].execution_id if outputs else None


def _artifacts_by_key(
    store: metadata_store.MetadataStore, execution_id: int, event_types: tuple
) -> dict[str, list[int]]:
    keyed: dict[str, list[int]] = {}
    for event in store.get_events_by_execution_ids([execution_id]):
        if event.type in event_types:
            keyed.setdefault(event_key(event), []).append(event.artifact_id)
    return keyed


def inputs_by_key(store: metadata_store.MetadataStore, execution_id: int) -> dict[str, list[int]]:
    """An execution's input artifact ids by input key (e.g. 'examples')."""
    return _artifacts_by_key(store, execution_id, INPUT_EVENTS)


def outputs_by_key(store: metadata_store.MetadataStore, execution_id: int) -> dict[str, list[int]]:
    """An execution's output artifact ids by output key."""
    return _artifacts_by_key(store, execution_id, OUTPUT_EVENTS)


def training_spans(store: metadata_store.MetadataStore, model_id: int) -> set[int]:
    """The spans of the Examples a Model was trained on (its upstream ExampleGen outputs).

    A Model's lineage holds only the Trainer's inputs (Transform, ExampleGen), never the
    Evaluator's baseline, so this is the training data alone.
    """
    return {
        int(a.properties[Prop.SPAN])
        for a in upstream_artifacts(store, model_id)
        if a.type == "Examples" and a.properties.get(Prop.SPAN) is not None
    }


def pipeline_artifacts(
    store: metadata_store.MetadataStore, type_name: str, pipeline_name: str | None
) -> list[metadata_store_pb2.Artifact]:
    """Artifacts of one type; with `pipeline_name`, only those attributed to its pipeline context
    (a shared store holds other pipelines' too)."""
    artifacts = store.get_artifacts_by_type(type_name)
    if pipeline_name is None:
        return list(artifacts)
    context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    ours = {a.id for a in store.get_artifacts_by_context(context.id)} if context else set()
    return [a for a in artifacts if a.id in ours]


def pushed_models(
    store: metadata_store.MetadataStore, pipeline_name: str | None = None
) -> list[PushedModelRecord]:
    """Every model actually pushed, oldest first, with the span and Model it came from.

    The path is PushedModel <- Pusher <- InfraBlessing <- model_check <- Model; the span comes
    from the Model's lineage (`training_spans`). With `pipeline_name`, only that pipeline's pushes:
    a shared store holds other pipelines' too.
    """
    records = []
    for artifact in pipeline_artifacts(store, "PushedModel", pipeline_name):
        if property_value(artifact.custom_properties.get(Prop.PUSHED, metadata_store_pb2.Value())) != 1:
            continue
        span = model_id = None
        pusher = producing_execution(store, artifact.id)
        blessing_ids = inputs_by_key(store, pusher).get("infra_blessing", []) if pusher else []
        if blessing_ids:
            check = producing_execution(store, blessing_ids[0])
            model_ids = inputs_by_key(store, check).get("model", []) if check else []
            model_id = model_ids[0] if model_ids else None
        if model_id is not None:
            spans = training_spans(store, model_id)
            span = max(spans) if spans else None
        records.append(
            PushedModelRecord(
                pushed_model_id=artifact.id,
                version=str(property_value(artifact.custom_properties[Prop.PUSHED_VERSION])),
                path=str(property_value(artifact.custom_properties[Prop.PUSHED_DESTINATION])),
                span=span,
                model_id=model_id,
                created_ms=artifact.create_time_since_epoch,
            )
        )
    return sorted(records, key=lambda r: r.pushed_model_id)


def blessing_evaluation_id(store: metadata_store.MetadataStore, model_id: int) -> int | None:
    """The ModelEvaluation written by the Evaluator run that blessed `model_id` as candidate."""
    for event in store.get_events_by_artifact_ids([model_id]):
        if event.type not in INPUT_EVENTS or event_key(event) != "model":
            continue
        outputs = outputs_by_key(store, event.execution_id)
        if not outputs.get("evaluation") or not outputs.get("blessing"):
            continue
        [blessing] = store.get_artifacts_by_id(outputs["blessing"][:1])
        if property_value(blessing.custom_properties.get(Prop.BLESSED, metadata_store_pb2.Value())) == 1:
            return outputs["evaluation"][0]
    return None
