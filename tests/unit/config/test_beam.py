"""The Beam config (ml_lifecycle.config.beam): the direct runner's mode follows the span size,
each runner's options are checked when the config loads, and the Beam args it produces are ones
Beam itself parses into the intended options."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import (
    DirectOptions,
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    StandardOptions,
    WorkerOptions,
)
from pydantic import ValidationError

from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.beam import BeamConfig
from ml_lifecycle.config.project import load_config

DATAFLOW = {
    "project": "my-project",
    "region": "europe-west4",
    "temp_location": "gs://my-bucket/tmp",
}


def _error(**beam) -> str:
    with pytest.raises(ValidationError) as caught:
        BeamConfig.model_validate(beam)
    return str(caught.value)


def _options(args: list[str]) -> PipelineOptions:
    return PipelineOptions(args)


# ---------------------------------------------------------------- direct


def test_direct_is_the_default_and_adds_no_runner_flag():
    args = BeamConfig().pipeline_args(10)
    assert args == ["--direct_running_mode=in_memory"]
    assert _options(args).view_as(StandardOptions).runner is None  # Beam's default: DirectRunner


def test_direct_multi_processing_args_parse_as_direct_options():
    args = BeamConfig(mode="multi_processing", num_workers=2).pipeline_args(None)
    direct = _options(args).view_as(DirectOptions)
    assert (direct.direct_running_mode, direct.direct_num_workers) == ("multi_processing", 2)


def test_negative_worker_count_is_rejected():
    assert "num_workers" in _error(num_workers=-1)


@pytest.mark.parametrize("span_rows", [None, 0, 99])
def test_auto_mode_below_threshold_runs_in_memory(span_rows):
    beam = BeamConfig(auto_threshold_rows=100)

    assert beam.pipeline_args(span_rows) == ["--direct_running_mode=in_memory"]


@pytest.mark.parametrize("span_rows", [100, 5_000_000])
def test_auto_mode_at_or_above_threshold_runs_multi_processing(span_rows):
    beam = BeamConfig(auto_threshold_rows=100, num_workers=4)

    assert beam.pipeline_args(span_rows) == [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=4",
    ]


def test_default_auto_threshold_is_200k_rows():
    beam = BeamConfig()

    assert beam.pipeline_args(199_999) == ["--direct_running_mode=in_memory"]
    assert beam.pipeline_args(200_000)[0] == "--direct_running_mode=multi_processing"


def test_in_memory_mode_ignores_span_size():
    beam = BeamConfig(mode="in_memory", auto_threshold_rows=10)

    assert beam.pipeline_args(1_000_000) == ["--direct_running_mode=in_memory"]


def test_multi_processing_mode_ignores_span_size_and_passes_workers():
    beam = BeamConfig(mode="multi_processing", extra_args=["--direct_running_mode_extra=x"])

    assert beam.pipeline_args(None) == [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=0",
        "--direct_running_mode_extra=x",
    ]


def test_extra_args_are_appended_in_every_mode():
    beam = BeamConfig(extra_args=["--experiments=a", "--experiments=b"])

    assert beam.pipeline_args(1) == ["--direct_running_mode=in_memory", "--experiments=a", "--experiments=b"]


def test_unknown_beam_mode_is_rejected():
    with pytest.raises(ValidationError, match="mode"):
        BeamConfig(mode="dataflow")


# ---------------------------------------------------------------- dataflow


@pytest.mark.parametrize("missing", ["project", "region", "temp_location"])
def test_dataflow_names_each_missing_option(missing):
    dataflow = {k: v for k, v in DATAFLOW.items() if k != missing}
    message = _error(runner="dataflow", dataflow=dataflow)
    assert f"beam.runner 'dataflow' needs beam.dataflow.{missing}" in message


def test_dataflow_with_nothing_names_all_three():
    message = _error(runner="dataflow")
    assert "beam.dataflow.project, beam.dataflow.region, beam.dataflow.temp_location" in message
    assert "gs://" in message


@pytest.mark.parametrize("field", ["temp_location", "staging_location"])
def test_dataflow_locations_must_be_gcs(field):
    message = _error(runner="dataflow", dataflow=DATAFLOW | {field: "/tmp/beam"})
    assert f"beam.dataflow.{field} '/tmp/beam': expected a gs:// path" in message


def test_dataflow_start_workers_above_the_ceiling_is_rejected():
    message = _error(runner="dataflow", dataflow=DATAFLOW | {"num_workers": 10, "max_num_workers": 4})
    assert "beam.dataflow.num_workers 10 is above beam.dataflow.max_num_workers 4" in message


def test_direct_only_options_with_another_runner_are_rejected():
    message = _error(runner="dataflow", dataflow=DATAFLOW, mode="multi_processing")
    assert "beam.mode is for beam.runner 'direct' only (beam.runner is 'dataflow')" in message


def test_runner_in_extra_args_is_rejected():
    assert "choose it with beam.runner" in _error(extra_args=["--runner=DataflowRunner"])


def test_dataflow_args_parse_into_beam_google_cloud_and_worker_options():
    dataflow = DATAFLOW | {
        "staging_location": "gs://my-bucket/staging",
        "machine_type": "n2-standard-4",
        "num_workers": 2,
        "max_num_workers": 40,
        "autoscaling_algorithm": "THROUGHPUT_BASED",
        "disk_size_gb": 50,
        "service_account_email": "runner@my-project.iam.gserviceaccount.com",
        "subnetwork": "regions/europe-west4/subnetworks/default",
        "sdk_container_image": "europe-docker.pkg.dev/my-project/ml/ml-lifecycle:1",
    }
    beam = BeamConfig(runner="dataflow", dataflow=dataflow, extra_args=["--experiments=use_runner_v2"])
    # The span's size never changes a remote runner's args.
    args = beam.pipeline_args(10**9)
    assert args == beam.pipeline_args(1)
    options = _options(args)
    cloud, worker = options.view_as(GoogleCloudOptions), options.view_as(WorkerOptions)
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    assert (cloud.project, cloud.region) == ("my-project", "europe-west4")
    assert (cloud.temp_location, cloud.staging_location) == ("gs://my-bucket/tmp", "gs://my-bucket/staging")
    assert cloud.service_account_email == dataflow["service_account_email"]
    assert (worker.machine_type, worker.num_workers, worker.max_num_workers) == ("n2-standard-4", 2, 40)
    assert (worker.autoscaling_algorithm, worker.disk_size_gb) == ("THROUGHPUT_BASED", 50)
    assert worker.subnetwork == dataflow["subnetwork"]
    assert worker.sdk_container_image == dataflow["sdk_container_image"]
    assert args[-1] == "--experiments=use_runner_v2"
    # Every arg is one Beam knows: nothing would be dropped as unparseable.
    known = options.get_all_options(retain_unknown_options=False)
    assert all(arg.split("=", 1)[0].lstrip("-") in known for arg in args)


def test_dataflow_leaves_unset_options_to_dataflow():
    args = BeamConfig(runner="dataflow", dataflow=DATAFLOW).pipeline_args(None)
    assert args == [
        "--runner=DataflowRunner",
        "--project=my-project",
        "--region=europe-west4",
        "--temp_location=gs://my-bucket/tmp",
    ]


# ---------------------------------------------------------------- flink / spark (portable)


@pytest.mark.parametrize("runner", ["flink", "spark"])
def test_portable_runner_needs_a_job_endpoint(runner):
    message = _error(runner=runner)
    assert f"beam.runner '{runner}' needs beam.{runner}.job_endpoint: host:port" in message


@pytest.mark.parametrize("endpoint", ["localhost", "http://jobserver:8099", "jobserver:port"])
def test_portable_job_endpoint_must_be_host_and_port(endpoint):
    message = _error(runner="flink", flink={"job_endpoint": endpoint})
    assert f"beam.flink.job_endpoint {endpoint!r}: expected host:port" in message


@pytest.mark.parametrize("environment", ["EXTERNAL", "PROCESS"])
def test_external_and_process_environments_need_their_config(environment):
    message = _error(runner="spark", spark={"job_endpoint": "spark-js:8099", "environment_type": environment})
    assert f"beam.spark.environment_type '{environment}' needs beam.spark.environment_config" in message


def test_spark_rejects_flink_parallelism():
    message = _error(runner="spark", spark={"job_endpoint": "spark-js:8099", "parallelism": 8})
    assert "beam.spark.parallelism is a Flink option" in message


def test_flink_args_parse_into_portable_options():
    beam = BeamConfig(
        runner="flink",
        flink={
            "job_endpoint": "flink-jobserver:8099",
            "environment_type": "EXTERNAL",
            "environment_config": "localhost:50000",
            "parallelism": 8,
        },
    )
    options = _options(beam.pipeline_args(None))
    portable = options.view_as(PortableOptions)
    assert options.view_as(StandardOptions).runner == "PortableRunner"
    assert portable.job_endpoint == "flink-jobserver:8099"
    assert (portable.environment_type, portable.environment_config) == ("EXTERNAL", "localhost:50000")
    assert options.view_as(FlinkRunnerOptions).parallelism == 8


def test_spark_args_use_the_portable_runner_with_docker_workers_by_default():
    args = BeamConfig(runner="spark", spark={"job_endpoint": "10.0.0.5:8099"}).pipeline_args(None)
    assert args == ["--runner=PortableRunner", "--job_endpoint=10.0.0.5:8099", "--environment_type=DOCKER"]


# ---------------------------------------------------------------- from the project YAML


def test_yaml_error_names_the_file_and_the_missing_option(project_yaml):
    path = project_yaml({"beam": {"runner": "dataflow", "dataflow": {"project": "p"}}})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "beam.dataflow.region, beam.dataflow.temp_location" in message


def test_yaml_dataflow_config_loads_and_builds_args(project_yaml):
    path = project_yaml({"beam": {"runner": "dataflow", "dataflow": DATAFLOW | {"max_num_workers": 5}}})
    config = load_config(path)
    assert config.beam.pipeline_args(None)[-1] == "--max_num_workers=5"


def test_the_direct_runner_tells_tfx_not_to_package_itself():
    beam = BeamConfig()
    args = beam.pipeline_args(10)

    extra = beam.tfx_packaging_args(args)

    assert len(extra) == 1 and extra[0].startswith("--sdk_container_image=apache/beam_python3.")
    # TFX's own check, as its Beam executors run it: no sdist is built with these args.
    from tfx.utils import dependency_utils

    assert dependency_utils.make_beam_dependency_flags(args + extra) == args + extra


def test_packaging_is_left_to_the_user_on_other_runners_and_when_they_set_it():
    flink = BeamConfig(runner="flink", flink={"job_endpoint": "localhost:8099"})
    assert flink.tfx_packaging_args(flink.pipeline_args(10)) == []
    direct = BeamConfig(extra_args=["--setup_file=./setup.py"])
    assert direct.tfx_packaging_args(direct.pipeline_args(10)) == []
