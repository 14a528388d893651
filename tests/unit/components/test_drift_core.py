"""The drift validator's pure core: TFDV's drift verdicts read back, PSI, comparators, the error."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from ml_lifecycle.components.drift_validator.core import (
    PSI_EPSILON,
    DataDriftError,
    DriftInputError,
    DriftResult,
    add_drift_comparators,
    compute_drift,
    psi,
)
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

N = 300
THRESHOLD = 0.1


def _frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    """A taxi-like frame; payment is exactly 90% 'a' (then 5% 'b', 5% 'c'), shuffled."""
    rng = np.random.default_rng(seed)
    payment = np.array(["a"] * (n * 9 // 10) + ["b"] * (n // 20) + ["c"] * (n - n * 9 // 10 - n // 20))
    rng.shuffle(payment)
    return pd.DataFrame(
        {
            "fare": rng.normal(10.0, 2.0, n),
            "trip_miles": rng.gamma(2.0, 1.5, n),
            "payment": payment,
            "company": rng.choice(["x", "y"], n),
        }
    )


def _stats(frame: pd.DataFrame, **kwargs) -> statistics_pb2.DatasetFeatureStatisticsList:
    return tfdv.generate_statistics_from_dataframe(frame, **kwargs)


def _tfdv_drift(current, baseline, schema) -> dict[str, float]:
    """TFDV's own drift scores, straight from validate_statistics."""
    anomalies = tfdv.validate_statistics(current, schema, previous_statistics=baseline)
    return {
        info.path.step[0]: measurement.value
        for info in anomalies.drift_skew_info
        for measurement in info.drift_measurements
    }


@pytest.fixture(scope="module")
def base_frame() -> pd.DataFrame:
    return _frame()


@pytest.fixture(scope="module")
def base_stats(base_frame):
    return _stats(base_frame)


@pytest.fixture(scope="module")
def schema(base_stats) -> schema_pb2.Schema:
    return add_drift_comparators(
        tfdv.infer_schema(base_stats),
        categorical_features=["company", "payment"],
        numeric_features=["fare", "trip_miles"],
        categorical_threshold=THRESHOLD,
        numeric_threshold=THRESHOLD,
        min_fraction=0.8,
        max_fraction=1.25,
    )


def _by_feature(result: DriftResult) -> dict:
    return {item.feature: item for item in result.features}


def test_identical_frames_do_not_drift(base_frame, base_stats, schema):
    result = compute_drift(_stats(base_frame.copy()), base_stats, schema)

    assert [item.feature for item in result.features] == ["company", "fare", "payment", "trip_miles"]
    assert result.drifted_features == []
    assert not result.drifted
    assert result.max_score == pytest.approx(0.0, abs=1e-12)
    for item in result.features:
        assert item.threshold == THRESHOLD
        assert item.psi == pytest.approx(0.0, abs=1e-12)
        assert item.missing_fraction_current == item.missing_fraction_baseline == 0.0
        assert item.note is None
    kinds = {item.feature: (item.kind, item.measure) for item in result.features}
    assert kinds["fare"] == ("numeric", "jensen_shannon_divergence")
    assert kinds["payment"] == ("categorical", "l_infinity")
    assert result.dataset.current_examples == result.dataset.baseline_examples == N
    assert result.dataset.ratio == 1.0
    assert (result.dataset.min_fraction, result.dataset.max_fraction) == (0.8, 1.25)
    assert not result.dataset.drifted
    assert result.summary_lines() == []


def test_shifted_numeric_feature_drifts_with_tfdvs_score(base_frame, base_stats, schema):
    frame = base_frame.copy()
    frame["fare"] = frame["fare"] + 3 * 2.0
    current = _stats(frame)

    result = compute_drift(current, base_stats, schema)

    assert result.drifted_features == ["fare"]
    fare = _by_feature(result)["fare"]
    assert fare.drifted and fare.measure == "jensen_shannon_divergence"
    assert fare.score == pytest.approx(_tfdv_drift(current, base_stats, schema)["fare"], abs=1e-12)
    assert fare.score > THRESHOLD
    assert fare.psi > 0.25
    assert result.max_score == fare.score
    assert not result.dataset.drifted
    assert result.summary_lines() == [
        f"feature 'fare': jensen_shannon_divergence {fare.score:.3g} > threshold 0.1 (PSI {fare.psi:.2f})"
    ]


def test_changed_categorical_mix_drifts_with_tfdvs_l_infinity(base_frame, base_stats, schema):
    frame = base_frame.copy()
    frame["payment"] = ["a"] * 90 + ["b"] * 105 + ["c"] * 105  # 'a' 90% -> 30%
    current = _stats(frame)

    result = compute_drift(current, base_stats, schema)

    assert result.drifted_features == ["payment"]
    payment = _by_feature(result)["payment"]
    assert payment.measure == "l_infinity"
    assert payment.score == pytest.approx(_tfdv_drift(current, base_stats, schema)["payment"], abs=1e-12)
    assert payment.score == pytest.approx(0.6)  # |0.3 - 0.9|
    assert payment.psi > 0.25


def test_halved_example_count_drifts_the_dataset_only(base_frame, base_stats, schema):
    result = compute_drift(_stats(base_frame.iloc[::2]), base_stats, schema)

    assert result.drifted_features == []
    assert result.dataset.drifted and result.drifted
    assert (result.dataset.current_examples, result.dataset.baseline_examples) == (N // 2, N)
    assert result.dataset.ratio == 0.5
    assert result.summary_lines() == [
        "dataset: 150 examples vs 300 in the baseline (ratio 0.5, below min_fraction 0.8)"
    ]
    reasons = [r.type for r in result.anomalies.dataset_anomaly_info.reason]
    assert reasons == [anomalies_pb2.AnomalyInfo.COMPARATOR_LOW_NUM_EXAMPLES]


def test_schema_anomalies_stay_in_anomalies_but_are_not_drift(base_frame, base_stats, schema):
    frame = base_frame.copy()
    frame.loc[: N // 10 - 1, "fare"] = np.nan  # 10% missing breaks presence.min_fraction 1.0
    frame.loc[frame.index[frame["payment"] == "a"][:9], "payment"] = "zzz"  # 3%, not in the domain

    result = compute_drift(_stats(frame), base_stats, schema)

    assert result.drifted_features == []
    assert {"fare", "payment"} <= set(result.anomalies.anomaly_info)
    payment_reasons = [r.type for r in result.anomalies.anomaly_info["payment"].reason]
    assert anomalies_pb2.AnomalyInfo.ENUM_TYPE_UNEXPECTED_STRING_VALUES in payment_reasons
    fare = _by_feature(result)["fare"]
    assert fare.missing_fraction_current == pytest.approx(0.1)
    assert fare.missing_fraction_baseline == 0.0


def test_a_feature_missing_from_the_current_span_is_reported_unmeasured(base_frame, base_stats, schema):
    result = compute_drift(_stats(base_frame.drop(columns=["trip_miles"])), base_stats, schema)

    trip_miles = _by_feature(result)["trip_miles"]
    assert math.isnan(trip_miles.score) and not trip_miles.drifted
    assert trip_miles.threshold == THRESHOLD
    assert trip_miles.psi is None and trip_miles.missing_fraction_current is None
    assert "missing from the current span's statistics" in trip_miles.note
    assert result.summary_lines() == [
        "feature 'trip_miles': jensen_shannon_divergence not checked: "
        "the feature is missing from the current span's statistics"
    ]
    # The table stays strict JSON: NaN is written as None.
    rows = json.loads(json.dumps(result.to_table(), allow_nan=False))
    assert {row["feature"]: row["score"] for row in rows}["trip_miles"] is None


def test_to_table_is_json_serialisable(base_frame, base_stats, schema):
    frame = base_frame.copy()
    frame["fare"] = frame["fare"] + 6.0
    result = compute_drift(_stats(frame), base_stats, schema)

    rows = json.loads(json.dumps(result.to_table(), allow_nan=False))

    assert [row["feature"] for row in rows] == ["company", "fare", "payment", "trip_miles"]
    fare = rows[1]
    assert set(fare) == {
        "feature",
        "kind",
        "measure",
        "score",
        "threshold",
        "drifted",
        "presence_drifted",
        "psi",
        "missing_fraction_current",
        "missing_fraction_baseline",
        "note",
    }
    assert fare["drifted"] is True and fare["kind"] == "numeric" and fare["threshold"] == THRESHOLD


def test_l_infinity_on_a_non_categorical_int_compares_nothing():
    rng = np.random.default_rng(1)
    base = pd.DataFrame({"hour": rng.integers(0, 24, N)})
    current = pd.DataFrame({"hour": rng.integers(0, 4, N)})
    plain = tfdv.infer_schema(_stats(base))
    plain.feature[0].drift_comparator.infinity_norm.threshold = THRESHOLD

    # Statistics without the schema hold no value counts for an INT: TFDV scores L-infinity 0.
    vacuous = _by_feature(compute_drift(_stats(current), _stats(base), plain))["hour"]
    assert vacuous.score == 0.0 and not vacuous.drifted
    assert vacuous.kind == "numeric" and vacuous.psi > 0.25
    assert "compared nothing" in vacuous.note

    with pytest.raises(ValueError, match="is_categorical"):
        add_drift_comparators(plain, ["hour"], [], THRESHOLD, THRESHOLD)

    plain.feature[0].int_domain.is_categorical = True
    schema = add_drift_comparators(plain, ["hour"], [], THRESHOLD, THRESHOLD)
    options = tfdv.StatsOptions(schema=schema)
    measured = _by_feature(
        compute_drift(_stats(current, stats_options=options), _stats(base, stats_options=options), schema)
    )["hour"]
    assert measured.drifted and measured.kind == "categorical" and measured.note is None
    assert measured.psi > 0.25


# --- psi() on hand-built statistics ------------------------------------------------------------


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


# --- the error, the comparators, the inputs -------------------------------------------------------


def test_data_drift_error_names_the_spans_and_each_drifted_feature(base_frame, base_stats, schema):
    frame = base_frame.iloc[::2].copy()
    frame["fare"] = frame["fare"] + 6.0
    result = compute_drift(_stats(frame), base_stats, schema)
    fare = _by_feature(result)["fare"]

    error = DataDriftError.from_result(result, baseline_span=3, current_span=5)

    message = str(error)
    assert isinstance(error, RuntimeError)
    assert "span 5 drifted from baseline span 3" in message
    assert f"feature 'fare': jensen_shannon_divergence {fare.score:.3g} > threshold 0.1" in message
    assert "ratio 0.5, below min_fraction 0.8" in message
    assert "payment" not in message
    assert (error.result, error.baseline_span, error.current_span) == (result, 3, 5)


def test_data_drift_error_needs_drift(base_stats, schema):
    with pytest.raises(ValueError, match="has none"):
        DataDriftError.from_result(compute_drift(base_stats, base_stats, schema), 1, 2)


def test_add_drift_comparators_returns_a_configured_copy(base_stats):
    inferred = tfdv.infer_schema(base_stats)

    schema = add_drift_comparators(inferred, ["payment"], ["fare"], 0.2, 0.05, max_fraction=2.0)

    by_name = {feature.name: feature for feature in schema.feature}
    assert by_name["payment"].drift_comparator.infinity_norm.threshold == 0.2
    assert by_name["fare"].drift_comparator.jensen_shannon_divergence.threshold == 0.05
    assert not by_name["company"].HasField("drift_comparator")
    comparator = schema.dataset_constraints.num_examples_drift_comparator
    assert comparator.max_fraction_threshold == 2.0
    assert not comparator.HasField("min_fraction_threshold")
    assert not any(feature.HasField("drift_comparator") for feature in inferred.feature)
    assert not inferred.HasField("dataset_constraints")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"categorical_features": ["nope"]}, "no feature"),
        ({"categorical_features": ["fare"], "numeric_features": ["fare"]}, "both"),
        ({"numeric_threshold": 0.0}, "numeric_threshold"),
        ({"min_fraction": 1.5, "max_fraction": 1.2}, "below max_fraction"),
    ],
)
def test_add_drift_comparators_rejects_bad_arguments(base_stats, kwargs, match):
    arguments = {
        "categorical_features": [],
        "numeric_features": [],
        "categorical_threshold": 0.1,
        "numeric_threshold": 0.1,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        add_drift_comparators(tfdv.infer_schema(base_stats), **arguments)


def test_statistics_with_several_datasets_are_refused(base_stats, schema):
    two = statistics_pb2.DatasetFeatureStatisticsList()
    two.datasets.add(name="train")
    two.datasets.add(name="eval")
    with pytest.raises(DriftInputError, match=r"current statistics hold 2 datasets \['train', 'eval'\]"):
        compute_drift(two, base_stats, schema)
