"""Pure core of the anomaly gate: readable per-feature reports from TFDV anomalies and row counts."""

from __future__ import annotations

from dataclasses import dataclass

from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from ml_lifecycle.base.contracts import DriftVerdict


@dataclass(frozen=True)
class FeatureAnomaly:
    split: str
    feature: str
    severity: str
    reasons: tuple[str, ...]
    description: str


class DataAnomaliesError(RuntimeError):
    """The span's data breaks the curated schema; the run stops before training."""


class RowCountMismatchError(RuntimeError):
    """ExampleGen produced a different number of examples than the span's CSV files hold."""


def feature_anomalies(split: str, anomalies: anomalies_pb2.Anomalies) -> list[FeatureAnomaly]:
    found = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        found.append(
            FeatureAnomaly(
                split=split,
                feature=feature,
                severity=anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
                reasons=tuple(anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason),
                description=info.description or "; ".join(r.description for r in info.reason),
            )
        )
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        found.append(
            FeatureAnomaly(
                split=split,
                feature="<dataset>",
                severity=anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
                reasons=tuple(anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason),
                description=info.description,
            )
        )
    return found


def format_report(found: list[FeatureAnomaly]) -> str:
    lines = [f"{len(found)} anomal{'y' if len(found) == 1 else 'ies'} against the curated schema:"]
    for item in found:
        lines.append(
            f"  [{item.split}] feature {item.feature!r}: {item.description} ({', '.join(item.reasons)})"
        )
    return "\n".join(lines)


def count_examples(
    statistics_by_split: dict[str, statistics_pb2.DatasetFeatureStatisticsList],
) -> dict[str, int]:
    return {
        split: sum(dataset.num_examples for dataset in stats.datasets)
        for split, stats in statistics_by_split.items()
    }


def unknown_label_classes(
    statistics_by_split: dict[str, statistics_pb2.DatasetFeatureStatisticsList],
    label: str,
    classes: list[str],
) -> list[FeatureAnomaly]:
    """Multiclass labels outside the schema's classes, per split, from the label's value counts
    (TFDV checks an integer label's range only, so a class inside the range but unknown to the
    model would otherwise reach the Trainer)."""
    if not classes:
        return []
    known = set(classes)
    found = []
    for split, statistics in sorted(statistics_by_split.items()):
        for dataset in statistics.datasets:
            for feature in dataset.features:
                if feature.path.step[-1:] != [label] and feature.name != label:
                    continue
                values = [b.label for b in feature.string_stats.rank_histogram.buckets]
                values += [v.value for v in feature.string_stats.top_values]
                unknown = sorted({v for v in values if v not in known})
                if unknown:
                    found.append(
                        FeatureAnomaly(
                            split=split,
                            feature=label,
                            severity="ERROR",
                            reasons=("UNKNOWN_LABEL_CLASS",),
                            description=(
                                f"label classes {unknown} are not among the schema's classes {classes} "
                                "(add them to label.classes and bootstrap the schema again)"
                            ),
                        )
                    )
    return found


class BlockedByDriftError(RuntimeError):
    """Data drift beyond the schema's thresholds under the `block` policy."""


@dataclass(frozen=True)
class DriftOutcome:
    """The DriftReport's verdict of a span, as the gate reads it from MLMD."""

    span: int
    baseline_span: int | None
    verdict: str  # a DriftVerdict value
    policy: str  # warn | block
    summary: str


def check_gate(
    anomalies_by_split: dict[str, anomalies_pb2.Anomalies],
    statistics_by_split: dict[str, statistics_pb2.DatasetFeatureStatisticsList],
    expected_num_examples: int,
    drift: DriftOutcome | None = None,
    label: str = "",
    classes: list[str] | None = None,
) -> dict[str, int]:
    """Raises when any split has anomalies, rows went missing, or drift is blocked; returns
    examples per split."""
    counts = count_examples(statistics_by_split)
    total = sum(counts.values())
    if expected_num_examples > 0 and total != expected_num_examples:
        raise RowCountMismatchError(
            f"ExampleGen produced {total} examples {counts} but the span's CSV files hold "
            f"{expected_num_examples} rows"
        )
    found = [
        anomaly
        for split, anomalies in sorted(anomalies_by_split.items())
        for anomaly in feature_anomalies(split, anomalies)
    ]
    flagged = {(anomaly.split, anomaly.feature) for anomaly in found}
    found += [
        anomaly
        for anomaly in unknown_label_classes(statistics_by_split, label, list(classes or []))
        if (anomaly.split, anomaly.feature) not in flagged
    ]
    if found:
        raise DataAnomaliesError(format_report(found))
    if drift is not None and drift.verdict == DriftVerdict.DRIFT and drift.policy == "block":
        raise BlockedByDriftError(
            f"span {drift.span} drifted from baseline span {drift.baseline_span} "
            f"(drift policy: block):\n{drift.summary}"
        )
    return counts
