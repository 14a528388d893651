"""What the drift check found, as plain dataclasses: per feature comparator, for the dataset's
size, and for the whole; their JSON table and readable summary lines, and the error that
carries them when drift blocks a run."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tensorflow_metadata.proto.v0 import anomalies_pb2

from ml_lifecycle.base.contracts import FeatureScore, finite_or_none

# Change in the share of examples without a value that counts as presence drift.
PRESENCE_CHANGE_THRESHOLD = 0.2


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # NUMERIC or CATEGORICAL, as the statistics describe the feature
    measure: str  # a value of core.MEASURES
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
            "score": finite_or_none(self.score),
            "threshold": finite_or_none(self.threshold),
            "drifted": self.drifted,
            "presence_drifted": self.presence_drifted,
            "psi": finite_or_none(self.psi),
            "missing_fraction_current": finite_or_none(self.missing_fraction_current),
            "missing_fraction_baseline": finite_or_none(self.missing_fraction_baseline),
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

    def feature_scores(self) -> dict[str, FeatureScore]:
        """Feature -> its score as the DriftReport's `feature_scores` property records it (the
        last comparator of a feature wins; `flagged` covers drift of the presence too)."""
        return {
            item.feature: FeatureScore(item.score, item.threshold, item.flagged, item.psi)
            for item in self.features
        }

    def summary_lines(self) -> list[str]:
        """The drifted features, the dataset when its size drifted, then comparators TFDV skipped."""
        lines = [item.describe() for item in self.features if item.flagged]
        if self.dataset.drifted:
            lines.append(self.dataset.describe())
        lines.extend(item.describe() for item in self.features if item.note and not item.flagged)
        return lines


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
