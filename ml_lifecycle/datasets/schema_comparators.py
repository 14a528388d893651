"""Drift comparators in a schema: the thresholds TFDV's drift check reads from the curated schema.

TFDV decides drift from the schema alone (`drift_comparator` per feature, and the dataset's
`num_examples_drift_comparator`), so configuring the check is editing the schema: schema
bootstrap writes them here, and the drift validator reads the same fields back.
"""

from __future__ import annotations

from collections.abc import Iterable

from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.base.errors import ConfigError
from ml_lifecycle.config.dataset import check_drift_threshold, check_examples_fraction_band


def add_drift_comparators(
    schema: schema_pb2.Schema,
    categorical_features: Iterable[str],
    numeric_features: Iterable[str],
    categorical_threshold: float,
    numeric_threshold: float,
    min_fraction: float | None = None,
    max_fraction: float | None = None,
) -> schema_pb2.Schema:
    """A copy of the schema with L-infinity (categorical) and Jensen-Shannon (numeric) drift comparators.

    min_fraction / max_fraction, when given, bound the current span's example count as a
    fraction of the baseline's (dataset_constraints.num_examples_drift_comparator). Arguments that
    do not fit the schema or each other raise a ConfigError (they come from the dataset config).
    """
    categorical = list(categorical_features)
    numeric = list(numeric_features)
    check_drift_threshold("categorical_threshold", categorical_threshold)
    check_drift_threshold("numeric_threshold", numeric_threshold)
    check_examples_fraction_band(min_fraction, max_fraction)
    both = sorted(set(categorical) & set(numeric))
    if both:
        raise ConfigError(f"feature(s) {both} are listed as both categorical and numeric; pick one")
    result = schema_pb2.Schema()
    result.CopyFrom(schema)
    by_name = {feature.name: feature for feature in result.feature}
    unknown = [name for name in categorical + numeric if name not in by_name]
    if unknown:
        raise ConfigError(f"the schema has no feature(s) {unknown}; it has {sorted(by_name)}")
    for name in categorical:
        feature = by_name[name]
        if feature.type == schema_pb2.INT and not is_categorical_int(result, feature):
            raise ConfigError(
                f"feature {name!r} is INT but not categorical in the schema: TFDV computes "
                "L-infinity from value counts, which statistics hold only for categorical "
                "features; set int_domain.is_categorical on it first (curate_schema does this "
                "for categorical_int features)"
            )
        feature.drift_comparator.Clear()
        feature.drift_comparator.infinity_norm.threshold = categorical_threshold
    for name in numeric:
        feature = by_name[name]
        feature.drift_comparator.Clear()
        feature.drift_comparator.jensen_shannon_divergence.threshold = numeric_threshold
    if min_fraction is not None or max_fraction is not None:
        comparator = result.dataset_constraints.num_examples_drift_comparator
        comparator.Clear()
        if min_fraction is not None:
            comparator.min_fraction_threshold = min_fraction
        if max_fraction is not None:
            comparator.max_fraction_threshold = max_fraction
    return result


def is_categorical_int(schema: schema_pb2.Schema, feature: schema_pb2.Feature) -> bool:
    """The INT feature is marked categorical, on itself or through a named schema-level domain."""
    if feature.HasField("int_domain"):
        return feature.int_domain.is_categorical
    if feature.domain:
        return any(d.name == feature.domain and d.is_categorical for d in schema.int_domain)
    return False
