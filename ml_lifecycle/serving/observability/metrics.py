"""The alert metrics, a registry keyed by name: each says how it is computed and how it is exported.

A metric's value is computed per model over the last `monitoring.window` observations (so an
alert resolves by itself once traffic is healthy again), or once for the whole server. A row's
score is its `ModelAnswer.score`, whatever the model's task (see `monitor.py`). With several
worker processes a model's window is the union of the live workers' windows (`exchange.py`):
the metrics read a `WindowSummary`, whether one worker's or a merged one. Alert rules
(`serving.monitoring.alerts`) name one of these; `config.serving.ALERT_METRICS` lists the same
names for the config to check rules against as it loads.

| metric | value over the model's window |
| --- | --- |
| `error_rate` | share of requests answered 5xx |
| `client_error_rate` | share of requests answered 4xx |
| `latency_p50_seconds`, `latency_p99_seconds` | request latency quantiles |
| `input_missing_fraction` | the most-missing feature's share of rows without a value |
| `input_missing_fraction:<feature>` | that feature's share of rows without a value |
| `input_out_of_schema_fraction` | share of rows with any value outside the SERVING schema |
| `input_out_of_schema_fraction:<feature>` | share of rows where that feature is out of schema |
| `score_mean` | mean score of the rows: binary P(class 1), multiclass top probability, regression value |
| `deferred_fraction` | share of rows deferred to human review |
| `shadow_agreement`, `shadow_abs_diff_mean` | shadow vs live answers: agreement rate, mean |diff| |
| `prediction_log_dropped`, `prediction_log_errors` | log records dropped / lost since start (global) |
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ml_lifecycle.serving.observability.windows import WindowSummary

# (value, observations behind it); value None: no data yet.
MetricValue = tuple[float | None, float]


@dataclass(frozen=True)
class Observations:
    """What a metric is computed from: one model's windows and the server-wide counters."""

    windows: WindowSummary | None  # None: the model has had no traffic
    log_stats: Mapping[str, int]  # the prediction log writer's counters
    features: tuple[str, ...]  # the features input metrics cover (the schema's, else those seen)


@dataclass(frozen=True)
class Gauge:
    """A Prometheus gauge family a metric is exported as (`lifecycle_serving_<name>`)."""

    name: str
    help: str


@dataclass(frozen=True)
class Metric:
    name: str
    # (windows, feature or "") -> value; only called with windows for per-model metrics.
    compute: Callable[[Observations, str], MetricValue]
    per_feature: bool = False  # may name a feature: `input_missing_fraction:fare`
    server_wide: bool = False  # one value for the whole server, not per model
    model_gauge: Gauge | None = None  # exported per model
    feature_gauge: Gauge | None = None  # exported per model and feature

    def value(self, observations: Observations, feature: str = "") -> MetricValue:
        if not self.server_wide and observations.windows is None:
            return None, 0
        return self.compute(observations, feature)


def _share(
    observed: Callable[[WindowSummary], int], total: Callable[[WindowSummary], float]
) -> Callable[[Observations, str], MetricValue]:
    """total / observed over a model's windows, e.g. 5xx requests / requests in the window."""

    def compute(observations: Observations, _feature: str) -> MetricValue:
        count = observed(observations.windows)
        return (total(observations.windows) / count, count) if count else (None, 0)

    return compute


def _latency_quantile(quantile: float) -> Callable[[Observations, str], MetricValue]:
    def compute(observations: Observations, _feature: str) -> MetricValue:
        latencies = observations.windows.latencies
        if not latencies:
            return None, 0
        ordered = sorted(latencies)
        index = min(len(ordered) - 1, max(0, math.ceil(quantile * len(ordered)) - 1))
        return ordered[index], len(latencies)

    return compute


def _input_fraction(
    per_feature: Callable[[WindowSummary], Counter],
    any_feature: Callable[[Observations, Counter], float],
) -> Callable[[Observations, str], MetricValue]:
    """Share of the window's rows: for one feature (`metric:<feature>`), or `any_feature`'s count."""

    def compute(observations: Observations, feature: str) -> MetricValue:
        count = observations.windows.rows
        if not count:
            return None, 0
        counter = per_feature(observations.windows)
        return (counter[feature] if feature else any_feature(observations, counter)) / count, count

    return compute


def _worst_feature(observations: Observations, counter: Counter) -> float:
    return max((counter[name] for name in observations.features), default=0)


def _rows_out_of_schema(observations: Observations, _counter: Counter) -> float:
    return observations.windows.rows_out_of_schema


def _requests(windows: WindowSummary) -> int:
    return len(windows.latencies)


def _scores(windows: WindowSummary) -> int:
    return windows.scores


def _shadow_pairs(windows: WindowSummary) -> int:
    return windows.shadow


def _log_count(outcome: str) -> Callable[[Observations, str], MetricValue]:
    def compute(observations: Observations, _feature: str) -> MetricValue:
        # A running total since start: always judged, however few records there were.
        return float(observations.log_stats.get(outcome, 0)), math.inf

    return compute


# Registry order is export order: the per-feature gauges, then the per-model gauges, each in this order.
METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "input_missing_fraction",
            _input_fraction(lambda windows: windows.missing, _worst_feature),
            per_feature=True,
            feature_gauge=Gauge(
                "input_missing_fraction", "Share of the window's rows without a value for the feature."
            ),
        ),
        Metric(
            "input_out_of_schema_fraction",
            _input_fraction(lambda windows: windows.out_of_schema, _rows_out_of_schema),
            per_feature=True,
            feature_gauge=Gauge(
                "input_out_of_schema_fraction",
                "Share of the window's rows whose feature value is outside the SERVING schema.",
            ),
            model_gauge=Gauge(
                "input_rows_out_of_schema_fraction",
                "Share of the window's rows with any out-of-schema value.",
            ),
        ),
        Metric(
            "error_rate",
            _share(_requests, lambda windows: windows.request_classes["5xx"]),
            model_gauge=Gauge("error_rate", "Share of the window's requests answered 5xx."),
        ),
        Metric(
            "client_error_rate",
            _share(_requests, lambda windows: windows.request_classes["4xx"]),
            model_gauge=Gauge("client_error_rate", "Share of the window's requests answered 4xx."),
        ),
        Metric(
            "latency_p50_seconds",
            _latency_quantile(0.5),
            model_gauge=Gauge("latency_p50_seconds", "Median request latency over the window."),
        ),
        Metric(
            "latency_p99_seconds",
            _latency_quantile(0.99),
            model_gauge=Gauge("latency_p99_seconds", "99th percentile request latency over the window."),
        ),
        Metric(
            "score_mean",
            _share(_scores, lambda windows: windows.score_sum),
            model_gauge=Gauge(
                "score_mean",
                "Mean score over the window's rows: binary P(class 1), multiclass the top class's "
                "probability, regression the predicted value.",
            ),
        ),
        Metric(
            "deferred_fraction",
            _share(_scores, lambda windows: windows.deferred),
            model_gauge=Gauge("deferred_fraction", "Share of the window's rows deferred to human review."),
        ),
        Metric(
            "shadow_agreement",
            _share(_shadow_pairs, lambda windows: windows.shadow_agree),
            # Not `shadow_agreement`: that family is per (live, shadow) version pair.
            model_gauge=Gauge(
                "shadow_window_agreement", "Share of the window's shadow answers agreeing with the live one."
            ),
        ),
        Metric(
            "shadow_abs_diff_mean",
            _share(_shadow_pairs, lambda windows: windows.shadow_diff_sum),
            model_gauge=Gauge(
                "shadow_abs_diff_mean", "Mean absolute difference of shadow and live scores over the window."
            ),
        ),
        Metric("prediction_log_dropped", _log_count("dropped"), server_wide=True),
        Metric("prediction_log_errors", _log_count("errors"), server_wide=True),
    )
}


def resolve(name: str) -> tuple[Metric, str]:
    """The registered metric an alert rule's `metric` names, and the feature it names ("" if none)."""
    base, _, feature = name.partition(":")
    metric = METRICS.get(base)
    if metric is None:
        raise ValueError(f"unknown alert metric {name!r}; known: {sorted(METRICS)}")
    return metric, feature
