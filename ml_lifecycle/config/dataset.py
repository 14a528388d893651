"""The typed dataset config: where the data comes from, its label, feature types and span rule.

A dataset is configuration, never code: everything in `pipeline/`, `components/` and `models/`
reads feature names from a `DatasetConfig`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.strict import StrictModel, parse_model, read_yaml


class LabelConfig(StrictModel):
    name: str
    # A pandas.eval expression over the source columns, e.g. "tips > 0.2 * fare". When empty the
    # source already has a 0/1 column called `name`.
    expression: str = ""
    # Source columns the label is computed from: never features (checked), never in spans.
    drop_source_columns: list[str] = Field(default_factory=list)


class FeatureConfig(StrictModel):
    numeric: list[str] = Field(default_factory=list)
    bucketized: list[str] = Field(default_factory=list)
    categorical_int: list[str] = Field(default_factory=list)
    categorical_string: list[str] = Field(default_factory=list)
    bucket_count: int = 10
    vocab_size: int = 1000
    oov_buckets: int = 10
    # Integer categories are hashed into this many buckets (ids such as census tracts are large).
    int_hash_buckets: int = 100

    def all_names(self) -> list[str]:
        return self.numeric + self.bucketized + self.categorical_int + self.categorical_string

    @model_validator(mode="after")
    def _distinct(self) -> FeatureConfig:
        names = self.all_names()
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"features listed under more than one type: {repeated}")
        if not names:
            raise ValueError("no features configured")
        return self


class SpanConfig(StrictModel):
    time_column: str
    time_unit: Literal["s", "ms"] = "s"
    period: Literal["month", "quarter", "year"] = "quarter"
    # Span 1 is the period that contains this date; rows before it are rejected.
    origin: str


class DriftThresholds(StrictModel):
    """Written into the curated schema by `lifecycle schema bootstrap`; the schema then rules."""

    categorical_l_infinity: float = 0.1
    # Jensen-Shannon on quantile histograms of ~700-row taxi spans moved up to 0.12 between
    # resamples of the same rows (a changed train/eval hash split); 0.15 clears that noise.
    numeric_jensen_shannon: float = 0.15
    # Example count of a span relative to its baseline span.
    min_examples_fraction: float = 0.5
    max_examples_fraction: float = 2.0


class EvaluationConfig(StrictModel):
    slice_features: list[str] = Field(default_factory=list)


class DatasetConfig(StrictModel):
    name: str
    source_csv: str
    label: LabelConfig
    features: FeatureConfig
    spans: SpanConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    drift: DriftThresholds = DriftThresholds()
    # Curated schema (.pbtxt). None: the pipeline infers one with SchemaGen (bootstrap only).
    schema_path: str | None = Field(default=None, alias="schema")
    # Directory of the YAML file; relative paths resolve against it.
    base_dir: str = "."

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not value.replace("_", "").replace("-", "").isalnum():
            raise ValueError("name must be letters, digits, '-' or '_'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DatasetConfig:
        names = self.features.all_names()
        if self.label.name in names:
            raise ValueError(f"label {self.label.name!r} is also listed as a feature")
        leaked = [c for c in self.label.drop_source_columns if c in names]
        if leaked:
            raise ValueError(
                f"label source column(s) {leaked} are also features: the label would leak into the inputs"
            )
        unknown = [f for f in self.evaluation.slice_features if f not in names]
        if unknown:
            raise ValueError(f"evaluation.slice_features not among the features: {unknown}")
        return self

    @property
    def span_columns(self) -> list[str]:
        """Columns of a span CSV, in order: the features, then the label."""
        return self.features.all_names() + [self.label.name]

    def resolve_source(self) -> Path:
        """The source CSV path; `pkg://PACKAGE/PATH` points inside an installed package."""
        if self.source_csv.startswith("pkg://"):
            package, _, inner = self.source_csv[len("pkg://") :].partition("/")
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise ConfigError(f"source_csv {self.source_csv}: package {package!r} not found")
            return Path(list(spec.submodule_search_locations)[0]) / inner
        return (Path(self.base_dir) / self.source_csv).resolve()

    def resolve_schema(self) -> Path | None:
        if self.schema_path is None:
            return None
        return (Path(self.base_dir) / self.schema_path).resolve()


def load_dataset_config(path: str | Path) -> DatasetConfig:
    """Parses a dataset YAML file; errors name the file and the invalid field."""
    path = Path(path)
    data = read_yaml(path)
    data.setdefault("base_dir", str(path.resolve().parent))
    return parse_model(DatasetConfig, data, path)
