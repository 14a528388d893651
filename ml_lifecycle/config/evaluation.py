"""The Evaluator's gate per task: which TFMA metric blesses a candidate, its bound, and how much
worse than the latest blessed model it may be. `DEFAULT_GATES` holds every default."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, model_validator

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.config.strict import StrictModel

# TFMA metrics where a smaller value is the better model (the gate's direction).
LOWER_IS_BETTER_METRICS = frozenset(
    {"RootMeanSquaredError", "MeanSquaredError", "MeanAbsoluteError", "SparseCategoricalCrossentropy"}
)


@dataclass(frozen=True)
class Gate:
    """The Evaluator's blessing rule for one task, after the YAML's overrides."""

    metric: str  # a TFMA metric class name
    higher_is_better: bool
    # Absolute bound on the candidate: a floor when higher is better, a ceiling otherwise.
    value_bound: float | None
    # How much worse than the latest blessed model the candidate may be, absolute and relative.
    max_drop: float | None
    max_relative_drop: float | None


# The default gate per task: every default of `evaluation` is here. RMSE has no default bound
# (its scale is the label's), only a change threshold relative to the baseline model.
DEFAULT_GATES = {
    Task.BINARY: Gate("AUC", True, value_bound=0.6, max_drop=0.02, max_relative_drop=None),
    Task.MULTICLASS: Gate(
        "SparseCategoricalAccuracy", True, value_bound=0.5, max_drop=0.02, max_relative_drop=None
    ),
    Task.REGRESSION: Gate(
        "RootMeanSquaredError", False, value_bound=None, max_drop=None, max_relative_drop=0.05
    ),
}


class EvaluationThresholds(StrictModel):
    """Overrides of the task's gate (`DEFAULT_GATES`); unset keys keep the task's default."""

    metric: str | None = None
    # The candidate needs at least this value (higher-is-better metrics) ...
    min_value: float | None = None
    # ... or at most this value (lower-is-better metrics, e.g. RMSE) ...
    max_value: float | None = None
    # ... and may be worse than the latest blessed model by at most this much (absolute), or
    # this fraction of the baseline's value (relative).
    max_drop: float | None = None
    max_relative_drop: float | None = Field(None, ge=0)

    def gate(self, task: Task) -> Gate:
        default = DEFAULT_GATES[task]
        metric = self.metric or default.metric
        higher_is_better = metric not in LOWER_IS_BETTER_METRICS
        given = self.min_value if higher_is_better else self.max_value
        # The task's default bounds belong to its default metric; another metric starts unbounded.
        fallback = default if metric == default.metric else Gate(metric, higher_is_better, None, None, None)

        def pick(value: float | None, default_value: float | None) -> float | None:
            return value if value is not None else default_value

        return Gate(
            metric,
            higher_is_better,
            value_bound=pick(given, fallback.value_bound),
            max_drop=pick(self.max_drop, fallback.max_drop),
            max_relative_drop=pick(self.max_relative_drop, fallback.max_relative_drop),
        )

    @model_validator(mode="after")
    def _bound_matches_direction(self) -> EvaluationThresholds:
        if self.metric is None:
            return self
        lower = self.metric in LOWER_IS_BETTER_METRICS
        if lower and self.min_value is not None:
            raise ValueError(f"{self.metric} is lower-is-better: give evaluation.max_value, not min_value")
        if not lower and self.max_value is not None:
            raise ValueError(f"{self.metric} is higher-is-better: give evaluation.min_value, not max_value")
        return self
