"""How lineage labels a Model: by the spans of the Examples it was trained on, and plainly when
no Examples are upstream of it (a model imported into the store, or whose inputs were not recorded)."""

from __future__ import annotations

from ml_metadata.proto import metadata_store_pb2 as mlmd

from ml_lifecycle.metadata.lineage import lineage

from .conftest import PIPELINE


def _model_type_id(store) -> int:
    return next(t.id for t in store.get_artifact_types() if t.name == "Model")


def test_a_trained_model_is_labelled_with_its_training_span(tiny_store):
    graph = lineage(tiny_store.store, tiny_store.models[2], PIPELINE)
    assert graph.nodes[graph.root].label == "Model trained on span 2"


def test_a_model_with_no_examples_upstream_is_labelled_model(tiny_store):
    store = tiny_store.store
    [orphan] = store.put_artifacts([mlmd.Artifact(type_id=_model_type_id(store), uri="/x/model/imported")])
    graph = lineage(store, orphan, PIPELINE)
    assert graph.nodes[graph.root].label == "Model"
    assert graph.tree_lines() == [f"Model (#{orphan}) /x/model/imported"]


def test_a_model_trained_on_a_window_names_every_span(tiny_store):
    """A Trainer that read span 1's and span 2's Examples (a training window)."""
    store = tiny_store.store
    trainer_type = next(t.id for t in store.get_execution_types() if t.name == "tfx.Trainer")
    [model] = store.put_artifacts([mlmd.Artifact(type_id=_model_type_id(store), uri="/x/model/window")])
    [trainer] = store.put_executions(
        [mlmd.Execution(type_id=trainer_type, last_known_state=mlmd.Execution.COMPLETE)]
    )
    events = [mlmd.Event(type=mlmd.Event.OUTPUT, artifact_id=model, execution_id=trainer)]
    events += [
        mlmd.Event(type=mlmd.Event.INPUT, artifact_id=tiny_store.examples[span], execution_id=trainer)
        for span in (2, 1)
    ]
    store.put_events(events)
    graph = lineage(store, model, PIPELINE)
    assert graph.nodes[graph.root].label == "Model trained on spans 1, 2"
