"""The one typed pipeline config: loaded once from YAML (+ CLI flags), passed down, never global.

Every default lives here, so `make demo` needs no flags.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from ml_metadata.proto import metadata_store_pb2
from pydantic import Field, model_validator

from ml_lifecycle.base.contracts import COMPONENT_IDS, ComponentId, Task
from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.beam import BeamConfig
from ml_lifecycle.config.dataset import DatasetConfig, load_dataset_config
from ml_lifecycle.config.evaluation import EvaluationThresholds, Gate
from ml_lifecycle.config.serving import ServingConfig
from ml_lifecycle.config.strict import StrictModel, parse_model, read_yaml

DEFAULT_CONFIG_PATH = Path("lifecycle.yaml")


class KubeflowConfig(StrictModel):
    """`lifecycle compile --target kubeflow-v2`: a Kubeflow Pipelines v2 / Vertex AI Pipelines
    spec of the same pipeline. Local runs ignore this section.

    Paths are as the cluster sees them (gs://... on Vertex); empty ones keep the local value,
    which then has to exist inside the image or on a mounted volume."""

    # An image with requirements.lock and this project installed (`pip install -e .` of the repo).
    image: str = ""
    pipeline_root: str = ""  # required: artifacts of compiled runs, e.g. gs://bucket/pipelines
    data_root: str = ""  # the span-N/ CSV directories
    serving_root: str = ""  # the push destination (<serving_root>/<model_name>/<version>)
    schema_file: str = ""  # the curated schema.pbtxt
    display_name: str = ""  # default: pipeline_name

    @model_validator(mode="after")
    def _absolute_locations(self) -> KubeflowConfig:
        for name in ("pipeline_root", "data_root", "serving_root", "schema_file"):
            value = getattr(self, name)
            if value and "://" not in value and not value.startswith("/"):
                raise ValueError(
                    f"kubeflow.{name} {value!r}: expected a URI (gs://bucket/path) or an absolute "
                    "path inside the image (a relative path means nothing to a cluster)"
                )
        return self

    def missing_for_compile(self) -> list[str]:
        return [f"kubeflow.{name}" for name in ("image", "pipeline_root") if not getattr(self, name)]


class TrainingConfig(StrictModel):
    train_steps: int = 1000
    eval_steps: int = 150
    batch_size: int = 40
    learning_rate: float = 0.001
    hidden_units: list[int] = Field(default_factory=lambda: [100, 70, 50, 25])
    # Evaluation split share when ExampleGen hashes a span into train/eval.
    eval_buckets: int = 1
    train_buckets: int = 2
    # The model learns from spans current-N+1 .. current (those the store holds) and is
    # evaluated on the current span's eval split.
    # dnn: the wide-and-deep Keras network; gbt: gradient-boosted trees (TensorFlow Decision
    # Forests), which ignore the DNN's steps, batch size, learning rate and hidden units.
    # Defaults measured by benchmarks/window_spans.py on taxi spans 2-8 (README "Training on a
    # window of spans"): mean candidate AUC dnn:1 0.916, dnn:3 0.937, gbt:1 0.940, gbt:3 0.947,
    # with gbt runs no slower than the DNN's.
    window_spans: int = Field(3, ge=1)
    model_family: Literal["dnn", "gbt"] = "gbt"
    gbt_num_trees: int = Field(300, ge=1)
    gbt_max_depth: int = Field(6, ge=1)


class ModelCheckConfig(StrictModel):
    num_warmup_examples: int = 100


DEFAULT_CONCEPT_METRICS = {Task.BINARY: "auc", Task.MULTICLASS: "accuracy", Task.REGRESSION: "rmse"}
CONCEPT_METRICS_BY_TASK = {
    Task.BINARY: ("auc", "binary_accuracy"),
    Task.MULTICLASS: ("accuracy",),
    Task.REGRESSION: ("rmse", "mae"),
}


class DriftConfig(StrictModel):
    # Which span's statistics the current span is compared with: the span the currently pushed
    # model was trained on, the latest earlier span, or a pinned reference span.
    baseline: Literal["pushed", "previous", "pinned"] = "pushed"
    pinned_span: int | None = None
    # warn: record and continue; block: stop before Transform/Trainer when a feature drifts.
    policy: Literal["warn", "block"] = "warn"
    # Concept drift: the pushed model's metric on the new span vs at its blessing. Empty: the
    # task's (binary auc, multiclass accuracy, regression rmse).
    concept_metric: Literal["", "auc", "binary_accuracy", "accuracy", "rmse", "mae"] = ""
    # How much worse the metric may get: absolute for auc and the accuracies, a fraction of the
    # blessed value for rmse and mae (their scale is the label's).
    concept_max_drop: float = 0.05
    concept_max_relative_increase: float = Field(0.10, ge=0)

    def concept_metric_for(self, task: Task) -> str:
        return self.concept_metric or DEFAULT_CONCEPT_METRICS[task]

    @model_validator(mode="after")
    def _pinned(self) -> DriftConfig:
        if self.baseline == "pinned" and self.pinned_span is None:
            raise ValueError("drift.baseline 'pinned' needs drift.pinned_span")
        return self


class MetadataStoreConfig(StrictModel):
    """Where ML Metadata lives. SQLite (one file, `metadata_path`, under work_dir by default) is the
    default; `kind: mysql` is a store a team shares (MySQL or MariaDB), which also takes
    concurrent runs. The password is never in the YAML: it is read from the environment variable
    `password_env` names, when a connection is built."""

    kind: Literal["sqlite", "mysql"] = "sqlite"
    host: str = ""
    port: int = Field(default=3306, ge=1, le=65535)
    database: str = ""
    user: str = ""
    password_env: str = "LIFECYCLE_MYSQL_PASSWORD"

    @model_validator(mode="after")
    def _fields_for_kind(self) -> MetadataStoreConfig:
        if self.kind == "mysql":
            missing = [name for name in ("host", "database", "user") if not getattr(self, name)]
            if missing:
                raise ValueError(
                    f"kind 'mysql' needs {', '.join('metadata.' + name for name in missing)}"
                    " (host, port, database, user; the password comes from the environment"
                    f" variable metadata.password_env, now {self.password_env!r})"
                )
            if not self.password_env:
                raise ValueError("kind 'mysql' needs metadata.password_env: the environment variable name")
        else:
            stray = [name for name in ("host", "database", "user") if getattr(self, name)]
            if stray:
                raise ValueError(
                    f"{', '.join('metadata.' + name for name in stray)} only apply to kind 'mysql'"
                    " (the SQLite store is the file `metadata_path`)"
                )
        return self

    def mysql_password(self) -> str:
        """The password from the environment; unset is an error (an empty value is allowed)."""
        password = os.environ.get(self.password_env)
        if password is None:
            raise ConfigError(
                f"metadata.password_env: environment variable {self.password_env} is not set"
                f" (the password of MySQL user {self.user!r} at {self.host}:{self.port})"
            )
        return password

    def describe(self, sqlite_file: Path) -> str:
        """Where the store is, for messages: the SQLite path or mysql://user@host:port/database."""
        if self.kind == "mysql":
            return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"
        return str(sqlite_file)


class PipelineConfig(StrictModel):
    pipeline_name: str = "ml-lifecycle"
    dataset: DatasetConfig
    work_dir: str = "work"
    # Derived from work_dir when empty.
    data_root: str = ""
    pipeline_root: str = ""
    metadata_path: str = ""
    metadata: MetadataStoreConfig = MetadataStoreConfig()
    serving_root: str = ""
    model_name: str = ""
    enable_cache: bool = True
    beam: BeamConfig = BeamConfig()
    kubeflow: KubeflowConfig = KubeflowConfig()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationThresholds = EvaluationThresholds()
    model_check: ModelCheckConfig = ModelCheckConfig()
    drift: DriftConfig = DriftConfig()
    serving: ServingConfig = ServingConfig()

    @model_validator(mode="after")
    def _metrics_fit_the_task(self) -> PipelineConfig:
        task = self.dataset.label.task
        self.evaluation.check_task(task)
        concept = self.drift.concept_metric
        if concept and concept not in CONCEPT_METRICS_BY_TASK[task]:
            raise ValueError(
                f"drift.concept_metric {concept!r} does not apply to task {task.value!r}; expected one "
                f"of {list(CONCEPT_METRICS_BY_TASK[task])}"
            )
        return self

    @property
    def component_ids(self) -> tuple[str, ...]:
        """The pipeline's node ids in DAG order: every `COMPONENT_IDS` entry, the training-window
        resolver only when the model learns from more than one span."""
        if self.training.window_spans > 1:
            return COMPONENT_IDS
        return tuple(c for c in COMPONENT_IDS if c != ComponentId.TRAINING_WINDOW_RESOLVER)

    @property
    def task(self) -> Task:
        return self.dataset.label.task

    @property
    def gate(self) -> Gate:
        return self.evaluation.gate(self.task)

    def _under_work(self, value: str, *parts: str) -> Path:
        return Path(value) if value else Path(self.work_dir).joinpath(*parts)

    @property
    def data_root_path(self) -> Path:
        return self._under_work(self.data_root, "data", self.dataset.name).resolve()

    @property
    def pipeline_root_path(self) -> Path:
        return self._under_work(self.pipeline_root, "pipelines", self.pipeline_name).resolve()

    @property
    def metadata_file(self) -> Path:
        return self._under_work(self.metadata_path, "metadata.sqlite").resolve()

    def metadata_connection_config(self) -> metadata_store_pb2.ConnectionConfig:
        """The one place a store connection is built: runners, CLI and notebooks all use it.

        The store (SQLite file or MySQL database) is created on first use, as a run needs;
        `store.connection.open_store` turns creation off for readers. Raises ConfigError when
        the MySQL password variable is not set.
        """
        connection = metadata_store_pb2.ConnectionConfig()
        if self.metadata.kind == "mysql":
            store = self.metadata
            connection.mysql.host = store.host
            connection.mysql.port = store.port
            connection.mysql.database = store.database
            connection.mysql.user = store.user
            connection.mysql.password = store.mysql_password()
            return connection
        connection.sqlite.filename_uri = str(self.metadata_file)
        connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        return connection

    @property
    def serving_root_path(self) -> Path:
        return self._under_work(self.serving_root, "serving").resolve()

    @property
    def serving_model_name(self) -> str:
        return self.model_name or self.dataset.name

    @property
    def logs_dir(self) -> Path:
        return Path(self.work_dir).resolve() / "logs"

    @property
    def up_to_date_dir(self) -> Path:
        """Records of complete runs, one per span, that let `lifecycle run` skip a run nothing changed."""
        return Path(self.work_dir).resolve() / "up_to_date"


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> PipelineConfig:
    """Reads the project YAML (default ./lifecycle.yaml), resolving the dataset file it names.

    `overrides` (from CLI flags) replace top-level keys. Relative paths in the project YAML
    resolve against the YAML file's directory.
    """
    path = Path(path) if path else DEFAULT_CONFIG_PATH
    data = read_yaml(path)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    base = path.resolve().parent
    dataset_ref = data.get("dataset")
    if isinstance(dataset_ref, str):
        data["dataset"] = load_dataset_config(base / dataset_ref)
    elif not isinstance(dataset_ref, (dict, DatasetConfig)):
        raise ConfigError(f"{path}: 'dataset' must name a dataset YAML file")
    for key in ("work_dir", "data_root", "pipeline_root", "metadata_path", "serving_root"):
        value = data.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            data[key] = str(base / value)
    # Paths nested in the serving section resolve against the YAML's directory too.
    serving = data.get("serving")
    for keys in (("logging", "directory"), ("review", "queue_path"), ("state_dir",)):
        holder = serving
        for key in keys[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        value = holder.get(keys[-1]) if isinstance(holder, dict) else None
        if isinstance(value, str) and value and not os.path.isabs(value):
            holder[keys[-1]] = str(base / value)
    data.setdefault("work_dir", str(base / "work"))
    return parse_model(PipelineConfig, data, path)
