"""Pipeline construction tier: create_pipeline wires the DAG from the config alone (nothing runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx.components import SchemaGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.common.resolver import RESOLVER_CONFIG

from ml_lifecycle.base.contracts import COMPONENT_IDS, ComponentId
from ml_lifecycle.components.baseline_resolver.strategy import LatestBlessedModelFromOtherSpanStrategy
from ml_lifecycle.config.beam import BeamConfig
from ml_lifecycle.config.dataset import load_dataset_config
from ml_lifecycle.config.project import EvaluationThresholds, PipelineConfig, load_config
from ml_lifecycle.models.features import FeatureSpec
from ml_lifecycle.pipeline import pipeline as pipeline_module
from ml_lifecycle.pipeline.eval_config import eval_config
from ml_lifecycle.pipeline.pipeline import create_pipeline, traces_in_tf1_graph_mode

REPO_ROOT = Path(__file__).resolve().parents[3]
BIKES_YAML = REPO_ROOT / "tests" / "fixtures" / "bikes.yaml"


@pytest.fixture
def taxi_config(tmp_path):
    return load_config(REPO_ROOT / "lifecycle.yaml", {"work_dir": str(tmp_path)})


@pytest.fixture
def bikes_config(tmp_path):
    return PipelineConfig(
        pipeline_name="bikes-lifecycle",
        dataset=load_dataset_config(BIKES_YAML),
        work_dir=str(tmp_path),
    )


@pytest.fixture
def passed_components(monkeypatch):
    """Records the component list create_pipeline hands to TFX's Pipeline (which topsorts it)."""
    calls = []
    original = pipeline_module.Pipeline

    def recording_pipeline(*args, **kwargs):
        calls.append(list(kwargs["components"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "Pipeline", recording_pipeline)
    return calls


def _by_id(pipeline) -> dict:
    return {component.id: component for component in pipeline.components}


def _producer(component, key: str) -> tuple[str, str]:
    channel = component.inputs[key]
    return channel.producer_component_id, channel.output_key


def _expected_ids(window_spans: int) -> list[str]:
    """Every node id; the window resolver only when the model learns from more than one span."""
    return [i for i in COMPONENT_IDS if window_spans > 1 or i != ComponentId.TRAINING_WINDOW_RESOLVER]


def _assert_component_ids(pipeline, passed_components, window_spans: int = 1):
    ids = [component.id for component in pipeline.components]
    expected = _expected_ids(window_spans)
    assert sorted(ids) == sorted(expected)
    assert len(set(ids)) == len(ids) == len(expected)
    # The order create_pipeline wires them in follows the data flow: every node comes after all
    # of its upstream nodes (the schema importer precedes StatisticsGen, which uses it; an
    # inferring SchemaGen follows it).
    passed = [component.id for component in passed_components[-1]]
    assert sorted(passed) == sorted(expected)
    position = {component_id: i for i, component_id in enumerate(passed)}
    for component in pipeline.components:
        for upstream in component.upstream_nodes:
            assert position[upstream.id] < position[component.id], (upstream.id, component.id)


# --- the taxi pipeline from lifecycle.yaml ----------------------------------------------------


def test_component_ids_follow_component_ids_in_order(taxi_config, passed_components):
    pipeline = create_pipeline(taxi_config, span=1, span_rows=10)

    _assert_component_ids(pipeline, passed_components, taxi_config.training.window_spans)
    assert pipeline.pipeline_info.pipeline_name == "ml-lifecycle"


def test_schema_node_imports_the_curated_schema(taxi_config):
    schema = _by_id(create_pipeline(taxi_config, span=1, span_rows=10))["schema"]

    assert isinstance(schema, ImportSchemaGen)
    assert schema.exec_properties["schema_file"] == str(REPO_ROOT / "schemas" / "taxi" / "schema.pbtxt")
    assert schema.upstream_nodes == set()


def test_schema_node_infers_a_schema_when_the_dataset_has_none(taxi_config):
    no_schema = taxi_config.model_copy(
        update={"dataset": taxi_config.dataset.model_copy(update={"schema_path": None})}
    )

    components = _by_id(create_pipeline(no_schema, span=1, span_rows=10))

    schema = components["schema"]
    assert isinstance(schema, SchemaGen)
    assert _producer(schema, "statistics") == ("statistics_gen", "statistics")
    assert schema.exec_properties["infer_feature_shape"] in (0, False)
    assert _producer(components["example_validator"], "schema") == ("schema", "schema")
    assert _producer(components["transform"], "schema") == ("schema", "schema")


def test_example_gen_reads_the_requested_span(taxi_config):
    example_gen = _by_id(create_pipeline(taxi_config, span=3, span_rows=10))["example_gen"]

    properties = example_gen.exec_properties
    assert properties["input_base"] == str(taxi_config.data_root_path)
    assert json.loads(properties["input_config"])["splits"] == [
        {"name": "span", "pattern": "span-{SPAN}/*.csv"}
    ]
    static_range = json.loads(properties["range_config"])["static_range"]
    assert (static_range["start_span_number"], static_range["end_span_number"]) == (3, 3)
    splits = json.loads(properties["output_config"])["split_config"]["splits"]
    assert [(s["name"], s["hash_buckets"]) for s in splits] == [("train", 2), ("eval", 1)]


def test_anomaly_gate_sits_between_validation_and_transform(taxi_config):
    components = _by_id(create_pipeline(taxi_config, span=1, span_rows=10))

    gate = components["anomaly_gate"]
    assert _producer(gate, "anomalies") == ("example_validator", "anomalies")
    assert _producer(gate, "statistics") == ("statistics_gen", "statistics")
    assert gate.exec_properties["expected_num_examples"] == 10
    assert gate in components["transform"].upstream_nodes
    assert components["trainer"] in components["transform"].downstream_nodes


def test_transform_and_trainer_get_the_dataset_features(taxi_config):
    components = _by_id(create_pipeline(taxi_config, span=1, span_rows=10))

    for component_id in ("transform", "trainer"):
        custom_config = json.loads(components[component_id].exec_properties["custom_config"])
        spec = FeatureSpec.from_custom_config(custom_config)
        assert spec.label == "big_tipper"
        assert spec.raw_names() == taxi_config.dataset.features.all_names()
    trainer_config = json.loads(components["trainer"].exec_properties["custom_config"])
    assert trainer_config["training"]["train_steps"] == taxi_config.training.train_steps
    # No training setting changes the features, so none is in Transform's cache key.
    assert "training" not in json.loads(components["transform"].exec_properties["custom_config"])
    transform_fn = components["transform"].exec_properties["preprocessing_fn"]
    assert transform_fn == "ml_lifecycle.models.preprocessing.preprocessing_fn"
    # TF1 graph mode: ~5 s less per cold run on a taxi span than tracing it as tf.functions.
    assert components["transform"].exec_properties["force_tf_compat_v1"] in (1, True)
    assert components["trainer"].exec_properties["run_fn"] == "ml_lifecycle.models.model.run_fn"
    assert _producer(components["trainer"], "examples") == ("training_window_resolver", "examples")
    assert "transformed_examples" not in components["transform"].outputs  # the Trainer transforms


@pytest.mark.parametrize(
    ("columns", "tf1"),
    [
        (["trip_miles", "Body Mass (g)", "big_tipper"], True),
        (["Floor Area (m²)", "rooms"], False),  # its TF1 graph does not load back (measured)
        (["district/zone"], False),
        (["price.eur"], False),
    ],
)
def test_transform_uses_tf1_graph_mode_only_for_columns_it_can_load(columns, tf1):
    assert traces_in_tf1_graph_mode(columns) is tf1


def test_pusher_takes_both_blessings(taxi_config):
    components = _by_id(create_pipeline(taxi_config, span=1, span_rows=10))

    pusher = components["pusher"]
    assert _producer(pusher, "infra_blessing") == ("model_check", "blessing")
    assert _producer(pusher, "model_blessing") == ("evaluator", "blessing")
    # The model comes from the infra blessing (the stamped, warmed-up copy), not from Trainer.
    assert "model" not in pusher.inputs
    destination = json.loads(pusher.exec_properties["push_destination"])
    assert destination["filesystem"]["base_directory"] == str(taxi_config.serving_root_path / "taxi")


def test_evaluator_and_model_check_read_the_trained_model(taxi_config):
    components = _by_id(create_pipeline(taxi_config, span=1, span_rows=10))

    evaluator = components["evaluator"]
    assert _producer(evaluator, "model") == ("trainer", "model")
    assert _producer(evaluator, "baseline_model") == ("latest_blessed_model_resolver", "model")
    assert json.loads(evaluator.exec_properties["example_splits"]) == ["eval"]
    model_check = components["model_check"]
    assert _producer(model_check, "model") == ("trainer", "model")
    assert _producer(model_check, "examples") == ("example_gen", "examples")
    assert model_check.exec_properties == {
        "label": "big_tipper",
        "model_name": "taxi",
        "num_warmup_examples": 100,
    }


@pytest.mark.parametrize("span", [1, 4])
def test_baseline_resolver_excludes_the_current_span(taxi_config, span):
    resolver = _by_id(create_pipeline(taxi_config, span=span, span_rows=10))["latest_blessed_model_resolver"]

    assert resolver.exec_properties["resolver_class"] is LatestBlessedModelFromOtherSpanStrategy
    assert resolver.exec_properties["source_uri"] == {"span": span}
    assert resolver.upstream_nodes == set()
    # The strategy as TFX builds it from the node, on a store where the newest blessed model was
    # trained on this very span (a rerun): the baseline is the model before it.
    strategy = resolver.exec_properties["resolver_class"](**resolver.exec_properties["source_uri"])
    store, inputs = _store_with_blessed_models(trained_on=[9, span])
    older, newest = inputs["model"]

    resolved = strategy.resolve_artifacts(store, inputs)

    assert [model.id for model in resolved["model"]] == [older.id]
    assert [blessing.id for blessing in resolved["model_blessing"]] == [inputs["model_blessing"][0].id]
    # For any other span the same store gives the newest model: the span alone excluded it.
    other_span = LatestBlessedModelFromOtherSpanStrategy(span=span + 1).resolve_artifacts(store, inputs)
    assert [model.id for model in other_span["model"]] == [newest.id]


def _store_with_blessed_models(trained_on: list[int]):
    """An in-memory MLMD store with one blessed Model per span in `trained_on` (oldest first),
    each a Trainer's output from that span's Examples; returns the store and the resolver's
    input dict (every Model and ModelBlessing, as TFX artifacts)."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as mlmd
    from tfx.types import standard_artifacts

    from ml_lifecycle.base.contracts import Prop

    connection = mlmd.ConnectionConfig()
    connection.fake_database.SetInParent()
    store = metadata_store.MetadataStore(connection)
    type_ids = {
        name: store.put_artifact_type(mlmd.ArtifactType(name=name))
        for name in ("Examples", "Model", "ModelBlessing")
    }
    trainer_type = store.put_execution_type(mlmd.ExecutionType(name="tfx.Trainer"))
    inputs = {"model": [], "model_blessing": []}
    for span in trained_on:
        examples = mlmd.Artifact(type_id=type_ids["Examples"])
        examples.custom_properties[Prop.SPAN].int_value = span
        examples_id, model_id = store.put_artifacts([examples, mlmd.Artifact(type_id=type_ids["Model"])])
        [trainer] = store.put_executions([mlmd.Execution(type_id=trainer_type)])
        store.put_events(
            [
                mlmd.Event(type=mlmd.Event.INPUT, artifact_id=examples_id, execution_id=trainer),
                mlmd.Event(type=mlmd.Event.OUTPUT, artifact_id=model_id, execution_id=trainer),
            ]
        )
        blessing = mlmd.Artifact(type_id=type_ids["ModelBlessing"])
        blessing.custom_properties[Prop.BLESSED].int_value = 1
        blessing.custom_properties[Prop.CURRENT_MODEL_ID].int_value = model_id
        [blessing_id] = store.put_artifacts([blessing])
        for key, artifact_class, artifact_id in (
            ("model", standard_artifacts.Model, model_id),
            ("model_blessing", standard_artifacts.ModelBlessing, blessing_id),
        ):
            artifact = artifact_class()
            artifact.set_mlmd_artifact(store.get_artifacts_by_id([artifact_id])[0])
            inputs[key].append(artifact)
    return store, inputs


def test_evaluator_gets_the_eval_config(taxi_config):
    # Thresholds unlike the defaults: the Evaluator's copy can only have come from this config.
    config = taxi_config.model_copy(
        update={"evaluation": EvaluationThresholds(metric="Precision", min_value=0.75, max_drop=0.1)}
    )
    evaluator = _by_id(create_pipeline(config, span=1, span_rows=10))["evaluator"]

    passed = json_format.Parse(evaluator.exec_properties["eval_config"], tfma.EvalConfig())

    assert [(spec.signature_name, spec.label_key) for spec in passed.model_specs] == [
        ("serving_default", "big_tipper")
    ]
    assert [list(spec.feature_keys) for spec in passed.slicing_specs] == [
        [],
        ["trip_start_hour"],
        ["payment_type"],
    ]
    thresholded = _thresholded(passed)
    assert list(thresholded) == ["Precision"]
    (per_slice,) = thresholded["Precision"]
    assert per_slice.threshold.value_threshold.lower_bound.value == pytest.approx(0.75)
    assert per_slice.threshold.change_threshold.absolute.value == pytest.approx(-0.1)


def test_metadata_and_pipeline_root_live_under_work_dir(taxi_config, tmp_path):
    pipeline = create_pipeline(taxi_config, span=1, span_rows=10)

    assert pipeline.pipeline_info.pipeline_root == str(tmp_path.resolve() / "pipelines" / "ml-lifecycle")
    assert pipeline.metadata_connection_config.sqlite.filename_uri == str(
        tmp_path.resolve() / "metadata.sqlite"
    )
    assert pipeline.enable_cache is True


# --- eval_config ------------------------------------------------------------------------------


def _thresholded(config: tfma.EvalConfig) -> dict:
    return {
        metric.class_name: metric.per_slice_thresholds
        for spec in config.metrics_specs
        for metric in spec.metrics
        if metric.per_slice_thresholds or metric.HasField("threshold")
    }


def test_threshold_only_on_the_overall_slice(taxi_config):
    config = eval_config(taxi_config)

    thresholded = _thresholded(config)
    assert list(thresholded) == ["AUC"]
    (per_slice,) = thresholded["AUC"]
    assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]  # the overall slice only
    assert per_slice.threshold.value_threshold.lower_bound.value == pytest.approx(0.6)
    change = per_slice.threshold.change_threshold
    assert change.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert change.absolute.value == pytest.approx(-0.02)
    assert all(not spec.thresholds and not spec.per_slice_thresholds for spec in config.metrics_specs)


def test_slices_are_overall_plus_the_dataset_slice_features(taxi_config):
    config = eval_config(taxi_config)

    assert [list(spec.feature_keys) for spec in config.slicing_specs] == [
        [],
        ["trip_start_hour"],
        ["payment_type"],
    ]
    assert [(spec.signature_name, spec.label_key) for spec in config.model_specs] == [
        ("serving_default", "big_tipper")
    ]


def test_threshold_follows_the_configured_metric_and_values(taxi_config):
    custom = taxi_config.model_copy(
        update={"evaluation": EvaluationThresholds(metric="Precision", min_value=0.75, max_drop=0.1)}
    )

    thresholded = _thresholded(eval_config(custom))

    assert list(thresholded) == ["Precision"]
    (per_slice,) = thresholded["Precision"]
    assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]
    assert per_slice.threshold.value_threshold.lower_bound.value == pytest.approx(0.75)
    assert per_slice.threshold.change_threshold.absolute.value == pytest.approx(-0.1)


# --- Beam arguments ---------------------------------------------------------------------------


def test_small_span_runs_beam_in_memory(taxi_config):
    pipeline = create_pipeline(taxi_config, span=1, span_rows=10)

    assert _without_packaging(pipeline.beam_pipeline_args) == ["--direct_running_mode=in_memory"]


def test_big_span_runs_beam_multi_processing(taxi_config):
    config = taxi_config.model_copy(update={"beam": BeamConfig(auto_threshold_rows=5, num_workers=2)})

    pipeline = create_pipeline(config, span=1, span_rows=10)

    assert _without_packaging(pipeline.beam_pipeline_args) == [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ]


def test_unknown_span_size_runs_in_memory_and_skips_the_row_check(taxi_config):
    config = taxi_config.model_copy(update={"beam": BeamConfig(auto_threshold_rows=1)})

    pipeline = create_pipeline(config, span=1)

    assert _without_packaging(pipeline.beam_pipeline_args) == ["--direct_running_mode=in_memory"]
    assert _by_id(pipeline)["anomaly_gate"].exec_properties["expected_num_examples"] == 0


def test_explicit_beam_mode_and_extra_args(taxi_config):
    beam = BeamConfig(mode="multi_processing", extra_args=["--direct_num_workers_extra=1"])
    config = taxi_config.model_copy(update={"beam": beam, "enable_cache": False})

    pipeline = create_pipeline(config, span=1, span_rows=10)

    assert _without_packaging(pipeline.beam_pipeline_args) == [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=0",
        "--direct_num_workers_extra=1",
    ]
    assert pipeline.enable_cache is False


# --- a second, non-taxi dataset ---------------------------------------------------------------


def test_bikes_pipeline_has_the_same_components(bikes_config, passed_components):
    pipeline = create_pipeline(bikes_config, span=2, span_rows=3)

    _assert_component_ids(pipeline, passed_components, bikes_config.training.window_spans)
    assert pipeline.pipeline_info.pipeline_name == "bikes-lifecycle"


def test_bikes_pipeline_is_wired_from_the_bikes_config(bikes_config, tmp_path):
    components = _by_id(create_pipeline(bikes_config, span=2, span_rows=3))

    assert isinstance(components["schema"], SchemaGen)  # bikes names no schema
    assert components["example_gen"].exec_properties["input_base"] == str(
        tmp_path.resolve() / "data" / "bikes"
    )
    spec = FeatureSpec.from_custom_config(
        json.loads(components["transform"].exec_properties["custom_config"])
    )
    assert spec.label == "long_ride"
    assert spec.raw_names() == ["distance_km", "temperature", "station_id", "weather"]
    assert components["model_check"].exec_properties["label"] == "long_ride"
    assert components["model_check"].exec_properties["model_name"] == "bikes"
    assert components["anomaly_gate"].exec_properties["expected_num_examples"] == 3
    destination = json.loads(components["pusher"].exec_properties["push_destination"])
    assert destination["filesystem"]["base_directory"] == str(tmp_path.resolve() / "serving" / "bikes")
    passed = json_format.Parse(components["evaluator"].exec_properties["eval_config"], tfma.EvalConfig())
    assert [list(spec.feature_keys) for spec in passed.slicing_specs] == [[], ["weather"]]
    assert passed.model_specs[0].label_key == "long_ride"


def test_module_exposes_sixteen_stable_ids():
    assert len(COMPONENT_IDS) == len(set(COMPONENT_IDS)) == 16
    assert COMPONENT_IDS[0] == ComponentId.EXAMPLE_GEN and COMPONENT_IDS[-1] == ComponentId.PUSHER


# --- the training window ----------------------------------------------------------------------


def _windowed(config, window_spans):
    return config.model_copy(
        update={"training": config.training.model_copy(update={"window_spans": window_spans})}
    )


def test_a_window_feeds_transform_through_the_window_resolver(taxi_config, passed_components):
    pipeline = create_pipeline(_windowed(taxi_config, 3), span=5, span_rows=10)
    nodes = _by_id(pipeline)
    resolver = nodes[ComponentId.TRAINING_WINDOW_RESOLVER.value]

    _assert_component_ids(pipeline, passed_components, window_spans=3)
    assert resolver.exec_properties[RESOLVER_CONFIG] == {
        "span": 5,
        "window_spans": 3,
        "pipeline_name": "ml-lifecycle",
    }
    assert nodes["transform"].inputs["examples"].producer_component_id == resolver.id
    # Evaluation and the checks stay on this span's examples.
    for node_id in ("evaluator", "model_check", "concept_drift_check"):
        assert nodes[node_id].inputs["examples"].producer_component_id == "example_gen", node_id


def test_without_a_window_transform_reads_this_spans_examples(taxi_config):
    nodes = _by_id(create_pipeline(_windowed(taxi_config, 1), span=5, span_rows=10))

    assert ComponentId.TRAINING_WINDOW_RESOLVER.value not in nodes
    assert nodes["transform"].inputs["examples"].producer_component_id == "example_gen"


def test_a_gbt_evaluator_runs_in_memory_when_beam_uses_worker_processes(taxi_config):
    # TF-DF's ops are registered in the runner's process only.
    multi = taxi_config.model_copy(update={"beam": BeamConfig(mode="multi_processing")})
    gbt = multi.model_copy(update={"training": multi.training.model_copy(update={"model_family": "gbt"})})
    dnn = multi.model_copy(update={"training": multi.training.model_copy(update={"model_family": "dnn"})})

    gbt_evaluator = _by_id(create_pipeline(gbt, span=1, span_rows=10))["evaluator"]
    dnn_evaluator = _by_id(create_pipeline(dnn, span=1, span_rows=10))["evaluator"]

    def mode(component) -> str:
        # Beam reads its flags in order: the last --direct_running_mode wins.
        args = component.executor_spec.beam_pipeline_args
        modes = [a for a in args if a.startswith("--direct_running_mode=")]
        return modes[-1].split("=", 1)[1]

    assert mode(gbt_evaluator) == "in_memory"
    assert mode(dnn_evaluator) == "multi_processing"


def _without_packaging(args: list[str]) -> list[str]:
    """The mode's args: the DirectRunner's packaging arg (tested in tests/unit/config) left out."""
    packaging = [arg for arg in args if arg.startswith("--sdk_container_image=")]
    assert len(packaging) == 1, args
    return [arg for arg in args if arg not in packaging]
