"""The output metrics, a registry keyed by name: what models answered, one Prometheus family each.

Each metric covers the models of one task and says what one observation is. All are cumulative
since the server started and labelled by model and version (plus `class` where named):

| family (`lifecycle_serving_...`) | task | kind, labels | one observation |
| --- | --- | --- | --- |
| `score` | binary | histogram, 0.1 .. 1.0 | a row's P(class 1) |
| `class_probability` | multiclass | histogram by `class`, 0.1 .. 1.0 | a class's probability on a row |
| `predicted_class` | multiclass | counter by `class` | a row whose top class is `class` |
| `prediction` | regression | histogram | a row's predicted value |

A multiclass model's first `MAX_CLASS_SERIES` (50) classes, in class-index order, have series
of their own in the two `class` families; further classes share the series `class="(other)"`
(its probability histogram observes each folded class's probability, its counter the rows whose
top class is one of them), so a model with thousands of classes adds at most 51 series per
version and family. The parentheses keep it apart from a class called `other`.

A regression model's bucket edges are `serving.monitoring.prediction_buckets` when configured.
Otherwise they are chosen once per model from its first predictions (the requests that bring
it to `LEARNED_EDGE_SAMPLE` rows, or to the monitoring window if smaller): about ten evenly
spaced "nice" edges (steps of 1, 2, 2.5 or 5 times a power of ten) covering those values.
Versions of a model share its edges, so a canary's distribution compares bucket by bucket with
the stable one's. Until the edges are chosen the model's predictions are held (and counted once
the edges exist); its histogram has no samples yet. With several workers, a worker that has not
chosen a model's edges yet takes those another worker chose (`adopt_edges`), so their
histograms add up bucket by bucket.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.observability.tallies import new_histogram, observe_many

SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# Predictions a regression model's bucket edges are chosen from (fewer when the window is smaller).
LEARNED_EDGE_SAMPLE = 200
# About this many buckets between a learned histogram's lowest and highest sampled value.
LEARNED_BUCKETS = 10
# Classes with a `class` series of their own; the rest share OTHER_CLASS (bounded cardinality).
MAX_CLASS_SERIES = 50
OTHER_CLASS = "(other)"

# (extra label values, the values observed in that series) for each series an answer adds to.
Observed = list[tuple[tuple[str, ...], np.ndarray]]


@dataclass(frozen=True)
class OutputMetric:
    """One Prometheus family (`lifecycle_serving_<name>`) of the answers of one task's models."""

    name: str
    help: str
    task: Task
    kind: Literal["histogram", "counter"]
    observe: Callable[[ModelAnswer], Observed]
    labels: tuple[str, ...] = ()  # beyond model and version
    # Histograms: fixed bucket edges; None: edges learned per model (see the module docstring).
    buckets: tuple[float, ...] | None = None


def _first_column(answer: ModelAnswer) -> Observed:
    return [((), answer.values[:, 0])]


def _each_class(answer: ModelAnswer) -> Observed:
    observed: Observed = [
        ((label,), answer.values[:, index]) for index, label in enumerate(answer.classes[:MAX_CLASS_SERIES])
    ]
    if len(answer.classes) > MAX_CLASS_SERIES:
        observed.append(((OTHER_CLASS,), answer.values[:, MAX_CLASS_SERIES:].ravel()))
    return observed


def _top_classes(answer: ModelAnswer) -> Observed:
    top = answer.top_index
    counts = np.bincount(top, minlength=len(answer.classes))
    observed: Observed = [
        ((answer.classes[index],), top[top == index]) for index in np.flatnonzero(counts[:MAX_CLASS_SERIES])
    ]
    folded = top[top >= MAX_CLASS_SERIES]
    if folded.size:
        observed.append(((OTHER_CLASS,), folded))
    return observed


OUTPUT_METRICS: dict[str, OutputMetric] = {
    metric.name: metric
    for metric in (
        OutputMetric(
            "score",
            "Scores returned by binary classifiers (P(class 1)), one observation per row.",
            Task.BINARY,
            "histogram",
            _first_column,
            buckets=SCORE_BUCKETS,
        ),
        OutputMetric(
            "class_probability",
            "Class probabilities returned by multiclass classifiers, one observation per row and class "
            f'(classes past the first {MAX_CLASS_SERIES} share class="{OTHER_CLASS}").',
            Task.MULTICLASS,
            "histogram",
            _each_class,
            labels=("class",),
            buckets=SCORE_BUCKETS,
        ),
        OutputMetric(
            "predicted_class",
            "Rows whose top class (the highest probability) is `class`, by multiclass classifier "
            f'(classes past the first {MAX_CLASS_SERIES} share class="{OTHER_CLASS}").',
            Task.MULTICLASS,
            "counter",
            _top_classes,
            labels=("class",),
        ),
        OutputMetric(
            "prediction",
            "Values predicted by regression models, one observation per row.",
            Task.REGRESSION,
            "histogram",
            _first_column,
        ),
    )
}


def nice_edges(values: np.ndarray, buckets: int = LEARNED_BUCKETS) -> tuple[float, ...]:
    """Evenly spaced edges with a round step covering the finite `values` (at least two edges)."""
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high == low:
        half = max(abs(low) * 0.1, 0.5)
        low, high = low - half, high + half
    raw_step = (high - low) / buckets
    magnitude = 10.0 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw_step * (1 - 1e-9))
    first, last = math.floor(low / step), math.ceil(high / step)
    # `k * step` printed to 12 digits: 0.30000000000000004 is the edge 0.3.
    return tuple(float(f"{k * step:.12g}") for k in range(first, max(last, first + 1) + 1))


class OutputTallies:
    """The output metrics' cumulative counts. Not thread-safe: the monitor's lock guards it."""

    def __init__(
        self, prediction_buckets: tuple[float, ...] = (), edge_sample: int = LEARNED_EDGE_SAMPLE
    ) -> None:
        self._configured = tuple(prediction_buckets)
        self._edge_sample = max(1, edge_sample)
        # metric name -> (model, version, *extra labels) -> histogram list or counter int.
        self.series: dict[str, dict[tuple[str, ...], list | int]] = {name: {} for name in OUTPUT_METRICS}
        self._learned: dict[str, tuple[float, ...]] = {}  # model -> edges
        # model -> (metric, series key, values) held until its edges are chosen, and their rows.
        self._held: dict[str, list[tuple[OutputMetric, tuple[str, ...], np.ndarray]]] = {}
        self._held_rows: dict[str, int] = {}

    def count(self, model: str, version: str, answer: ModelAnswer) -> None:
        """One request's answer, into every metric of its task."""
        for metric in OUTPUT_METRICS.values():
            if metric.task is not answer.task:
                continue
            for extra, values in metric.observe(answer):
                key = (model, version, *extra)
                if metric.kind == "counter":
                    self.series[metric.name][key] = self.series[metric.name].get(key, 0) + len(values)
                    continue
                bounds = self.buckets(metric, model)
                if bounds is None:
                    self._hold(model, metric, key, values)
                else:
                    self._observe(metric, key, bounds, values)

    def tables(self) -> tuple[dict[str, dict[tuple[str, ...], int]], dict[str, dict[tuple[str, ...], list]]]:
        """Copies of the (counter, histogram) series by table name (`output_table(metric)`)."""
        counters: dict[str, dict[tuple[str, ...], int]] = {}
        histograms: dict[str, dict[tuple[str, ...], list]] = {}
        for metric in OUTPUT_METRICS.values():
            series = self.series[metric.name]
            if metric.kind == "counter":
                counters[output_table(metric)] = dict(series)
            else:
                histograms[output_table(metric)] = {key: list(histogram) for key, histogram in series.items()}
        return counters, histograms

    def model_edges(self) -> dict[str, tuple[float, ...]]:
        """The edges of every model whose histograms have per-model edges (configured or learned)
        and have samples."""
        return {
            key[0]: self.buckets(metric, key[0])
            for metric in OUTPUT_METRICS.values()
            if metric.kind == "histogram" and metric.buckets is None
            for key in self.series[metric.name]
        }

    def adopt_edges(self, model: str, edges: tuple[float, ...]) -> None:
        """Uses `edges` for `model` unless its edges are configured or chosen already."""
        if self._configured or model in self._learned:
            return
        self._learn(model, tuple(edges))

    def buckets(self, metric: OutputMetric, model: str) -> tuple[float, ...] | None:
        """A histogram's edges for `model`; None while learned edges are still being sampled."""
        if metric.buckets is not None:
            return metric.buckets
        return self._configured or self._learned.get(model)

    def _observe(self, metric: OutputMetric, key: tuple[str, ...], bounds, values: np.ndarray) -> None:
        histogram = self.series[metric.name].setdefault(key, new_histogram(bounds))
        observe_many(histogram, bounds, values)

    def _hold(self, model: str, metric: OutputMetric, key: tuple[str, ...], values: np.ndarray) -> None:
        held = self._held.setdefault(model, [])
        held.append((metric, key, np.array(values, dtype=np.float64)))
        self._held_rows[model] = self._held_rows.get(model, 0) + len(values)
        if self._held_rows[model] < self._edge_sample:
            return
        self._learn(model, nice_edges(np.concatenate([held_values for _, _, held_values in held])))

    def _learn(self, model: str, edges: tuple[float, ...]) -> None:
        self._learned[model] = edges
        self._held_rows.pop(model, None)
        for held_metric, held_key, held_values in self._held.pop(model, []):
            self._observe(held_metric, held_key, edges, held_values)


def output_table(metric: OutputMetric) -> str:
    """The name of a metric's series in a monitor snapshot."""
    return f"output:{metric.name}"
