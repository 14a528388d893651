"""The Prometheus rules file: it reads only metrics a real Monitor exports, `promtool check rules`
accepts it, and `promtool test rules` fires each alert exactly when the server's own evaluation
does, step by step over a real Monitor's exported samples."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ml_lifecycle.base.contracts import Task
from ml_lifecycle.base.errors import ConfigError, UsageError
from ml_lifecycle.config.serving import AlertRule, MonitoringConfig
from ml_lifecycle.serving.inference.answers import ModelAnswer
from ml_lifecycle.serving.observability import rules_file
from ml_lifecycle.serving.observability.alerts import violated
from ml_lifecycle.serving.observability.metrics import METRICS
from ml_lifecycle.serving.observability.monitor import Monitor
from ml_lifecycle.serving.observability.rules_file import (
    exported_alert_metrics,
    prometheus_rules,
    write_prometheus_rules,
)
from tests.unit.serving.observability.monitor_traffic import (
    GOOD_ROW,
    exported_sample_names,
    metric_names,
    monitor_with_every_series,
    run_promtool,
    serving_schema,
)

# One rule of each kind the brief names: max, min, both, per feature, one model, server-wide.
WINDOW = 10
SCENARIO_ALERTS = [
    AlertRule(name="server-errors", metric="error_rate", max=0.2, min_count=5),
    AlertRule(name="scores-low", metric="score_mean", min=0.3, min_count=4),
    AlertRule(name="scores-outside-band", metric="score_mean", min=0.05, max=0.95, min_count=4),
    AlertRule(name="fare-missing", metric="input_missing_fraction:fare", max=0.25, min_count=4),
    AlertRule(
        name="taxi-out-of-schema", metric="input_out_of_schema_fraction", max=0.1, min_count=2, model="taxi"
    ),
    AlertRule(name="worst-feature-missing", metric="input_missing_fraction", max=0.5, min_count=3),
    AlertRule(name="p99-slow", metric="latency_p99_seconds", max=0.5, min_count=3),
    AlertRule(name="deferring-too-much", metric="deferred_fraction", max=0.5, min_count=4),
    AlertRule(name="log-loss", metric="prediction_log_dropped", max=0),
    AlertRule(name="log-errors", metric="prediction_log_errors", max=0),
    # The window never holds more than WINDOW observations: never judged, however many requests.
    AlertRule(name="never-judged", metric="error_rate", max=0.0, min_count=WINDOW + 1),
]
MODELS = ("taxi", "bikes", "iris", "fares")  # binary, binary, multiclass, regression
# Fixed regression edges: learned ones hold the first predictions back (see rules_file.py).
PREDICTION_BUCKETS = [0.0, 10.0, 20.0]
LOW_CONFIDENCE = [0.28, 0.24, 0.24, 0.24]  # a multiclass row whose top probability is 0.28


def _binary(scores: list[float]) -> ModelAnswer:
    return ModelAnswer.of(Task.BINARY, scores)


def _requests(monitor: Monitor, model: str, statuses: list[int], seconds: float = 0.01) -> None:
    for status in statuses:
        monitor.record_request(model, 1, "stable", status, seconds)


# Each step is traffic recorded before one scrape; the comments say what the server judges then.
def _step0(monitor: Monitor) -> None:
    _requests(monitor, "taxi", [500, 200, 200])  # taxi errors 1/3 > 0.2, but 3 requests < min_count 5
    monitor.record_inputs("taxi", [GOOD_ROW, GOOD_ROW])
    monitor.record_outputs("taxi", 1, _binary([0.9, 0.8]))


def _step1(monitor: Monitor) -> None:
    _requests(monitor, "taxi", [500, 500, 500])  # taxi errors 4/6: server-errors fires
    monitor.record_inputs("taxi", [{"payment_type": "Cash", "hour": 3}] * 2)  # fare missing on 2 of 4 rows
    _requests(monitor, "bikes", [500, 500], seconds=0.9)  # slow and failing, but too few to judge
    monitor.record_outputs("bikes", 1, _binary([0.1, 0.1]))  # low scores, 2 rows < min_count 4
    # Low scores on 3 rows of the other tasks: not judged yet (a multiclass row is one score,
    # however many class probabilities it has).
    monitor.record_outputs("iris", 1, ModelAnswer.of(Task.MULTICLASS, [LOW_CONFIDENCE] * 3))
    monitor.record_outputs("fares", 1, ModelAnswer.of(Task.REGRESSION, [[0.1]] * 3))


def _step2(monitor: Monitor) -> None:
    monitor.record_log_stats({"written": 10, "sampled_out": 0, "dropped": 2, "errors": 0})
    _requests(monitor, "bikes", [200, 200], seconds=0.9)  # 4 requests: p99-slow judged, errors 2/4 not yet
    monitor.record_outputs("bikes", 1, _binary([0.1, 0.2, 0.15]), deferred=[True, True, True])
    # Missing hour (required, so out of schema too) and payment_type: bikes is out of schema,
    # but the out-of-schema rule is taxi's alone.
    monitor.record_inputs("bikes", [{"fare": 3.0}] * 3)
    monitor.record_outputs("iris", 1, ModelAnswer.of(Task.MULTICLASS, [LOW_CONFIDENCE]))  # 4 rows: judged
    monitor.record_outputs("fares", 1, ModelAnswer.of(Task.REGRESSION, [[0.1]]))


def _step3(monitor: Monitor) -> None:
    _requests(monitor, "taxi", [200] * WINDOW)  # the window forgets taxi's errors
    monitor.record_inputs("taxi", [GOOD_ROW] * WINDOW)  # and its missing fares
    _requests(monitor, "bikes", [500])  # bikes errors 3/5 with 5 requests: now judged


def _step4(monitor: Monitor) -> None:
    monitor.record_outputs("bikes", 1, _binary([0.9] * WINDOW))  # bikes scores recover
    # taxi: 1 error in its last 10 of 17 requests; never-judged would fire if counted past the window
    _requests(monitor, "taxi", [500])


def _step5(monitor: Monitor) -> None:
    monitor.record_outputs("taxi", 1, _binary([0.99] * WINDOW))  # taxi above the band


STEPS = [_step0, _step1, _step2, _step3, _step4, _step5]


@dataclasses.dataclass
class Snapshot:
    samples: dict[str, float]  # series selector -> value
    firing: dict[str, list[tuple[str, float]]]  # rule name -> [(model, value)] the server fires
    unjudged_breaches: list[tuple[str, str]]  # (rule, model) out of range, below min_count


def _series(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f"{key}={json.dumps(value)}" for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _snapshot(monitor: Monitor, config: MonitoringConfig) -> Snapshot:
    samples = {
        _series(sample.name, sample.labels): sample.value
        for family in text_string_to_metric_families(monitor.prometheus_text())
        for sample in family.samples
    }
    firing: dict[str, list[tuple[str, float]]] = {rule.name: [] for rule in config.alerts}
    for alert in monitor.evaluate_alerts():
        firing[alert.rule].append((alert.model, alert.value))
    unjudged = []
    for rule in config.alerts:
        for model in MODELS:
            value, count = monitor.metric_value(rule.metric, model)
            if value is not None and count < rule.min_count and violated(rule, value):
                unjudged.append((rule.name, model))
    return Snapshot(samples, firing, unjudged)


def _promtool_test(rules: dict, snapshots: list[Snapshot]) -> dict:
    """A promtool unit test: one scrape a minute holding each snapshot's samples, and at each
    minute exactly the alerts the monitor had firing then."""
    series = sorted({name for snapshot in snapshots for name in snapshot.samples})
    input_series = [
        {
            "series": name,
            "values": " ".join(
                repr(snapshot.samples[name]) if name in snapshot.samples else "_" for snapshot in snapshots
            ),
        }
        for name in series
    ]
    tests = []
    for minute, snapshot in enumerate(snapshots):
        for rule in rules["groups"][0]["rules"]:
            expected = [
                _expected_alert(rule, model, value) for model, value in snapshot.firing[rule["alert"]]
            ]
            tests.append({"eval_time": f"{minute}m", "alertname": rule["alert"], "exp_alerts": expected})
    return {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input_series, "alert_rule_test": tests}],
    }


def _expected_alert(rule: dict, model: str, value: float) -> dict:
    labels = dict(rule["labels"])
    if model:  # "": a server-wide alert, no model label
        labels["model"] = model
    if ":" in labels["metric"]:
        labels["feature"] = labels["metric"].partition(":")[2]
    # Go's printf %.4g and Python's format spec .4g print a float64 alike.
    rendered = {"{{ $labels.model }}": model, '{{ $value | printf "%.4g" }}': f"{value:.4g}"}
    annotations = {}
    for key, text in rule["annotations"].items():
        for template, text_value in rendered.items():
            text = text.replace(template, text_value)
        annotations[key] = text
    return {"exp_labels": labels, "exp_annotations": annotations}


def _scenario() -> tuple[MonitoringConfig, list[Snapshot]]:
    config = MonitoringConfig(window=WINDOW, alerts=SCENARIO_ALERTS, prediction_buckets=PREDICTION_BUCKETS)
    monitor = Monitor(config, serving_schema())
    snapshots = []
    for step in STEPS:
        step(monitor)
        snapshots.append(_snapshot(monitor, config))
    return config, snapshots


def test_the_scenario_fires_every_rule_and_holds_back_unjudged_breaches():
    # Guards the promtool test below from passing vacuously.
    config, snapshots = _scenario()
    fired = {name for snapshot in snapshots for name, alerts in snapshot.firing.items() if alerts}
    assert fired == {rule.name for rule in config.alerts} - {"log-errors", "never-judged"}
    assert ("server-errors", "taxi") in snapshots[0].unjudged_breaches
    assert ("p99-slow", "bikes") in snapshots[1].unjudged_breaches
    assert {("scores-low", "iris"), ("scores-low", "fares")} <= set(snapshots[1].unjudged_breaches)
    assert sorted(model for model, _ in snapshots[2].firing["scores-low"]) == ["bikes", "fares", "iris"]
    assert snapshots[1].firing["server-errors"] == [("taxi", pytest.approx(4 / 6))]
    assert snapshots[3].firing["server-errors"] == [("bikes", pytest.approx(3 / 5))]
    assert snapshots[2].firing["taxi-out-of-schema"] == [("taxi", pytest.approx(0.5))]  # not bikes'


def test_promtool_fires_each_alert_when_the_server_does(tmp_path):
    config, snapshots = _scenario()
    rules_path = write_prometheus_rules(config, tmp_path / "rules.yml")
    (tmp_path / "rules_test.yml").write_text(
        yaml.safe_dump(_promtool_test(prometheus_rules(config), snapshots))
    )
    checked = run_promtool("check", "rules", rules_path, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(config.alerts)} rules found" in checked.stdout
    tested = run_promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_accepts_rules_for_every_exported_metric_and_odd_names(tmp_path):
    alerts = [
        AlertRule(name=f"rule-{name}", metric=name, max=1.0, min=0.5, min_count=20, model='my "model"\\')
        for name in exported_alert_metrics()
    ] + [
        AlertRule(name="odd {{ name }}", metric='input_missing_fraction:pay "type"\\', max=0.1),
        AlertRule(name="unicode", metric="input_out_of_schema_fraction:tarifa_€", max=0.1),
    ]
    path = write_prometheus_rules(MonitoringConfig(window=500, alerts=alerts), tmp_path / "rules.yml")
    checked = run_promtool("check", "rules", path, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alerts)} rules found" in checked.stdout


def test_every_metric_a_rule_reads_is_exported_by_a_real_monitor():
    alerts = [AlertRule(name=name, metric=name, max=0.5) for name in exported_alert_metrics()]
    alerts += [
        AlertRule(name=f"{name}:fare", metric=f"{name}:fare", max=0.5)
        for name, metric in METRICS.items()
        if metric.per_feature
    ]
    rules = prometheus_rules(MonitoringConfig(alerts=alerts))["groups"][0]["rules"]
    exported = exported_sample_names(monitor_with_every_series().prometheus_text())
    for rule in rules:
        read = metric_names(rule["expr"])
        assert read, rule["expr"]
        assert read <= exported, (rule["alert"], sorted(read - exported))


def test_every_registered_metric_has_a_window_or_a_log_outcome():
    # A metric added to the registry without a place here fails, instead of a KeyError at export.
    per_model = {name for name, metric in METRICS.items() if not metric.server_wide}
    assert set(rules_file.METRIC_WINDOWS) == per_model
    assert set(rules_file.METRIC_WINDOWS.values()) == set(rules_file.WINDOW_TOTALS)
    assert set(rules_file.LOG_OUTCOMES) == {name for name, metric in METRICS.items() if metric.server_wide}


def test_one_rule_per_alert_in_order_with_the_model_matcher_and_no_for():
    config = MonitoringConfig(window=WINDOW, alerts=SCENARIO_ALERTS)
    rules = prometheus_rules(config)["groups"][0]["rules"]
    assert [rule["alert"] for rule in rules] == [alert.name for alert in SCENARIO_ALERTS]
    assert all("for" not in rule for rule in rules)
    scoped = rules[[alert.model for alert in SCENARIO_ALERTS].index("taxi")]
    assert 'model="taxi"' in scoped["expr"]
    assert sum('model="' in rule["expr"] for rule in rules) == 1
    assert rules[0]["labels"] == {"severity": "warning", "metric": "error_rate"}


def test_a_metric_the_server_does_not_export_is_a_config_error(monkeypatch):
    bare = dataclasses.replace(METRICS["error_rate"], model_gauge=None)
    monkeypatch.setitem(METRICS, "error_rate", bare)
    alerts = [
        AlertRule(name="fine", metric="score_mean", max=1),
        AlertRule(name="errs", metric="error_rate", max=1),
    ]
    with pytest.raises(ConfigError, match=r"serving.monitoring.alerts\[1\] \('errs'\): metric 'error_rate'"):
        prometheus_rules(MonitoringConfig(alerts=alerts))
    assert "error_rate" not in exported_alert_metrics()


def test_the_file_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "deep" / "rules.yml"
    first = MonitoringConfig(alerts=[AlertRule(name="a", metric="error_rate", max=0.1)])
    assert write_prometheus_rules(first, path) == path
    assert yaml.safe_load(path.read_text()) == prometheus_rules(first)

    def fail(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    second = MonitoringConfig(alerts=[AlertRule(name="b", metric="error_rate", max=0.1)])
    with pytest.raises(UsageError, match=f"cannot write the Prometheus rules file {path}: No space left"):
        write_prometheus_rules(second, path)
    assert yaml.safe_load(path.read_text()) == prometheus_rules(first)
    assert sorted(p.name for p in path.parent.iterdir()) == ["rules.yml"]  # no temporary file left


def test_an_unwritable_path_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UsageError, match=f"cannot write the Prometheus rules file {blocker / 'rules.yml'}"):
        write_prometheus_rules(MonitoringConfig(), Path(blocker) / "rules.yml")
