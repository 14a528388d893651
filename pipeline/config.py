"""The one typed pipeline config: loaded once from YAML (+ CLI flags), passed down, never global.

Every default lives here, so `make demo` needs no flags.
"""

from __future__ import annotations

import os
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


class BeamConfig(_Strict):
    # auto: in-memory below `auto_threshold_rows`, multi-processing above. Measured here: on a
    # ~1k-row span, worker start-up makes multi-processing slower than in-memory.
    mode: Literal["auto", "in_memory", "multi_processing"] = "auto"
    num_workers: int = 0  # 0 = one per CPU
    auto_threshold_rows: int = 200_000
    extra_args: list[str] = Field(default_factory=list)

    def pipeline_args(self, span_rows: int | None) -> list[str]:
        mode = self.mode
        if mode == "auto":
            big = span_rows is not None and span_rows >= self.auto_threshold_rows
            mode = "multi_processing" if big else "in_memory"
        args = [f"--direct_running_mode={mode}"]
        if mode == "multi_processing":
            args.append(f"--direct_num_workers={self.num_workers}")
        return args + list(self.extra_args)


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
    """Where ML Metadata lives. SQLite (one file under work_dir) is the default."""

    kind: Literal["sqlite"] = "sqlite"


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
        """The one place a store connection is built: runners, CLI and notebooks all use it."""
        connection = metadata_store_pb2.ConnectionConfig()
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
    data.setdefault("work_dir", str(base / "work"))
    return parse_model(PipelineConfig, data, path)
