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


def pick_baseline_span(
    mode: str,
    current_span: int,
    available_spans: set[int],
    pushed_spans: list[int],
    pinned_span: int | None = None,
) -> int | None:
    """The span whose statistics the current span is compared with, or None (no baseline).

    pushed: the span of the newest pushed model trained on another span; previous: the latest
    span before the current one; pinned: a fixed reference span. Only spans with statistics
    (`available_spans`) qualify.
    """
    if mode == "pinned":
        return pinned_span if pinned_span in available_spans else None
    if mode == "previous":
        earlier = [s for s in available_spans if s < current_span]
        return max(earlier, default=None)
    if mode == "pushed":
        for span in reversed(pushed_spans):
            if span != current_span and span in available_spans:
                return span
        return None
    raise ValueError(f"unknown drift baseline mode {mode!r}; expected pushed, previous or pinned")
