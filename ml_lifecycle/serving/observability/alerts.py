"""Alerts: a rule whose metric is out of range fires once, stays in force while it is, then resolves."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from ml_lifecycle.config.serving import AlertRule

_LOG = logging.getLogger(__name__)


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
    """The alerts in force, one per (rule, model). Not thread-safe: the monitor's lock guards it."""

    def __init__(self) -> None:
        self._active: dict[tuple[str, str], Alert] = {}

    def judge(
        self, rule: AlertRule, model: str, value: float, now: float
    ) -> tuple[Alert | None, Alert | None]:
        """Records the rule's verdict on `value`: (newly firing alert, resolved alert), either None."""
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
        return sorted(self._active.values(), key=lambda a: (a.since, a.rule, a.model))


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
