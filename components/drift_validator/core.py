"""The drift check between two spans: TFDV's drift verdicts, read back with PSI alongside.

TFDV makes the decisions (`validate_statistics` with `previous_statistics`): the L-infinity
distance between value frequencies for features with an `infinity_norm` drift comparator, the
approximate Jensen-Shannon divergence between histograms for `jensen_shannon_divergence`, and the
ratio of example counts for the dataset's `num_examples_drift_comparator`. `compute_drift` reads
those verdicts back into the dataclasses of `result` and adds the population stability index
(`psi`) computed from the same statistics (`stats`), which TFDV does not report.
"""

from __future__ import annotations

import math

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from ml_lifecycle.components.drift_validator.psi import psi
from ml_lifecycle.components.drift_validator.result import DatasetDrift, DriftResult, FeatureDrift
from ml_lifecycle.components.drift_validator.stats import (
    default_dataset,
    feature_kind,
    feature_stats,
    has_value_counts,
    missing_fraction,
)

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


def compute_drift(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    baseline: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    environment: str | None = None,
) -> DriftResult:
    """TFDV's drift check of `current` against `baseline` under the schema's comparators."""
    default_dataset(current, "current")
    default_dataset(baseline, "baseline")
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
    current_dataset = default_dataset(current, "current")
    baseline_dataset = default_dataset(baseline, "baseline")

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
        current_stats = feature_stats(current_dataset, path)
        baseline_stats = feature_stats(baseline_dataset, path)
        for field, measure in _COMPARATORS.items():
            if not feature.drift_comparator.HasField(field):
                continue
            kind = feature_kind(feature, schema, current_stats, baseline_stats, measure)
            note = None
            if (path, measure) in measured:
                score, threshold = measured[(path, measure)]
                if measure == "l_infinity" and not has_value_counts(current_stats, baseline_stats):
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
                    missing_fraction_current=missing_fraction(current_stats),
                    missing_fraction_baseline=missing_fraction(baseline_stats),
                    note=note,
                )
            )
    features.sort(key=lambda item: (item.feature, item.measure))
    return DriftResult(
        features=features,
        dataset=_dataset_drift(anomalies, current_dataset, baseline_dataset, schema),
        anomalies=anomalies,
    )


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
