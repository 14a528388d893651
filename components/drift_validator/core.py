"""Pure core of the drift validator: TFDV's drift verdicts between two spans, with PSI alongside.

TFDV makes the decisions (`validate_statistics` with `previous_statistics`): the L-infinity
distance between value frequencies for features with an `infinity_norm` drift comparator, the
approximate Jensen-Shannon divergence between histograms for `jensen_shannon_divergence`, and the
ratio of example counts for the dataset's `num_examples_drift_comparator`. This module reads
those verdicts back into plain dataclasses and adds the population stability index computed from
the same statistics, which TFDV does not report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

NUMERIC = "numeric"
CATEGORICAL = "categorical"

# Stands in for empty bins in PSI, so that a value seen on one side only counts but stays finite.
PSI_EPSILON = 1e-4
# Change in the share of examples without a value that counts as presence drift.
PRESENCE_CHANGE_THRESHOLD = 0.2

# tfdv.constants.DEFAULT_SLICE_KEY: the dataset TFDV validates when a list holds several slices.
DEFAULT_SLICE = "All Examples"

_Measurement = anomalies_pb2.DriftSkewInfo.Measurement
_Reason = anomalies_pb2.AnomalyInfo.Type

# DriftSkewInfo.Measurement type -> the measure's name in results.
MEASURES = {
    _Measurement.L_INFTY: "l_infinity",
    _Measurement.JENSEN_SHANNON_DIVERGENCE: "jensen_shannon_divergence",
    _Measurement.NORMALIZED_ABSOLUTE_DIFFERENCE: "normalized_absolute_difference",
}
# The anomaly reason TFDV raises when a measure is above its threshold.
_DRIFT_REASONS = {
    _Reason.COMPARATOR_L_INFTY_HIGH: "l_infinity",
    _Reason.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH: "jensen_shannon_divergence",
    _Reason.COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH: "normalized_absolute_difference",
}
_NUM_EXAMPLES_REASONS = frozenset({_Reason.COMPARATOR_LOW_NUM_EXAMPLES, _Reason.COMPARATOR_HIGH_NUM_EXAMPLES})
# schema FeatureComparator field -> the measure TFDV reports for it.
_COMPARATORS = {
    "infinity_norm": "l_infinity",
    "jensen_shannon_divergence": "jensen_shannon_divergence",
    "normalized_abs_difference": "normalized_absolute_difference",
}

_QUANTILES = statistics_pb2.Histogram.QUANTILES
_STANDARD = statistics_pb2.Histogram.STANDARD


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # NUMERIC or CATEGORICAL, as the statistics describe the feature
    measure: str  # a value of MEASURES
    score: float  # TFDV's value from anomalies.drift_skew_info; NaN when TFDV measured nothing
    threshold: float  # TFDV's threshold (the schema's when TFDV measured nothing)
    drifted: bool  # TFDV raised the measure's drift anomaly for the feature
    psi: float | None
    missing_fraction_current: float | None
    missing_fraction_baseline: float | None
    note: str | None = None  # why the score says nothing, when it does not

    @property
    def presence_drifted(self) -> bool:
        """The share of examples without a value moved by more than PRESENCE_CHANGE_THRESHOLD.

        TFDV's comparators look only at the values present, so a feature that stops being
        filled in (an upstream join breaks) goes unnoticed by them.
        """
        if self.missing_fraction_current is None or self.missing_fraction_baseline is None:
            return False
        change = abs(self.missing_fraction_current - self.missing_fraction_baseline)
        return change > PRESENCE_CHANGE_THRESHOLD

    @property
    def flagged(self) -> bool:
        return self.drifted or self.presence_drifted

    def to_row(self) -> dict:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "measure": self.measure,
            "score": _finite_or_none(self.score),
            "threshold": _finite_or_none(self.threshold),
            "drifted": self.drifted,
            "presence_drifted": self.presence_drifted,
            "psi": _finite_or_none(self.psi),
            "missing_fraction_current": _finite_or_none(self.missing_fraction_current),
            "missing_fraction_baseline": _finite_or_none(self.missing_fraction_baseline),
            "note": self.note,
        }

    def describe(self) -> str:
        if self.presence_drifted and not self.drifted:
            return (
                f"feature {self.feature!r}: share of examples without a value "
                f"{self.missing_fraction_baseline:.2f} -> {self.missing_fraction_current:.2f} "
                f"(change > {PRESENCE_CHANGE_THRESHOLD})"
            )
        if self.note:
            return f"feature {self.feature!r}: {self.measure} not checked: {self.note}"
        relation = ">" if self.drifted else "<="
        psi = f" (PSI {self.psi:.2f})" if self.psi is not None else ""
        return (
            f"feature {self.feature!r}: {self.measure} {self.score:.3g} {relation} "
            f"threshold {self.threshold:g}{psi}"
        )


@dataclass(frozen=True)
class DatasetDrift:
    current_examples: int
    baseline_examples: int
    ratio: float  # current / baseline
    min_fraction: float | None
    max_fraction: float | None
    drifted: bool  # TFDV raised COMPARATOR_LOW_NUM_EXAMPLES or COMPARATOR_HIGH_NUM_EXAMPLES

    def describe(self) -> str:
        if self.min_fraction is not None and self.ratio < self.min_fraction:
            bound = f"below min_fraction {self.min_fraction:g}"
        elif self.max_fraction is not None and self.ratio > self.max_fraction:
            bound = f"above max_fraction {self.max_fraction:g}"
        else:
            bound = f"min_fraction {self.min_fraction}, max_fraction {self.max_fraction}"
        return (
            f"dataset: {self.current_examples} examples vs {self.baseline_examples} in the baseline "
            f"(ratio {self.ratio:.3g}, {bound})"
        )


@dataclass(frozen=True)
class DriftResult:
    features: list[FeatureDrift]  # sorted by feature (then measure); every configured comparator
    dataset: DatasetDrift
    anomalies: anomalies_pb2.Anomalies  # what tfdv.validate_statistics returned, schema anomalies too

    @property
    def drifted_features(self) -> list[str]:
        """Features TFDV flagged, plus those whose presence changed (see presence_drifted)."""
        return sorted({item.feature for item in self.features if item.flagged})

    @property
    def drifted(self) -> bool:
        return bool(self.drifted_features) or self.dataset.drifted

    @property
    def max_score(self) -> float:
        return max((item.score for item in self.features if math.isfinite(item.score)), default=0.0)

    def to_table(self) -> list[dict]:
        """One JSON-serialisable row per feature comparator (NaN written as None)."""
        return [item.to_row() for item in self.features]

    def summary_lines(self) -> list[str]:
        """The drifted features, the dataset when its size drifted, then comparators TFDV skipped."""
        lines = [item.describe() for item in self.features if item.flagged]
        if self.dataset.drifted:
            lines.append(self.dataset.describe())
        lines.extend(item.describe() for item in self.features if item.note and not item.flagged)
        return lines


class DriftInputError(ValueError):
    """The statistics handed to the drift check are not one dataset each."""


class DataDriftError(RuntimeError):
    """The current span drifted from the baseline span beyond the schema's thresholds."""

    def __init__(
        self,
        message: str,
        result: DriftResult | None = None,
        baseline_span: int | None = None,
        current_span: int | None = None,
    ):
        super().__init__(message)
        self.result = result
        self.baseline_span = baseline_span
        self.current_span = current_span

    @classmethod
    def from_result(cls, result: DriftResult, baseline_span: int, current_span: int) -> DataDriftError:
        if not result.drifted:
            raise ValueError("DataDriftError.from_result needs a result with drift; this one has none")
        lines = [f"span {current_span} drifted from baseline span {baseline_span}:"]
        lines.extend(f"  {item.describe()}" for item in result.features if item.flagged)
        if result.dataset.drifted:
            lines.append(f"  {result.dataset.describe()}")
        lines.append(
            "If the change is expected, raise the drift_comparator thresholds (or the "
            "num_examples_drift_comparator fractions) in the curated schema, or run with a "
            "non-blocking drift policy."
        )
        return cls("\n".join(lines), result, baseline_span, current_span)


def compute_drift(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    baseline: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    environment: str | None = None,
) -> DriftResult:
    """TFDV's drift check of `current` against `baseline` under the schema's comparators."""
    _default_dataset(current, "current")
    _default_dataset(baseline, "baseline")
    # Imported here: TFDV takes seconds to import and nothing else in this module needs it.
    import tensorflow_data_validation as tfdv

    anomalies = tfdv.validate_statistics(
        current, schema, environment=environment, previous_statistics=baseline
    )
    return read_drift(anomalies, current, baseline, schema)


def read_drift(
    anomalies: anomalies_pb2.Anomalies,
    current: statistics_pb2.DatasetFeatureStatisticsList,
    baseline: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
) -> DriftResult:
    """The DriftResult for anomalies that validate_statistics(current, previous=baseline) returned."""
    current_dataset = _default_dataset(current, "current")
    baseline_dataset = _default_dataset(baseline, "baseline")

    measured: dict[tuple[tuple[str, ...], str], tuple[float, float]] = {}
    for info in anomalies.drift_skew_info:
        for measurement in info.drift_measurements:
            measure = MEASURES.get(measurement.type)
            if measure is not None:
                measured[(tuple(info.path.step), measure)] = (measurement.value, measurement.threshold)
    flagged: set[tuple[tuple[str, ...], str]] = set()
    for key, info in anomalies.anomaly_info.items():
        path = tuple(info.path.step) or (key,)
        for reason in info.reason:
            if reason.type in _DRIFT_REASONS:
                flagged.add((path, _DRIFT_REASONS[reason.type]))

    features = []
    for feature in schema.feature:
        if not feature.HasField("drift_comparator"):
            continue
        path = (feature.name,)
        current_stats = _feature_stats(current_dataset, path)
        baseline_stats = _feature_stats(baseline_dataset, path)
        for field, measure in _COMPARATORS.items():
            if not feature.drift_comparator.HasField(field):
                continue
            kind = _kind(feature, schema, current_stats, baseline_stats, measure)
            note = None
            if (path, measure) in measured:
                score, threshold = measured[(path, measure)]
                if measure == "l_infinity" and not _has_value_counts(current_stats, baseline_stats):
                    note = (
                        f"TFDV reports L-infinity {score:g} but the statistics hold no value counts "
                        "for the feature, so it compared nothing; mark it categorical in the schema "
                        "(int_domain.is_categorical) and compute statistics with the schema"
                    )
            else:
                score = math.nan
                threshold = getattr(feature.drift_comparator, field).threshold
                note = _unmeasured_note(current_stats, baseline_stats)
            features.append(
                FeatureDrift(
                    feature=feature.name,
                    kind=kind,
                    measure=measure,
                    score=score,
                    threshold=threshold,
                    drifted=(path, measure) in flagged,
                    psi=psi(current_stats, baseline_stats, kind),
                    missing_fraction_current=_missing_fraction(current_stats),
                    missing_fraction_baseline=_missing_fraction(baseline_stats),
                    note=note,
                )
            )
    features.sort(key=lambda item: (item.feature, item.measure))
    return DriftResult(
        features=features,
        dataset=_dataset_drift(anomalies, current_dataset, baseline_dataset, schema),
        anomalies=anomalies,
    )


def psi(
    current_feature_stats: statistics_pb2.FeatureNameStatistics | None,
    baseline_feature_stats: statistics_pb2.FeatureNameStatistics | None,
    kind: str,
) -> float | None:
    """Population stability index of the current distribution against the baseline's.

    Sum over bins of (p_cur - p_base) * ln(p_cur / p_base), each side's probabilities floored at
    PSI_EPSILON and renormalised. Categorical: over the union of values in the rank histograms (or
    top values), plus one bin for the values the statistics leave out. Numeric: over the
    baseline's QUANTILES buckets, the outer two stretched to cover everything below and above
    (unless the baseline ends in a point mass: then an empty bin lies beyond it); the current's
    mass in them comes from its own histogram (QUANTILES, else STANDARD), assuming uniform mass
    within each bucket and a point mass for a zero-width one. None when either side lacks the
    histogram or has no values.
    """
    if kind == CATEGORICAL:
        current = _value_counts(current_feature_stats)
        baseline = _value_counts(baseline_feature_stats)
        if current is None or baseline is None:
            return None
        values = list(baseline) + [value for value in current if value not in baseline]
        return _psi([current.get(v, 0.0) for v in values], [baseline.get(v, 0.0) for v in values])
    if kind == NUMERIC:
        baseline_histogram = _histogram(baseline_feature_stats, _QUANTILES)
        current_histogram = _histogram(current_feature_stats, _QUANTILES) or _histogram(
            current_feature_stats, _STANDARD
        )
        if baseline_histogram is None or current_histogram is None:
            return None
        bins = _bins(baseline_histogram)
        return _psi(_rebin(current_histogram, bins), [count for _, _, count in bins])
    raise ValueError(f"kind must be {NUMERIC!r} or {CATEGORICAL!r}, not {kind!r}")


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
    fraction of the baseline's (dataset_constraints.num_examples_drift_comparator).
    """
    categorical = list(categorical_features)
    numeric = list(numeric_features)
    _check_threshold("categorical_threshold", categorical_threshold)
    _check_threshold("numeric_threshold", numeric_threshold)
    both = sorted(set(categorical) & set(numeric))
    if both:
        raise ValueError(f"feature(s) {both} are listed as both categorical and numeric; pick one")
    result = schema_pb2.Schema()
    result.CopyFrom(schema)
    by_name = {feature.name: feature for feature in result.feature}
    unknown = [name for name in categorical + numeric if name not in by_name]
    if unknown:
        raise ValueError(f"the schema has no feature(s) {unknown}; it has {sorted(by_name)}")
    for name in categorical:
        feature = by_name[name]
        if feature.type == schema_pb2.INT and not _is_categorical_int(result, feature):
            raise ValueError(
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
        for label, value in (("min_fraction", min_fraction), ("max_fraction", max_fraction)):
            if value is not None and not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{label} must be a finite fraction >= 0, not {value!r}")
        if min_fraction is not None and max_fraction is not None and min_fraction >= max_fraction:
            raise ValueError(f"min_fraction {min_fraction} must be below max_fraction {max_fraction}")
        comparator = result.dataset_constraints.num_examples_drift_comparator
        comparator.Clear()
        if min_fraction is not None:
            comparator.min_fraction_threshold = min_fraction
        if max_fraction is not None:
            comparator.max_fraction_threshold = max_fraction
    return result


# --- helpers -----------------------------------------------------------------------------------


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _check_threshold(label: str, value: float) -> None:
    if not (0 < value <= 1):
        raise ValueError(
            f"{label} must be in (0, 1] (L-infinity and Jensen-Shannon divergence lie in [0, 1]), "
            f"not {value!r}"
        )


def _is_categorical_int(schema: schema_pb2.Schema, feature: schema_pb2.Feature) -> bool:
    if feature.HasField("int_domain"):
        return feature.int_domain.is_categorical
    if feature.domain:
        return any(d.name == feature.domain and d.is_categorical for d in schema.int_domain)
    return False


def _default_dataset(
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


def _feature_stats(
    dataset: statistics_pb2.DatasetFeatureStatistics, path: tuple[str, ...]
) -> statistics_pb2.FeatureNameStatistics | None:
    for feature in dataset.features:
        if tuple(feature.path.step) == path or (not feature.path.step and feature.name == ".".join(path)):
            return feature
    return None


def _common_stats(
    stats: statistics_pb2.FeatureNameStatistics | None,
) -> statistics_pb2.CommonStatistics | None:
    which = stats.WhichOneof("stats") if stats is not None else None
    if which in ("num_stats", "string_stats", "bytes_stats", "struct_stats"):
        return getattr(stats, which).common_stats
    return None


def _missing_fraction(stats: statistics_pb2.FeatureNameStatistics | None) -> float | None:
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


def _kind(
    feature: schema_pb2.Feature,
    schema: schema_pb2.Schema,
    current_stats: statistics_pb2.FeatureNameStatistics | None,
    baseline_stats: statistics_pb2.FeatureNameStatistics | None,
    measure: str,
) -> str:
    for stats in (baseline_stats, current_stats):
        which = stats.WhichOneof("stats") if stats is not None else None
        if which == "string_stats":
            return CATEGORICAL
        if which == "num_stats":
            return NUMERIC
    if feature.type == schema_pb2.BYTES or (
        feature.type == schema_pb2.INT and _is_categorical_int(schema, feature)
    ):
        return CATEGORICAL
    if feature.type in (schema_pb2.INT, schema_pb2.FLOAT):
        return NUMERIC
    return CATEGORICAL if measure == "l_infinity" else NUMERIC


def _has_value_counts(*stats: statistics_pb2.FeatureNameStatistics | None) -> bool:
    return any(s is not None and s.WhichOneof("stats") == "string_stats" for s in stats)


def _unmeasured_note(
    current_stats: statistics_pb2.FeatureNameStatistics | None,
    baseline_stats: statistics_pb2.FeatureNameStatistics | None,
) -> str:
    if current_stats is None and baseline_stats is None:
        return "the feature is in neither span's statistics"
    if current_stats is None:
        return "the feature is missing from the current span's statistics"
    if baseline_stats is None:
        return "the feature is missing from the baseline span's statistics"
    return "TFDV reported no drift measurement for it"


def _dataset_drift(
    anomalies: anomalies_pb2.Anomalies,
    current: statistics_pb2.DatasetFeatureStatistics,
    baseline: statistics_pb2.DatasetFeatureStatistics,
    schema: schema_pb2.Schema,
) -> DatasetDrift:
    comparator = schema.dataset_constraints.num_examples_drift_comparator
    has = schema.HasField("dataset_constraints") and schema.dataset_constraints.HasField(
        "num_examples_drift_comparator"
    )
    if baseline.num_examples:
        ratio = current.num_examples / baseline.num_examples
    else:
        ratio = math.inf if current.num_examples else 1.0
    drifted = anomalies.HasField("dataset_anomaly_info") and any(
        reason.type in _NUM_EXAMPLES_REASONS for reason in anomalies.dataset_anomaly_info.reason
    )
    return DatasetDrift(
        current_examples=current.num_examples,
        baseline_examples=baseline.num_examples,
        ratio=ratio,
        min_fraction=(
            comparator.min_fraction_threshold
            if has and comparator.HasField("min_fraction_threshold")
            else None
        ),
        max_fraction=(
            comparator.max_fraction_threshold
            if has and comparator.HasField("max_fraction_threshold")
            else None
        ),
        drifted=drifted,
    )


_OTHER = object()  # the bin for values a rank histogram leaves out


def _value_counts(stats: statistics_pb2.FeatureNameStatistics | None) -> dict[object, float] | None:
    if stats is None or stats.WhichOneof("stats") != "string_stats":
        return None
    string_stats = stats.string_stats
    counts: dict[object, float] = {}
    if string_stats.rank_histogram.buckets:
        for bucket in string_stats.rank_histogram.buckets:
            counts[bucket.label] = counts.get(bucket.label, 0.0) + bucket.sample_count
    elif string_stats.top_values:
        for value in string_stats.top_values:
            counts[value.value] = counts.get(value.value, 0.0) + value.frequency
    else:
        return None
    # Statistics list the top values only (TFDV: 1000 in the rank histogram); the rest is one bin.
    rest = string_stats.common_stats.tot_num_values - sum(counts.values())
    if rest > 0:
        counts[_OTHER] = rest
    return counts


def _histogram(
    stats: statistics_pb2.FeatureNameStatistics | None, kind: int
) -> statistics_pb2.Histogram | None:
    if stats is None or stats.WhichOneof("stats") != "num_stats":
        return None
    for histogram in stats.num_stats.histograms:
        if histogram.type == kind and histogram.buckets:
            return histogram
    return None


def _bins(histogram: statistics_pb2.Histogram) -> list[tuple[float, float, float]]:
    """The baseline's buckets as (low, high, count), sorted, identical buckets merged.

    A zero-width bucket at either end (the baseline's minimum or maximum holds a point mass) gets
    an empty bin beyond it, so that values past it count as new rather than as that value.
    """
    merged: list[list[float]] = []
    for low, high, count in sorted((b.low_value, b.high_value, b.sample_count) for b in histogram.buckets):
        if merged and merged[-1][0] == low and merged[-1][1] == high:
            merged[-1][2] += count
        else:
            merged.append([low, high, count])
    bins = [(low, high, count) for low, high, count in merged]
    if bins[0][0] == bins[0][1]:
        bins.insert(0, (-math.inf, bins[0][0], 0.0))
    if bins[-1][0] == bins[-1][1]:
        bins.append((bins[-1][1], math.inf, 0.0))
    return bins


def _rebin(histogram: statistics_pb2.Histogram, bins: list[tuple[float, float, float]]) -> list[float]:
    """The histogram's mass in each bin, uniform within its buckets; the outer bins reach on to +-inf.

    A zero-width bucket is a point mass: it lands in a zero-width bin at the same value when there
    is one, else in the bin whose [low, high) holds it.
    """
    last = len(bins) - 1
    reach = [
        (-math.inf if i == 0 else low, math.inf if i == last else high)
        for i, (low, high, _) in enumerate(bins)
    ]
    counts = [0.0] * len(bins)
    for bucket in histogram.buckets:
        low, high, count = bucket.low_value, bucket.high_value, bucket.sample_count
        if count <= 0:
            continue
        width = high - low
        if width > 0 and math.isfinite(width):
            for i, (bin_low, bin_high) in enumerate(reach):
                overlap = min(high, bin_high) - max(low, bin_low)
                if overlap > 0:
                    counts[i] += count * (overlap / width)
            continue
        point = low if math.isfinite(low) else high
        if math.isfinite(point):
            counts[_bin_of(point, bins, reach)] += count
    return counts


def _bin_of(point: float, bins: list[tuple[float, float, float]], reach: list[tuple[float, float]]) -> int:
    for i, (low, high, _) in enumerate(bins):
        if low == high == point:
            return i
    for i, (low, high) in enumerate(reach):
        if low <= point < high:
            return i
    return len(bins) - 1


def _distribution(counts: list[float]) -> list[float] | None:
    total = sum(counts)
    if not total > 0:
        return None
    floored = [max(count / total, PSI_EPSILON) for count in counts]
    norm = sum(floored)
    return [p / norm for p in floored]


def _psi(current_counts: list[float], baseline_counts: list[float]) -> float | None:
    current = _distribution(current_counts)
    baseline = _distribution(baseline_counts)
    if current is None or baseline is None:
        return None
    return float(sum((c - b) * math.log(c / b) for c, b in zip(current, baseline, strict=True)))
