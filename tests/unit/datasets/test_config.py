"""Dataset and pipeline configs: loading, path resolution, and errors that name file and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.beam import BeamConfig
from ml_lifecycle.config.dataset import DatasetConfig, load_dataset_config
from ml_lifecycle.config.project import PipelineConfig, load_config

REPO_ROOT = Path(__file__).resolve().parents[3]
TAXI_CSV = "pkg://tfx/examples/chicago_taxi_pipeline/data/simple/data.csv"


def _error_in(path: Path, detail: str) -> str:
    """A `match` pattern: the message starts with the file path and contains `detail`."""
    return f"^{re.escape(str(path))}: .*{detail}"


# --- loading a dataset YAML -------------------------------------------------------------------


def test_load_dataset_config_reads_every_section(tiny_dataset_yaml):
    path = tiny_dataset_yaml()

    config = load_dataset_config(path)

    assert isinstance(config, DatasetConfig)
    assert config.name == "tiny"
    assert config.label.name == "big_tipper"
    assert config.label.expression == "tips > 0.2 * fare"
    assert config.label.drop_source_columns == ["tips"]
    assert config.features.numeric == ["fare"]
    assert config.features.categorical_string == ["payment"]
    assert config.features.bucket_count == 10  # a default
    assert config.spans.period == "quarter"
    assert config.spans.origin == "2013-01-01"
    assert config.evaluation.slice_features == ["hour"]
    assert config.schema_path is None
    assert config.resolve_schema() is None
    # base_dir defaults to the YAML's directory.
    assert Path(config.base_dir) == path.parent.resolve()


def test_span_columns_are_the_features_in_type_order_then_the_label(tiny_dataset_config):
    config = tiny_dataset_config()

    assert config.span_columns == ["fare", "lat", "hour", "payment", "big_tipper"]
    assert config.features.all_names() == ["fare", "lat", "hour", "payment"]


def test_relative_source_and_schema_resolve_against_the_yaml_directory(
    tmp_path, tiny_dataset_yaml, monkeypatch
):
    path = tiny_dataset_yaml(source_csv="raw/source.csv", schema="../schemas/tiny.pbtxt")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the current directory must not matter

    config = load_dataset_config(path)

    assert config.resolve_source() == (tmp_path / "raw" / "source.csv").resolve()
    assert config.resolve_schema() == (tmp_path.parent / "schemas" / "tiny.pbtxt").resolve()


def test_pkg_source_resolves_inside_the_installed_package(tiny_dataset_config):
    config = tiny_dataset_config(source_csv=TAXI_CSV)

    source = config.resolve_source()

    assert source.is_file()
    assert source.parts[-6:] == ("tfx", "examples", "chicago_taxi_pipeline", "data", "simple", "data.csv")


def test_pkg_source_of_a_missing_package_raises_naming_the_package(tiny_dataset_config):
    config = tiny_dataset_config(source_csv="pkg://no_such_package_xyz/data.csv")

    with pytest.raises(ConfigError, match="package 'no_such_package_xyz' not found"):
        config.resolve_source()


def test_repo_taxi_dataset_config_loads_and_its_files_exist():
    config = load_dataset_config(REPO_ROOT / "datasets" / "taxi.yaml")

    assert config.name == "taxi"
    assert config.label.name == "big_tipper"
    assert config.resolve_source().is_file()
    assert config.resolve_schema() == (REPO_ROOT / "schemas" / "taxi" / "schema.pbtxt").resolve()
    assert config.resolve_schema().is_file()


# --- ConfigError messages ---------------------------------------------------------------------


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nope.yaml"

    with pytest.raises(ConfigError, match=_error_in(path, "config file not found")):
        load_dataset_config(path)


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: tiny\nfeatures: [fare, lat\n")

    with pytest.raises(ConfigError, match=_error_in(path, "not valid YAML")):
        load_dataset_config(path)


def test_yaml_that_is_not_a_mapping_names_the_file(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- name\n- tiny\n")

    with pytest.raises(ConfigError, match=_error_in(path, "expected a mapping at the top level")):
        load_dataset_config(path)


def test_unknown_top_level_key_names_file_and_key(tiny_dataset_yaml):
    path = tiny_dataset_yaml(colour="red")

    with pytest.raises(ConfigError, match=_error_in(path, "colour: Extra inputs are not permitted")):
        load_dataset_config(path)


def test_unknown_nested_key_names_the_dotted_field(tiny_dataset_yaml, tiny_dataset_dict):
    features = dict(tiny_dataset_dict["features"], numerc=["trip_miles"])
    path = tiny_dataset_yaml(features=features)

    with pytest.raises(ConfigError, match=_error_in(path, r"features\.numerc: Extra inputs")):
        load_dataset_config(path)


def test_missing_required_section_names_the_field(tmp_path, tiny_dataset_dict, write_yaml):
    del tiny_dataset_dict["spans"]
    path = write_yaml(tmp_path / "nospans.yaml", tiny_dataset_dict)

    with pytest.raises(ConfigError, match=_error_in(path, "spans: Field required")):
        load_dataset_config(path)


@pytest.mark.parametrize(
    "features",
    [
        {"numeric": ["fare", "fare"]},  # twice under one type
        {"numeric": ["fare"], "bucketized": ["fare"]},  # under two types
    ],
)
def test_feature_listed_twice_names_the_feature(tiny_dataset_yaml, features):
    path = tiny_dataset_yaml(features=features, evaluation={})

    with pytest.raises(ConfigError, match=_error_in(path, r"features: .*more than one type: \['fare'\]")):
        load_dataset_config(path)


def test_no_features_is_rejected(tiny_dataset_yaml):
    path = tiny_dataset_yaml(features={}, evaluation={})

    with pytest.raises(ConfigError, match=_error_in(path, "features: .*no features configured")):
        load_dataset_config(path)


def test_label_listed_as_a_feature_names_the_label(tiny_dataset_yaml, tiny_dataset_dict):
    features = dict(tiny_dataset_dict["features"], numeric=["fare", "big_tipper"])
    path = tiny_dataset_yaml(features=features)

    with pytest.raises(ConfigError, match=_error_in(path, "label 'big_tipper' is also listed as a feature")):
        load_dataset_config(path)


def test_slice_feature_not_among_features_names_it(tiny_dataset_yaml):
    path = tiny_dataset_yaml(evaluation={"slice_features": ["hour", "company"]})

    with pytest.raises(
        ConfigError,
        match=_error_in(path, r"evaluation\.slice_features not among the features: \['company'\]"),
    ):
        load_dataset_config(path)


def test_invalid_span_period_names_the_field(tiny_dataset_yaml, tiny_dataset_dict):
    spans = dict(tiny_dataset_dict["spans"], period="week")
    path = tiny_dataset_yaml(spans=spans)

    with pytest.raises(ConfigError, match=_error_in(path, r"spans\.period: ")):
        load_dataset_config(path)


@pytest.mark.parametrize("name", ["tiny taxi", "../taxi", ""])
def test_unsafe_dataset_name_is_rejected(tiny_dataset_yaml, name):
    path = tiny_dataset_yaml(name=name)

    with pytest.raises(ConfigError, match=_error_in(path, "name: .*letters, digits")):
        load_dataset_config(path)


def test_dataset_config_is_frozen(tiny_dataset_config):
    config = tiny_dataset_config()

    with pytest.raises(ValidationError):
        config.name = "other"


# --- the project config (lifecycle.yaml) ------------------------------------------------------


def test_repo_lifecycle_yaml_loads_with_paths_under_work_dir():
    config = load_config(REPO_ROOT / "lifecycle.yaml")

    work = (REPO_ROOT / "work").resolve()
    assert Path(config.work_dir).resolve() == work
    assert config.dataset.name == "taxi"
    for derived in (
        config.data_root_path,
        config.pipeline_root_path,
        config.metadata_file,
        config.serving_root_path,
    ):
        assert derived.is_relative_to(work), derived
    assert config.data_root_path == work / "data" / "taxi"
    assert config.metadata_file == work / "metadata.sqlite"
    assert config.serving_root_path == work / "serving"
    assert config.pipeline_root_path == work / "pipelines" / config.pipeline_name
    assert config.serving_model_name == "taxi"


def test_overrides_replace_top_level_keys(tmp_path):
    overrides = {
        "work_dir": str(tmp_path),
        "pipeline_name": "nightly",
        "enable_cache": False,
        "model_name": "tips",
        "beam": {"mode": "multi_processing", "num_workers": 3},
        "serving_root": None,  # None means "not given": the default stays
    }

    config = load_config(REPO_ROOT / "lifecycle.yaml", overrides)

    assert config.work_dir == str(tmp_path)
    assert config.pipeline_name == "nightly"
    assert config.enable_cache is False
    assert config.serving_model_name == "tips"
    assert config.beam.mode == "multi_processing"
    assert config.data_root_path == tmp_path.resolve() / "data" / "taxi"
    assert config.metadata_file == tmp_path.resolve() / "metadata.sqlite"
    assert config.serving_root_path == tmp_path.resolve() / "serving"
    assert config.pipeline_root_path == tmp_path.resolve() / "pipelines" / "nightly"


def test_explicit_paths_win_over_work_dir_and_resolve_against_the_yaml(
    tmp_path, tiny_dataset_yaml, write_yaml, monkeypatch
):
    tiny_dataset_yaml()
    project = write_yaml(
        tmp_path / "lifecycle.yaml",
        {"dataset": "tiny.yaml", "work_dir": "w", "metadata_path": "store/mlmd.sqlite"},
    )
    monkeypatch.chdir(tmp_path.parent)

    config = load_config(project)

    assert config.dataset.name == "tiny"
    assert config.metadata_file == tmp_path.resolve() / "store" / "mlmd.sqlite"
    assert config.data_root_path == tmp_path.resolve() / "w" / "data" / "tiny"


def test_work_dir_defaults_next_to_the_project_yaml(tmp_path, tiny_dataset_yaml, write_yaml):
    tiny_dataset_yaml()
    project = write_yaml(tmp_path / "lifecycle.yaml", {"dataset": "tiny.yaml"})

    config = load_config(project)

    assert Path(config.work_dir) == tmp_path.resolve() / "work"
    assert config.logs_dir == tmp_path.resolve() / "work" / "logs"


def test_project_yaml_unknown_key_names_file_and_key(tmp_path, tiny_dataset_yaml, write_yaml):
    tiny_dataset_yaml()
    project = write_yaml(tmp_path / "lifecycle.yaml", {"dataset": "tiny.yaml", "epochs": 3})

    with pytest.raises(ConfigError, match=_error_in(project, "epochs: Extra inputs are not permitted")):
        load_config(project)


def test_project_yaml_dataset_must_name_a_file(tmp_path, write_yaml):
    project = write_yaml(tmp_path / "lifecycle.yaml", {"dataset": 5})

    with pytest.raises(ConfigError, match=_error_in(project, "'dataset' must name a dataset YAML file")):
        load_config(project)


def test_project_yaml_missing_dataset_file_names_the_dataset_file(tmp_path, write_yaml):
    project = write_yaml(tmp_path / "lifecycle.yaml", {"dataset": "missing.yaml"})

    with pytest.raises(ConfigError, match=_error_in(tmp_path / "missing.yaml", "config file not found")):
        load_config(project)


def test_missing_project_yaml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match=_error_in(tmp_path / "lifecycle.yaml", "config file not found")):
        load_config(tmp_path / "lifecycle.yaml")


def test_pipeline_config_accepts_an_already_loaded_dataset(tiny_dataset_config, tmp_path):
    config = PipelineConfig(dataset=tiny_dataset_config(), work_dir=str(tmp_path))

    assert config.data_root_path == tmp_path.resolve() / "data" / "tiny"
    assert config.training.train_steps == 1000
    assert config.evaluation.metric == "AUC"


# --- Beam arguments ---------------------------------------------------------------------------


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


def test_a_label_source_column_listed_as_a_feature_is_rejected(tiny_dataset_dict, write_yaml, tmp_path):
    from ml_lifecycle.base.errors import ConfigError
    from ml_lifecycle.config.dataset import load_dataset_config

    tiny_dataset_dict["features"]["numeric"].append("tips")
    path = write_yaml(tmp_path / "leaky.yaml", tiny_dataset_dict)

    with pytest.raises(ConfigError, match=r"leaky\.yaml: .*\['tips'\] are also features"):
        load_dataset_config(path)


def test_relative_serving_paths_resolve_against_the_project_yaml(tmp_path):
    from ml_lifecycle.config.project import load_config

    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "lifecycle.yaml").write_text(
        f"dataset: {REPO_ROOT / 'datasets' / 'taxi.yaml'}\n"
        "serving:\n"
        "  state_dir: state\n"
        "  logging: {directory: logs/predictions}\n"
        "  review: {queue_path: /abs/queue.sqlite}\n"
    )
    config = load_config(tmp_path / "project" / "lifecycle.yaml")
    assert config.serving.logging.directory == str(tmp_path / "project" / "logs" / "predictions")
    assert config.serving.state_dir == str(tmp_path / "project" / "state")
    assert config.serving.review.queue_path == "/abs/queue.sqlite"
