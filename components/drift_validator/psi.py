"""Population stability index of a feature between two spans, from their TFDV statistics.

TFDV does not report PSI; the drift report carries it beside TFDV's own measures because it
is the number people compare across tools. Categorical features are binned by value, numeric
ones by the baseline's quantile buckets.
"""

from __future__ import annotations

import math

from tensorflow_metadata.proto.v0 import statistics_pb2

from ml_lifecycle.components.drift_validator.stats import CATEGORICAL, NUMERIC

# Stands in for empty bins in PSI, so that a value seen on one side only counts but stays finite.
PSI_EPSILON = 1e-4

# A bin: (low, high, baseline count).
Bin = tuple[float, float, float]

_QUANTILES = statistics_pb2.Histogram.QUANTILES
_STANDARD = statistics_pb2.Histogram.STANDARD

# The key of the one bin for all values a rank histogram leaves out (no string can equal it).
_OTHER_VALUES = object()


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


def _value_counts(stats: statistics_pb2.FeatureNameStatistics | None) -> dict[object, float] | None:
    """Count per value from the rank histogram (else the top values), the rest under _OTHER_VALUES."""
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
        counts[_OTHER_VALUES] = rest
    return counts


def _histogram(
    stats: statistics_pb2.FeatureNameStatistics | None, kind: int
) -> statistics_pb2.Histogram | None:
    """The numeric feature's non-empty histogram of `kind` (_QUANTILES or _STANDARD), if any."""
    if stats is None or stats.WhichOneof("stats") != "num_stats":
        return None
    for candidate in stats.num_stats.histograms:
        if candidate.type == kind and candidate.buckets:
            return candidate
    return None


def _bins(baseline_histogram: statistics_pb2.Histogram) -> list[Bin]:
    """The baseline's buckets as (low, high, count), sorted, identical buckets merged.

    A zero-width bucket at either end (the baseline's minimum or maximum holds a point mass) gets
    an empty bin beyond it, so that values past it count as new rather than as that value.
    """
    merged: list[list[float]] = []
    buckets = sorted((b.low_value, b.high_value, b.sample_count) for b in baseline_histogram.buckets)
    for low, high, count in buckets:
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


def _rebin(current_histogram: statistics_pb2.Histogram, bins: list[Bin]) -> list[float]:
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
    for bucket in current_histogram.buckets:
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


def _bin_of(point: float, bins: list[Bin], reach: list[tuple[float, float]]) -> int:
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
