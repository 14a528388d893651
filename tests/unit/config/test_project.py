"""The project config (ml_lifecycle.config.project: PipelineConfig, load_config): lifecycle.yaml,
overrides, derived paths, the Kubeflow and metadata store sections, and errors naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ml_lifecycle.base.contracts import COMPONENT_IDS, Task
from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.evaluation import EvaluationThresholds
from ml_lifecycle.config.project import KubeflowConfig, PipelineConfig, load_config

REPO_ROOT = Path(__file__).resolve().parents[3]

# --- lifecycle.yaml and overrides -------------------------------------------------------------


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


def test_relative_serving_paths_resolve_against_the_project_yaml(tmp_path):
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


def test_pipeline_config_accepts_an_already_loaded_dataset(tiny_dataset_config, tmp_path):
    config = PipelineConfig(dataset=tiny_dataset_config(), work_dir=str(tmp_path))

    assert config.data_root_path == tmp_path.resolve() / "data" / "tiny"
    assert config.training.train_steps == 1000
    assert config.gate.metric == "AUC"


# --- ConfigError messages ---------------------------------------------------------------------


def test_project_yaml_unknown_key_names_file_and_key(tmp_path, tiny_dataset_yaml, write_yaml, error_in):
    tiny_dataset_yaml()
    project = write_yaml(tmp_path / "lifecycle.yaml", {"dataset": "tiny.yaml", "epochs": 3})

    with pytest.raises(ConfigError, match=error_in(project, "epochs: Extra inputs are not permitted")):
        load_config(project)


def test_project_yaml_dataset_must_name_a_file(tmp_path, write_yaml, error_in):
    project = write_yaml(tmp_path / "lifecycle.yaml", {"dataset": 5})

    with pytest.raises(ConfigError, match=error_in(project, "'dataset' must name a dataset YAML file")):
        load_config(project)


def test_project_yaml_missing_dataset_file_names_the_dataset_file(tmp_path, write_yaml, error_in):
    project = write_yaml(tmp_path / "lifecycle.yaml", {"dataset": "missing.yaml"})

    with pytest.raises(ConfigError, match=error_in(tmp_path / "missing.yaml", "config file not found")):
        load_config(project)


def test_missing_project_yaml_names_the_file(tmp_path, error_in):
    with pytest.raises(ConfigError, match=error_in(tmp_path / "lifecycle.yaml", "config file not found")):
        load_config(tmp_path / "lifecycle.yaml")


# --- the Kubeflow section ---------------------------------------------------------------------


def test_kubeflow_locations_must_be_uris_or_absolute():
    with pytest.raises(ValidationError) as caught:
        KubeflowConfig(pipeline_root="pipelines/root")
    assert "kubeflow.pipeline_root 'pipelines/root': expected a URI" in str(caught.value)
    assert KubeflowConfig(pipeline_root="gs://b/root", data_root="/mnt/data").data_root == "/mnt/data"
    assert KubeflowConfig().missing_for_compile() == ["kubeflow.image", "kubeflow.pipeline_root"]


# --- the metadata store section (SQLite default, MySQL password from the environment) ---------

MYSQL = {"kind": "mysql", "host": "db.internal", "port": 3307, "database": "mlmd", "user": "team"}


def _config_with_store(tmp_path, metadata=None):
    """The repo's project config in tmp_path, with `metadata` as its metadata section."""
    overrides = {"work_dir": str(tmp_path)}
    if metadata is not None:
        overrides["metadata"] = metadata
    return load_config(REPO_ROOT / "lifecycle.yaml", overrides)


def test_default_store_is_the_sqlite_file_under_work_dir(tmp_path):
    config = _config_with_store(tmp_path)

    connection = config.metadata_connection_config()

    assert config.metadata.kind == "sqlite"
    assert connection.WhichOneof("config") == "sqlite"
    assert connection.sqlite.filename_uri == str(tmp_path.resolve() / "metadata.sqlite")
    assert config.metadata.describe(config.metadata_file) == str(tmp_path.resolve() / "metadata.sqlite")


def test_mysql_connection_takes_the_password_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_MYSQL_PASSWORD", "s3cret")
    config = _config_with_store(tmp_path, MYSQL)

    connection = config.metadata_connection_config()

    assert connection.WhichOneof("config") == "mysql"
    assert (connection.mysql.host, connection.mysql.port) == ("db.internal", 3307)
    assert (connection.mysql.database, connection.mysql.user) == ("mlmd", "team")
    assert connection.mysql.password == "s3cret"
    # Runs may create the database; readers (open_store) turn that off.
    assert not connection.mysql.skip_db_creation
    assert config.metadata.describe(config.metadata_file) == "mysql://team@db.internal:3307/mlmd"


def test_password_env_names_another_variable_and_the_port_defaults_to_3306(tmp_path, monkeypatch):
    monkeypatch.setenv("TEAM_MLMD_PASSWORD", "")  # set but empty: a server without a password
    metadata = {k: v for k, v in MYSQL.items() if k != "port"} | {"password_env": "TEAM_MLMD_PASSWORD"}

    connection = _config_with_store(tmp_path, metadata).metadata_connection_config()

    assert connection.mysql.port == 3306
    assert connection.mysql.password == ""


def test_unset_password_variable_is_a_config_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.delenv("LIFECYCLE_MYSQL_PASSWORD", raising=False)
    config = _config_with_store(tmp_path, MYSQL)

    with pytest.raises(ConfigError, match="environment variable LIFECYCLE_MYSQL_PASSWORD is not set"):
        config.metadata_connection_config()


@pytest.mark.parametrize("missing", ["host", "database", "user"])
def test_mysql_without_a_required_field_names_it(tmp_path, missing):
    metadata = {k: v for k, v in MYSQL.items() if k != missing}

    with pytest.raises(ConfigError, match=f"kind 'mysql' needs metadata.{missing}"):
        _config_with_store(tmp_path, metadata)


def test_mysql_fields_on_a_sqlite_store_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="metadata.host only apply to kind 'mysql'"):
        _config_with_store(tmp_path, {"host": "db.internal"})


@pytest.mark.parametrize("bad", [{"port": 0}, {"port": 70000}, {"kind": "postgres"}, {"pasword_env": "X"}])
def test_bad_values_and_unknown_keys_are_rejected(tmp_path, bad):
    with pytest.raises(ConfigError, match="metadata"):
        _config_with_store(tmp_path, MYSQL | bad)


def test_mysql_section_in_the_project_yaml(project_yaml, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_MYSQL_PASSWORD", "pw")
    project = project_yaml({"metadata": MYSQL})

    config = load_config(project)

    assert config.metadata.kind == "mysql"
    assert config.metadata_connection_config().mysql.host == "db.internal"


# --- the gate per task ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "metric", "higher_is_better", "bound", "max_drop", "max_relative_drop"),
    [
        ("binary", "AUC", True, 0.6, 0.02, None),
        ("multiclass", "SparseCategoricalAccuracy", True, 0.5, 0.02, None),
        ("regression", "RootMeanSquaredError", False, None, None, 0.05),
    ],
)
def test_each_task_has_its_default_gate(
    tiny_dataset_config, tmp_path, task, metric, higher_is_better, bound, max_drop, max_relative_drop
):
    dataset = tiny_dataset_config()
    dataset = dataset.model_copy(update={"label": dataset.label.model_copy(update={"task": task})})
    gate = PipelineConfig(dataset=dataset, work_dir=str(tmp_path)).gate

    assert (gate.metric, gate.higher_is_better) == (metric, higher_is_better)
    assert (gate.value_bound, gate.max_drop, gate.max_relative_drop) == (bound, max_drop, max_relative_drop)


def test_another_metric_starts_without_the_default_metrics_bounds():
    gate = EvaluationThresholds(metric="MeanAbsoluteError", max_value=3.0).gate(Task.REGRESSION)

    assert (gate.metric, gate.higher_is_better, gate.value_bound) == ("MeanAbsoluteError", False, 3.0)
    assert (gate.max_drop, gate.max_relative_drop) == (None, None)


def test_a_floor_on_a_lower_is_better_metric_is_refused():
    with pytest.raises(ValueError, match="RootMeanSquaredError is lower-is-better: give evaluation.max_"):
        EvaluationThresholds(metric="RootMeanSquaredError", min_value=1.0)


def test_a_concept_metric_of_another_task_is_refused(tiny_dataset_config, tmp_path):
    with pytest.raises(ValueError, match="drift.concept_metric 'rmse' does not apply to task 'binary'"):
        PipelineConfig(
            dataset=tiny_dataset_config(), work_dir=str(tmp_path), drift={"concept_metric": "rmse"}
        )


def test_an_unknown_gate_metric_is_refused():
    with pytest.raises(ValueError, match="evaluation.metric 'AUCC' is not one of"):
        EvaluationThresholds(metric="AUCC", min_value=0.7)


def test_a_gate_metric_without_bound_or_allowance_is_refused():
    with pytest.raises(ValueError, match="needs a bound .* or an allowance"):
        EvaluationThresholds(metric="BinaryAccuracy")


def test_cross_entropy_gates_lower_is_better():
    gate = EvaluationThresholds(metric="BinaryCrossentropy", max_value=0.5).gate(Task.BINARY)

    assert (gate.higher_is_better, gate.value_bound) == (False, 0.5)


def test_a_floor_on_the_default_regression_gate_is_refused(tiny_dataset_config, tmp_path):
    dataset = tiny_dataset_config()
    dataset = dataset.model_copy(update={"label": dataset.label.model_copy(update={"task": Task.REGRESSION})})

    with pytest.raises(ValueError, match="evaluation.min_value does not apply to regression's gate"):
        PipelineConfig(dataset=dataset, work_dir=str(tmp_path), evaluation={"min_value": 0.9})


def test_a_negative_allowance_is_refused():
    with pytest.raises(ValueError, match="evaluation.max_drop must be >= 0"):
        EvaluationThresholds(max_drop=-0.1)


def test_the_window_resolver_is_a_node_only_with_a_window(tiny_dataset_config, tmp_path):
    dataset, work = tiny_dataset_config(), str(tmp_path)
    one = PipelineConfig(dataset=dataset, work_dir=work, training={"window_spans": 1})
    three = PipelineConfig(dataset=dataset, work_dir=work, training={"window_spans": 3})

    assert "training_window_resolver" not in one.component_ids
    assert three.component_ids == COMPONENT_IDS
    assert len(one.component_ids) == len(COMPONENT_IDS) - 1
