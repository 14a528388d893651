"""Reading TFDV statistics for the drift check: the dataset compared, a feature's statistics,
its kind, whether it has value counts, and the share of examples without a value."""

from __future__ import annotations

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from ml_lifecycle.datasets.schema_comparators import is_categorical_int

NUMERIC = "numeric"
CATEGORICAL = "categorical"

# tfdv.constants.DEFAULT_SLICE_KEY: the dataset TFDV validates when a list holds several slices.
DEFAULT_SLICE = "All Examples"


class DriftInputError(ValueError):
    """The statistics handed to the drift check are not one dataset each."""


def default_dataset(
    statistics: statistics_pb2.DatasetFeatureStatisticsList, role: str
) -> statistics_pb2.DatasetFeatureStatistics:
    """The dataset TFDV validates: the only one, else the default slice."""
    if not isinstance(statistics, statistics_pb2.DatasetFeatureStatisticsList):
        raise TypeError(
            f"the {role} statistics must be a DatasetFeatureStatisticsList, not {type(statistics).__name__}"
        )
    if len(statistics.datasets) == 1:
        return statistics.datasets[0]
    for dataset in statistics.datasets:
        if dataset.name == DEFAULT_SLICE:
            return dataset
    names = [dataset.name for dataset in statistics.datasets]
    raise DriftInputError(
        f"the {role} statistics hold {len(names)} datasets {names}; expected one, e.g. the 'train' "
        "split's statistics as StatisticsGen writes them (stats_artifact_utils.load_statistics)"
    )


def feature_stats(
    dataset: statistics_pb2.DatasetFeatureStatistics, path: tuple[str, ...]
) -> statistics_pb2.FeatureNameStatistics | None:
    for feature in dataset.features:
        if tuple(feature.path.step) == path or (not feature.path.step and feature.name == ".".join(path)):
            return feature
    return None


def missing_fraction(stats: statistics_pb2.FeatureNameStatistics | None) -> float | None:
    """Fraction of examples without a value (absent, or present with no values as CSV empty cells are)."""
    common = _common_stats(stats)
    if common is None:
        return None
    total = common.num_non_missing + common.num_missing
    if total <= 0:
        return None
    present = common.num_non_missing
    if common.max_num_values <= 1:
        # At most one value each: the examples holding a value are the values.
        present = min(present, common.tot_num_values)
    return 1.0 - present / total


def feature_kind(
    feature: schema_pb2.Feature,
    schema: schema_pb2.Schema,
    current_stats: statistics_pb2.FeatureNameStatistics | None,
    baseline_stats: statistics_pb2.FeatureNameStatistics | None,
    measure: str,
) -> str:
    """NUMERIC or CATEGORICAL: as the statistics hold the feature, else as the schema types it."""
    for stats in (baseline_stats, current_stats):
        which = stats.WhichOneof("stats") if stats is not None else None
        if which == "string_stats":
            return CATEGORICAL
        if which == "num_stats":
            return NUMERIC
    if feature.type == schema_pb2.BYTES or (
        feature.type == schema_pb2.INT and is_categorical_int(schema, feature)
    ):
        return CATEGORICAL
    if feature.type in (schema_pb2.INT, schema_pb2.FLOAT):
        return NUMERIC
    return CATEGORICAL if measure == "l_infinity" else NUMERIC


def has_value_counts(*stats: statistics_pb2.FeatureNameStatistics | None) -> bool:
    return any(s is not None and s.WhichOneof("stats") == "string_stats" for s in stats)


def _common_stats(
    stats: statistics_pb2.FeatureNameStatistics | None,
) -> statistics_pb2.CommonStatistics | None:
    which = stats.WhichOneof("stats") if stats is not None else None
    if which in ("num_stats", "string_stats", "bytes_stats", "struct_stats"):
        return getattr(stats, which).common_stats
    return None
