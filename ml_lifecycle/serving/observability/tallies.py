"""Cumulative counts since the server started, as Prometheus wants them (it computes rates itself):
requests by label set, latency histograms, deferred rows, input rows, shadow pairs; the
histogram primitives (the output metrics' tallies are `outputs.py`); and the caps on label
values that come from clients.

Label caps: a label's first `limit` distinct values (per model for `version` and `route`) have
series of their own, later ones share the value `(other)`, so a client sending made-up versions
or label names adds a bounded number of series. The parentheses keep it apart from a route or
label called `other`."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ml_lifecycle.serving.observability.windows import Window

OTHER = "(other)"
# Distinct values per model with series of their own; real servers have a handful of each.
MAX_VERSION_LABELS = 32
MAX_ROUTE_LABELS = 32

# Prometheus client defaults (5 ms .. 10 s) with 1 and 2.5 ms in front: a warm in-process
# model answers in about a millisecond, which the defaults would lump into one bucket.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)


@dataclass
class ServerTallies:
    """Every cumulative count the Prometheus endpoint exports; keys are label values."""

    requests: Counter = field(default_factory=Counter)  # (model, version, route, status class)
    latency: dict[tuple[str, str, str], list] = field(default_factory=dict)  # -> histogram
    deferred: Counter = field(default_factory=Counter)  # (model, version)
    input_rows: Counter = field(default_factory=Counter)  # model
    shadow: Counter = field(default_factory=Counter)  # (model, live, shadow)
    shadow_agree: Counter = field(default_factory=Counter)
    # The last `window` comparisons of each (model, live, shadow) pair, for the agreement gauge.
    shadow_pairs: dict[tuple[str, str, str], Window] = field(default_factory=dict)
    # Shadow rows not compared: the versions' tasks or class sets differ (model, live, shadow).
    shadow_not_comparable: Counter = field(default_factory=Counter)

    def count_request(self, model: str, version: str, route: str, status_class: str, seconds: float) -> None:
        self.requests[(model, version, route, status_class)] += 1
        histogram = self.latency.setdefault((model, version, route), new_histogram(LATENCY_BUCKETS))
        observe(histogram, LATENCY_BUCKETS, seconds)

    def count_shadow(self, key: tuple[str, str, str], item: tuple[bool, float], window: int) -> None:
        self.shadow[key] += 1
        self.shadow_agree[key] += int(item[0])
        self.shadow_pairs.setdefault(key, Window(window)).push(item)

    def counter_tables(self) -> dict[str, dict[tuple[str, ...], int]]:
        """Copies of the counters by table name (`COUNTER_TABLES`), keys as label-value tuples."""
        return {
            "requests": dict(self.requests),
            "deferred": dict(self.deferred),
            "input_rows": {(model,): count for model, count in self.input_rows.items()},
            "shadow": dict(self.shadow),
            "shadow_agree": dict(self.shadow_agree),
            "shadow_not_comparable": dict(self.shadow_not_comparable),
        }

    def histogram_tables(self) -> dict[str, dict[tuple[str, ...], list]]:
        return {"latency": {labels: list(histogram) for labels, histogram in self.latency.items()}}

    def shadow_windows(self) -> dict[tuple[str, str, str], tuple[int, int]]:
        """(comparisons, agreements) in each pair's window, for the agreement gauge."""
        return {
            key: (len(window.items), sum(agree for agree, _ in window.items))
            for key, window in self.shadow_pairs.items()
        }


# Table name -> the labels of its keys (the snapshot checks keys against them).
COUNTER_TABLES: dict[str, tuple[str, ...]] = {
    "requests": ("model", "version", "route", "status_class"),
    "deferred": ("model", "version"),
    "input_rows": ("model",),
    "shadow": ("model", "live_version", "shadow_version"),
    "shadow_agree": ("model", "live_version", "shadow_version"),
    "shadow_not_comparable": ("model", "live_version", "shadow_version"),
}
HISTOGRAM_TABLES: dict[str, tuple[str, ...]] = {"latency": ("model", "version", "route")}


class CappedLabel:
    """The values one label has taken: the first `limit` are kept, later ones read as OTHER."""

    def __init__(self, limit: int) -> None:
        self._kept: set[str] = set()
        self._limit = limit

    def __call__(self, value: str) -> str:
        if value in self._kept:
            return value
        if len(self._kept) < self._limit:
            self._kept.add(value)
            return value
        return OTHER


class ModelLabels:
    """One model's capped `version` and `route` label values."""

    def __init__(self) -> None:
        self.version = CappedLabel(MAX_VERSION_LABELS)
        self.route = CappedLabel(MAX_ROUTE_LABELS)


def new_histogram(bounds: tuple[float, ...]) -> list:
    """One count per bound (not cumulative), one for +Inf, then the sum, then the count."""
    return [0] * (len(bounds) + 1) + [0.0, 0]


def observe(histogram: list, bounds: tuple[float, ...], value: float) -> None:
    histogram[bisect.bisect_left(bounds, value)] += 1
    histogram[-2] += value
    histogram[-1] += 1


def observe_many(histogram: list, bounds: tuple[float, ...], values: np.ndarray) -> None:
    # searchsorted side="left" is bisect_left: a value equal to a bound counts in that bucket (le).
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds) + 1)
    for index in np.flatnonzero(counts):
        histogram[index] += int(counts[index])
    histogram[-2] += float(values.sum())
    histogram[-1] += len(values)


def add_histogram(total: list, histogram: list) -> None:
    """Adds `histogram` (same edges) into `total`, bucket by bucket."""
    for index, value in enumerate(histogram):
        total[index] += value


def rebinned(histogram: list, bounds: tuple[float, ...], into: tuple[float, ...]) -> list:
    """`histogram` (edges `bounds`) counted into the edges `into`: each bucket's count goes to the
    first bucket of `into` whose edge is at or above its own, so a cumulative count at an edge
    never counts a value above that edge (it may miss some below). Sum and count are kept."""
    out = new_histogram(into)
    for bound, count in zip([*bounds, math.inf], histogram[: len(bounds) + 1], strict=True):
        out[bisect.bisect_left(into, bound)] += count
    out[-2], out[-1] = histogram[-2], histogram[-1]
    return out


def cumulative_buckets(histogram: list, bounds: tuple[float, ...]) -> list[tuple[str, int]]:
    """(le, cumulative count) pairs, as prometheus_client's HistogramMetricFamily takes them."""
    cumulative, out = 0, []
    for bound, count in zip([*bounds, math.inf], histogram[: len(bounds) + 1], strict=True):
        cumulative += count
        out.append(("+Inf" if bound == math.inf else repr(float(bound)), cumulative))
    return out
