"""`compile_kubeflow_v2`: the pipeline `lifecycle run` executes, compiled offline into a KFP v2
job spec with TFX's KubeflowV2DagRunner, then read back as JSON and checked against the local DAG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_lifecycle.base.contracts import COMPONENT_IDS, ComponentId
from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.project import load_config
from ml_lifecycle.pipeline.pipeline import create_pipeline
from ml_lifecycle.pipeline.runners.kubeflow_v2 import compile_kubeflow_v2

REPO_ROOT = Path(__file__).resolve().parents[3]
SPAN, SPAN_ROWS = 3, 1078
IMAGE = "europe-docker.pkg.dev/my-project/ml/ml-lifecycle:1.0"
KUBEFLOW = {
    "image": IMAGE,
    "pipeline_root": "gs://my-bucket/pipelines",
    "data_root": "gs://my-bucket/data/taxi",
    "serving_root": "gs://my-bucket/serving",
    "schema_file": "gs://my-bucket/schemas/taxi/schema.pbtxt",
}
DATAFLOW = {
    "runner": "dataflow",
    "dataflow": {
        "project": "my-project",
        "region": "europe-west4",
        "temp_location": "gs://my-bucket/tmp",
        "max_num_workers": 20,
    },
}
BEAM_COMPONENTS = ("example_gen", "statistics_gen", "transform", "evaluator")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kfp")


@pytest.fixture(scope="module")
def config(work):
    return load_config(
        REPO_ROOT / "lifecycle.yaml", {"work_dir": str(work), "kubeflow": KUBEFLOW, "beam": DATAFLOW}
    )


@pytest.fixture(scope="module")
def compiled(config, work):
    return compile_kubeflow_v2(config, SPAN, work / "spec" / "pipeline.json", SPAN_ROWS)


@pytest.fixture(scope="module")
def spec(compiled) -> dict:
    # Read back from the file: what a user uploads to Vertex or KFP.
    return json.loads(compiled.path.read_text())


def _tasks(spec) -> dict:
    return spec["pipelineSpec"]["root"]["dag"]["tasks"]


def _node_of(task_name: str) -> str:
    # LatestBlessedModelStrategy compiles to two tasks, "<id>-model-blessing-resolver" and
    # "<id>-model-resolver"; component ids have no hyphen.
    return task_name.split("-", 1)[0]


def _parameter(spec, task: str, name: str):
    value = _tasks(spec)[task]["inputs"]["parameters"][name]["runtimeValue"]["constantValue"]
    return next(iter(value.values()))


def test_spec_is_a_kfp_v2_pipeline_job(spec, config):
    assert set(spec) == {"displayName", "labels", "pipelineSpec", "runtimeConfig"}
    assert spec["displayName"] == config.pipeline_name
    assert spec["pipelineSpec"]["pipelineInfo"]["name"] == config.pipeline_name
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == KUBEFLOW["pipeline_root"]


# A window of spans does not compile for Kubeflow (the compile note says so): no window resolver.
COMPILED_IDS = set(COMPONENT_IDS) - {ComponentId.TRAINING_WINDOW_RESOLVER.value}


def test_every_component_is_a_task(spec):
    nodes = {_node_of(name) for name in _tasks(spec)}
    assert nodes == COMPILED_IDS


def test_task_dependencies_equal_the_local_dag(spec, config):
    # Kubeflow compiles a window as one span (a note says so): the local DAG without a window.
    one_span = config.model_copy(update={"training": config.training.model_copy(update={"window_spans": 1})})
    local = create_pipeline(one_span, SPAN, SPAN_ROWS)
    upstream = {node.id: {up.id for up in node.upstream_nodes} for node in local.components}
    compiled = {}
    for name, task in _tasks(spec).items():
        compiled.setdefault(_node_of(name), set()).update(_node_of(t) for t in task.get("dependentTasks", []))
    assert compiled == upstream
    # The explicit orderings (no artifact between them) survive compilation too.
    assert "anomaly_gate" in compiled["transform"]
    assert "concept_drift_check" in compiled["trainer"]


def test_every_container_runs_the_configured_image_through_tfx(spec):
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    containers = {label: e["container"] for label, e in executors.items() if "container" in e}
    # Every component except the resolvers (queries the KFP backend runs) is a container.
    assert len(containers) == len(COMPILED_IDS) - 3
    for container in containers.values():
        assert container["image"] == IMAGE
        assert container["command"][-1] == "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"


@pytest.mark.parametrize("component", BEAM_COMPONENTS)
def test_beam_components_get_the_configured_runner_args(spec, config, component):
    args = spec["pipelineSpec"]["deploymentSpec"]["executors"][f"{component}_executor"]["container"]["args"]
    expected = config.beam.pipeline_args(SPAN_ROWS)
    assert expected[0] == "--runner=DataflowRunner"
    assert args[-len(expected) :] == expected


def test_parameters_point_at_the_cluster_locations_and_the_span(spec):
    assert _parameter(spec, "example_gen", "input_base") == KUBEFLOW["data_root"]
    assert json.loads(_parameter(spec, "example_gen", "range_config")) == {
        "static_range": {"start_span_number": SPAN, "end_span_number": SPAN}
    }
    assert _parameter(spec, "schema", "schema_file") == KUBEFLOW["schema_file"]
    destination = json.loads(_parameter(spec, "pusher", "push_destination"))
    assert destination["filesystem"]["base_directory"] == "gs://my-bucket/serving/taxi"
    assert int(_parameter(spec, "anomaly_gate", "expected_num_examples")) == SPAN_ROWS
    assert int(_parameter(spec, "drift_validator", "span")) == SPAN


def test_no_path_of_this_machine_leaks_into_the_spec(compiled, work):
    text = compiled.path.read_text()
    assert str(work) not in text
    assert str(REPO_ROOT) not in text


def test_resolvers_compile_to_the_nearest_backend_query_and_say_so(spec, compiled):
    notes = "\n".join(compiled.notes)
    for resolver in (
        "baseline_statistics_resolver",
        "pushed_model_resolver",
        "latest_blessed_model_resolver",
    ):
        assert resolver in notes
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    assert "resolver" in executors["baseline_statistics_resolver_executor"]
    assert "resolver" in executors["latest_blessed_model_resolver-model-resolver_executor"]


def test_custom_artifact_types_are_titled_by_import_path(spec):
    outputs = spec["pipelineSpec"]["components"]["drift_validator"]["outputDefinitions"]["artifacts"]
    assert outputs["report"]["artifactType"]["instanceSchema"].startswith("title: ml_lifecycle.DriftReport\n")
    outputs = spec["pipelineSpec"]["components"]["concept_drift_check"]["outputDefinitions"]["artifacts"]
    assert outputs["report"]["artifactType"]["instanceSchema"].startswith(
        "title: ml_lifecycle.ConceptDriftReport\n"
    )


def test_compiling_leaves_local_pipelines_and_types_alone(compiled, config):
    from tfx.orchestration.kubeflow.v2 import compiler_utils

    from ml_lifecycle.components.artifacts import DriftReport
    from ml_lifecycle.components.baseline_resolver.strategy import BaselineStatisticsStrategy

    assert DriftReport.TYPE_NAME == "DriftReport"
    assert compiler_utils.get_artifact_schema.__module__ == compiler_utils.__name__
    local = {node.id: node for node in create_pipeline(config, SPAN, SPAN_ROWS).components}
    assert (
        local["baseline_statistics_resolver"].exec_properties["resolver_class"] is BaselineStatisticsStrategy
    )
    assert local["example_gen"].exec_properties["input_base"] == str(config.data_root_path)
    assert create_pipeline(config, SPAN, SPAN_ROWS).metadata_connection_config is not None


def test_yaml_output(config, work):
    compiled = compile_kubeflow_v2(config, SPAN, work / "spec.yaml", SPAN_ROWS)
    import yaml

    document = yaml.safe_load(compiled.path.read_text())
    assert {_node_of(name) for name in document["root"]["dag"]["tasks"]} == COMPILED_IDS


def test_missing_image_and_root_are_named(work):
    config = load_config(REPO_ROOT / "lifecycle.yaml", {"work_dir": str(work)})
    with pytest.raises(ConfigError, match=r"needs kubeflow\.image, kubeflow\.pipeline_root"):
        compile_kubeflow_v2(config, SPAN, work / "never.json")
    assert not (work / "never.json").exists()


def test_unknown_output_suffix_is_rejected(config, work):
    with pytest.raises(ConfigError, match=r"expected a \.json or \.yaml file name"):
        compile_kubeflow_v2(config, SPAN, work / "spec.txt")


def test_a_training_window_compiles_to_one_span_and_says_so(config, work):
    windowed = config.model_copy(update={"training": config.training.model_copy(update={"window_spans": 3})})

    compiled = compile_kubeflow_v2(windowed, SPAN, work / "spec" / "windowed.json", SPAN_ROWS)

    assert {_node_of(name) for name in compiled.tasks} == COMPILED_IDS
    assert compiled.notes[0] == (
        "training.window_spans 3 -> 1: Kubeflow v2 cannot resolve a window of spans; the model trains "
        "on this span only"
    )
