"""TrainingWindowStrategy against a real ML Metadata store (SQLite under tmp_path) that TFX's own
publishing code fills: the contexts the compiler gives each node, example_gen executions
registered and published (or published as CACHED) with the Examples an ExampleGen writes, and
the same run's anomaly_gate execution published COMPLETE, CACHED or FAILED (or never run). The
last tests resolve the compiled Resolver node the way LocalDagRunner does."""

# No `from __future__ import annotations`: TFX's @component reads the stand-in gate's annotations
# as types, and refuses them as strings.
import logging
from dataclasses import dataclass, field

import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx.components import CsvExampleGen
from tfx.dsl.compiler import compiler, constants
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.common.resolver import Resolver
from tfx.orchestration import metadata
from tfx.orchestration.pipeline import Pipeline
from tfx.orchestration.portable import execution_publish_utils, inputs_utils, runtime_parameter_utils
from tfx.orchestration.portable.mlmd import context_lib
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.channel import Channel

from ml_lifecycle.components.spans import artifact_span
from ml_lifecycle.components.training_window.strategy import TrainingWindowStrategy

PIPELINE = "taxi-pipe"
OTHER_PIPELINE = "bikes-pipe"
RESOLVER_ID = "training_window_resolver"
GATE_ID = "anomaly_gate"
COMPLETE = metadata_store_pb2.Execution.COMPLETE
CACHED = metadata_store_pb2.Execution.CACHED
FAILED = metadata_store_pb2.Execution.FAILED


@component
def _StandInGate(examples: InputArtifact[standard_artifacts.Examples]) -> None:
    """In the place of the real AnomalyGate (whose inputs need three more nodes): only its node
    id and its run matter to the window."""


def _example_gen(span: int) -> CsvExampleGen:
    # As pipeline.example_gen_component builds it: one span per execution.
    return CsvExampleGen(
        input_base="/data",
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="span", pattern="span-{SPAN}/*.csv")]
        ),
        range_config=range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
        ),
    ).with_id("example_gen")


def _window_resolver(
    example_gen: CsvExampleGen, span: int, window_spans: int, pipeline_name: str, channel: str
):
    """The wiring of create_pipeline; `channel` picks the input channel's form."""
    examples = (
        example_gen.outputs["examples"]
        if channel == "output"
        else Channel(
            type=standard_artifacts.Examples, producer_component_id=example_gen.id, output_key="examples"
        )
    )
    resolver = Resolver(
        strategy_class=TrainingWindowStrategy,
        config={"span": span, "window_spans": window_spans, "pipeline_name": pipeline_name},
        examples=examples,
    ).with_id(RESOLVER_ID)
    if channel != "output":
        # This form carries no data edge: without it the resolver could run before example_gen.
        resolver.add_upstream_node(example_gen)
    return resolver


def _compiled_nodes(
    pipeline_name: str, run_id: str, span: int, window_spans: int = 1, channel: str = "output"
):
    """The IR nodes of a pipeline [example_gen, anomaly_gate, resolver] for one run, by node id."""
    example_gen = _example_gen(span)
    gate = _StandInGate(examples=example_gen.outputs["examples"]).with_id(GATE_ID)
    pipeline = Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root="/pipelines",
        components=[
            example_gen,
            gate,
            _window_resolver(example_gen, span, window_spans, pipeline_name, channel),
        ],
    )
    ir = compiler.Compiler().compile(pipeline)
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    return {node.pipeline_node.node_info.id: node.pipeline_node for node in ir.nodes}


@dataclass
class TfxStore:
    """Writes runs into an MLMD store the way TFX's launcher publishes them."""

    connection: metadata_store_pb2.ConnectionConfig
    runs: int = 0
    created: dict[str, list[int]] = field(default_factory=dict)  # pipeline -> Examples ids

    def handle(self) -> metadata.Metadata:
        return metadata.Metadata(self.connection)

    def store(self):
        with self.handle() as m:
            return m.store

    def ingest(
        self,
        span: int,
        pipeline_name: str = PIPELINE,
        node_id: str = "example_gen",
        output_key: str = "examples",
        gate: int | None = COMPLETE,
        run_id: str | None = None,
    ) -> int:
        """A run of `span` whose node `node_id` outputs one new Examples of that span, then whose
        anomaly_gate ends in state `gate` (None: the run stopped before it); the Examples' id.
        Each run has its own id unless `run_id` is given."""
        examples = standard_artifacts.Examples()
        examples.uri = f"/pipelines/{pipeline_name}/{node_id}/{self.runs}"
        examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
        # ExampleGen's driver writes the span as a custom property (components/spans.py).
        examples.set_int_custom_property("span", span)
        [published] = self._run(span, pipeline_name, node_id, {output_key: [examples]}, False, gate, run_id)
        self.created.setdefault(pipeline_name, []).append(published.id)
        return published.id

    def cache_hit(
        self, span: int, examples_id: int, pipeline_name: str = PIPELINE, gate: int | None = COMPLETE
    ) -> None:
        """A run of `span` whose example_gen is a cache hit (it outputs an existing artifact
        again), then whose anomaly_gate ends in state `gate`."""
        with self.handle() as m:
            [proto] = m.store.get_artifacts_by_id([examples_id])
            [artifact_type] = m.store.get_artifact_types_by_id([proto.type_id])
        existing = artifact_utils.deserialize_artifact(artifact_type, proto)
        self._run(span, pipeline_name, "example_gen", {"examples": [existing]}, True, gate, None)

    def _run(
        self,
        span: int,
        pipeline_name: str,
        node_id: str,
        outputs,
        cached: bool,
        gate: int | None,
        run_id: str | None,
    ) -> list:
        """One run: an execution of the node, then one of the gate; the node's outputs as stored."""
        self.runs += 1
        nodes = _compiled_nodes(pipeline_name, run_id or f"span-{span}-run-{self.runs}", span)
        node = nodes["example_gen"]
        contexts_spec = node.contexts
        if node_id != "example_gen":
            # Another node of the same pipeline (e.g. Transform, whose outputs are Examples too).
            for context in contexts_spec.contexts:
                if context.type.name == constants.NODE_CONTEXT_TYPE_NAME:
                    context.name.field_value.string_value = f"{pipeline_name}.{node_id}"
        with self.handle() as m:
            contexts = context_lib.prepare_contexts(m, contexts_spec)
            execution = execution_publish_utils.register_execution(m, node.node_info.type, contexts)
            if cached:
                execution_publish_utils.publish_cached_executions(m, contexts, [execution], [outputs])
                published = outputs
            else:
                published, _ = execution_publish_utils.publish_succeeded_execution(
                    m, execution.id, contexts, outputs
                )
            if gate is not None:
                _publish_gate(m, nodes[GATE_ID], gate)
        return [a for artifacts in published.values() for a in artifacts]

    def resolve(self, span: int, window_spans: int, pipeline_name: str = PIPELINE) -> list[int]:
        """The strategy on the store, as the Resolver's driver calls it; the Examples ids it returns."""
        strategy = TrainingWindowStrategy(span=span, window_spans=window_spans, pipeline_name=pipeline_name)
        with self.handle() as m:
            resolved = strategy.resolve_artifacts(m.store, {"examples": []})
        assert set(resolved) == {"examples"}
        return [a.id for a in resolved["examples"]]


def _publish_gate(m: metadata.Metadata, gate_node, state: int) -> None:
    """The gate's execution in its run, as the launcher ends it: a pass, a cache hit, a raise."""
    contexts = context_lib.prepare_contexts(m, gate_node.contexts)
    execution = execution_publish_utils.register_execution(m, gate_node.node_info.type, contexts)
    if state == COMPLETE:
        execution_publish_utils.publish_succeeded_execution(m, execution.id, contexts, {})
    elif state == CACHED:
        execution_publish_utils.publish_cached_executions(m, contexts, [execution], [{}])
    else:
        execution_publish_utils.publish_failed_execution(m, contexts, execution.id)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.fixture
def tfx_store(tmp_path) -> TfxStore:
    return TfxStore(metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.sqlite")))


def test_the_window_is_the_examples_of_the_last_n_spans_in_span_order(tfx_store):
    ids = {span: tfx_store.ingest(span) for span in (1, 2, 3, 4, 5)}

    strategy = TrainingWindowStrategy(span=5, window_spans=3, pipeline_name=PIPELINE)
    with tfx_store.handle() as m:
        resolved = strategy.resolve_artifacts(m.store, {"examples": []})["examples"]

    assert [a.id for a in resolved] == [ids[3], ids[4], ids[5]]
    # TFX artifacts Transform can read: Examples with their span and splits.
    assert all(isinstance(a, standard_artifacts.Examples) for a in resolved)
    assert [artifact_span(a) for a in resolved] == [3, 4, 5]
    assert artifact_utils.decode_split_names(resolved[0].split_names) == ["train", "eval"]


def test_a_window_of_one_is_the_current_span_alone(tfx_store):
    ids = {span: tfx_store.ingest(span) for span in (1, 2)}

    assert tfx_store.resolve(span=2, window_spans=1) == [ids[2]]


def test_a_rerun_of_an_older_span_trains_on_the_same_spans_as_its_first_run(tfx_store):
    ids = {span: tfx_store.ingest(span) for span in (1, 2, 3, 4, 5, 6)}
    tfx_store.cache_hit(3, ids[3])  # the rerun's example_gen: a cache hit on span 3

    assert tfx_store.resolve(span=3, window_spans=2) == [ids[2], ids[3]]


def test_other_pipelines_and_other_nodes_examples_are_never_candidates(tfx_store):
    ours = {span: tfx_store.ingest(span) for span in (3, 4)}
    # Newer Examples of span 3: another pipeline's example_gen in the same store, and this
    # pipeline's Transform output (also of type Examples) carrying a span.
    tfx_store.ingest(3, pipeline_name=OTHER_PIPELINE)
    tfx_store.ingest(3, node_id="transform", output_key="transformed_examples")
    # And this pipeline's example_gen under another output key.
    tfx_store.ingest(3, output_key="not_examples")

    assert tfx_store.resolve(span=4, window_spans=2) == [ours[3], ours[4]]
    other = tfx_store.created[OTHER_PIPELINE]
    with pytest.raises(RuntimeError, match="no Examples of span 4"):
        tfx_store.resolve(span=4, window_spans=2, pipeline_name=OTHER_PIPELINE)
    assert tfx_store.resolve(span=3, window_spans=2, pipeline_name=OTHER_PIPELINE) == other


def test_a_re_ingested_span_contributes_its_latest_examples(tfx_store):
    first = tfx_store.ingest(4)
    second = tfx_store.ingest(4)  # the span's files changed: a new artifact
    current = tfx_store.ingest(5)

    assert tfx_store.resolve(span=5, window_spans=2) == [second, current]

    # A later cache hit outputs the first artifact again (the files are back as they were).
    tfx_store.cache_hit(4, first)
    assert tfx_store.resolve(span=5, window_spans=2) == [first, current]


def test_examples_no_longer_live_are_skipped(tfx_store):
    older = tfx_store.ingest(4)
    newer = tfx_store.ingest(4)
    current = tfx_store.ingest(5)
    store = tfx_store.store()
    [proto] = store.get_artifacts_by_id([newer])
    proto.state = metadata_store_pb2.Artifact.DELETED  # garbage-collected
    store.put_artifacts([proto])

    assert tfx_store.resolve(span=5, window_spans=2) == [older, current]


def test_spans_never_ingested_are_skipped_and_named_in_a_warning_with_the_commands(tfx_store, caplog):
    ids = {span: tfx_store.ingest(span) for span in (3, 5, 7)}

    with caplog.at_level(logging.WARNING):
        resolved = tfx_store.resolve(span=7, window_spans=5)

    assert resolved == [ids[3], ids[5], ids[7]]
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert "spans 4, 6 have no Examples from pipeline 'taxi-pipe'" in warnings[0]
    assert "`lifecycle run --spans 4:4` and `lifecycle run --spans 6:6` would ingest them" in warnings[0]


def test_no_warning_when_the_store_holds_the_whole_window(tfx_store, caplog):
    for span in (1, 2, 3):
        tfx_store.ingest(span)

    with caplog.at_level(logging.WARNING):
        tfx_store.resolve(span=3, window_spans=3)

    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_missing_current_span_is_a_wiring_error_not_a_silent_older_window(tfx_store):
    for span in (1, 2):
        tfx_store.ingest(span)

    with pytest.raises(RuntimeError, match="must run after example_gen"):
        tfx_store.resolve(span=3, window_spans=3)


def test_an_empty_store_has_no_window(tfx_store):
    with pytest.raises(RuntimeError, match="no Examples of span 1"):
        tfx_store.resolve(span=1, window_spans=2)


# --- the anomaly gate -------------------------------------------------------------------------


def test_an_earlier_span_whose_gate_failed_is_left_out_and_named_with_the_command_to_rerun_it(
    tfx_store, caplog
):
    ids = {3: tfx_store.ingest(3), 4: tfx_store.ingest(4, gate=FAILED), 5: tfx_store.ingest(5)}

    with caplog.at_level(logging.WARNING):
        resolved = tfx_store.resolve(span=5, window_spans=3)

    assert resolved == [ids[3], ids[5]]
    [warning] = _warnings(caplog)
    assert "span 4 failed its anomaly gate" in warning
    assert "fix its data and rerun it: `lifecycle run --spans 4:4`" in warning
    assert "never ingested" not in warning  # span 4 was ingested: it is not reported as missing
    assert "Training on spans 3, 5" in warning


def test_examples_of_a_run_that_stopped_before_the_gate_are_left_out(tfx_store, caplog):
    # E.g. StatisticsGen failed: the run has example_gen's Examples and no gate execution.
    ids = {4: tfx_store.ingest(4, gate=None), 5: tfx_store.ingest(5)}

    with caplog.at_level(logging.WARNING):
        assert tfx_store.resolve(span=5, window_spans=2) == [ids[5]]

    [warning] = _warnings(caplog)
    assert "span 4 failed its anomaly gate" in warning


@pytest.mark.parametrize("rerun_gate", [COMPLETE, CACHED])
def test_examples_that_failed_count_once_a_later_cached_rerun_passes_the_gate(tfx_store, rerun_gate):
    failed = tfx_store.ingest(4, gate=FAILED)  # e.g. a class label.classes did not list yet
    current = tfx_store.ingest(5)
    assert tfx_store.resolve(span=5, window_spans=2) == [current]

    # The schema fixed, span 4 is rerun: its files are unchanged, so example_gen is a cache hit
    # outputting the same Examples, and this time the gate passes. (CACHED: TFX caches only
    # passes, so a real store would also hold the pass it repeats; here the cached execution is
    # the only pass, to show that it counts on its own.)
    tfx_store.cache_hit(4, failed, gate=rerun_gate)
    rerun_current = tfx_store.ingest(5)

    assert tfx_store.resolve(span=5, window_spans=2) == [failed, rerun_current]


def test_a_span_whose_latest_examples_failed_contributes_the_older_ones_that_passed(tfx_store, caplog):
    passed = tfx_store.ingest(4)
    failed = tfx_store.ingest(4, gate=FAILED)  # the span's files replaced by broken ones
    current = tfx_store.ingest(5)

    with caplog.at_level(logging.WARNING):
        assert tfx_store.resolve(span=5, window_spans=2) == [passed, current]

    [warning] = _warnings(caplog)
    assert (
        f"span 4's latest Examples {failed} failed its anomaly gate; taking its Examples {passed}" in warning
    )


def test_the_current_span_is_taken_before_its_gate_has_run(tfx_store):
    # A rerun of span 5 after its gate failed: example_gen is a cache hit on the same Examples and
    # the resolver runs before this run's gate (which still stands between them and Transform).
    first = tfx_store.ingest(5, gate=FAILED)
    tfx_store.cache_hit(5, first, gate=None)

    assert tfx_store.resolve(span=5, window_spans=2) == [first]


def test_a_gate_another_pipeline_passed_in_a_run_of_the_same_id_does_not_pass_these_examples(tfx_store):
    # Two pipelines sharing a store and a run id share that run's pipeline_run context: only
    # this pipeline's anomaly_gate node speaks for its Examples.
    ours = {4: tfx_store.ingest(4, gate=FAILED, run_id="span-4-shared"), 5: tfx_store.ingest(5)}
    tfx_store.ingest(4, pipeline_name=OTHER_PIPELINE, run_id="span-4-shared")

    assert tfx_store.resolve(span=5, window_spans=2) == [ours[5]]


# --- the Resolver node compiled and resolved as LocalDagRunner does ---------------------------


@pytest.mark.parametrize("channel", ["output", "producer"])
def test_the_compiled_resolver_node_resolves_the_window_after_example_gen(tfx_store, channel):
    ids = {span: tfx_store.ingest(span) for span in (1, 2, 3)}
    tfx_store.ingest(3, pipeline_name=OTHER_PIPELINE)
    # The current run of span 4: example_gen publishes first, then the resolver resolves.
    run_id = "span-4-current"
    nodes = _compiled_nodes(PIPELINE, run_id, span=4, window_spans=3, channel=channel)
    resolver_node = nodes[RESOLVER_ID]
    assert "example_gen" in resolver_node.upstream_nodes
    current = standard_artifacts.Examples()
    current.uri = "/pipelines/current"
    current.split_names = artifact_utils.encode_split_names(["train", "eval"])
    current.set_int_custom_property("span", 4)
    with tfx_store.handle() as m:
        contexts = context_lib.prepare_contexts(m, nodes["example_gen"].contexts)
        execution = execution_publish_utils.register_execution(
            m, nodes["example_gen"].node_info.type, contexts
        )
        published, _ = execution_publish_utils.publish_succeeded_execution(
            m, execution.id, contexts, {"examples": [current]}
        )
        [current] = published["examples"]

        resolved = inputs_utils.resolve_input_artifacts(pipeline_node=resolver_node, metadata_handle=m)

    assert isinstance(resolved, inputs_utils.Trigger) and len(resolved) == 1
    assert [a.id for a in resolved[0]["examples"]] == [ids[2], ids[3], current.id]
