"""The configured alerts (`serving.monitoring.alerts`) as a Prometheus rules file.

Prometheus loads the file (`rule_files:`) and judges the rules on what it scrapes from
`/monitoring/prometheus/metrics`, so an alert reaches Alertmanager even when nobody asks
`/v1/alerts`. Each configured rule becomes one alerting rule that fires under the condition the
server's own evaluation (`Monitor.evaluate_alerts`) uses:

- the value is the metric's windowed gauge (`metrics.py`: its `model_gauge`, or its
  `feature_gauge` for `metric:<feature>`; `input_missing_fraction` without a feature is the most
  missing feature's share, that gauge's maximum over features). The gauges have one series per
  model, hence one alert per model; a rule's `model:` adds a `model="..."` matcher;
- it breaks the rule above `max` or below `min` (either, when both are given);
- it is judged once the model's window holds `min_count` observations. A window keeps the last
  `monitoring.window` of everything that entered it since the process started, so it holds
  `clamp_max(<cumulative counter>, window)` observations, counted by the counter of what enters
  it (requests, checked input rows, scored rows, shadow comparisons; `WINDOW_TOTALS`). That is
  exact for one worker process. With several, the server judges the union of the live workers'
  windows (`exchange.py`) while the counters add up every worker's since the server started:
  after a worker restarts, Prometheus may judge a rule before the server does, and a
  `min_count` above `window` never fires here though the union could reach it;
- a server-wide metric (prediction log losses) is the log writer's counter, judged always.

No `for:`: the server fires at the first evaluation that sees a breach, and so does Prometheus.
Aggregations say `without (...)`, never `by (...)`, so labels a scrape adds (`instance`, `job`)
stay and each scraped server is judged on its own windows, as it judges itself.

A regression model's scored rows are counted by its prediction histogram, which holds its first
predictions back until their bucket edges are chosen (`outputs.py`, at most 200 rows, fewer with a
smaller window): until then its `score_mean` and `deferred_fraction` rules are not judged here,
while the server judges them from `min_count` rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from ml_lifecycle.base.atomic_file import write_atomically
from ml_lifecycle.base.errors import ConfigError, UsageError
from ml_lifecycle.config.serving import AlertRule, MonitoringConfig
from ml_lifecycle.serving.observability.metrics import METRICS, Metric, resolve
from ml_lifecycle.serving.observability.prometheus import METRIC_PREFIX

GROUP_NAME = "lifecycle-serving-alerts"
# The server logs a newly firing alert as a warning; Alertmanager routes on this label.
SEVERITY = "warning"

_P = METRIC_PREFIX
# Per window, the cumulative count of what entered it, one series per model.
WINDOW_TOTALS = {
    "requests": f"sum without (version, route, status_class) ({_P}_requests_total)",
    "rows": f"{_P}_input_rows_total",
    # One observation per scored row: binary scores, multiclass top classes, regression values
    # (`outputs.py`; class_probability observes every class of a row, so it is not among them).
    "scores": (
        f'sum without (version, class) ({{__name__=~"{_P}_score_count|{_P}_predicted_class_total'
        f'|{_P}_prediction_count"}})'
    ),
    "shadow": f"sum without (live_version, shadow_version) ({_P}_shadow_comparisons_total)",
}
# The window each per-model metric is computed over (`metrics.py`).
METRIC_WINDOWS = {
    "error_rate": "requests",
    "client_error_rate": "requests",
    "latency_p50_seconds": "requests",
    "latency_p99_seconds": "requests",
    "input_missing_fraction": "rows",
    "input_out_of_schema_fraction": "rows",
    "score_mean": "scores",
    "deferred_fraction": "scores",
    "shadow_agreement": "shadow",
    "shadow_abs_diff_mean": "shadow",
}
# Server-wide metrics: the `outcome` of the prediction log counter each one reads.
LOG_OUTCOMES = {"prediction_log_dropped": "dropped", "prediction_log_errors": "errors"}


def prometheus_rules(monitoring: MonitoringConfig) -> dict:
    """The rules file's content: one group, one alerting rule per configured alert, in order."""
    rules = [_rule(index, rule, monitoring.window) for index, rule in enumerate(monitoring.alerts)]
    return {"groups": [{"name": GROUP_NAME, "rules": rules}]}


def write_prometheus_rules(monitoring: MonitoringConfig, path: str | Path) -> Path:
    """Writes the rules file atomically (a reader sees the old file or the new one); returns its path."""
    path = Path(path)
    text = (
        "# Prometheus alerting rules for the ml-lifecycle model server, generated from the\n"
        "# project config's serving.monitoring.alerts: regenerate rather than edit.\n"
        + yaml.safe_dump(prometheus_rules(monitoring), sort_keys=False, allow_unicode=True, width=10_000)
    )
    try:
        write_atomically(path, text)
    except OSError as error:
        reason = error.strerror or error
        raise UsageError(f"cannot write the Prometheus rules file {path}: {reason}") from error
    return path


def exported_alert_metrics() -> tuple[str, ...]:
    """The alert metrics a Prometheus rule can judge: those exported as gauges or counters."""
    return tuple(name for name, metric in METRICS.items() if _value_expression(metric, "", []) is not None)


def _rule(index: int, rule: AlertRule, window: int) -> dict:
    metric, feature = resolve(rule.metric)
    matchers = [] if rule.model is None or metric.server_wide else [("model", rule.model)]
    value = _value_expression(metric, feature, matchers)
    if value is None:
        raise ConfigError(
            f"serving.monitoring.alerts[{index}] ({rule.name!r}): metric {rule.metric!r} is not exported "
            "to Prometheus, so no Prometheus rule can judge it (the server still does, at /v1/alerts); "
            f"exported: {list(exported_alert_metrics())}"
        )
    breach = _breach(value, rule)
    if metric.server_wide:
        expr = breach
    else:
        count = f"clamp_max({WINDOW_TOTALS[METRIC_WINDOWS[metric.name]]}, {window})"
        # The feature gauge has a `feature` label the per-model count has not.
        matching = " ignoring (feature)" if feature else ""
        expr = f"{breach} and{matching} {count} >= {rule.min_count}"
    return {
        "alert": rule.name,
        "expr": expr,
        "labels": {"severity": SEVERITY, "metric": rule.metric},
        "annotations": _annotations(rule, metric, window),
    }


def _value_expression(metric: Metric, feature: str, matchers: list[tuple[str, str]]) -> str | None:
    """The PromQL of the metric's value, one series per model (no model label for a server-wide
    metric); None when the server does not export the metric."""
    if metric.server_wide:
        outcome = LOG_OUTCOMES.get(metric.name)
        if outcome is None:
            return None
        records = _selector(f"{_P}_prediction_log_records_total", [("outcome", outcome)])
        return f"sum without (outcome) ({records})"
    if feature:
        gauge = metric.feature_gauge
        return None if gauge is None else _selector(f"{_P}_{gauge.name}", [*matchers, ("feature", feature)])
    if metric.model_gauge is not None:
        return _selector(f"{_P}_{metric.model_gauge.name}", matchers)
    if metric.per_feature and metric.feature_gauge is not None:
        # Without a feature, a per-feature metric without a gauge of its own is its worst feature.
        return f"max without (feature) ({_selector(f'{_P}_{metric.feature_gauge.name}', matchers)})"
    return None


def _selector(name: str, matchers: list[tuple[str, str]]) -> str:
    if not matchers:
        return name
    # A JSON string is a valid PromQL string literal (same escapes, double quotes).
    inner = ", ".join(f"{label}={json.dumps(value, ensure_ascii=False)}" for label, value in matchers)
    return f"{name}{{{inner}}}"


def _breach(value: str, rule: AlertRule) -> str:
    above = None if rule.max is None else f"{value} > {_number(rule.max)}"
    below = None if rule.min is None else f"{value} < {_number(rule.min)}"
    if above and below:
        return f"({above} or {below})"
    return above or below


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _annotations(rule: AlertRule, metric: Metric, window: int) -> dict[str, str]:
    bounds = ", ".join(
        f"{side} {bound:g}" for side, bound in (("min", rule.min), ("max", rule.max)) if bound is not None
    )
    breaks = " or ".join(
        f"{side} {bound:g}" for side, bound in (("below", rule.min), ("above", rule.max)) if bound is not None
    )
    metric_name = _literal(rule.metric)
    if metric.server_wide:
        subject, over = metric_name, "since the server started"
    else:
        subject = metric_name + " of model {{ $labels.model }}"
        over = (
            f"over the model's last {window} observations, judged once at least {rule.min_count} "
            "are in the window"
        )
    return {
        "summary": f'{subject} is {{{{ $value | printf "%.4g" }}}} ({bounds})',
        "description": (
            f"Rule {_literal(rule.name)} of serving.monitoring.alerts: fires while {metric_name} "
            f"is {breaks} {over}."
        ),
    }


def _literal(text: str) -> str:
    """`text` as literal text of a Go template (what Prometheus renders annotations with)."""
    return text.replace("{{", '{{ "{{" }}')
