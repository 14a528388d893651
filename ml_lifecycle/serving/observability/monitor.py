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

Every read goes through a `MonitorState` (`snapshot.py`), a copy taken under the lock and
rendered outside it: `state()` is also what a worker process publishes for the others, and
`text_of` / `judge` / `observe` compute the same outputs from a state merged across workers
(`exchange.py`). Label values clients choose are capped: model names (`MAX_MODEL_LABELS`),
versions and routes per model (`tallies.py`), feature names (`windows.py`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2

from ml_lifecycle.config.serving import MonitoringConfig
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.observability.alerts import Alert, AlertBook, log_changes
from ml_lifecycle.serving.observability.metrics import MetricValue, Observations, resolve
from ml_lifecycle.serving.observability.outputs import LEARNED_EDGE_SAMPLE, OutputTallies
from ml_lifecycle.serving.observability.prometheus import exposition_text, metric_families
from ml_lifecycle.serving.observability.schema_checks import check_row, serving_expectations
from ml_lifecycle.serving.observability.snapshot import MonitorState
from ml_lifecycle.serving.observability.tallies import OTHER, CappedLabel, ModelLabels, ServerTallies
from ml_lifecycle.serving.observability.windows import ModelWindows, WindowSummary

# Model names come from request URLs; past this many distinct names the rest share one label
# value, so a client cannot blow up the metric's cardinality.
MAX_MODEL_LABELS = 64
OTHER_MODEL = OTHER


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
        rule_features = {resolve(rule.metric)[1] for rule in config.alerts} - {""}
        self._config = config
        self._expectations = serving_expectations(schema) if schema is not None else None
        # The schema's features, in the order metrics report them: sorted once, not per read.
        self._expected_features = (
            tuple(sorted(self._expectations)) if self._expectations is not None else None
        )
        # Always counted per feature, however many other names requests carry.
        self._counted_features = frozenset((*(self._expected_features or ()), *rule_features))
        self._clock = clock
        self._lock = threading.Lock()
        self._models: dict[str, ModelWindows] = {}
        self._model_names = CappedLabel(MAX_MODEL_LABELS)
        self._labels: dict[str, ModelLabels] = {}
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
        with self._lock:
            model = self._model_names(model)
            labels = self._model_labels(model)
            version_label = "" if version is None else labels.version(str(version))
            self._tallies.count_request(model, version_label, labels.route(route), status_class, seconds)
            self._windows(model).add_request(status_class, seconds)

    def record_inputs(self, model: str, rows: list[dict[str, object]]) -> None:
        """Raw feature rows of one request, checked against the SERVING schema."""
        checks = [check_row(row, self._expectations) for row in rows]
        with self._lock:
            model = self._model_names(model)
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
            model = self._model_names(model)
            windows = self._windows(model)
            version_label = self._model_labels(model).version(str(version))
            self._tallies.deferred[(model, version_label)] += int(mask.sum())
            self._outputs.count(model, version_label, answer)
            windows.add_scores(answer.score, mask)

    def record_shadow(
        self, model: str, live_version: int, shadow_version: int, agree: bool, abs_diff: float
    ) -> None:
        """One shadow answer compared with the live answer to the same request."""
        with self._lock:
            model = self._model_names(model)
            windows = self._windows(model)
            item = (bool(agree), float(abs_diff))
            self._tallies.count_shadow(
                self._shadow_key(model, live_version, shadow_version), item, self._config.window
            )
            windows.add_shadow(item)

    def record_shadow_not_comparable(
        self, model: str, live_version: int, shadow_version: int, rows: int
    ) -> None:
        """Shadow answers (rows) that could not be compared: the versions' tasks or classes differ."""
        with self._lock:
            model = self._model_names(model)
            key = self._shadow_key(model, live_version, shadow_version)
            self._tallies.shadow_not_comparable[key] += int(rows)

    def record_log_stats(self, stats: dict[str, int]) -> None:
        """The prediction log writer's counters (`PredictionLogWriter.stats()`), latest wins."""
        with self._lock:
            self._log_stats = {key: int(value) for key, value in stats.items()}

    # -- reading ------------------------------------------------------------------------------

    def state(self) -> MonitorState:
        """A copy of every number the monitor exports, taken under the lock."""
        with self._lock:
            output_counters, output_histograms = self._outputs.tables()
            return MonitorState(
                counters={**self._tallies.counter_tables(), **output_counters},
                histograms={**self._tallies.histogram_tables(), **output_histograms},
                model_edges=self._outputs.model_edges(),
                windows={model: windows.summary() for model, windows in self._models.items()},
                shadow_windows=self._tallies.shadow_windows(),
                log_stats=dict(self._log_stats),
            )

    def adopt_edges(self, model_edges: dict[str, tuple[float, ...]]) -> None:
        """Per-model histogram edges another worker chose, for the models this one has not chosen
        edges for yet (so the workers' histograms add up bucket by bucket)."""
        with self._lock:
            for model, edges in model_edges.items():
                self._outputs.adopt_edges(model, edges)

    def observe(self, state: MonitorState, model: str) -> Observations:
        """What the alert metrics of `model` are computed from, in `state`."""
        windows = state.windows.get(model)
        return Observations(windows, state.log_stats, self._feature_names(windows) if windows else ())

    def text_of(self, state: MonitorState, alerts: Sequence[Alert]) -> str:
        """`state` and `alerts` in the Prometheus text exposition format 0.0.4."""
        return exposition_text(
            lambda: metric_families(
                state, {model: self.observe(state, model) for model in state.windows}, alerts
            )
        )

    def judge(self, state: MonitorState, book: AlertBook, now: float, *, log: bool = True) -> list[Alert]:
        """Judges every rule on `state` into `book`: logs (unless `log` is False) newly firing
        alerts once (warning) and resolved ones (info); returns the active alerts. Rules without
        enough observations keep their state."""
        newly_firing, resolved = book.evaluate(
            self._config.alerts, lambda model: self.observe(state, model), sorted(state.windows), now
        )
        if log:
            log_changes(newly_firing, resolved)
        return book.active()

    # -- alert metrics ------------------------------------------------------------------------

    def metric_value(self, metric: str, model: str) -> MetricValue:
        """(value, observations behind it) of an alert metric for one model; None: no data."""
        registered, feature = resolve(metric)
        with self._lock:
            windows = self._models.get(model)
            state = MonitorState(
                windows={} if windows is None else {model: windows.summary()}, log_stats=dict(self._log_stats)
            )
        return registered.value(self.observe(state, model), feature)

    # -- alerts -------------------------------------------------------------------------------

    def evaluate_alerts(self) -> list[Alert]:
        """Judges every rule now (see `judge`); returns the active alerts."""
        return self.judge(self._window_state(), self._alerts, self._clock())

    def alerts(self) -> list[Alert]:
        """The alerts active at the last `evaluate_alerts()`."""
        return self._alerts.active()

    # -- Prometheus ---------------------------------------------------------------------------

    def prometheus_text(self) -> str:
        """Every metric in the Prometheus text exposition format 0.0.4."""
        return self.text_of(self.state(), self.alerts())

    # -- internals ----------------------------------------------------------------------------

    def _window_state(self) -> MonitorState:
        """The windows and log counters only: what the alert rules read."""
        with self._lock:
            return MonitorState(
                windows={model: windows.summary() for model, windows in self._models.items()},
                log_stats=dict(self._log_stats),
            )

    def _model_labels(self, model: str) -> ModelLabels:
        labels = self._labels.get(model)
        if labels is None:
            labels = self._labels[model] = ModelLabels()
        return labels

    def _shadow_key(self, model: str, live_version: int, shadow_version: int) -> tuple[str, str, str]:
        versions = self._model_labels(model).version
        return (model, versions(str(live_version)), versions(str(shadow_version)))

    def _windows(self, model: str) -> ModelWindows:
        windows = self._models.get(model)
        if windows is None:
            windows = self._models[model] = ModelWindows(self._config.window, self._counted_features)
        return windows

    def _feature_names(self, windows: WindowSummary) -> tuple[str, ...]:
        if self._expected_features is not None:
            return self._expected_features
        return tuple(windows.seen_features)
