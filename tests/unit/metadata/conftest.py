"""A tiny hand-built MLMD store shaped like a TFX run: two runs, ExampleGen -> Trainer -> Pusher,
a resolver's INTERNAL_OUTPUT event, and TFX's pipeline / pipeline_run / node contexts."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

PIPELINE = "p"


@dataclass
class TinyStore:
    store: metadata_store.MetadataStore
    examples: dict[int, int]  # span -> Examples id
    models: dict[int, int]  # span -> Model id
    pushed: dict[int, int]  # span -> PushedModel id
    span_dir: str


def _type(store, kind, name):
    proto = {"artifact": mlmd.ArtifactType, "execution": mlmd.ExecutionType, "context": mlmd.ContextType}[
        kind
    ]
    put = getattr(store, f"put_{kind}_type")
    return put(proto(name=name))


def _event(kind, artifact_id, execution_id, key):
    event = mlmd.Event(type=kind, artifact_id=artifact_id, execution_id=execution_id)
    event.path.steps.add().key = key
    event.path.steps.add().index = 0
    return event


@pytest.fixture
def tiny_store(tmp_path) -> TinyStore:
    config = mlmd.ConnectionConfig()
    config.fake_database.SetInParent()
    store = metadata_store.MetadataStore(config)
    types = {
        name: _type(store, "artifact", name) for name in ("Examples", "Model", "PushedModel", "ModelBlessing")
    }
    exec_types = {
        name: _type(store, "execution", name)
        for name in ("tfx.CsvExampleGen", "tfx.Trainer", "tfx.Pusher", "tfx.Resolver")
    }
    ctx_types = {name: _type(store, "context", name) for name in ("pipeline", "pipeline_run", "node")}
    [pipeline_ctx] = store.put_contexts([mlmd.Context(type_id=ctx_types["pipeline"], name=PIPELINE)])
    nodes = dict(
        zip(
            ("example_gen", "trainer", "pusher", "resolver"),
            store.put_contexts(
                [
                    mlmd.Context(type_id=ctx_types["node"], name=f"{PIPELINE}.{n}")
                    for n in ("example_gen", "trainer", "pusher", "resolver")
                ]
            ),
            strict=True,
        )
    )
    span_dir = tmp_path / "data"
    examples, models, pushed = {}, {}, {}
    previous_model = None
    for span in (1, 2):
        (span_dir / f"span-{span}").mkdir(parents=True)
        (span_dir / f"span-{span}" / "data.csv").write_text("a,b\n1,2\n")
        [run_ctx] = store.put_contexts(
            [mlmd.Context(type_id=ctx_types["pipeline_run"], name=f"span-{span}-run")]
        )
        example = mlmd.Artifact(type_id=types["Examples"], uri=f"/x/examples/{span}")
        example.custom_properties["span"].int_value = span
        model = mlmd.Artifact(type_id=types["Model"], uri=f"/x/model/{span}")
        push = mlmd.Artifact(type_id=types["PushedModel"], uri=f"/x/pushed/{span}")
        push.custom_properties["pushed"].int_value = 1
        push.custom_properties["pushed_version"].string_value = f"100{span}"
        push.custom_properties["pushed_destination"].string_value = f"/serving/100{span}"
        gen = mlmd.Execution(
            type_id=exec_types["tfx.CsvExampleGen"], last_known_state=mlmd.Execution.COMPLETE
        )
        gen.custom_properties["input_base"].string_value = str(span_dir)
        gen.custom_properties["input_config"].string_value = json.dumps(
            {"splits": [{"name": "span", "pattern": f"span-{span}/*.csv"}]}
        )
        trainer = mlmd.Execution(type_id=exec_types["tfx.Trainer"], last_known_state=mlmd.Execution.COMPLETE)
        trainer.custom_properties["train_args"].string_value = json.dumps({"num_steps": 100 * span})
        pusher = mlmd.Execution(type_id=exec_types["tfx.Pusher"], last_known_state=mlmd.Execution.COMPLETE)
        [example_id, model_id, push_id] = store.put_artifacts([example, model, push])
        ids = []
        for execution, node, events in (
            (gen, "example_gen", [_event(mlmd.Event.OUTPUT, example_id, 0, "examples")]),
            (
                trainer,
                "trainer",
                [
                    _event(mlmd.Event.INPUT, example_id, 0, "examples"),
                    _event(mlmd.Event.OUTPUT, model_id, 0, "model"),
                ],
            ),
            (
                pusher,
                "pusher",
                [
                    _event(mlmd.Event.INPUT, model_id, 0, "model"),
                    _event(mlmd.Event.OUTPUT, push_id, 0, "pushed_model"),
                ],
            ),
        ):
            [execution_id] = store.put_executions([execution])
            for event in events:
                event.execution_id = execution_id
            store.put_events(events)
            outputs = [e.artifact_id for e in events if e.type == mlmd.Event.OUTPUT]
            store.put_attributions_and_associations(
                [
                    mlmd.Attribution(context_id=c, artifact_id=a)
                    for a in outputs
                    for c in (pipeline_ctx, run_ctx)
                ],
                [
                    mlmd.Association(context_id=run_ctx, execution_id=execution_id),
                    mlmd.Association(context_id=nodes[node], execution_id=execution_id),
                    mlmd.Association(context_id=pipeline_ctx, execution_id=execution_id),
                ],
            )
            ids.append(execution_id)
        if previous_model is not None:
            # A resolver in run 2 "outputs" span 1's model: an INTERNAL_OUTPUT, not lineage.
            resolver = mlmd.Execution(
                type_id=exec_types["tfx.Resolver"], last_known_state=mlmd.Execution.COMPLETE
            )
            [resolver_id] = store.put_executions([resolver])
            store.put_events([_event(mlmd.Event.INTERNAL_OUTPUT, previous_model, resolver_id, "model")])
            store.put_attributions_and_associations(
                [],
                [
                    mlmd.Association(context_id=run_ctx, execution_id=resolver_id),
                    mlmd.Association(context_id=nodes["resolver"], execution_id=resolver_id),
                ],
            )
        examples[span], models[span], pushed[span] = example_id, model_id, push_id
        previous_model = model_id
    return TinyStore(store, examples, models, pushed, str(span_dir))


OTHER_PIPELINE = "other"


@dataclass
class SharedStore:
    """Two pipelines' drift and concept-drift reports in one store, as MySQL holds them."""

    store: metadata_store.MetadataStore
    # Pipeline -> artifact type -> {span: id of the newest report of that span}.
    newest: dict[str, dict[str, dict[int, int]]]


def _report(type_id: int, span: int, verdict: str, **properties) -> mlmd.Artifact:
    artifact = mlmd.Artifact(type_id=type_id, uri=f"/x/report/{span}")
    artifact.custom_properties["span"].int_value = span
    artifact.custom_properties["verdict"].string_value = verdict
    for name, value in properties.items():
        if isinstance(value, str):
            artifact.custom_properties[name].string_value = value
        elif isinstance(value, float):
            artifact.custom_properties[name].double_value = value
        else:
            artifact.custom_properties[name].int_value = value
    return artifact


@pytest.fixture
def shared_store() -> SharedStore:
    """Pipeline PIPELINE reports spans 1 and 2, OTHER_PIPELINE spans 2 and 3; the other pipeline's
    span-2 reports are the newer ones, so a history that is not scoped shows them for PIPELINE."""
    config = mlmd.ConnectionConfig()
    config.fake_database.SetInParent()
    store = metadata_store.MetadataStore(config)
    drift_type = _type(store, "artifact", "DriftReport")
    concept_type = _type(store, "artifact", "ConceptDriftReport")
    pipeline_type = _type(store, "context", "pipeline")
    contexts = dict(
        zip(
            (PIPELINE, OTHER_PIPELINE),
            store.put_contexts(
                [mlmd.Context(type_id=pipeline_type, name=n) for n in (PIPELINE, OTHER_PIPELINE)]
            ),
            strict=True,
        )
    )
    # Written in this order, so ids grow down the list. PIPELINE's feature scores are in the
    # positional form older stores hold, OTHER_PIPELINE's in today's named form.
    plan = [
        (PIPELINE, 1, "no_baseline", {}),
        (PIPELINE, 2, "ok", {"fare": [0.04, 0.1, 0, 0.02]}),
        (OTHER_PIPELINE, 2, "no_baseline", {}),
        (
            OTHER_PIPELINE,
            3,
            "drift",
            {"tips": {"score": 0.5, "threshold": 0.1, "drifted": True, "psi": None}},
        ),
    ]
    newest: dict[str, dict[str, dict[int, int]]] = {
        name: {"DriftReport": {}, "ConceptDriftReport": {}} for name in contexts
    }
    for pipeline, span, verdict, scores in plan:
        drift = _report(drift_type, span, verdict, policy=pipeline, feature_scores=json.dumps(scores))
        concept = _report(
            concept_type,
            span,
            "ok" if scores else "no_pushed_model",
            metric=f"auc-{pipeline}",
            pushed_model_id=100 + span,
        )
        drift_id, concept_id = store.put_artifacts([drift, concept])
        store.put_attributions_and_associations(
            [mlmd.Attribution(context_id=contexts[pipeline], artifact_id=a) for a in (drift_id, concept_id)],
            [],
        )
        newest[pipeline]["DriftReport"][span] = drift_id
        newest[pipeline]["ConceptDriftReport"][span] = concept_id
    return SharedStore(store, newest)
