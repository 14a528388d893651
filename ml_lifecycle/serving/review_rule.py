"""Which predictions a person reviews: the rule `serving.review` sets, by the model's task.

`assist` returns every prediction and flags it for review; `full` leaves people out; `partial`
defers (answers `deferred`, queues) the uncertain predictions, as the model's task defines them:

| task | deferred under `partial` |
| --- | --- |
| binary | P(class 1) inside [defer_low, defer_high] (edges inside) |
| multiclass | the top class's probability below `min_confidence` |
| regression | the value inside `value_band` (edges inside); without a band nothing, logged once per model |

The number judged is the answer's `score` (`inference.answers`). The queue is `serving.review`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.config.serving import HumanReviewConfig
from ml_lifecycle.serving.inference.answers import ModelAnswer

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReviewDecision:
    deferred: bool  # answer `deferred` instead of the prediction, and queue it
    flagged: bool  # queue it for review (deferred ones always are)


def uncertain(scores: np.ndarray, config: HumanReviewConfig, task: Task) -> np.ndarray:
    """Per row, whether `partial` automation defers it (see the module docstring's table)."""
    scores = np.asarray(scores, dtype=np.float64)
    if task is Task.MULTICLASS:
        return scores < config.min_confidence
    if task is Task.REGRESSION:
        if config.value_band is None:
            return np.zeros(len(scores), dtype=bool)
        low, high = config.value_band
        return (low <= scores) & (scores <= high)
    return (config.defer_low <= scores) & (scores <= config.defer_high)


def decide(score: float, config: HumanReviewConfig, task: Task = Task.BINARY) -> ReviewDecision:
    """What human review does with one prediction's score under the configured automation."""
    if config.automation == "assist":
        return ReviewDecision(deferred=False, flagged=True)
    if config.automation == "partial":
        deferred = bool(uncertain(np.array([score]), config, task)[0])
        return ReviewDecision(deferred=deferred, flagged=deferred)
    return ReviewDecision(deferred=False, flagged=False)


def review_marks(answer: ModelAnswer, config: HumanReviewConfig) -> dict[str, list[bool]] | None:
    """The `review` key of a response: per row, deferred and flagged; None under full automation."""
    if config.automation == "full":
        return None
    if config.automation == "assist":
        return {"deferred": [False] * answer.rows, "flagged": [True] * answer.rows}
    deferred = uncertain(answer.score, config, answer.task).tolist()
    return {"deferred": deferred, "flagged": list(deferred)}


class ReviewRule:
    """`review_marks` under one server's config, saying once per model when `partial` automation
    can defer nothing (a regression model without a value band) rather than on every request."""

    def __init__(self, config: HumanReviewConfig) -> None:
        self.config = config
        self._told: set[str] = set()
        self._lock = threading.Lock()

    def marks(self, answer: ModelAnswer, model: str) -> dict[str, list[bool]] | None:
        if self.config.automation == "partial" and answer.task is Task.REGRESSION:
            if self.config.value_band is None:
                self._say_once_nothing_is_deferred(model)
        return review_marks(answer, self.config)

    def _say_once_nothing_is_deferred(self, model: str) -> None:
        with self._lock:
            if model in self._told:
                return
            self._told.add(model)
        _log.warning(
            "serving.review: automation 'partial' defers nothing for regression model %r: no "
            "serving.review.value_band is set; set value_band: [low, high] to defer values inside "
            "it, or automation: assist to flag every prediction",
            model,
        )
