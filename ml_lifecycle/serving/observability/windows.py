"""Sliding windows of one model's last observations, with running counts so reads cost nothing
per row: what the alert metrics are computed over (`metrics.py`).

`ModelWindows.summary()` copies what the metrics read into a `WindowSummary`, plain data that
a worker writes into its snapshot and that `merge_summaries` adds up across workers (the merged
window is the union of each worker's last `window` observations).

Feature names in the input counts come from requests (a row may carry any keys): the schema's
features and those alert rules name are always counted, past them at most `MAX_SEEN_FEATURES`
other names per model, so a client cannot grow the counters without bound.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ml_lifecycle.serving.observability.schema_checks import RowCheck

# Without a schema the features are the ones requests carry: capped, since clients choose them.
# The same cap bounds the feature names counted beyond the schema's.
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
        if not math.isfinite(self.score_sum):
            # A NaN or infinite score would stay in the running sum after it left the window
            # (nan - nan is nan): while the sum is not finite, it is summed afresh.
            self.score_sum = float(sum(chunk.sum() for chunk, _ in self.chunks))


@dataclass
class WindowSummary:
    """What the alert metrics read of one model's windows: the counts over each window, and the
    latencies themselves (quantiles need them). Plain data, copied out under the monitor's lock."""

    latencies: list[float] = field(default_factory=list)  # the requests window, oldest first
    request_classes: Counter = field(default_factory=Counter)  # status class -> requests
    rows: int = 0
    missing: Counter = field(default_factory=Counter)  # feature -> rows without a value
    out_of_schema: Counter = field(default_factory=Counter)  # feature -> rows out of schema
    rows_out_of_schema: int = 0
    seen_features: list[str] = field(default_factory=list)  # sorted
    scores: int = 0
    score_sum: float = 0.0
    deferred: int = 0
    shadow: int = 0
    shadow_agree: int = 0
    shadow_diff_sum: float = 0.0


def merge_summaries(summaries: Sequence[WindowSummary]) -> WindowSummary:
    """The union of several workers' windows of one model. The first is copied, the rest added
    to it, so one summary merges into an equal one (a sum from 0.0 would turn -0.0 into 0.0)."""
    first, *rest = summaries
    merged = WindowSummary(
        list(first.latencies),
        Counter(first.request_classes),
        first.rows,
        Counter(first.missing),
        Counter(first.out_of_schema),
        first.rows_out_of_schema,
        list(first.seen_features),
        first.scores,
        first.score_sum,
        first.deferred,
        first.shadow,
        first.shadow_agree,
        first.shadow_diff_sum,
    )
    seen = set(first.seen_features)
    for summary in rest:
        merged.latencies.extend(summary.latencies)
        # update(), not +: Counter addition drops counts that are not positive.
        merged.request_classes.update(summary.request_classes)
        merged.rows += summary.rows
        merged.missing.update(summary.missing)
        merged.out_of_schema.update(summary.out_of_schema)
        merged.rows_out_of_schema += summary.rows_out_of_schema
        seen.update(summary.seen_features)
        merged.scores += summary.scores
        merged.score_sum += summary.score_sum
        merged.deferred += summary.deferred
        merged.shadow += summary.shadow
        merged.shadow_agree += summary.shadow_agree
        merged.shadow_diff_sum += summary.shadow_diff_sum
    if rest:
        merged.seen_features = sorted(seen)[:MAX_SEEN_FEATURES]
    return merged


class ModelWindows:
    """One model's windows: requests, checked input rows, scores, shadow comparisons.

    `counted_features` are always counted in the per-feature input counts; other names (a
    request's unknown keys) only until `MAX_SEEN_FEATURES` of them are."""

    def __init__(self, window: int, counted_features: Iterable[str] = ()) -> None:
        self.requests = Window(window)  # (status class, seconds)
        self.request_classes: Counter = Counter()
        # (missing, out of schema) names as counted, whether any value was out of schema.
        self.rows = Window(window)
        self.missing: Counter = Counter()
        self.out_of_schema: Counter = Counter()
        self.rows_out_of_schema = 0
        self.seen_features: set[str] = set()
        self.scores = ScoreWindow(window)
        self.shadow = Window(window)  # (agree, abs diff)
        self.shadow_agree = 0
        self.shadow_diff_sum = 0.0
        self._counted_names = set(counted_features)
        self._extra_names_left = MAX_SEEN_FEATURES

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
        # The window keeps the names as counted, so evicting a row takes back exactly what it added.
        item = (self._counted(check.missing), self._counted(check.out_of_schema), check.any_out_of_schema)
        self.rows.push(item, lambda c: self._count_row(c, 1), lambda c: self._count_row(c, -1))

    def add_scores(self, scores: np.ndarray, deferred: np.ndarray) -> None:
        """One request's scores (`ModelAnswer.score`) and which rows were deferred to review."""
        self.scores.push(scores, deferred)

    def add_shadow(self, item: tuple[bool, float]) -> None:
        self.shadow.push(item, lambda i: self._count_shadow(i, 1), lambda i: self._count_shadow(i, -1))

    def summary(self) -> WindowSummary:
        """A copy of what the metrics read (zero counts left out: they read as zero anyway)."""
        return WindowSummary(
            [seconds for _, seconds in self.requests.items],
            Counter({name: count for name, count in self.request_classes.items() if count}),
            len(self.rows.items),
            Counter({name: count for name, count in self.missing.items() if count}),
            Counter({name: count for name, count in self.out_of_schema.items() if count}),
            self.rows_out_of_schema,
            sorted(self.seen_features),
            self.scores.count,
            self.scores.score_sum,
            self.scores.deferred,
            len(self.shadow.items),
            self.shadow_agree,
            self.shadow_diff_sum,
        )

    def _counted(self, names: tuple[str, ...]) -> tuple[str, ...]:
        if not names or all(name in self._counted_names for name in names):
            return names
        kept = []
        for name in names:
            if name not in self._counted_names and self._extra_names_left > 0:
                self._counted_names.add(name)
                self._extra_names_left -= 1
            if name in self._counted_names:
                kept.append(name)
        return tuple(kept)

    def _count_row(self, item: tuple[tuple[str, ...], tuple[str, ...], bool], sign: int) -> None:
        missing, out_of_schema, any_out_of_schema = item
        for name in missing:
            self.missing[name] += sign
        for name in out_of_schema:
            self.out_of_schema[name] += sign
        self.rows_out_of_schema += sign * any_out_of_schema

    def _count_shadow(self, item: tuple[bool, float], sign: int) -> None:
        self.shadow_agree += sign * item[0]
        self.shadow_diff_sum += sign * item[1]
