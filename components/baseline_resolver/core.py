"""Pure core of the baseline choice.

TFX's LatestBlessedModelStrategy returns the latest blessed model, which on a rerun of the same
span is the candidate itself: the Evaluator then compares a model with itself, misses the cache,
and the Pusher pushes the same model again. Excluding models trained on the current span keeps
the baseline what it was the first time (the model serving before this span arrived).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CandidateBaseline:
    model_id: int
    blessing_id: int
    trained_on_spans: frozenset[int]


def pick_baseline(candidates: list[CandidateBaseline], current_span: int) -> CandidateBaseline | None:
    """The newest (highest id) blessed model not trained on `current_span`."""
    eligible = [c for c in candidates if current_span not in c.trained_on_spans]
    return max(eligible, key=lambda c: c.model_id, default=None)
