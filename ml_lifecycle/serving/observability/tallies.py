"""Cumulative counts since the server started, as Prometheus wants them (it computes rates itself):
requests by label set, latency histograms, deferred rows, input rows, shadow pairs; and the
histogram primitives (the output metrics' tallies are `outputs.py`)."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ml_lifecycle.serving.observability.windows import Window

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


def cumulative_buckets(histogram: list, bounds: tuple[float, ...]) -> list[tuple[str, int]]:
    """(le, cumulative count) pairs, as prometheus_client's HistogramMetricFamily takes them."""
    cumulative, out = 0, []
    for bound, count in zip([*bounds, math.inf], histogram[: len(bounds) + 1], strict=True):
        cumulative += count
        out.append(("+Inf" if bound == math.inf else repr(float(bound)), cumulative))
    return out
