"""Pure core of the concept-drift check.

Data drift is a change in the inputs; concept drift is a change in the mapping from inputs to
label. It shows as the currently pushed model doing worse on a new labelled span than it did
on its own evaluation data when it was blessed, whether or not the inputs moved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ml_lifecycle.base.contracts import CONCEPT_LOWER_IS_BETTER


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Exact ROC AUC (Mann-Whitney U, ties counted half); NaN when one class is absent."""
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    tie_ranks = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(tie_ranks, counts)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def binary_accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    labels = np.asarray(labels).astype(bool).ravel()
    return float(np.mean((np.asarray(scores).ravel() > threshold) == labels))


def accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Multiclass accuracy: `labels` are class indices, `scores` one row of K scores per example."""
    scores = np.asarray(scores, dtype=np.float64)
    return float(np.mean(np.argmax(scores.reshape(len(scores), -1), axis=1) == np.asarray(labels).ravel()))


def rmse(labels: np.ndarray, scores: np.ndarray) -> float:
    errors = np.asarray(scores, dtype=np.float64).ravel() - np.asarray(labels, dtype=np.float64).ravel()
    return float(np.sqrt(np.mean(errors**2)))


def mae(labels: np.ndarray, scores: np.ndarray) -> float:
    errors = np.asarray(scores, dtype=np.float64).ravel() - np.asarray(labels, dtype=np.float64).ravel()
    return float(np.mean(np.abs(errors)))


METRICS = {"auc": roc_auc, "binary_accuracy": binary_accuracy, "accuracy": accuracy, "rmse": rmse, "mae": mae}


@dataclass(frozen=True)
class ConceptDriftResult:
    metric: str
    blessed_value: float  # the pushed model's metric at blessing (its own eval split)
    current_value: float  # the same model's metric on the new span
    max_drop: float  # absolute for auc and accuracies; a fraction of the blessed value for rmse/mae
    examples: int

    @property
    def lower_is_better(self) -> bool:
        # Errors grow as the model gets worse, and their scale is the label's: their allowance is
        # a fraction of the blessed value rather than an absolute drop.
        return self.metric in CONCEPT_LOWER_IS_BETTER

    @property
    def drop(self) -> float:
        """How much worse the model got (positive = worse): absolute for scores, relative to the
        blessed value for errors."""
        if self.lower_is_better:
            if self.blessed_value == 0:
                return 0.0 if self.current_value == 0 else float("inf")
            return (self.current_value - self.blessed_value) / self.blessed_value
        return self.blessed_value - self.current_value

    @property
    def drifted(self) -> bool:
        return bool(self.drop > self.max_drop)

    def to_dict(self) -> dict:
        return {**asdict(self), "drop": self.drop, "drifted": self.drifted}

    def summary(self) -> str:
        verdict = "CONCEPT DRIFT" if self.drifted else "no concept drift"
        change = (
            f"up {self.drop:+.1%}, allowed {self.max_drop:.0%}"
            if self.lower_is_better
            else f"drop {self.drop:+.4f}, allowed {self.max_drop}"
        )
        return (
            f"{verdict}: {self.metric} of the pushed model {self.blessed_value:.4f} at blessing -> "
            f"{self.current_value:.4f} on this span ({self.examples} examples; {change})"
        )


def check_concept_drift(
    metric: str,
    blessed_value: float,
    labels: np.ndarray,
    scores: np.ndarray,
    max_drop: float,
) -> ConceptDriftResult:
    if metric not in METRICS:
        raise ValueError(f"unknown concept-drift metric {metric!r}; expected one of {list(METRICS)}")
    current = METRICS[metric](labels, scores)
    return ConceptDriftResult(metric, float(blessed_value), current, max_drop, int(len(labels)))
