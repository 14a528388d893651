"""The Evaluator's gate per task: which TFMA metric blesses a candidate, its bound, and how much
worse than the latest blessed model it may be. `DEFAULT_GATES` holds every default."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field, model_validator

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.config.strict import StrictModel

# The TFMA metrics a gate may name, by direction: a name outside both is refused at load (a typo,
# or a metric whose direction this kit does not know, would otherwise gate the wrong way).
LOWER_IS_BETTER_METRICS = frozenset(
    {
        "RootMeanSquaredError",
        "MeanSquaredError",
        "MeanAbsoluteError",
        "MeanAbsolutePercentageError",
        "MeanSquaredLogarithmicError",
        "BinaryCrossentropy",
        "CategoricalCrossentropy",
        "SparseCategoricalCrossentropy",
    }
)
HIGHER_IS_BETTER_METRICS = frozenset(
    {
        "AUC",
        "AUCPrecisionRecall",
        "BinaryAccuracy",
        "Precision",
        "Recall",
        "F1Score",
        "SparseCategoricalAccuracy",
        "CategoricalAccuracy",
        "Accuracy",
    }
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

    def check_task(self, task: Task) -> None:
        """A bound in the default metric's wrong direction (e.g. `min_value` for RMSE) is an error,
        not silently ignored."""
        if self.metric is not None:
            return
        default = DEFAULT_GATES[task]
        wrong = "min_value" if not default.higher_is_better else "max_value"
        if getattr(self, wrong) is not None:
            right = "max_value" if wrong == "min_value" else "min_value"
            raise ValueError(
                f"evaluation.{wrong} does not apply to {task.value}'s gate {default.metric} "
                f"({'lower' if wrong == 'min_value' else 'higher'} is better): give evaluation.{right}"
            )

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
        if self.max_drop is not None and self.max_drop < 0:
            raise ValueError(f"evaluation.max_drop must be >= 0, not {self.max_drop}")
        if self.metric is None:
            return self
        known = sorted(LOWER_IS_BETTER_METRICS | HIGHER_IS_BETTER_METRICS)
        if self.metric not in known:
            raise ValueError(f"evaluation.metric {self.metric!r} is not one of {known}")
        if all(v is None for v in (self.min_value, self.max_value, self.max_drop, self.max_relative_drop)):
            # A gate without a bound or an allowance would bless every candidate.
            raise ValueError(
                f"evaluation.metric {self.metric!r} needs a bound (min_value or max_value) or an "
                "allowance against the baseline (max_drop or max_relative_drop)"
            )
        lower = self.metric in LOWER_IS_BETTER_METRICS
        if lower and self.min_value is not None:
            raise ValueError(f"{self.metric} is lower-is-better: give evaluation.max_value, not min_value")
        if not lower and self.max_value is not None:
            raise ValueError(f"{self.metric} is higher-is-better: give evaluation.min_value, not max_value")
        return self
