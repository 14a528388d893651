"""Alerts: a rule whose metric is out of range fires once, stays in force while it is, then resolves.

An `AlertBook` remembers which alerts are in force since when; each process keeps its own (a
worker answering `/v1/alerts` for all workers judges the merged metrics with its book)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from ml_lifecycle.config.serving import AlertRule
from ml_lifecycle.serving.observability.metrics import Observations, resolve

_LOG = logging.getLogger(__name__)
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


def violated(rule: AlertRule, value: float) -> tuple[str, float] | None:
    """("max" | "min", threshold) when `value` breaks the rule; None when it is in range."""
    if rule.max is not None and value > rule.max:
        return "max", rule.max
    if rule.min is not None and value < rule.min:
        return "min", rule.min
    return None


class AlertBook:
    """The alerts in force, one per (rule, model); thread-safe."""

    def __init__(self) -> None:
        self._active: dict[tuple[str, str], Alert] = {}
        self._lock = threading.Lock()

    def evaluate(
        self,
        rules: Sequence[AlertRule],
        observe: Callable[[str], Observations],
        models: Sequence[str],
        now: float,
    ) -> tuple[list[Alert], list[Alert]]:
        """Judges every rule on `observe(model)` for the models it covers (a server-wide metric:
        GLOBAL; a rule naming a model: that one; otherwise every one of `models`). Returns
        (newly firing, resolved); a rule without enough observations keeps its state."""
        newly_firing, resolved = [], []
        with self._lock:
            for rule in rules:
                metric, feature = resolve(rule.metric)
                if metric.server_wide:
                    covered: Sequence[str] = [GLOBAL]
                else:
                    covered = [rule.model] if rule.model is not None else models
                for model in covered:
                    value, count = metric.value(observe(model), feature)
                    if value is None or count < rule.min_count:
                        continue
                    fired, ended = self.judge(rule, model, value, now)
                    if fired is not None:
                        newly_firing.append(fired)
                    if ended is not None:
                        resolved.append(ended)
        return newly_firing, resolved

    def judge(
        self, rule: AlertRule, model: str, value: float, now: float
    ) -> tuple[Alert | None, Alert | None]:
        """Records the rule's verdict on `value`: (newly firing alert, resolved alert), either None.
        Called by `evaluate`, under its lock."""
        key = (rule.name, model)
        breach = violated(rule, value)
        if breach is None:
            return None, self._active.pop(key, None)
        bound, threshold = breach
        previous = self._active.get(key)
        since = previous.since if previous else now
        self._active[key] = Alert(rule.name, rule.metric, model, value, threshold, bound, since)
        return (self._active[key] if previous is None else None), None

    def active(self) -> list[Alert]:
        with self._lock:
            return sorted(self._active.values(), key=lambda alert: (alert.since, alert.rule, alert.model))


def log_changes(newly_firing: list[Alert], resolved: list[Alert]) -> None:
    """Newly firing alerts once, as warnings; resolved ones as info."""
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
