"""MetadataClient on a hand-built store: runs, artifacts by type and span, lineage, resolution."""

from __future__ import annotations

import json

import pytest

from ml_lifecycle.metadata.client import MetadataClient
from ml_lifecycle.metadata.lineage import ArtifactNotFoundError
from ml_lifecycle.store.queries import RunNotFoundError

from .conftest import PIPELINE


@pytest.fixture
def client(tiny_store):
    return MetadataClient(tiny_store.store, PIPELINE)


def test_runs_newest_first_with_span_status_and_components(client):
    runs = client.runs()
    assert [r.run_id for r in runs] == ["span-2-run", "span-1-run"]
    assert [r.span for r in runs] == [2, 1]
    assert all(r.status == "COMPLETE" for r in runs)
    assert [c.component_id for c in runs[1].components] == ["example_gen", "trainer", "pusher"]
    assert "resolver" in [c.component_id for c in runs[0].components]


def test_failed_component_makes_the_run_failed(tiny_store, client):
    trainer = next(c for c in client.runs()[0].components if c.component_id == "trainer")
    [execution] = tiny_store.store.get_executions_by_id([trainer.execution_id])
    execution.last_known_state = execution.FAILED
    tiny_store.store.put_executions([execution])
    run = MetadataClient(tiny_store.store, PIPELINE).runs()[0]
    assert run.status == "FAILED" and run.failed_component == "trainer"


def test_artifacts_by_type_and_span(tiny_store, client):
    models = client.artifacts("Model")
    assert [(m.id, m.span, m.component_id) for m in models] == [
        (tiny_store.models[2], 2, "trainer"),
        (tiny_store.models[1], 1, "trainer"),
    ]
    assert {a.type for a in client.artifacts(span=1)} == {"Examples", "Model", "PushedModel"}
    assert client.latest_artifact("PushedModel").id == tiny_store.pushed[2]
    assert client.latest_artifact("Model", span=1).id == tiny_store.models[1]
    assert client.latest_artifact("Model", span=9) is None
    with pytest.raises(ValueError, match="no artifact type 'Modle'"):
        client.artifacts("Modle")


def test_lineage_from_pushed_version_reaches_the_span_files(tiny_store, client):
    graph = client.lineage("1002")
    kinds = {node.label: node.kind for node in graph.nodes.values()}
    assert "Examples span 2" in kinds and "trainer" in kinds and "example_gen" in kinds
    files = [n.uri for n in graph.nodes.values() if n.kind == "file"]
    assert files == [f"{tiny_store.span_dir}/span-2/data.csv"]
    # Span 1's model is only a resolver's INTERNAL_OUTPUT in run 2: not in span 2's lineage.
    assert f"artifact:{tiny_store.models[1]}" not in graph.nodes
    tree = graph.tree_lines()
    assert tree[0].startswith("PushedModel version 1002")
    assert tree[-1].strip().endswith("span-2/data.csv")


def test_lineage_downstream_and_formats(tiny_store, client):
    graph = client.lineage(str(tiny_store.examples[1]), direction="downstream")
    labels = [n.label for n in graph.nodes.values()]
    assert "PushedModel version 1001" in labels and "PushedModel version 1002" not in labels
    dot = graph.to_dot()
    assert dot.startswith("digraph lineage {") and f'"artifact:{tiny_store.examples[1]}"' in dot
    data = json.loads(json.dumps(graph.to_json(), default=str))
    assert {e["key"] for e in data["edges"]} == {"examples", "model", "pushed_model"}


def test_unknown_references_are_named(client):
    with pytest.raises(ArtifactNotFoundError, match="'999999'"):
        client.lineage("999999")
    with pytest.raises(RunNotFoundError, match="no pipeline run 'nope'"):
        client.resolve_run("nope")
    with pytest.raises(RunNotFoundError, match="matches 2 runs"):
        client.resolve_run("span-")
    assert client.resolve_run("span-1") == "span-1-run"


def test_pushed_models_of_one_pipeline_only(tiny_store, client):
    from ml_lifecycle.store.queries import pushed_models

    assert [m.version for m in client.pushed_models()] == ["1001", "1002"]
    assert pushed_models(tiny_store.store, "another-pipeline") == []
    assert len(pushed_models(tiny_store.store)) == 2


def test_a_run_with_the_whole_pipeline_lists_what_it_did_not_run(tiny_store, client):
    report = client.run("span-1-run", ("example_gen", "schema", "trainer"))
    assert [(c.component_id, c.state) for c in report.components] == [
        ("example_gen", "COMPLETE"),
        ("schema", "NOT RUN"),
        ("trainer", "COMPLETE"),
    ]
    assert report.first_artifact("trainer", "examples", "inputs").id == tiny_store.examples[1]
    assert [c.component_id for c in client.run("span-1-run").components] == [
        "example_gen",
        "trainer",
        "pusher",
    ]
    with pytest.raises(RunNotFoundError, match="no pipeline run 'nope'"):
        client.run("nope", ("example_gen",))
