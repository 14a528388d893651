"""Sliding windows of one model's last observations, with running counts so reads cost nothing
per row: what the alert metrics are computed over (`metrics.py`)."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable

import numpy as np

from ml_lifecycle.serving.observability.schema_checks import RowCheck

# Without a schema the features are the ones requests carry: capped, since clients choose them.
MAX_SEEN_FEATURES = 1000


def _ignore(_item: object) -> None:
    return None


class Window:
    """The last `size` observations; `push` reports what enters and what it evicts."""

    def __init__(self, size: int) -> None:
        self.items: deque = deque()
        self.size = size

    def push(self, item, on_add: Callable = _ignore, on_evict: Callable = _ignore) -> None:
        if len(self.items) == self.size:
            on_evict(self.items.popleft())
        self.items.append(item)
        on_add(item)


class ScoreWindow:
    """The last `size` scores as per-request arrays with running sums: whole batches go in and
    out at numpy speed (the per-score Python loop cost 0.4 ms on a 256-row request)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.chunks: deque[tuple[np.ndarray, np.ndarray]] = deque()  # (scores, deferred mask)
        self.count = 0
        self.score_sum = 0.0
        self.deferred = 0

    def push(self, scores: np.ndarray, deferred: np.ndarray) -> None:
        scores, deferred = scores[-self.size :], deferred[-self.size :]
        self.chunks.append((scores, deferred))
        self.count += len(scores)
        self.score_sum += float(scores.sum())
        self.deferred += int(deferred.sum())
        while self.count > self.size:
            excess = self.count - self.size
            oldest_scores, oldest_deferred = self.chunks[0]
            cut = min(excess, len(oldest_scores))
            self.count -= cut
            self.score_sum -= float(oldest_scores[:cut].sum())
            self.deferred -= int(oldest_deferred[:cut].sum())
            if cut == len(oldest_scores):
                self.chunks.popleft()
            else:
                self.chunks[0] = (oldest_scores[cut:], oldest_deferred[cut:])


class ModelWindows:
    """One model's windows: requests, checked input rows, scores, shadow comparisons."""

    def __init__(self, window: int) -> None:
        self.requests = Window(window)  # (status class, seconds)
        self.request_classes: Counter = Counter()
        self.rows = Window(window)  # RowCheck
        self.missing: Counter = Counter()
        self.out_of_schema: Counter = Counter()
        self.rows_out_of_schema = 0
        self.seen_features: set[str] = set()
        self.scores = ScoreWindow(window)
        self.shadow = Window(window)  # (agree, abs diff)
        self.shadow_agree = 0
        self.shadow_diff_sum = 0.0

    def add_request(self, status_class: str, seconds: float) -> None:
        self.requests.push(
            (status_class, seconds),
            lambda item: self.request_classes.update((item[0],)),
            lambda item: self.request_classes.subtract((item[0],)),
        )

    def note_features(self, rows: Iterable[dict[str, object]]) -> None:
        """Remembers the features requests carry (used when there is no schema to name them)."""
        for row in rows:
            if len(self.seen_features) < MAX_SEEN_FEATURES:
                self.seen_features.update(row)

    def add_row(self, check: RowCheck) -> None:
        self.rows.push(check, lambda c: self._count_row(c, 1), lambda c: self._count_row(c, -1))

    def add_scores(self, scores: np.ndarray, deferred: np.ndarray) -> None:
        """One request's scores (`ModelAnswer.score`) and which rows were deferred to review."""
        self.scores.push(scores, deferred)

    def add_shadow(self, item: tuple[bool, float]) -> None:
        self.shadow.push(item, lambda i: self._count_shadow(i, 1), lambda i: self._count_shadow(i, -1))

    def _count_row(self, check: RowCheck, sign: int) -> None:
        for name in check.missing:
            self.missing[name] += sign
        for name in check.out_of_schema:
            self.out_of_schema[name] += sign
        self.rows_out_of_schema += sign * check.any_out_of_schema

    def _count_shadow(self, item: tuple[bool, float], sign: int) -> None:
        self.shadow_agree += sign * item[0]
        self.shadow_diff_sum += sign * item[1]
