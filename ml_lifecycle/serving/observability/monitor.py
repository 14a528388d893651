"""Serving metrics and alerts: requests, inputs against the curated schema, outputs, shadow agreement.

`Monitor` is fed by the request hooks (one call per request and per kind of fact) and read two
ways: `prometheus_text()` for `/monitoring/prometheus/metrics`, and `evaluate_alerts()` /
`alerts()` for `/v1/alerts` and `lifecycle alerts`.

Two kinds of numbers. Prometheus counters and histograms are cumulative since the server
started (`tallies.py`; the outputs by task, `outputs.py`). Alert metrics (`metrics.py`, a
registry keyed by name) are computed per model over its windows of the last `monitoring.window`
observations (`windows.py`). Input rows are checked against the schema's SERVING environment
(`schema_checks.py`).

Outputs by task: the per-row number the windows and the alert metrics `score_mean` and
`deferred_fraction` see is `ModelAnswer.score`: a binary model's P(class 1) (as before), a
multiclass model's top-class probability (its confidence: a falling mean says the model is less
sure of its answers), a regression model's predicted value (a moving mean says the predictions
drift). Shadow agreement is per task too (`shadow.py`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.config.serving import AlertRule, MonitoringConfig
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.observability.alerts import Alert, AlertBook, log_changes
from ml_lifecycle.serving.observability.metrics import Metric, MetricValue, Observations, resolve
from ml_lifecycle.serving.observability.outputs import LEARNED_EDGE_SAMPLE, OutputTallies
from ml_lifecycle.serving.observability.prometheus import exposition_text, metric_families
from ml_lifecycle.serving.observability.schema_checks import check_row, serving_expectations
from ml_lifecycle.serving.observability.tallies import ServerTallies
from ml_lifecycle.serving.observability.windows import ModelWindows

# Model names come from request URLs; past this many distinct names the rest share one label
# value, so a client cannot blow up the metric's cardinality.
MAX_MODEL_LABELS = 64
OTHER_MODEL = "(other)"
GLOBAL = ""  # the "model" of metrics that belong to the whole server (prediction log counters)


class Monitor:
    """Thread-safe serving metrics and alerts (see `metrics.py` for the metric names)."""

    def __init__(
        self,
        config: MonitoringConfig,
        schema: schema_pb2.Schema | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # Every rule names a registered metric (the config checked the names; this checks the
        # registry knows them all).
        for rule in config.alerts:
            resolve(rule.metric)
        self._config = config
        self._expectations = serving_expectations(schema) if schema is not None else None
        # The schema's features, in the order metrics report them: sorted once, not per read.
        self._expected_features = (
            tuple(sorted(self._expectations)) if self._expectations is not None else None
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._models: dict[str, ModelWindows] = {}
        self._tallies = ServerTallies()
        self._outputs = OutputTallies(
            tuple(config.prediction_buckets), min(config.window, LEARNED_EDGE_SAMPLE)
        )
        self._log_stats: dict[str, int] = {}
        self._alerts = AlertBook()

    # -- recording ----------------------------------------------------------------------------

    def record_request(
        self, model: str, version: int | None, route: str, status: int, seconds: float
    ) -> None:
        """One answered request (any status): counted, and its latency observed."""
        status_class = f"{int(status) // 100}xx"
        version_label = "" if version is None else str(version)
        with self._lock:
            model = self._model_label(model)
            self._tallies.count_request(model, version_label, route, status_class, seconds)
            self._windows(model).add_request(status_class, seconds)

    def record_inputs(self, model: str, rows: list[dict[str, object]]) -> None:
        """Raw feature rows of one request, checked against the SERVING schema."""
        checks = [check_row(row, self._expectations) for row in rows]
        with self._lock:
            model = self._model_label(model)
            windows = self._windows(model)
            self._tallies.input_rows[model] += len(checks)
            if self._expectations is None:
                windows.note_features(rows)
            for check in checks:
                windows.add_row(check)

    def record_outputs(
        self, model: str, version: int, answer: ModelAnswer, deferred: Sequence[bool] | None = None
    ) -> None:
        """One request's answer, and per row whether it was deferred to human review (None: none
        was). Vectorised: a 256-row batch costs about as much as one row."""
        mask = np.zeros(answer.rows, dtype=bool) if deferred is None else np.asarray(deferred, dtype=bool)
        if mask.shape != (answer.rows,):
            raise ValueError(f"deferred marks for {mask.size} rows, the answer has {answer.rows}")
        with self._lock:
            model = self._model_label(model)
            windows = self._windows(model)
            version_label = str(version)
            self._tallies.deferred[(model, version_label)] += int(mask.sum())
            self._outputs.count(model, version_label, answer)
            windows.add_scores(answer.score, mask)

    def record_shadow(
        self, model: str, live_version: int, shadow_version: int, agree: bool, abs_diff: float
    ) -> None:
        """One shadow answer compared with the live answer to the same request."""
        with self._lock:
            model = self._model_label(model)
            windows = self._windows(model)
            item = (bool(agree), float(abs_diff))
            self._tallies.count_shadow(
                (model, str(live_version), str(shadow_version)), item, self._config.window
            )
            windows.add_shadow(item)

    def record_shadow_not_comparable(
        self, model: str, live_version: int, shadow_version: int, rows: int
    ) -> None:
        """Shadow answers (rows) that could not be compared: the versions' tasks or classes differ."""
        with self._lock:
            model = self._model_label(model)
            self._tallies.shadow_not_comparable[(model, str(live_version), str(shadow_version))] += int(rows)

    def record_log_stats(self, stats: dict[str, int]) -> None:
        """The prediction log writer's counters (`PredictionLogWriter.stats()`), latest wins."""
        with self._lock:
            self._log_stats = {key: int(value) for key, value in stats.items()}

    # -- alert metrics ------------------------------------------------------------------------

    def metric_value(self, metric: str, model: str) -> MetricValue:
        """(value, observations behind it) of an alert metric for one model; None: no data."""
        registered, feature = resolve(metric)
        with self._lock:
            return registered.value(self._observations(model), feature)

    # -- alerts -------------------------------------------------------------------------------

    def evaluate_alerts(self) -> list[Alert]:
        """Judges every rule now: logs newly firing alerts once (warning) and resolved ones
        (info); returns the active alerts. Rules without enough observations keep their state."""
        now = self._clock()
        newly_firing, resolved = [], []
        with self._lock:
            for rule in self._config.alerts:
                metric, feature = resolve(rule.metric)
                for model in self._rule_models(rule, metric):
                    value, count = metric.value(self._observations(model), feature)
                    if value is None or count < rule.min_count:
                        continue
                    fired, ended = self._alerts.judge(rule, model, value, now)
                    if fired is not None:
                        newly_firing.append(fired)
                    if ended is not None:
                        resolved.append(ended)
            active = self._alerts.active()
        log_changes(newly_firing, resolved)
        return active

    def alerts(self) -> list[Alert]:
        """The alerts active at the last `evaluate_alerts()`."""
        with self._lock:
            return self._alerts.active()

    def _rule_models(self, rule: AlertRule, metric: Metric) -> list[str]:
        if metric.server_wide:
            return [GLOBAL]
        if rule.model is not None:
            return [rule.model]
        return sorted(self._models)

    # -- Prometheus ---------------------------------------------------------------------------

    def prometheus_text(self) -> str:
        """Every metric in the Prometheus text exposition format 0.0.4."""
        return exposition_text(self._families)

    def _families(self) -> list:
        with self._lock:
            observations = {model: self._observations(model) for model in self._models}
            return metric_families(
                self._tallies, self._outputs, observations, self._log_stats, self._alerts.active()
            )

    # -- internals ----------------------------------------------------------------------------

    def _observations(self, model: str) -> Observations:
        windows = self._models.get(model)
        features = self._feature_names(windows) if windows is not None else ()
        return Observations(windows, self._log_stats, features)

    def _model_label(self, model: str) -> str:
        if model in self._models or len(self._models) < MAX_MODEL_LABELS:
            return model
        return OTHER_MODEL

    def _windows(self, model: str) -> ModelWindows:
        windows = self._models.get(model)
        if windows is None:
            windows = self._models[model] = ModelWindows(self._config.window)
        return windows

    def _feature_names(self, windows: ModelWindows) -> tuple[str, ...]:
        if self._expected_features is not None:
            return self._expected_features
        return tuple(sorted(windows.seen_features))
