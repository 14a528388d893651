"""The one typed pipeline config: loaded once from YAML (+ CLI flags), passed down, never global.

Every default lives here, so `make demo` needs no flags.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from ml_metadata.proto import metadata_store_pb2
from pydantic import Field, model_validator

from datasets.config import (
    ConfigError,
    DatasetConfig,
    _Strict,
    load_dataset_config,
    parse_model,
    read_yaml,
)
from serving.config import ServingConfig

DEFAULT_CONFIG_PATH = Path("lifecycle.yaml")


class DataflowConfig(_Strict):
    """Google Cloud Dataflow (`beam.runner: dataflow`). Empty / 0 means Dataflow's own default."""

    project: str = ""
    region: str = ""
    # Dataflow workers cannot see this machine's disk: both must be gs:// paths.
    temp_location: str = ""
    staging_location: str = ""  # default: <temp_location>/staging, chosen by Beam
    machine_type: str = ""  # e.g. n2-standard-4
    num_workers: int = Field(default=0, ge=0)  # workers at start
    max_num_workers: int = Field(default=0, ge=0)  # autoscaling ceiling
    autoscaling_algorithm: Literal["", "THROUGHPUT_BASED", "NONE"] = ""
    disk_size_gb: int = Field(default=0, ge=0)
    service_account_email: str = ""
    network: str = ""
    subnetwork: str = ""
    # A custom SDK container (this project + its lock installed); default: Beam's own image.
    sdk_container_image: str = ""

    def missing_for_runner(self) -> list[str]:
        return [name for name in ("project", "region", "temp_location") if not getattr(self, name)]

    def pipeline_args(self) -> list[str]:
        args = [
            "--runner=DataflowRunner",
            f"--project={self.project}",
            f"--region={self.region}",
            f"--temp_location={self.temp_location}",
        ]
        optional = {
            "staging_location": self.staging_location,
            "machine_type": self.machine_type,
            "num_workers": self.num_workers,
            "max_num_workers": self.max_num_workers,
            "autoscaling_algorithm": self.autoscaling_algorithm,
            "disk_size_gb": self.disk_size_gb,
            "service_account_email": self.service_account_email,
            "network": self.network,
            "subnetwork": self.subnetwork,
            "sdk_container_image": self.sdk_container_image,
        }
        return args + [f"--{name}={value}" for name, value in optional.items() if value]


class PortableRunnerConfig(_Strict):
    """Flink or Spark through a Beam job server (`beam.runner: flink | spark`)."""

    job_endpoint: str = ""  # host:port of the running job server (Flink default port 8099)
    # Where the Python SDK workers run: DOCKER (a container per task manager / executor, the
    # image in environment_config or Beam's default), EXTERNAL (a worker pool at
    # environment_config's host:port) or PROCESS (environment_config: {"command": ...}).
    environment_type: Literal["DOCKER", "EXTERNAL", "PROCESS"] = "DOCKER"
    environment_config: str = ""
    parallelism: int = Field(default=0, ge=0)  # Flink only; 0 = the cluster's default

    def pipeline_args(self) -> list[str]:
        args = [
            "--runner=PortableRunner",
            f"--job_endpoint={self.job_endpoint}",
            f"--environment_type={self.environment_type}",
        ]
        if self.environment_config:
            args.append(f"--environment_config={self.environment_config}")
        if self.parallelism:
            args.append(f"--parallelism={self.parallelism}")
        return args


_ENDPOINT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


class BeamConfig(_Strict):
    """Which Beam runner does the data work of ExampleGen, StatisticsGen, Transform, Evaluator."""

    runner: Literal["direct", "dataflow", "flink", "spark"] = "direct"
    # DirectRunner only. auto: in-memory below `auto_threshold_rows`, multi-processing above.
    # Measured here: on a ~1k-row span, worker start-up makes multi-processing slower than
    # in-memory (benchmarks/scale.py and docs/scaling.md for larger spans).
    mode: Literal["auto", "in_memory", "multi_processing"] = "auto"
    num_workers: int = Field(default=0, ge=0)  # 0 = one per CPU
    auto_threshold_rows: int = Field(default=200_000, ge=0)
    dataflow: DataflowConfig = DataflowConfig()
    flink: PortableRunnerConfig = PortableRunnerConfig()
    spark: PortableRunnerConfig = PortableRunnerConfig()
    extra_args: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _options_for_runner(self) -> BeamConfig:
        runner = self.runner
        if any(arg.split("=", 1)[0] == "--runner" for arg in self.extra_args):
            raise ValueError("beam.extra_args sets --runner: choose it with beam.runner instead")
        direct_only = [
            name for name in ("mode", "num_workers", "auto_threshold_rows") if name in self.model_fields_set
        ]
        if runner != "direct" and direct_only:
            raise ValueError(
                f"{', '.join('beam.' + name for name in direct_only)} "
                f"{'is' if len(direct_only) == 1 else 'are'} for beam.runner 'direct' only"
                f" (beam.runner is {runner!r})"
            )
        if runner == "dataflow":
            missing = self.dataflow.missing_for_runner()
            if missing:
                raise ValueError(
                    f"beam.runner 'dataflow' needs {', '.join('beam.dataflow.' + name for name in missing)}"
                    " (project, region, and temp_location as a gs:// path)"
                )
            for name in ("temp_location", "staging_location"):
                value = getattr(self.dataflow, name)
                if value and not value.startswith("gs://"):
                    raise ValueError(
                        f"beam.dataflow.{name} {value!r}: expected a gs:// path (Dataflow workers "
                        "cannot read this machine's disk)"
                    )
            dataflow = self.dataflow
            if dataflow.max_num_workers and dataflow.num_workers > dataflow.max_num_workers:
                raise ValueError(
                    f"beam.dataflow.num_workers {dataflow.num_workers} is above "
                    f"beam.dataflow.max_num_workers {dataflow.max_num_workers}"
                )
        if runner in ("flink", "spark"):
            portable = getattr(self, runner)
            if not portable.job_endpoint:
                raise ValueError(
                    f"beam.runner {runner!r} needs beam.{runner}.job_endpoint: host:port of the "
                    f"running Beam {runner.capitalize()} job server (e.g. localhost:8099)"
                )
            if not _ENDPOINT.match(portable.job_endpoint):
                raise ValueError(
                    f"beam.{runner}.job_endpoint {portable.job_endpoint!r}: expected host:port, "
                    "e.g. flink-jobserver:8099"
                )
            if portable.environment_type in ("EXTERNAL", "PROCESS") and not portable.environment_config:
                expected = (
                    "the worker pool's host:port"
                    if portable.environment_type == "EXTERNAL"
                    else ('a JSON {"command": "/path/to/boot"}')
                )
                raise ValueError(
                    f"beam.{runner}.environment_type {portable.environment_type!r} needs "
                    f"beam.{runner}.environment_config: {expected}"
                )
            if runner == "spark" and portable.parallelism:
                raise ValueError("beam.spark.parallelism is a Flink option; Spark takes its executors' cores")
        return self

    def pipeline_args(self, span_rows: int | None) -> list[str]:
        """Beam pipeline args for every Beam-powered component; `span_rows` drives `mode: auto`."""
        if self.runner == "dataflow":
            return self.dataflow.pipeline_args() + list(self.extra_args)
        if self.runner in ("flink", "spark"):
            return getattr(self, self.runner).pipeline_args() + list(self.extra_args)
        mode = self.mode
        if mode == "auto":
            big = span_rows is not None and span_rows >= self.auto_threshold_rows
            mode = "multi_processing" if big else "in_memory"
        args = [f"--direct_running_mode={mode}"]
        if mode == "multi_processing":
            args.append(f"--direct_num_workers={self.num_workers}")
        return args + list(self.extra_args)


class KubeflowConfig(_Strict):
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


class TrainingConfig(_Strict):
    train_steps: int = 1000
    eval_steps: int = 150
    batch_size: int = 40
    learning_rate: float = 0.001
    hidden_units: list[int] = Field(default_factory=lambda: [100, 70, 50, 25])
    # Evaluation split share when ExampleGen hashes a span into train/eval.
    eval_buckets: int = 1
    train_buckets: int = 2


class EvaluationThresholds(_Strict):
    metric: str = "AUC"
    # The candidate needs at least this AUC ...
    min_value: float = 0.6
    # ... and may lose at most this much against the latest blessed model.
    max_drop: float = 0.02


class ModelCheckConfig(_Strict):
    num_warmup_examples: int = 100


class DriftConfig(_Strict):
    # Which span's statistics the current span is compared with: the span the currently pushed
    # model was trained on, the latest earlier span, or a pinned reference span.
    baseline: Literal["pushed", "previous", "pinned"] = "pushed"
    pinned_span: int | None = None
    # warn: record and continue; block: stop before Transform/Trainer when a feature drifts.
    policy: Literal["warn", "block"] = "warn"
    # Concept drift: the pushed model's metric on the new span vs at its blessing.
    concept_metric: Literal["auc", "binary_accuracy"] = "auc"
    concept_max_drop: float = 0.05

    @model_validator(mode="after")
    def _pinned(self) -> DriftConfig:
        if self.baseline == "pinned" and self.pinned_span is None:
            raise ValueError("drift.baseline 'pinned' needs drift.pinned_span")
        return self


class MetadataStoreConfig(_Strict):
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


class PipelineConfig(_Strict):
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
        `metadata.store.open_store` turns creation off for readers. Raises ConfigError when
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
