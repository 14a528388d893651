"""compute_drift end to end on TFDV statistics: TFDV's verdicts read back with PSI, the result's
table and summary lines, the drift error, and the inputs refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from ml_lifecycle.components.drift_validator.core import compute_drift
from ml_lifecycle.components.drift_validator.result import DataDriftError, DriftResult
from ml_lifecycle.components.drift_validator.stats import DriftInputError
from ml_lifecycle.datasets.schema_comparators import add_drift_comparators

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


# --- the error, the inputs -----------------------------------------------------------------------


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


def test_statistics_with_several_datasets_are_refused(base_stats, schema):
    two = statistics_pb2.DatasetFeatureStatisticsList()
    two.datasets.add(name="train")
    two.datasets.add(name="eval")
    with pytest.raises(DriftInputError, match=r"current statistics hold 2 datasets \['train', 'eval'\]"):
        compute_drift(two, base_stats, schema)
