"""PSI on hand-built statistics: categorical value bins, numeric rebinning into the baseline's
quantile buckets, point masses, and the histograms it needs."""

from __future__ import annotations

import math

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import statistics_pb2

from ml_lifecycle.components.drift_validator.psi import PSI_EPSILON, psi


def _feature(text: str) -> statistics_pb2.FeatureNameStatistics:
    return text_format.Parse(text, statistics_pb2.FeatureNameStatistics())


def _categorical(
    counts: dict[str, float], field: str = "rank_histogram"
) -> statistics_pb2.FeatureNameStatistics:
    feature = statistics_pb2.FeatureNameStatistics(type=statistics_pb2.FeatureNameStatistics.STRING)
    for value, count in counts.items():
        if field == "rank_histogram":
            feature.string_stats.rank_histogram.buckets.add(label=value, sample_count=count)
        else:
            feature.string_stats.top_values.add(value=value, frequency=count)
    return feature


def _numeric(
    *buckets: tuple[float, float, float], kind: str = "QUANTILES"
) -> statistics_pb2.FeatureNameStatistics:
    histogram = "".join(
        f"buckets {{ low_value: {lo} high_value: {hi} sample_count: {n} }}" for lo, hi, n in buckets
    )
    return _feature(f"type: FLOAT num_stats {{ histograms {{ {histogram} type: {kind} }} }}")


def _expected_psi(current: list[float], baseline: list[float]) -> float:
    def distribution(counts):
        floored = [max(c / sum(counts), PSI_EPSILON) for c in counts]
        return [p / sum(floored) for p in floored]

    p, q = distribution(current), distribution(baseline)
    return sum((a - b) * math.log(a / b) for a, b in zip(p, q, strict=True))


def test_psi_categorical_disjoint_values_is_large_but_finite():
    value = psi(_categorical({"b": 10}), _categorical({"a": 10}), "categorical")

    eps = PSI_EPSILON
    assert value == pytest.approx(2 * (1 - eps) / (1 + eps) * math.log(1 / eps))
    assert value == pytest.approx(_expected_psi([0, 10], [10, 0]))


def test_psi_categorical_falls_back_to_top_values_and_counts_the_unlisted_rest():
    current = _categorical({"a": 50, "b": 50}, field="top_values")
    baseline = _categorical({"a": 50, "b": 50}, field="top_values")
    assert psi(current, baseline, "categorical") == 0.0

    current.string_stats.common_stats.tot_num_values = 200  # 100 values beyond the listed top
    assert psi(current, baseline, "categorical") == pytest.approx(_expected_psi([50, 50, 100], [50, 50, 0]))


def test_psi_numeric_is_zero_for_identical_histograms():
    stats = _numeric((0.0, 0.0, 30), (0.0, 0.0, 30), (0.0, 1.5, 30), (1.5, 4.0, 30), (4.0, 9.0, 30))
    assert psi(stats, stats, "numeric") == 0.0


def test_psi_numeric_rebins_the_current_histogram_into_the_baseline_quantiles():
    baseline = _numeric((0.0, 1.0, 50), (1.0, 2.0, 50))
    # Uniform over [0, 2] from a STANDARD-only histogram: half in each baseline bucket.
    assert psi(_numeric((0.0, 2.0, 100), kind="STANDARD"), baseline, "numeric") == pytest.approx(0.0)
    # Everything in the upper bucket; values past the baseline's max count in its last bucket.
    upper = _expected_psi([0, 100], [50, 50])
    assert psi(_numeric((1.0, 2.0, 100)), baseline, "numeric") == pytest.approx(upper)
    assert psi(_numeric((5.0, 6.0, 100)), baseline, "numeric") == pytest.approx(upper)
    # A quarter of [0, 1] and all of [1, 2]: 25 : 75.
    assert psi(_numeric((0.5, 2.0, 100)), baseline, "numeric") == pytest.approx(
        _expected_psi([100 / 3, 200 / 3], [50, 50])
    )


def test_psi_numeric_point_masses_land_on_the_baselines_point_mass():
    baseline = _numeric((0.0, 0.0, 50), (0.0, 2.0, 50))  # half the values are exactly 0
    # Point mass at 0 again, the rest uniform: no change.
    assert psi(_numeric((0.0, 0.0, 10), (0.0, 2.0, 10)), baseline, "numeric") == 0.0
    # Negative values are new: they fall in an empty bin below the baseline's point mass at 0.
    assert psi(_numeric((-2.0, -1.0, 50), (0.0, 2.0, 50)), baseline, "numeric") == pytest.approx(
        _expected_psi([50, 0, 50], [0, 50, 50])
    )


def test_psi_is_none_without_the_histograms():
    numeric = _numeric((0.0, 1.0, 10))
    assert psi(numeric, _numeric((0.0, 1.0, 10), kind="STANDARD"), "numeric") is None  # no QUANTILES
    assert psi(None, numeric, "numeric") is None
    assert psi(numeric, numeric, "categorical") is None
    assert psi(_categorical({"a": 1}), _categorical({}), "categorical") is None
    with pytest.raises(ValueError, match="kind"):
        psi(numeric, numeric, "ordinal")
