"""Serving metrics and alerts: requests, inputs against the curated schema, outputs, shadow agreement.

`Monitor` is fed by the server (one call per request and per kind of fact) and read two ways:
`prometheus_text()` for `/monitoring/prometheus/metrics`, and `evaluate_alerts()` /
`alerts()` for `/v1/alerts` and `lifecycle alerts`.

Two kinds of numbers. Prometheus counters and histograms are cumulative since the server
started (Prometheus computes rates itself). Alert metrics are computed per model over the last
`monitoring.window` observations, so an alert resolves by itself once traffic is healthy again.
Alert rules (`serving.monitoring.alerts`) may watch these metrics (also listed in
`serving.config.ALERT_METRICS`):

| metric | value over the model's window |
| --- | --- |
| `error_rate` | share of requests answered 5xx |
| `client_error_rate` | share of requests answered 4xx |
| `latency_p50_seconds`, `latency_p99_seconds` | request latency quantiles |
| `input_missing_fraction` | the most-missing feature's share of rows without a value |
| `input_missing_fraction:<feature>` | that feature's share of rows without a value |
| `input_out_of_schema_fraction` | share of rows with any value outside the SERVING schema |
| `input_out_of_schema_fraction:<feature>` | share of rows where that feature is out of schema |
| `score_mean` | mean score of the rows answered |
| `deferred_fraction` | share of rows deferred to human review |
| `shadow_agreement`, `shadow_abs_diff_mean` | shadow vs live answers: agreement rate, mean |diff| |
| `prediction_log_dropped`, `prediction_log_errors` | log records dropped / lost since start (global) |

"Out of schema" follows the curated schema's SERVING environment: a required feature
(`presence.min_fraction` 1) missing, a value of the wrong type, a string outside the feature's
string domain, an int or float outside its int/float domain, more values than `value_count.max`,
or a feature the schema does not know. Features `not_in_environment: SERVING` (the label) are
not expected and not checked.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.config.serving import AlertRule, MonitoringConfig

_LOG = logging.getLogger(__name__)
SERVING_ENVIRONMENT = "SERVING"
METRIC_PREFIX = "lifecycle_serving"
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
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# Model names come from request URLs; past this many distinct names the rest share one label
# value, so a client cannot blow up the metric's cardinality.
MAX_MODEL_LABELS = 64
OTHER_MODEL = "(other)"
GLOBAL = ""  # the "model" of metrics that belong to the whole server (prediction log counters)


@dataclass(frozen=True)
class Alert:
    """A rule whose metric is out of range, from `since` (Unix time) until it is back in range."""

    rule: str
    metric: str
    model: str
    value: float
    threshold: float
    bound: str  # "max": the value is above threshold; "min": below it
    since: float

    def to_json(self) -> dict:
        return asdict(self)


# -- input checks against the schema ----------------------------------------------------------


@dataclass(frozen=True)
class FeatureExpectation:
    """What the SERVING environment of the schema says about one feature's values."""

    name: str
    type: int  # schema_pb2.FeatureType
    required: bool
    max_values: int | None = None
    string_values: frozenset[str] | None = None
    min_value: float | None = None
    max_value: float | None = None


def serving_expectations(schema: schema_pb2.Schema) -> dict[str, FeatureExpectation]:
    """The features expected in SERVING requests (the label and other TRAINING-only ones dropped)."""
    domains = {domain.name: domain for domain in schema.string_domain}
    expectations = {}
    for feature in schema.feature:
        if not _in_environment(feature, schema, SERVING_ENVIRONMENT):
            continue
        strings = None
        if feature.HasField("string_domain"):
            strings = frozenset(feature.string_domain.value)
        elif feature.HasField("domain") and feature.domain in domains:
            strings = frozenset(domains[feature.domain].value)
        low = high = None
        if feature.HasField("int_domain"):
            low = feature.int_domain.min if feature.int_domain.HasField("min") else None
            high = feature.int_domain.max if feature.int_domain.HasField("max") else None
        elif feature.HasField("float_domain"):
            low = feature.float_domain.min if feature.float_domain.HasField("min") else None
            high = feature.float_domain.max if feature.float_domain.HasField("max") else None
        required = feature.presence.min_fraction >= 1.0
        max_values = (
            feature.value_count.max
            if feature.HasField("value_count") and feature.value_count.HasField("max")
            else None
        )
        expectations[feature.name] = FeatureExpectation(
            feature.name, feature.type, required, max_values or None, strings, low, high
        )
    return expectations


def _in_environment(feature: schema_pb2.Feature, schema: schema_pb2.Schema, environment: str) -> bool:
    # TFDV's rule: an explicit in_environment wins, then not_in_environment, then the defaults
    # (no default environments: every feature is in every environment).
    if environment in feature.in_environment:
        return True
    if environment in feature.not_in_environment or feature.in_environment:
        return False
    return not schema.default_environment or environment in schema.default_environment


@dataclass(frozen=True)
class RowCheck:
    missing: tuple[str, ...]
    out_of_schema: tuple[str, ...]  # features out of schema; unknown features included

    @property
    def any_out_of_schema(self) -> bool:
        return bool(self.out_of_schema)


def check_row(row: dict[str, object], expectations: dict[str, FeatureExpectation] | None) -> RowCheck:
    """Which features of one request row are missing and which are out of schema (pure)."""
    if expectations is None:
        return RowCheck(tuple(name for name, value in row.items() if not _values(value)), ())
    missing, out_of_schema = [], []
    for name, expected in expectations.items():
        value = row.get(name)
        kind = type(value)
        if kind is float or kind is int or kind is str:
            # One JSON scalar, the common case: checked without building a list of values.
            if value == "" or (kind is float and value != value):  # "" and NaN are missing
                missing.append(name)
                if expected.required:
                    out_of_schema.append(name)
            elif not _scalar_fits(value, kind, expected):
                out_of_schema.append(name)
            continue
        values = _values(value)
        if not values:
            missing.append(name)
            if expected.required:
                out_of_schema.append(name)
        elif not _values_fit(values, expected):
            out_of_schema.append(name)
    out_of_schema.extend(name for name in row if name not in expectations)
    return RowCheck(tuple(missing), tuple(out_of_schema))


def _values(value: object) -> list:
    """The present values of one cell: None, "", NaN and [] are missing."""
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _values(item)]
    if value is None or value == "" or value == b"":
        return []
    if isinstance(value, float) and math.isnan(value):
        return []
    return [value]


def _scalar_fits(value: float | int | str, kind: type, expected: FeatureExpectation) -> bool:
    """`_values_fit([value], expected)` for a present float, int or str (not bool), without the list."""
    if expected.type == schema_pb2.BYTES:
        return kind is str and (expected.string_values is None or value in expected.string_values)
    if expected.type == schema_pb2.INT or expected.type == schema_pb2.FLOAT:
        if kind is str:
            return False
        if expected.type == schema_pb2.INT and kind is float and not value.is_integer():
            return False
    return (expected.min_value is None or value >= expected.min_value) and (
        expected.max_value is None or value <= expected.max_value
    )


def _values_fit(values: list, expected: FeatureExpectation) -> bool:
    if expected.max_values is not None and len(values) > expected.max_values:
        return False
    for value in values:
        if expected.type == schema_pb2.INT:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
            if isinstance(value, float) and not value.is_integer():
                return False
        elif expected.type == schema_pb2.FLOAT:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
        elif expected.type == schema_pb2.BYTES:
            if not isinstance(value, (str, bytes)):
                return False
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            if expected.string_values is not None and text not in expected.string_values:
                return False
            continue
        if expected.min_value is not None and value < expected.min_value:
            return False
        if expected.max_value is not None and value > expected.max_value:
            return False
    return True


# -- windows ----------------------------------------------------------------------------------


class _Window:
    """The last `size` observations, with running counts so reads cost nothing per row."""

    def __init__(self, size: int) -> None:
        self.items: deque = deque()
        self.size = size

    def push(self, item, on_add: Callable, on_evict: Callable) -> None:
        if len(self.items) == self.size:
            on_evict(self.items.popleft())
        self.items.append(item)
        on_add(item)


class _ScoreWindow:
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


class _ModelState:
    def __init__(self, window: int) -> None:
        self.requests = _Window(window)  # (status class, seconds)
        self.request_classes: Counter = Counter()
        self.rows = _Window(window)  # RowCheck
        self.missing: Counter = Counter()
        self.out_of_schema: Counter = Counter()
        self.rows_out_of_schema = 0
        self.seen_features: set[str] = set()
        self.scores = _ScoreWindow(window)
        self.shadow = _Window(window)  # (agree, abs diff)
        self.shadow_agree = 0
        self.shadow_diff_sum = 0.0


class Monitor:
    """Thread-safe serving metrics and alerts (see the module docstring for the metric names)."""

    def __init__(
        self,
        config: MonitoringConfig,
        schema: schema_pb2.Schema | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._expectations = serving_expectations(schema) if schema is not None else None
        self._clock = clock
        self._lock = threading.Lock()
        self._models: dict[str, _ModelState] = {}
        # Cumulative, for Prometheus.
        self._requests_total: Counter = Counter()  # (model, version, route, status class)
        self._latency: dict[tuple[str, str, str], list] = {}  # -> [bucket counts..., sum, count]
        self._scores: dict[tuple[str, str], list] = {}
        self._deferred_total: Counter = Counter()  # (model, version)
        self._input_rows_total: Counter = Counter()  # model
        self._shadow_total: Counter = Counter()  # (model, live, shadow)
        self._shadow_agree_total: Counter = Counter()
        self._shadow_pairs: dict[tuple[str, str, str], _Window] = {}
        self._log_stats: dict[str, int] = {}
        self._active: dict[tuple[str, str], Alert] = {}

    # -- recording ----------------------------------------------------------------------------

    def record_request(
        self, model: str, version: int | None, route: str, status: int, seconds: float
    ) -> None:
        """One answered request (any status): counted, and its latency observed."""
        status_class = f"{int(status) // 100}xx"
        version_label = "" if version is None else str(version)
        with self._lock:
            model = self._model_label(model)
            self._requests_total[(model, version_label, route, status_class)] += 1
            histogram = self._latency.setdefault(
                (model, version_label, route), _new_histogram(LATENCY_BUCKETS)
            )
            _observe(histogram, LATENCY_BUCKETS, seconds)
            state = self._state(model)
            state.requests.push(
                (status_class, seconds),
                lambda item: state.request_classes.update((item[0],)),
                lambda item: state.request_classes.subtract((item[0],)),
            )

    def record_inputs(self, model: str, rows: list[dict[str, object]]) -> None:
        """Raw feature rows of one request, checked against the SERVING schema."""
        checks = [check_row(row, self._expectations) for row in rows]
        with self._lock:
            model = self._model_label(model)
            state = self._state(model)
            self._input_rows_total[model] += len(checks)
            if self._expectations is None:
                # Without a schema the features are the ones requests carry (capped: clients choose them).
                for row in rows:
                    if len(state.seen_features) < 1000:
                        state.seen_features.update(row)
            for check in checks:
                state.rows.push(check, lambda c: _add_row(state, c, 1), lambda c: _add_row(state, c, -1))

    def record_outputs(self, model: str, version: int, scores: list[float], deferred: int) -> None:
        """Scores of one request's rows (list or array); the first `deferred` of them were deferred
        to human review. Vectorised: a 256-row batch costs about as much as one row."""
        values = np.asarray(scores, dtype=np.float64).ravel()
        with self._lock:
            model = self._model_label(model)
            state = self._state(model)
            histogram = self._scores.setdefault((model, str(version)), _new_histogram(SCORE_BUCKETS))
            self._deferred_total[(model, str(version))] += deferred
            _observe_many(histogram, SCORE_BUCKETS, values)
            state.scores.push(values, np.arange(len(values)) < deferred)

    def record_shadow(
        self, model: str, live_version: int, shadow_version: int, agree: bool, abs_diff: float
    ) -> None:
        """One shadow answer compared with the live answer to the same request."""
        with self._lock:
            model = self._model_label(model)
            state = self._state(model)
            key = (model, str(live_version), str(shadow_version))
            self._shadow_total[key] += 1
            self._shadow_agree_total[key] += int(bool(agree))
            item = (bool(agree), float(abs_diff))
            state.shadow.push(item, _add_shadow(state, 1), _add_shadow(state, -1))
            pair = self._shadow_pairs.setdefault(key, _Window(self._config.window))
            pair.push(item, lambda _: None, lambda _: None)

    def record_log_stats(self, stats: dict[str, int]) -> None:
        """The prediction log writer's counters (`PredictionLogWriter.stats()`), latest wins."""
        with self._lock:
            self._log_stats = {key: int(value) for key, value in stats.items()}

    # -- alert metrics ------------------------------------------------------------------------

    def metric_value(self, metric: str, model: str) -> tuple[float | None, float]:
        """(value, observations behind it) of an alert metric for one model; None: no data."""
        with self._lock:
            return self._metric_value(metric, model)

    def _metric_value(self, metric: str, model: str) -> tuple[float | None, float]:
        base, _, feature = metric.partition(":")
        if base in ("prediction_log_dropped", "prediction_log_errors"):
            key = base.rsplit("_", 1)[1]
            return float(self._log_stats.get(key, 0)), math.inf
        state = self._models.get(model)
        if state is None:
            return None, 0
        if base in ("error_rate", "client_error_rate", "latency_p50_seconds", "latency_p99_seconds"):
            count = len(state.requests.items)
            if not count:
                return None, 0
            if base == "error_rate":
                return state.request_classes["5xx"] / count, count
            if base == "client_error_rate":
                return state.request_classes["4xx"] / count, count
            quantile = 0.5 if base == "latency_p50_seconds" else 0.99
            return _quantile([seconds for _, seconds in state.requests.items], quantile), count
        if base in ("input_missing_fraction", "input_out_of_schema_fraction"):
            count = len(state.rows.items)
            if not count:
                return None, 0
            counter = state.missing if base == "input_missing_fraction" else state.out_of_schema
            if feature:
                return counter[feature] / count, count
            if base == "input_out_of_schema_fraction":
                return state.rows_out_of_schema / count, count
            return max((counter[name] for name in self._feature_names(state)), default=0) / count, count
        if base in ("score_mean", "deferred_fraction"):
            count = state.scores.count
            if not count:
                return None, 0
            return (state.scores.score_sum if base == "score_mean" else state.scores.deferred) / count, count
        if base in ("shadow_agreement", "shadow_abs_diff_mean"):
            count = len(state.shadow.items)
            if not count:
                return None, 0
            return (
                state.shadow_agree if base == "shadow_agreement" else state.shadow_diff_sum
            ) / count, count
        raise ValueError(f"unknown alert metric {metric!r}")

    # -- alerts -------------------------------------------------------------------------------

    def evaluate_alerts(self) -> list[Alert]:
        """Judges every rule now: logs newly firing alerts once (warning) and resolved ones
        (info); returns the active alerts. Rules without enough observations keep their state."""
        now = self._clock()
        newly_firing, resolved = [], []
        with self._lock:
            for rule in self._config.alerts:
                for model in self._rule_models(rule):
                    key = (rule.name, model)
                    value, count = self._metric_value(rule.metric, model)
                    if value is None or count < rule.min_count:
                        continue
                    violated = _violated(rule, value)
                    if violated is None:
                        if key in self._active:
                            resolved.append(self._active.pop(key))
                        continue
                    bound, threshold = violated
                    previous = self._active.get(key)
                    since = previous.since if previous else now
                    self._active[key] = Alert(rule.name, rule.metric, model, value, threshold, bound, since)
                    if previous is None:
                        newly_firing.append(self._active[key])
            active = self._sorted_active()
        for alert in newly_firing:
            relation = "above" if alert.bound == "max" else "below"
            scope = f" (model {alert.model})" if alert.model else ""
            _LOG.warning(
                "alert %s firing%s: %s = %.4g, %s %s %.4g",
                alert.rule,
                scope,
                alert.metric,
                alert.value,
                relation,
                alert.bound,
                alert.threshold,
            )
        for alert in resolved:
            _LOG.info("alert %s resolved (model %s): %s back in range", alert.rule, alert.model, alert.metric)
        return active

    def alerts(self) -> list[Alert]:
        """The alerts active at the last `evaluate_alerts()`."""
        with self._lock:
            return self._sorted_active()

    def _sorted_active(self) -> list[Alert]:
        return sorted(self._active.values(), key=lambda a: (a.since, a.rule, a.model))

    def _rule_models(self, rule: AlertRule) -> list[str]:
        if rule.metric.startswith("prediction_log_"):
            return [GLOBAL]
        if rule.model is not None:
            return [rule.model]
        return sorted(self._models)

    # -- Prometheus ---------------------------------------------------------------------------

    def prometheus_text(self) -> str:
        """Every metric in the Prometheus text exposition format 0.0.4."""
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))
        return generate_latest(registry).decode("utf-8")

    def _families(self) -> list:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        p = METRIC_PREFIX
        with self._lock:
            requests = CounterMetricFamily(
                f"{p}_requests",
                "Requests answered, by model, version, route and HTTP status class.",
                labels=["model", "version", "route", "status_class"],
            )
            errors = CounterMetricFamily(
                f"{p}_request_errors",
                "Requests answered with a 4xx or 5xx status.",
                labels=["model", "version", "route", "status_class"],
            )
            for (model, version, route, status_class), count in sorted(self._requests_total.items()):
                requests.add_metric([model, version, route, status_class], count)
                if status_class in ("4xx", "5xx"):
                    errors.add_metric([model, version, route, status_class], count)
            latency = HistogramMetricFamily(
                f"{p}_request_latency_seconds",
                "Request latency inside the server, from parsed request to response body.",
                labels=["model", "version", "route"],
            )
            for labels, histogram in sorted(self._latency.items()):
                latency.add_metric(list(labels), _buckets(histogram, LATENCY_BUCKETS), histogram[-2])
            scores = HistogramMetricFamily(
                f"{p}_score", "Scores returned, one observation per row.", labels=["model", "version"]
            )
            for labels, histogram in sorted(self._scores.items()):
                scores.add_metric(list(labels), _buckets(histogram, SCORE_BUCKETS), histogram[-2])
            deferred = CounterMetricFamily(
                f"{p}_deferred", "Rows deferred to human review.", labels=["model", "version"]
            )
            for labels, count in sorted(self._deferred_total.items()):
                deferred.add_metric(list(labels), count)
            input_rows = CounterMetricFamily(f"{p}_input_rows", "Request rows checked.", labels=["model"])
            for model, count in sorted(self._input_rows_total.items()):
                input_rows.add_metric([model], count)
            shadow_total = CounterMetricFamily(
                f"{p}_shadow_comparisons",
                "Shadow answers compared with the live answer.",
                labels=["model", "live_version", "shadow_version"],
            )
            shadow_agreements = CounterMetricFamily(
                f"{p}_shadow_agreements",
                "Shadow answers that agreed with the live answer.",
                labels=["model", "live_version", "shadow_version"],
            )
            shadow_rate = GaugeMetricFamily(
                f"{p}_shadow_agreement",
                "Share of shadow answers agreeing with the live answer over the window.",
                labels=["model", "live_version", "shadow_version"],
            )
            for key, count in sorted(self._shadow_total.items()):
                shadow_total.add_metric(list(key), count)
                shadow_agreements.add_metric(list(key), self._shadow_agree_total[key])
                window = self._shadow_pairs[key].items
                shadow_rate.add_metric(list(key), sum(agree for agree, _ in window) / len(window))
            window_gauges = [
                (
                    "input_missing_fraction",
                    GaugeMetricFamily(
                        f"{p}_input_missing_fraction",
                        "Share of the window's rows without a value for the feature.",
                        labels=["model", "feature"],
                    ),
                ),
                (
                    "input_out_of_schema_fraction",
                    GaugeMetricFamily(
                        f"{p}_input_out_of_schema_fraction",
                        "Share of the window's rows whose feature value is outside the SERVING schema.",
                        labels=["model", "feature"],
                    ),
                ),
            ]
            model_gauges = {
                name: GaugeMetricFamily(f"{p}_{name}", text, labels=["model"])
                for name, text in (
                    (
                        "input_rows_out_of_schema_fraction",
                        "Share of the window's rows with any out-of-schema value.",
                    ),
                    ("error_rate", "Share of the window's requests answered 5xx."),
                    ("latency_p99_seconds", "99th percentile request latency over the window."),
                    ("score_mean", "Mean score over the window's rows."),
                    ("deferred_fraction", "Share of the window's rows deferred to human review."),
                )
            }
            for model, state in sorted(self._models.items()):
                rows = len(state.rows.items)
                if rows:
                    for name in self._feature_names(state):
                        window_gauges[0][1].add_metric([model, name], state.missing[name] / rows)
                        window_gauges[1][1].add_metric([model, name], state.out_of_schema[name] / rows)
                for name, gauge in model_gauges.items():
                    metric = "input_out_of_schema_fraction" if name.startswith("input_rows") else name
                    value, _ = self._metric_value(metric, model)
                    if value is not None:
                        gauge.add_metric([model], value)
            log_records = CounterMetricFamily(
                f"{p}_prediction_log_records",
                "Prediction log records by outcome: written, sampled_out, dropped (queue full), errors.",
                labels=["outcome"],
            )
            for outcome, count in sorted(self._log_stats.items()):
                log_records.add_metric([outcome], count)
            alerts = GaugeMetricFamily(
                f"{p}_alert_active", "1 for each alert rule firing.", labels=["rule", "model", "metric"]
            )
            for alert in self._sorted_active():
                alerts.add_metric([alert.rule, alert.model, alert.metric], 1)
        return [
            requests,
            errors,
            latency,
            scores,
            deferred,
            input_rows,
            *[gauge for _, gauge in window_gauges],
            *model_gauges.values(),
            shadow_total,
            shadow_agreements,
            shadow_rate,
            log_records,
            alerts,
        ]

    # -- internals ----------------------------------------------------------------------------

    def _model_label(self, model: str) -> str:
        if model in self._models or len(self._models) < MAX_MODEL_LABELS:
            return model
        return OTHER_MODEL

    def _state(self, model: str) -> _ModelState:
        state = self._models.get(model)
        if state is None:
            state = self._models[model] = _ModelState(self._config.window)
        return state

    def _feature_names(self, state: _ModelState) -> Iterable[str]:
        if self._expectations is not None:
            return sorted(self._expectations)
        return sorted(state.seen_features)


class _Collector:
    """A prometheus_client collector over one Monitor's state (a registry of its own, no globals)."""

    def __init__(self, monitor: Monitor) -> None:
        self._monitor = monitor

    def collect(self):
        return iter(self._monitor._families())


def _add_row(state: _ModelState, check: RowCheck, sign: int) -> None:
    for name in check.missing:
        state.missing[name] += sign
    for name in check.out_of_schema:
        state.out_of_schema[name] += sign
    state.rows_out_of_schema += sign * check.any_out_of_schema


def _add_shadow(state: _ModelState, sign: int) -> Callable:
    def apply(item: tuple[bool, float]) -> None:
        state.shadow_agree += sign * item[0]
        state.shadow_diff_sum += sign * item[1]

    return apply


def _new_histogram(bounds: tuple[float, ...]) -> list:
    """One count per bound (not cumulative), one for +Inf, then the sum, then the count."""
    return [0] * (len(bounds) + 1) + [0.0, 0]


def _observe(histogram: list, bounds: tuple[float, ...], value: float) -> None:
    histogram[bisect.bisect_left(bounds, value)] += 1
    histogram[-2] += value
    histogram[-1] += 1


def _observe_many(histogram: list, bounds: tuple[float, ...], values: np.ndarray) -> None:
    # searchsorted side="left" is bisect_left: a value equal to a bound counts in that bucket (le).
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds) + 1)
    for index in np.flatnonzero(counts):
        histogram[index] += int(counts[index])
    histogram[-2] += float(values.sum())
    histogram[-1] += len(values)


def _buckets(histogram: list, bounds: tuple[float, ...]) -> list[tuple[str, int]]:
    cumulative, out = 0, []
    for bound, count in zip([*bounds, math.inf], histogram[: len(bounds) + 1], strict=True):
        cumulative += count
        out.append(("+Inf" if bound == math.inf else repr(float(bound)), cumulative))
    return out


def _quantile(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(quantile * len(ordered)) - 1))]


def _violated(rule: AlertRule, value: float) -> tuple[str, float] | None:
    if rule.max is not None and value > rule.max:
        return "max", rule.max
    if rule.min is not None and value < rule.min:
        return "min", rule.min
    return None
