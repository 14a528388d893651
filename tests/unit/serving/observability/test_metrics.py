"""The alert metric registry: the names the config accepts are exactly the registered ones."""

from __future__ import annotations

import pytest

from ml_lifecycle.config.serving import ALERT_METRICS, AlertRule, MonitoringConfig
from ml_lifecycle.serving.observability.metrics import METRICS, resolve
from ml_lifecycle.serving.observability.monitor import Monitor


def test_every_metric_the_config_accepts_is_registered_and_no_other():
    assert set(METRICS) == set(ALERT_METRICS)


@pytest.mark.parametrize("name", ALERT_METRICS)
def test_a_metric_takes_a_feature_exactly_when_the_config_lets_a_rule_name_one(name):
    if METRICS[name].per_feature:
        AlertRule(name="rule", metric=f"{name}:fare", max=1.0)
    else:
        with pytest.raises(ValueError, match="unknown metric"):
            AlertRule(name="rule", metric=f"{name}:fare", max=1.0)


def test_resolve_names_the_metric_and_its_feature():
    metric, feature = resolve("input_missing_fraction:fare")
    assert (metric.name, feature) == ("input_missing_fraction", "fare")
    assert resolve("error_rate") == (METRICS["error_rate"], "")
    with pytest.raises(ValueError, match="unknown alert metric 'latency_p95'"):
        resolve("latency_p95")


def test_the_monitor_refuses_a_rule_on_an_unregistered_metric():
    # The config refuses it first; a rule built around that check still cannot reach the monitor.
    rule = AlertRule.model_construct(
        name="slow", metric="latency_p95", max=0.1, min=None, min_count=1, model=None
    )
    with pytest.raises(ValueError, match="unknown alert metric"):
        Monitor(MonitoringConfig.model_construct(window=10, alerts=[rule]), None)
    with pytest.raises(ValueError, match="unknown alert metric"):
        Monitor(MonitoringConfig(), None).metric_value("latency_p95", "taxi")
