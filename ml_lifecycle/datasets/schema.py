"""Bootstrap a curated schema: TFDV's inferred schema plus the rules a person would add by hand.

Used once per dataset (`lifecycle schema bootstrap`); the result is committed under `schemas/`
and edited there. The rules: TRAINING and SERVING environments with the label absent in SERVING,
integer categories marked categorical, the label's domain by task ({0, 1} for binary; the classes
for multiclass, recorded as the schema's string domain named after the label; FLOAT for
regression), and string domains that tolerate a small mass of unseen values.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from ml_lifecycle.base.contracts import SchemaEnvironment, Task
from ml_lifecycle.base.errors import DataError
from ml_lifecycle.base.text import ascii_digits
from ml_lifecycle.config.dataset import DatasetConfig
from ml_lifecycle.datasets.check import check_span
from ml_lifecycle.datasets.schema_comparators import add_drift_comparators
from ml_lifecycle.datasets.schema_file import record_label_classes


def curate_label(
    schema: schema_pb2.Schema, label: schema_pb2.Feature, task: Task, classes: list[str]
) -> None:
    """The label's type and domain for its task (in place)."""
    label.presence.min_fraction = 1.0
    if task is Task.REGRESSION:
        label.type = schema_pb2.FLOAT
        label.ClearField("domain_info")
        return
    if task is Task.BINARY:
        label.type = schema_pb2.INT
        label.int_domain.min = 0
        label.int_domain.max = 1
        return
    if not classes:
        raise DataError(f"label {label.name!r}: no classes to record (no labelled rows in the spans?)")
    record_label_classes(schema, label.name, classes)
    if label.type == schema_pb2.INT and all(_is_integer(c) for c in classes):
        # TFDV checks an INT feature's range only; the anomaly gate checks the classes themselves.
        label.int_domain.min = min(int(c) for c in classes)
        label.int_domain.max = max(int(c) for c in classes)
        label.int_domain.is_categorical = True
    else:
        # String classes: TFDV flags a value outside the domain (the run stops at the gate).
        label.type = schema_pb2.BYTES
        label.domain = label.name


def _is_integer(text: str) -> bool:
    return ascii_digits(text.lstrip("+-"))


def infer_classes(values: list[str]) -> list[str]:
    """Classes in a stable order: numerically when every class is an integer, else as text."""
    distinct = sorted(set(values))
    if distinct and all(_is_integer(v) for v in distinct):
        return sorted(distinct, key=int)
    return distinct


def span_label_values(config: DatasetConfig, data_root: Path) -> list[str]:
    """Every label cell of the prepared spans, as text."""
    import pandas as pd

    values: list[str] = []
    for path in sorted(Path(data_root).glob("span-*/*.csv")):
        column = pd.read_csv(path, usecols=[config.label.name], dtype=str, keep_default_na=False)
        values.extend(v for v in column[config.label.name].tolist() if v != "")
    return values


def curate_schema(
    inferred: schema_pb2.Schema,
    config: DatasetConfig,
    min_domain_mass: float = 0.99,
    classes: list[str] | None = None,
) -> schema_pb2.Schema:
    """Applies the curation rules to an inferred schema (pure: returns a new proto).

    Drift comparators come from `config.drift`: L-infinity for categorical features,
    Jensen-Shannon divergence for numeric ones, and an example-count band for the dataset.
    """
    schema = schema_pb2.Schema()
    schema.CopyFrom(inferred)
    del schema.default_environment[:]
    schema.default_environment.extend([SchemaEnvironment.TRAINING, SchemaEnvironment.SERVING])
    by_name = {feature.name: feature for feature in schema.feature}
    missing = [n for n in config.span_columns if n not in by_name]
    if missing:
        raise DataError(f"statistics have no feature(s) {missing}; cannot curate a schema")
    label = by_name[config.label.name]
    label.not_in_environment.append(SchemaEnvironment.SERVING)
    curate_label(schema, label, config.label.task, list(config.label.classes or classes or []))
    for name in config.features.categorical_int:
        feature = by_name[name]
        feature.type = schema_pb2.INT
        feature.int_domain.is_categorical = True
    for name in config.features.categorical_string:
        feature = by_name[name]
        feature.distribution_constraints.min_domain_mass = min_domain_mass
    for name in config.features.numeric + config.features.bucketized:
        by_name[name].type = schema_pb2.FLOAT
    for feature in schema.feature:
        # CsvExampleGen writes an empty cell as a feature with no values, not an absent one.
        if feature.presence.min_fraction < 1.0 and feature.HasField("value_count"):
            feature.value_count.min = 0
    features, drift = config.features, config.drift
    schema = add_drift_comparators(
        schema,
        categorical_features=features.categorical_int + features.categorical_string,
        numeric_features=features.numeric + features.bucketized,
        categorical_threshold=drift.categorical_l_infinity,
        numeric_threshold=drift.numeric_jensen_shannon,
        min_fraction=drift.min_examples_fraction,
        max_fraction=drift.max_examples_fraction,
    )
    for feature in schema.feature:
        if feature.drift_comparator.HasField("jensen_shannon_divergence"):
            # Quantile histograms: on taxi spans the default (equal-width) histograms moved with
            # a few outliers (trip_miles JSD 0.43 between adjacent quarters at PSI 0.04).
            feature.drift_comparator.jensen_shannon_divergence.source.type = (
                schema_pb2.HistogramSelection.QUANTILES
            )
    return schema


def span_statistics(config: DatasetConfig, data_root: Path) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV statistics over every prepared span, decoded as CsvExampleGen decodes them."""
    spans = sorted(int(p.name.split("-", 1)[1]) for p in Path(data_root).glob("span-*") if p.is_dir())
    if not spans:
        raise DataError(f"no spans under {data_root}; run `lifecycle data prepare` first")
    for span in spans:
        check_span(config, data_root, span)
    return tfdv.generate_statistics_from_csv(data_location=str(Path(data_root) / "span-*" / "*.csv"))


def write_schema(schema: schema_pb2.Schema, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tfdv.write_schema_text(schema, str(path))


def bootstrap_schema(config: DatasetConfig, data_root: Path, out: Path) -> schema_pb2.Schema:
    """Infers a schema from all prepared spans, curates it and writes it to `out` (.pbtxt)."""
    statistics = span_statistics(config, data_root)
    classes = None
    if config.label.task is Task.MULTICLASS and not config.label.classes:
        classes = infer_classes(span_label_values(config, data_root))
    schema = curate_schema(tfdv.infer_schema(statistics, infer_feature_shape=False), config, classes=classes)
    write_schema(schema, out)
    return schema
