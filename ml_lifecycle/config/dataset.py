"""The typed dataset config: where the data comes from, its label, feature types and span rule.

A dataset is configuration, never code: everything in `pipeline/`, `components/` and `models/`
reads feature names from a `DatasetConfig`.
"""

from __future__ import annotations

import datetime
import importlib.util
import math
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.base.names import internal_name
from ml_lifecycle.config.strict import StrictModel, parse_model, read_yaml

# Cells read as missing in every source column (`na_values` in the dataset YAML replaces the list).
DEFAULT_NA_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")


class LabelConfig(StrictModel):
    name: str
    # binary: a 0/1 label (sigmoid head, gated on AUC); multiclass: string or integer classes
    # (softmax head, gated on accuracy); regression: a number (linear head, gated on RMSE).
    task: Task = Task.BINARY
    # Multiclass only: the classes, in the order of the model's scores. Empty: inferred from the
    # prepared spans by `lifecycle schema bootstrap` and recorded in the schema, which then rules.
    classes: list[str] = Field(default_factory=list)
    # A pandas.eval expression over the source columns, e.g. "tips > 0.2 * fare". When empty the
    # source already has a column called `name` (0/1 for binary).
    expression: str = ""
    # Source columns the label is computed from: never features (checked), never in spans.
    drop_source_columns: list[str] = Field(default_factory=list)

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_as_text(cls, value: object) -> object:
        # Integer classes in YAML (`classes: [1, 2, 3]`) are compared with the cells' text.
        if isinstance(value, list):
            return [str(v) if isinstance(v, (int, str)) and not isinstance(v, bool) else v for v in value]
        return value

    @model_validator(mode="after")
    def _classes_for_task(self) -> LabelConfig:
        if self.classes and self.task is not Task.MULTICLASS:
            raise ValueError(f"label.classes applies to task 'multiclass' only (task is {self.task.value!r})")
        repeated = sorted({c for c in self.classes if self.classes.count(c) > 1})
        if repeated:
            raise ValueError(f"label.classes lists {repeated} more than once")
        if len(self.classes) == 1:
            raise ValueError("label.classes needs at least two classes")
        return self


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


# `spans.time_format`: epoch numbers (seconds or milliseconds), ISO-8601 text, or a strftime
# pattern such as "%d/%m/%Y %H:%M". `auto` takes epoch seconds when every cell is a number, else
# ISO-8601 dates or datetimes.
TIME_FORMATS = ("auto", "epoch_s", "epoch_ms", "iso")


class SpanConfig(StrictModel):
    time_column: str
    time_format: str = "auto"
    period: Literal["month", "quarter", "year"] = "quarter"
    # Span 1 is the period that contains this date; rows before it are rejected.
    origin: str

    @model_validator(mode="before")
    @classmethod
    def _time_unit_alias(cls, data: object) -> object:
        # `time_unit: s | ms` (configs written before time_format) reads as epoch_s / epoch_ms.
        if isinstance(data, dict) and "time_unit" in data:
            data = dict(data)
            unit = data.pop("time_unit")
            if "time_format" in data:
                raise ValueError("give spans.time_format only (time_unit is its older spelling)")
            if unit not in ("s", "ms"):
                raise ValueError(f"spans.time_unit must be 's' or 'ms', not {unit!r}")
            data["time_format"] = f"epoch_{unit}"
        return data

    @field_validator("time_format")
    @classmethod
    def _known_time_format(cls, value: str) -> str:
        if value in TIME_FORMATS or "%" in value:
            return value
        raise ValueError(
            f"expected one of {list(TIME_FORMATS)} or a strftime pattern such as '%d/%m/%Y', got {value!r}"
        )

    @field_validator("origin")
    @classmethod
    def _parseable_origin(cls, value: str) -> str:
        # An ISO date inside the years pandas holds (1677-09-21 to 2262-04-11) is one pandas
        # parses too: checked without importing pandas, which every config load would pay for.
        try:
            if 1678 <= datetime.date.fromisoformat(value).year <= 2261:
                return value
        except ValueError:
            pass
        # Anything else is checked with the parser `lifecycle data prepare` uses (pandas), so a
        # config that loads also prepares.
        import pandas as pd

        try:
            parsed = pd.Timestamp(value)
        except ValueError as error:  # OutOfBoundsDatetime (year 1000, 3000) is a ValueError too
            raise ValueError(f"expected a date such as '2013-01-01', got {value!r} ({error})") from error
        if pd.isna(parsed):
            raise ValueError(f"expected a date such as '2013-01-01', got {value!r}")
        return value


def check_drift_threshold(label: str, value: float) -> float:
    """A drift comparator's threshold; L-infinity and Jensen-Shannon divergence lie in [0, 1]."""
    if not 0 < value <= 1:
        raise ConfigError(
            f"{label} must be in (0, 1] (L-infinity and Jensen-Shannon divergence lie in [0, 1]), "
            f"not {value!r}"
        )
    return value


def check_examples_fraction(label: str, value: float) -> float:
    """A bound on a span's example count as a fraction of its baseline's: finite and >= 0."""
    if not (value >= 0 and math.isfinite(value)):
        raise ConfigError(f"{label} must be a finite fraction >= 0, not {value!r}")
    return value


def check_examples_fraction_band(
    min_fraction: float | None,
    max_fraction: float | None,
    labels: tuple[str, str] = ("min_fraction", "max_fraction"),
) -> None:
    """Both example-count bounds (None: unbounded), the lower one below the upper one; `labels`
    name the two in errors."""
    for label, value in zip(labels, (min_fraction, max_fraction), strict=True):
        if value is not None:
            check_examples_fraction(label, value)
    if min_fraction is not None and max_fraction is not None and min_fraction >= max_fraction:
        raise ConfigError(f"{labels[0]} {min_fraction} must be below {labels[1]} {max_fraction}")


class DriftThresholds(StrictModel):
    """Written into the curated schema by `lifecycle schema bootstrap`; the schema then rules."""

    categorical_l_infinity: float = 0.1
    # Jensen-Shannon on quantile histograms of ~700-row taxi spans moved up to 0.12 between
    # resamples of the same rows (a changed train/eval hash split); 0.15 clears that noise.
    numeric_jensen_shannon: float = 0.15
    # Example count of a span relative to its baseline span.
    min_examples_fraction: float = 0.5
    max_examples_fraction: float = 2.0

    # Checked at load, so the error names the YAML file and field rather than surfacing from
    # schema bootstrap.
    @field_validator("categorical_l_infinity", "numeric_jensen_shannon")
    @classmethod
    def _threshold(cls, value: float, info: ValidationInfo) -> float:
        return check_drift_threshold(info.field_name, value)

    @field_validator("min_examples_fraction", "max_examples_fraction")
    @classmethod
    def _fraction(cls, value: float, info: ValidationInfo) -> float:
        return check_examples_fraction(info.field_name, value)

    @model_validator(mode="after")
    def _examples_band(self) -> DriftThresholds:
        check_examples_fraction_band(
            self.min_examples_fraction,
            self.max_examples_fraction,
            ("min_examples_fraction", "max_examples_fraction"),
        )
        return self


class EvaluationConfig(StrictModel):
    slice_features: list[str] = Field(default_factory=list)


class DatasetConfig(StrictModel):
    name: str
    # Exactly one source: a CSV file or a glob of CSV files with one header (`raw/*.csv`), or a
    # Parquet file or a directory of Parquet files. `pkg://PACKAGE/PATH` points inside a package.
    source_csv: str | None = None
    source_parquet: str | None = None
    na_values: list[str] = Field(default_factory=lambda: list(DEFAULT_NA_VALUES))
    label: LabelConfig
    features: FeatureConfig
    spans: SpanConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    drift: DriftThresholds = DriftThresholds()
    # Curated schema (.pbtxt). None: the pipeline infers one with SchemaGen (bootstrap only).
    schema_path: str | None = Field(default=None, alias="schema")
    # Directory of the YAML file; relative paths resolve against it.
    base_dir: str = "."

    @field_validator("na_values", mode="before")
    @classmethod
    def _na_values_as_text(cls, value: object) -> object:
        # Numbers in YAML (`na_values: [-999]`) are compared as the text they are written as
        # (-999 -> '-999', -999.0 -> '-999.0'); booleans are left to be refused, as `yes` would
        # otherwise turn into 'True'.
        if isinstance(value, list):
            return [str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not value.replace("_", "").replace("-", "").isalnum():
            raise ValueError("name must be letters, digits, '-' or '_'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DatasetConfig:
        sources = [s for s in (self.source_csv, self.source_parquet) if s]
        if len(sources) != 1:
            raise ValueError(
                "give exactly one of source_csv (a CSV file or glob) and source_parquet (a Parquet "
                f"file or directory); got {len(sources)}"
            )
        names = self.features.all_names()
        if self.label.name in names:
            raise ValueError(f"label {self.label.name!r} is also listed as a feature")
        leaked = [c for c in self.label.drop_source_columns if c in names]
        if leaked:
            raise ValueError(
                f"label source column(s) {leaked} are also features: the label would leak into the inputs"
            )
        internal: dict[str, list[str]] = {}
        for name in dict.fromkeys(self.span_columns):
            internal.setdefault(internal_name(name), []).append(name)
        clashes = [columns for columns in internal.values() if len(columns) > 1]
        if clashes:
            raise ValueError(f"columns {clashes[0]} have the same internal name; rename one")
        unknown = [f for f in self.evaluation.slice_features if f not in names]
        if unknown:
            raise ValueError(f"evaluation.slice_features not among the features: {unknown}")
        return self

    @property
    def span_columns(self) -> list[str]:
        """Columns of a span CSV, in order: the features, then the label."""
        return self.features.all_names() + [self.label.name]

    @property
    def source(self) -> str:
        """The configured source as written (a CSV file or glob, or a Parquet file or directory)."""
        return self.source_csv or self.source_parquet or ""

    @property
    def source_key(self) -> str:
        return "source_csv" if self.source_csv else "source_parquet"

    def resolve_source(self) -> Path:
        """The source path (or glob pattern); `pkg://PACKAGE/PATH` points inside an installed package."""
        source = self.source
        if source.startswith("pkg://"):
            package, _, inner = source[len("pkg://") :].partition("/")
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise ConfigError(f"{self.source_key} {source}: package {package!r} not found")
            return Path(list(spec.submodule_search_locations)[0]) / inner
        return (Path(self.base_dir) / source).resolve()

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
